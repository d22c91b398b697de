"""The `fer-edge` console script: the device's own commands (run, service, evaluate) and, through the
`fer_edge.commands` entry points, the commands the other packages own (train, convert, bench), loaded only when
named. Subcommands import their heavy modules lazily.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..bundled import package_version
from ..errors import FerEdgeError, UsageError
from ..redact import redact

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import threading
    from importlib.metadata import EntryPoint

    from ..config import ServiceConfig
    from ..outputs.events import EventWriter
    from ..pipeline.loop import FrameSink
    from ..sources import OpenedSource

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _add_evaluate(sub: Subparsers) -> None:
    p = sub.add_parser("evaluate", help="accuracy, macro-F1, per-class metrics and confusion matrix of a model",
                       description="Evaluate a .tflite (no TensorFlow needed) or a Keras model on one split.")
    p.add_argument("model", nargs="?", default=None,
                   help=".tflite, .keras, .h5 or a SavedModel folder (default: the bundled default int8 model)")
    p.add_argument("--data", required=True, help="fer2013.csv(.gz) or an image-folder tree")
    p.add_argument("--split", default="PrivateTest", help="Training, PublicTest or PrivateTest (folder: train/val/test)")
    p.add_argument("--report", default=None,
                   help="report JSON path, PNG beside it (default: <model>_<split>[_ferplus].json beside the model, "
                        "or here for a model inside the installed package)")
    p.add_argument("--normalize", default="none", help="Keras models only: none, unit, symmetric or SCALE,OFFSET")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--labels", default=None,
                   help="fer2013 (the CSV's own labels), ferplus (FER+ majority votes) or both, from one pass "
                        "(default: both with --ferplus, else fer2013)")
    p.add_argument("--ferplus", default=None, help="FER+ fer2013new.csv, one row per row of the --data CSV")
    p.add_argument("--sidecar", action="store_true",
                   help="write this evaluation's figures (both label sets, latency) into the .tflite's sidecar "
                        "accuracy block, atomically")
    p.set_defaults(func=_cmd_evaluate)


def default_report(model: Path, split: str, label_set: str) -> Path:
    """Beside the model, named after it, the split and the label set, so runs and models never share a report;
    never into the installed package (a bundled model's report goes to the working directory)."""
    name = f"{model.stem}_{split}{'' if label_set == 'fer2013' else '_' + label_set}.json"
    package = Path(__file__).resolve().parents[1]
    folder = model.resolve().parent
    return Path(name) if folder == package or package in folder.parents else model.parent / name


def _check_labels(args: argparse.Namespace) -> None:
    """Usage errors about --labels, --ferplus and --sidecar, before any model or data loads."""
    from ..eval.report import LABEL_SETS

    args.labels = args.labels or ("both" if args.ferplus else "fer2013")
    if args.labels not in LABEL_SETS:
        raise UsageError(f"--labels {args.labels!r}: use one of {', '.join(LABEL_SETS)}")
    if args.labels != "fer2013" and not args.ferplus:
        raise UsageError(f"--labels {args.labels} needs --ferplus PATH (fer2013new.csv from microsoft/FERPlus)")
    if args.labels == "fer2013" and args.ferplus:
        raise UsageError("--ferplus is not used with --labels fer2013 (leave --labels out for both label sets)")
    if args.sidecar and args.labels != "both":
        raise UsageError("--sidecar records both label sets of a .tflite model: give --ferplus and a .tflite")
    if args.labels != "fer2013":
        if not Path(args.ferplus).is_file():
            raise UsageError(f"--ferplus {args.ferplus}: no such file")
        if not Path(args.data).is_file():
            raise UsageError(f"--data {args.data}: --labels {args.labels} needs the FER2013 CSV (FER+ rows follow "
                             "its rows)")


KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _evaluated_kind(path: Path, normalize: str) -> str:
    """"tflite" or "keras", from the name (and a folder's saved_model.pb), before anything loads; a file evaluate
    does not read, an empty folder or a --normalize a .tflite would ignore is a usage error naming it."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        if normalize != "none":
            raise UsageError(f"--normalize {normalize!r}: for Keras models only; a .tflite takes raw pixels "
                             "(its normalization is inside the graph)")
        return "tflite"
    if suffix in KERAS_SUFFIXES:
        return "keras"
    try:
        if path.is_dir():
            if any((path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt")):
                return "keras"
            raise UsageError(f"{path}: a folder without saved_model.pb, not a SavedModel")
    except OSError as exc:
        raise FerEdgeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise UsageError(f"{path}: not a model evaluate reads (want .tflite, {', '.join(KERAS_SUFFIXES)} or a SavedModel "
                     "folder)")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import time

    from ..bundled import resolve_model
    from ..classification.cost import format_macs
    from ..classification.preprocess import batch_to_model_input
    from ..eval.datasets import canonical_split, load_split, log_counts
    from ..eval.report import both_report, face_latency, ferplus_report, format_evaluation, report_from_probs, save_report
    from ..files import check_output_file

    canonical_split(args.split)  # a usage error before any model loads
    _check_labels(args)
    _check_model_flags(args)
    path = resolve_model(args.model)
    tflite = _evaluated_kind(path, args.normalize) == "tflite"
    if args.sidecar and not tflite:
        raise UsageError(f"--sidecar records both label sets of a .tflite model; {path} has no sidecar")
    out = Path(args.report) if args.report else default_report(path, canonical_split(args.split), args.labels)
    for target in (out, out.with_suffix(".png")):
        check_output_file(target, "--report")  # a folder, device or unwritable place: refused now, not after the work
    t0 = time.perf_counter()
    cost = clf = None
    if tflite:
        from ..classification.classifier import TFLiteClassifier
        from ..classification.cost import model_cost

        clf = TFLiteClassifier(path, threads=args.threads)
        size, channels, labels, predict = clf.input.size, clf.input.channels, clf.labels, clf.predict_dataset
        cost = model_cost(path)
    else:
        from ..labels import EMOTIONS
        from ..quiet import preload

        preload("keras")  # TensorFlow prints its oneDNN and absl lines as it loads: loaded where they are kept off stderr
        model = plugin("fer_edge.model_loaders", "keras", f"{path}: a Keras model")(path, args.normalize)
        if model.classes != len(EMOTIONS):
            raise UsageError(f"{path}: model has {model.classes} outputs, but FER2013 has {len(EMOTIONS)} classes")
        size, channels, labels, predict = (model.height, model.width), model.channels, EMOTIONS, model.predict
    outcomes = None
    if args.labels != "fer2013":
        from ..eval.ferplus import split_outcomes
        from ..labels import EMOTIONS

        if tuple(labels) != EMOTIONS:
            raise FerEdgeError(f"{path}: labels {list(labels)} are not FER2013's seven, so FER+ labels cannot score it")
        outcomes = split_outcomes(args.ferplus, args.data, args.split)  # FER+ rows pair with the CSV's, so CSV only
    data = load_split(args.data, args.split, size, channels)
    log_counts(data)
    t1 = time.perf_counter()
    probs = predict(batch_to_model_input(data.images, size, channels))
    seconds = time.perf_counter() - t1
    meta: dict[str, Any] = {"model": str(path), "data": str(args.data), "split": args.split, "label_set": args.labels,
                            "macs": cost.macs if cost else None, "params": cost.params if cost else None,
                            "predict_seconds": round(seconds, 2)}
    if clf is not None:  # per face, batch 1, as the loop classifies: the first 200 faces of the split
        meta["latency_ms"] = {**face_latency(clf.classify, data.images[:200]), "threads": args.threads}
    if outcomes is None:
        report = report_from_probs(probs, data.label_ids, tuple(labels), **meta)
    elif args.labels == "ferplus":
        report = ferplus_report(probs, outcomes, tuple(labels), str(args.ferplus), **meta)
    else:
        report = both_report(probs, data.label_ids, outcomes, tuple(labels), str(args.ferplus), **meta)
    report["total_seconds"] = round(time.perf_counter() - t0, 2)
    title = f"{path.name} on {args.split}"
    json_path, pngs = save_report(report, out, title)
    print(format_evaluation(report))
    print(f"compute: {format_macs(report['macs'])} MACs per invoke"
          + (f", {report['params']:,} parameters" if report["params"] is not None else " (counted for .tflite models)"))
    if "latency_ms" in report:
        print(f"latency: {report['latency_ms']['p50']:.2f} ms per face (p50, batch 1, {args.threads} thread(s))")
    log.info(f"report: {json_path}" + "".join(f", {png}" for png in pngs) + f" ({seconds:.1f}s to classify)")
    if args.sidecar:
        from ..classification.sidecar import update_accuracy
        from ..eval.report import accuracy_block

        side = update_accuracy(path, accuracy_block(report))
        log.info(f"sidecar: {side} (accuracy block rewritten)")
    return 0


def _add_run(sub: Subparsers) -> None:
    from ..config import SERVICE_ONLY, add_section_arguments
    from ..outputs.http.runhttp import add_http_arguments

    p = sub.add_parser("run", help="the live loop: capture, detect faces, classify expressions, write events",
                       description="Per-face JSON Lines events from a camera, video, image(s) or the demo photo. "
                                   "No frame or face crop leaves the process unless --annotate or --show asks. "
                                   "Every loop option is a key of the service's config, with the same flag and "
                                   "default (--print-config shows them as the service's TOML).",
                       formatter_class=_DefaultsShown)
    for section, title in (("", "the loop (the service config's keys)"), ("mqtt.", "MQTT (the [mqtt] keys)")):
        skip = (*SERVICE_ONLY, "http.", *(("mqtt.",) if not section else ()))
        add_section_arguments(p.add_argument_group(title), section, skip)
    group = p.add_argument_group("run only")
    group.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: run until the source ends)")
    group.add_argument("--append", action="store_true", help="add to the --events file instead of starting it afresh "
                                                             "(a run starts it afresh, with a run record first)")
    group.add_argument("--annotate", default=None,
                       help="opt-in, contains faces: photos give annotated photos (an image file, or a folder for a "
                            "folder of photos: one per photo, named after it); videos and cameras give a video file")
    group.add_argument("--show", action="store_true", help="show an annotated window (opt-in)")
    group.add_argument("--summary", action="store_true",
                       help="print a table when the run ends: faces, face ids, each id's share of each smoothed label "
                            "(on stdout; on stderr when the events go to stdout)")
    group.add_argument("--print-config", action="store_true",
                       help="print the effective config as TOML for `fer-edge service --config` and exit")
    add_http_arguments(p)
    p.set_defaults(func=_cmd_run)



class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows each option's default, except where there is none to show (None, a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help or ""
        return super()._get_help_string(action) or ""


def _check_run_args(args: argparse.Namespace) -> None:
    """Each bad value named with its option, before anything loads."""
    if not args.frames >= 0:
        raise UsageError(f"--frames {args.frames}: want --frames >= 0")
    if getattr(args, "detector.every") is not None and getattr(args, "detector.every").strip() == "0":
        # 0 is the MAC budget in a config file; on the command line, leave the flag out for that
        raise UsageError("--detect-every 0: want --detect-every >= 1 (leave it out for the 100 M MACs budget)")


def run_config(args: argparse.Namespace) -> ServiceConfig:
    """The ServiceConfig `run`'s flags give, each key checked as the service checks it (exit 2 naming the flag)."""
    from ..config import load_config, overrides_from

    return load_config(None, overrides_from(args))


def _run_config(args: argparse.Namespace, model: Path, cfg: ServiceConfig | None = None) -> dict[str, Any]:
    """What a run record carries: run's own options, every config key, the model actually loaded; no secret and
    no stream password."""
    from ..config import SECRETS, SERVICE_ONLY, iter_keys

    cfg = cfg or run_config(args)
    keys: dict[str, Any] = {}
    for path, _ in iter_keys():
        if path not in (*SECRETS, *SERVICE_ONLY, "source.input") and not path.startswith("http."):
            value: Any = cfg
            for part in path.split("."):
                value = getattr(value, part)
            keys[path] = value
    return {"source": redact(cfg.source.input), "model": str(model), "frames": args.frames, "append": args.append,
            "annotate": args.annotate, "events": cfg.outputs.events, **keys}


def _cmd_run(args: argparse.Namespace) -> int:
    import dataclasses
    import signal
    import threading

    from ..config import HttpConfig, to_toml
    from ..outputs.events import JsonlWriter, NullWriter, run_record
    from ..outputs.http.runhttp import http_config, serving
    from ..pipeline.build import build_pipeline
    from ..pipeline.loop import chain
    from ..pipeline.progress import Progress, Summary, wants_progress
    from ..sources import open_source

    http = http_config(args)  # a bad --http-* flag is exit 2 before any model loads
    _check_run_args(args)
    cfg = run_config(args)
    if args.print_config:
        print(to_toml(dataclasses.replace(cfg, http=http or HttpConfig(enabled=False))), end="")
        return 0
    pipeline = build_pipeline(cfg, max_frames=args.frames)
    src, out = cfg.source, cfg.outputs
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed; stop as cleanly
        signal.signal(sig, lambda *_: stop.set())
    try:
        source = open_source(src.input, src.width or None, src.height or None, src.fps or None,
                             demo_frames=args.frames or 1, cancel=stop, lores=pipeline.lores)
    except FerEdgeError:
        if not stop.is_set():
            raise
        log.info(f"stopped while opening {src.input}")
        return 0
    threading.Thread(target=_wake_on_stop, args=(stop, source), name="stop", daemon=True).start()
    sinks: list[FrameSink] = []
    progress: Progress | None = None
    summary = Summary() if args.summary else None
    try:
        if args.annotate:  # before the events file is started afresh: a bad --annotate changes nothing
            sinks.append(_annotation_sink(args.annotate, src.input, source))
        events = (JsonlWriter(out.events, on_gone=stop.set, truncate=not args.append, quiet_pipe=True,  # reader gone
                              max_bytes=int(out.events_max_mb * 1e6)) if out.events else NullWriter())
    except BaseException:
        source.close()
        raise
    mqtt = None
    try:
        if out.events not in ("-", ""):  # a file outlives the run: it says which run, when and how
            events.write(run_record(time.time(), "run", _run_config(args, pipeline.model, cfg)))
        if cfg.mqtt.host:
            from ..outputs.mqtt import open_mqtt

            mqtt = open_mqtt(cfg.mqtt, out.stats_every_s)
        if args.show:
            from ..outputs.annotate import WindowSink

            sinks.append(WindowSink())
        if mqtt is not None:
            mqtt.attach(pipeline.tracker, source)
        if wants_progress(source, sys.stderr):
            progress = Progress(source.length or 0, sys.stderr)
        with serving(http, source, events, pipeline.labels, pipeline.info) as observer:
            stats = pipeline.run(source, events, sinks=tuple(sinks), stop=stop,
                                 detecting=mqtt.detecting if mqtt is not None else None,
                                 observer=chain(observer, mqtt.on_frame if mqtt is not None else None,
                                                progress.on_frame if progress is not None else None,
                                                summary.on_frame if summary is not None else None))
    finally:
        if progress is not None:
            progress.close()
        failed = _close_all(sinks, source, events)
        if mqtt is not None:
            mqtt.close()
    if failed is not None:
        raise failed
    if stats.frames == 0 and not stop.is_set():
        raise FerEdgeError(f"{src.input}: {source.failure or 'no frame could be read'}")
    if events.gone:  # `fer-edge run ... | head`: the reader has what it wanted; no error, as head's users expect
        _quiet_stdout()
        log.info(f"stdout's reader closed the pipe after {events.written} records: stopped at frame {stats.frames}")
    else:
        log.info(f"{stats.frames} frames, {stats.faces} faces, {stats.fps_mean():.1f} fps, {source.dropped} dropped")
    if summary is not None:
        print(summary.table(), end="", file=sys.stderr if out.events == "-" else sys.stdout, flush=True)
    _check_events_delivered(events)
    return _live_end(src.input, source, stop)


def _quiet_stdout() -> None:
    """Stdout's reader is gone: point descriptor 1 at /dev/null, so nothing written later (Python's own flush at
    exit) fails with a broken pipe (the Python documentation's advice for SIGPIPE)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    finally:
        os.close(devnull)


def _annotation_sink(target: str, spec: str, source: OpenedSource) -> FrameSink:
    """The --annotate sink, its file or folder checked now (a device, a FIFO, a place that cannot be written: exit 2
    before the run, not exit 1 after it)."""
    from ..files import check_output_file, ensure_folder
    from ..outputs.annotate import annotation_sink

    path = Path(target)
    if source.still and (target.endswith(("/", os.sep)) or path.is_dir() or not path.suffix):
        ensure_folder(target, "--annotate")  # photos into a folder, as annotation_sink decides
    else:
        check_output_file(target, "--annotate")
    return annotation_sink(target, spec, source.still, source.fps)


def _wake_on_stop(stop: threading.Event, source: OpenedSource) -> None:
    """A signal only sets the stop event; this wakes a read waiting on a camera or stream, so the stop is prompt."""
    stop.wait()
    source.wake()


def _live_end(spec: str, source: OpenedSource, stop: threading.Event) -> int:
    """Says why a source stopped the run: a stream that ended, or a video file cut short, is a warning (exit 0); a
    stream that stalled is an error (exit 1)."""
    failure = source.failure
    if failure is None or stop.is_set():
        return 0
    if source.stalled:
        raise FerEdgeError(f"{spec}: {failure}")
    log.warning(f"source {spec}: {failure}")
    return 0


def _check_model_flags(args: argparse.Namespace) -> None:
    """`evaluate --threads` within the config's limits for the key (`run` reads the key itself)."""
    from ..config import check_flag

    check_flag("threads", "--threads", args.threads)


def _close_all(sinks: list[FrameSink], source: OpenedSource, events: EventWriter) -> FerEdgeError | None:
    """Close everything, whatever fails; the first failure (an annotated video cut short) is returned, not lost."""
    failed = None
    for sink in sinks:
        try:
            sink.close()
        except FerEdgeError as exc:
            failed = failed or exc
    source.close()
    events.close()
    return failed


def _check_events_delivered(events: EventWriter) -> None:
    """A run whose events did not all arrive failed, whatever the loop did: its output is what a caller wanted.
    A reader that closed stdout (`| head`) took what it wanted: the records after it are not counted as lost."""
    if events.lost and not events.gone:
        from ..errors import FerEdgeError

        raise FerEdgeError(f"events {events.target}: {events.lost} of {events.lost + events.written} records lost")


def _add_service(sub: Subparsers) -> None:
    from ..service import add_service_parser

    add_service_parser(sub)


COMMANDS = "fer_edge.commands"  # entry points: name -> a module's register(subparsers) (pyproject.toml)
# Optional packages a command may need, by the extra that brings them: a missing one is one line, exit 2.
EXTRAS = {"keras": "train", "tensorflow": "train", "jax": "train", "matplotlib": "plot", "paho": "mqtt"}


def _entry_points(group: str) -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=group)}


def plugin(group: str, name: str, what: str) -> Any:
    """The object another package registers under `group` (by entry point: this package never imports it)."""
    ep = _entry_points(group).get(name)
    if ep is None:
        raise UsageError(f"{what} needs fer-edge's {name} support, which this install lacks: reinstall fer-edge")
    return ep.load()


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors in one line, naming the command and where its help is (not a usage block of 2-25 lines);
    every subcommand's parser is of this class too (add_subparsers makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command_word(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The device's commands, and the other packages' commands: only the one named is loaded (all of them for
    `--help` or no command), so `fer-edge run` never imports train, convert or benchmarks."""
    parser: argparse.ArgumentParser = OneLineParser(prog="fer-edge", description="Facial-expression recognition on edge devices.")
    parser.add_argument("--version", action="version", version=f"fer-edge {package_version()}")
    parser.add_argument("--verbose", action="store_true",
                        help="show the native libraries' own log lines (LiteRT, OpenCV/FFmpeg, TensorFlow)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    _add_run(sub)
    _add_service(sub)
    word = _command_word(sys.argv[1:] if argv is None else argv)
    if word not in sub.choices:  # another package's command, --help, or a typo (whose error lists every command)
        plugins = _entry_points(COMMANDS)
        for name, ep in plugins.items():
            if word is None or word == name or word not in plugins:
                ep.load().register(sub)
    for p in sub.choices.values():  # after the subcommand too: `fer-edge run --verbose`
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _absent(modules: tuple[str, ...]) -> str | None:
    """The first of `modules` this install lacks: a command that cannot work without it says so first."""
    from importlib.util import find_spec

    return next((m for m in modules if find_spec(m) is None), None)


def _needs_extra(prefix: str, module: str | None) -> int:
    """One line naming the extra that brings `module`, exit 2; a module no extra brings is a real bug (raised)."""
    extra = EXTRAS.get((module or "").partition(".")[0])
    if extra is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    print(f"{prefix}: error: this needs {module}, which the light install leaves out: pip install \"fer-edge[{extra}]\"",
          file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser(argv)
    except ModuleNotFoundError as exc:  # a command's own module needs an extra to load
        return _needs_extra("fer-edge", exc.name)
    args = parser.parse_args(argv)
    from .. import quiet
    from ..logs import log_to_stderr

    quiet.configure(args.verbose)  # before any subcommand loads OpenCV, LiteRT or TensorFlow
    log_to_stderr(f"fer-edge {args.command}")  # diagnostics: `fer-edge COMMAND: ...` on stderr, levels for journald
    try:
        if (absent := _absent(getattr(args, "needs", ()))) is not None:
            return _needs_extra(f"fer-edge {args.command}", absent)
        return int(args.func(args) or 0)
    except FerEdgeError as exc:
        print(f"fer-edge {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"fer-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        return _needs_extra(f"fer-edge {args.command}", exc.name)
