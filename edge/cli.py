"""The `fer-edge` console script. Subcommands import their heavy modules lazily."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FerEdgeError, UsageError
from .files import ensure_folder
from .redact import redact

if TYPE_CHECKING:
    import threading

    from .config import ServiceConfig
    from .events import EventWriter
    from .pipeline import FrameSink
    from .sources import FrameSource

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_train(sub: Subparsers) -> None:
    p = sub.add_parser("train", help="train a Keras model on FER2013 (needs fer-edge[train])",
                       description="Train on the Training split, keep the best PublicTest epoch.")
    p.add_argument("--data", required=True, help="fer2013.csv(.gz) or an image-folder tree (train/<class>/...)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, state.json, history.png)")
    p.add_argument("--arch", default="cnn", choices=["cnn", "dscnn", "mobilenetv2"],
                   help="cnn: VGG-style; dscnn: depthwise-separable, about 32 M MACs; mobilenetv2")
    p.add_argument("--size", type=int, default=None, help="input side in pixels (cnn 48, mobilenetv2 96)")
    p.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    p.add_argument("--weights", default="none", help="mobilenetv2 backbone start: imagenet or none")
    p.add_argument("--widths", default=None,
                   help="cnn: filters per stage (32,64,128,256); dscnn: stem then per stage (24,48,96,192,384,768)")
    p.add_argument("--blocks", default="1,2,2,2,1", help="dscnn: separable blocks per stage")
    p.add_argument("--warmup", type=int, default=1, help="epochs of linear warmup before the cosine")
    p.add_argument("--erase", type=float, default=0.0, help="probability of random erasing (augmentation)")
    p.add_argument("--backend", default=None, choices=["tensorflow", "jax", "torch"],
                   help="Keras 3 backend (default: KERAS_BACKEND, else tensorflow); jax trains on a GPU without TensorFlow")
    p.add_argument("--teacher", nargs="+", default=[], metavar="MODEL",
                   help="distil from these .tflite models (their mean probabilities, computed once per run)")
    p.add_argument("--teacher-weight", type=float, default=0.5, help="share of the target from the teacher")
    p.add_argument("--ferplus", default=None, help="FER+ fer2013new.csv: its crowd votes as soft labels")
    p.add_argument("--ferplus-weight", type=float, default=0.2, help="share of the target from the FER+ votes")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default 40; with --resume, the run's own)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"], help="SGD with Nesterov momentum, or AdamW")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (one warmup epoch, then cosine)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--class-weight", default="sqrt", choices=["none", "sqrt", "balanced"])
    p.add_argument("--patience", type=int, default=12, help="early stop after this many epochs without a PublicTest gain")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="train on a stratified subset of this many images (smoke tests)")
    p.add_argument("--float32", action="store_true", help="train in float32 instead of mixed bfloat16")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last epoch, with its saved options (--data and --epochs may change)")
    p.set_defaults(func=_cmd_train)


def _preload(module: str) -> None:
    """TensorFlow prints its oneDNN and absl lines as it loads: load it where they can be kept off stderr."""
    from .quiet import preload

    preload(module)


def _int_list(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in _csv_list(text))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: want comma-separated integers") from None


def _cmd_train(args: argparse.Namespace) -> int:
    from train.models import DSCNN_WIDTHS
    from train.trainer import AUGMENT, TrainOptions, train

    default_widths = ",".join(map(str, DSCNN_WIDTHS)) if args.arch == "dscnn" else "32,64,128,256"
    widths, blocks = (_int_list(args.widths or default_widths, "--widths"), _int_list(args.blocks, "--blocks"))
    for flag, w in (("--teacher-weight", args.teacher_weight), ("--ferplus-weight", args.ferplus_weight)):
        if not 0.0 <= w <= 1.0:
            raise UsageError(f"{flag} {w}: want a share between 0 and 1")
    for model in args.teacher:
        if not Path(model).is_file():
            raise UsageError(f"--teacher {model}: no such file")
    ensure_folder(args.out, "--out")
    size = args.size or (96 if args.arch == "mobilenetv2" else 48)
    if size < 32:
        raise UsageError(f"--size {size}: at least 32")
    opts = TrainOptions(
        data=args.data, out=args.out, arch=args.arch, size=size, alpha=args.alpha,
        weights=None if args.weights.lower() == "none" else args.weights, widths=widths, blocks=blocks,
        teacher=tuple(args.teacher), teacher_weight=args.teacher_weight if args.teacher else 0.0,
        ferplus=args.ferplus, ferplus_weight=args.ferplus_weight if args.ferplus else 0.0,
        epochs=args.epochs or (0 if args.resume else 40),
        batch=args.batch, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        dropout=args.dropout, class_weight=args.class_weight, patience=args.patience, seed=args.seed,
        limit=args.limit, mixed_precision=not args.float32, warmup=args.warmup,
        augment={**AUGMENT, "erase": args.erase})
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    _preload("keras")
    train(opts, resume=args.resume)
    return 0


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
    p.add_argument("--labels", default="fer2013",
                   help="fer2013 (the CSV's own labels) or ferplus (FER+ majority votes; needs --ferplus and a CSV)")
    p.add_argument("--ferplus", default=None, help="FER+ fer2013new.csv, one row per row of the --data CSV")
    p.set_defaults(func=_cmd_evaluate)


LABEL_SETS = ("fer2013", "ferplus")


def default_report(model: Path, split: str, label_set: str) -> Path:
    """Beside the model, named after it, the split and the label set, so runs and models never share a report;
    never into the installed package (a bundled model's report goes to the working directory)."""
    name = f"{model.stem}_{split}{'_ferplus' if label_set == 'ferplus' else ''}.json"
    package = Path(__file__).resolve().parent
    folder = model.resolve().parent
    return Path(name) if folder == package or package in folder.parents else model.parent / name


def _check_labels(args: argparse.Namespace) -> None:
    """Usage errors about --labels and --ferplus, before any model or data loads."""
    if args.labels not in LABEL_SETS:
        raise UsageError(f"--labels {args.labels!r}: use one of {', '.join(LABEL_SETS)}")
    if args.labels == "ferplus" and not args.ferplus:
        raise UsageError("--labels ferplus needs --ferplus PATH (fer2013new.csv from microsoft/FERPlus)")
    if args.labels != "ferplus" and args.ferplus:
        raise UsageError("--ferplus is used only with --labels ferplus")
    if args.labels == "ferplus":
        from pathlib import Path

        if not Path(args.ferplus).is_file():
            raise UsageError(f"--ferplus {args.ferplus}: no such file")
        if not Path(args.data).is_file():
            raise UsageError(f"--data {args.data}: --labels ferplus needs the FER2013 CSV (FER+ rows follow its rows)")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from .bundled import DEFAULT_MODEL
    from .cost import format_macs
    from .datasets import canonical_split, load_split, print_counts
    from .evaluation import report_from_probs, save_report
    from .files import check_output_file
    from .metrics import format_report
    from .preprocess import batch_to_model_input

    canonical_split(args.split)  # a usage error before any model loads
    _check_labels(args)
    _check_model_flags(args)
    path = Path(args.model) if args.model else DEFAULT_MODEL
    out = Path(args.report) if args.report else default_report(path, canonical_split(args.split), args.labels)
    for target in (out, out.with_suffix(".png")):
        check_output_file(target, "--report")  # a folder, device or unwritable place: refused now, not after the work
    t0 = time.perf_counter()
    cost = None
    if path.suffix.lower() == ".tflite":
        from .classifier import TFLiteClassifier
        from .cost import model_cost

        clf = TFLiteClassifier(path, threads=args.threads)
        size, channels, labels, predict = clf.input.size, clf.input.channels, clf.labels, clf.predict_dataset
        cost = model_cost(path)
    else:
        from convert.loading import load_source_model

        from .labels import EMOTIONS

        _preload("keras")
        model = load_source_model(path, args.normalize)
        if model.classes != len(EMOTIONS):
            raise UsageError(f"{path}: model has {model.classes} outputs, but FER2013 has {len(EMOTIONS)} classes")
        size, channels, labels, predict = (model.height, model.width), model.channels, EMOTIONS, model.predict
    outcomes = None
    if args.labels == "ferplus":
        from .ferplus import split_outcomes
        from .labels import EMOTIONS

        if tuple(labels) != EMOTIONS:
            raise FerEdgeError(f"{path}: labels {list(labels)} are not FER2013's seven, so FER+ labels cannot score it")
        outcomes = split_outcomes(args.ferplus, args.data, args.split)  # FER+ rows pair with the CSV's, so CSV only
    data = load_split(args.data, args.split, size, channels)
    print_counts(data)
    t1 = time.perf_counter()
    probs = predict(batch_to_model_input(data.images, size, channels))
    seconds = time.perf_counter() - t1
    meta = {"model": str(path), "data": str(args.data), "split": args.split, "label_set": args.labels,
            "macs": cost.macs if cost else None, "params": cost.params if cost else None,
            "predict_seconds": round(seconds, 2)}
    if outcomes is None:
        report = report_from_probs(probs, data.label_ids, tuple(labels), **meta)
    else:
        from .ferplus import format_summary, outcome_summary

        keep = outcomes >= 0
        summary = outcome_summary(outcomes, probs.argmax(axis=1), tuple(labels))
        report = report_from_probs(probs[keep], outcomes[keep], tuple(labels), **meta,
                                   ferplus={"file": str(args.ferplus), **summary})
    report["total_seconds"] = round(time.perf_counter() - t0, 2)
    title = f"{path.name} on {args.split}" + (" (FER+ majority labels)" if outcomes is not None else "")
    json_path, png = save_report(report, out, title)
    print(format_report(report))
    if outcomes is not None:
        print(format_summary(report["ferplus"]))
    print(f"compute: {format_macs(report['macs'])} MACs per invoke"
          + (f", {report['params']:,} parameters" if report["params"] is not None else " (counted for .tflite models)"))
    print(f"report: {json_path}" + (f", {png}" if png else "") + f" ({seconds:.1f}s to classify)", file=sys.stderr)
    return 0


def _add_convert(sub: Subparsers) -> None:
    p = sub.add_parser("convert", help="convert a Keras model to TFLite variants (needs fer-edge[train])",
                       description="Convert to int8/float16/float32/dynamic TFLite, verify against the float model.")
    p.add_argument("model", help=".keras, .h5 or a SavedModel folder")
    p.add_argument("--out", required=True, help="output folder; files are <name>_<variant>.tflite + .json sidecars")
    p.add_argument("--name", default=None, help="file name stem (default: the --out folder's name)")
    p.add_argument("--variants", default="int8", help="comma list of int8, float16, float32, dynamic")
    p.add_argument("--calib", default=None, help="calibration data: fer2013.csv(.gz) (Training split) or an image folder")
    p.add_argument("--calib-images", type=int, default=500, help="representative images, stratified by class")
    p.add_argument("--eval-data", default=None, help="data for the accuracy check (default: --calib when it is a CSV)")
    p.add_argument("--eval-split", default="PrivateTest")
    p.add_argument("--normalize", default="none",
                   help="bake the model's own input normalization in: none, unit (x/255), symmetric (x/127.5-1) "
                        "or SCALE,OFFSET")
    p.add_argument("--flip-average", action="store_true",
                   help="bake test-time augmentation in: average the face and its mirror image (2x compute)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from convert.converter import parse_variants
    from convert.pipeline import run_convert

    if args.calib_images < 1:
        raise UsageError("--calib-images must be at least 1")
    ensure_folder(args.out, "--out")
    variants = parse_variants(args.variants)  # a usage error before TensorFlow takes seconds to load
    _preload("tensorflow")
    run_convert(args.model, args.out, variants, args.calib, args.calib_images,
                args.eval_data, args.eval_split, args.normalize, args.name, args.seed, args.flip_average)
    return 0


def _add_run(sub: Subparsers) -> None:
    from .config import SERVICE_ONLY, add_section_arguments
    from .runhttp import add_http_arguments

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
    from .config import load_config, overrides_from

    return load_config(None, overrides_from(args), loaders=False)


def _run_config(args: argparse.Namespace, model: Path, cfg: ServiceConfig | None = None) -> dict[str, Any]:
    """What a run record carries: run's own options, every config key, the model actually loaded; no secret and
    no stream password."""
    from .config import SECRETS, SERVICE_ONLY, iter_keys

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

    from .build import build_pipeline
    from .config import HttpConfig, to_toml
    from .events import JsonlWriter, NullWriter, run_record
    from .pipeline import chain
    from .runhttp import http_config, serving
    from .sources import open_source

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
        print(f"fer-edge run: stopped while opening {src.input}", file=sys.stderr)
        return 0
    threading.Thread(target=_wake_on_stop, args=(stop, source), name="stop", daemon=True).start()
    sinks: list[FrameSink] = []
    events = (JsonlWriter(out.events, on_gone=stop.set, truncate=not args.append,  # stdout's reader gone: stop
                          max_bytes=int(out.events_max_mb * 1e6)) if out.events else NullWriter())
    mqtt = None
    try:
        if out.events not in ("-", ""):  # a file outlives the run: it says which run, when and how
            events.write(run_record(time.time(), "run", _run_config(args, pipeline.model, cfg)))
        if cfg.mqtt.host:
            from .mqtt import open_mqtt

            mqtt = open_mqtt(cfg.mqtt, out.stats_every_s)
        if args.annotate:
            from .annotate import annotation_sink

            sinks.append(annotation_sink(args.annotate, src.input, source.still, source.fps))
        if args.show:
            from .annotate import WindowSink

            sinks.append(WindowSink())
        if mqtt is not None:
            mqtt.attach(pipeline.tracker, source)
        with serving(http, source, events, pipeline.labels, pipeline.info) as observer:
            stats = pipeline.run(source, events, sinks=tuple(sinks), stop=stop,
                                 observer=chain(observer, mqtt.on_frame if mqtt is not None else None))
    finally:
        failed = _close_all(sinks, source, events)
        if mqtt is not None:
            mqtt.close()
    if failed is not None:
        raise failed
    if stats.frames == 0 and not stop.is_set():
        raise FerEdgeError(f"{src.input}: {source.failure or 'no frame could be read'}")
    print(f"{stats.frames} frames, {stats.faces} faces, {stats.fps_mean():.1f} fps, {source.dropped} dropped",
          file=sys.stderr)
    _check_events_delivered(events)
    return _live_end(src.input, source, stop)


def _wake_on_stop(stop: threading.Event, source: FrameSource) -> None:
    """A signal only sets the stop event; this wakes a read waiting on a camera or stream, so the stop is prompt."""
    stop.wait()
    source.wake()


def _live_end(spec: str, source: FrameSource, stop: threading.Event) -> int:
    """Says why a live source stopped the run: a stream that ended exits 0, one that stalled is an error (exit 1)."""
    failure = source.failure
    if failure is None or stop.is_set():
        return 0
    if source.stalled:
        raise FerEdgeError(f"{spec}: {failure}")
    print(f"fer-edge run: source {spec}: {failure}", file=sys.stderr)
    return 0


def _check_model_flags(args: argparse.Namespace) -> None:
    """`evaluate --threads` within the config's limits for the key (`run` reads the key itself)."""
    from .config import check_flag

    check_flag("threads", "--threads", args.threads)


def _close_all(sinks: list[FrameSink], source: FrameSource, events: EventWriter) -> FerEdgeError | None:
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
    """A run whose events did not all arrive failed, whatever the loop did: its output is what a caller wanted."""
    if events.lost:
        from .errors import FerEdgeError

        raise FerEdgeError(f"events {events.target}: {events.lost} of {events.lost + events.written} records lost")


def _add_bench(sub: Subparsers) -> None:
    p = sub.add_parser("bench", help="accuracy against latency and FPS for each model on this machine",
                       description="Measure every model variant (accuracy, macro-F1, latency per face, load time, "
                                   "memory) and the whole loop on a video; write results.json, results.csv, report.md "
                                   "and pareto.png. No TensorFlow needed unless --keras is given.")
    p.add_argument("--models", nargs="+", default=[], help="model files or folders of *.tflite (default: the bundled models)")
    p.add_argument("--keras", nargs="+", default=[], help="Keras models to measure beside them (imports TensorFlow)")
    p.add_argument("--keras-normalize", default="none", help="the Keras models' own normalization (as convert --normalize)")
    p.add_argument("--data", default=None, help="labelled images: fer2013.csv(.gz) or an image-folder tree")
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--images", type=int, default=0, help="only the first N images of the split (0: all)")
    p.add_argument("--video", default=None, help="clip, camera or demo for the whole-loop measurement (default demo)")
    p.add_argument("--video-frames", type=int, default=0, help="frames of the video to run (0: all; demo: 60)")
    p.add_argument("--detectors", default="blazeface", help="comma list of detectors for the video")
    p.add_argument("--yunet-model", default=None)
    p.add_argument("--threads", default="1", help="comma list of thread counts, e.g. 1,2,4")
    p.add_argument("--runs", type=int, default=None, help="timed calls per latency figure (default 300; --quick 100)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 30; --quick 10)")
    p.add_argument("--out", default="bench", help="output folder")
    p.add_argument("--quick", action="store_true", help="under two minutes: bundled models, demo source, fewer runs")
    p.add_argument("--emulated", action="store_true", help="label every timing as meaningless (CPU emulation)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None, help="print ratios B/A of two results.json")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks import report

    if args.compare:
        a, b = (report.load_results(p) for p in args.compare)
        for difference in report.source_differences(a, b):
            print(f"fer-edge bench: warning: A and B measured different sources ({difference}); their ratios "
                  "compare different work", file=sys.stderr)
        print(report.format_compare(a, b, report.compare(a, b)))
        return 0
    from benchmarks.bench import BenchOptions, run_bench, summary

    try:
        threads = tuple(int(t) for t in _csv_list(args.threads))
    except ValueError:
        raise UsageError(f"--threads {args.threads!r}: want comma-separated integers") from None
    from .config import check_flag

    for t in threads:
        check_flag("threads", "--threads", t)
    if args.quick and (args.models or args.video):
        raise UsageError("--quick measures the bundled models on the demo source: leave out --models and --video")
    if args.images < 0 or args.video_frames < 0:
        raise UsageError("--images and --video-frames must be >= 0")
    quick = args.quick
    opts = BenchOptions(
        models=tuple(args.models), keras=tuple(args.keras), keras_normalize=args.keras_normalize, data=args.data,
        split=args.split, images=args.images, video=args.video or "demo", video_frames=args.video_frames,
        detectors=tuple(_csv_list(args.detectors)) or ("blazeface",), yunet_model=args.yunet_model,
        threads=threads or (1,), runs=args.runs or (100 if quick else 300), warmup=args.warmup if args.warmup is not None
        else (10 if quick else 30), out=args.out, quick=quick, emulated=args.emulated,
        command=("fer-edge", *sys.argv[1:]))
    results = run_bench(opts)
    print(summary(results))
    print(f"wrote {args.out}/results.json, results.csv, report.md" + (", pareto.png" if results.get("plot") else ""),
          file=sys.stderr)
    ok = any(m["status"] == "ok" for m in results["models"])
    return 0 if ok else 1


def _add_service(sub: Subparsers) -> None:
    from .service import add_service_parser

    add_service_parser(sub)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fer-edge")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fer-edge", description="Facial-expression recognition on edge devices.")
    parser.add_argument("--version", action="version", version=f"fer-edge {_version()}")
    parser.add_argument("--verbose", action="store_true",
                        help="show the native libraries' own log lines (LiteRT, OpenCV/FFmpeg, TensorFlow)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_convert(sub)
    _add_run(sub)
    _add_bench(sub)
    _add_service(sub)
    for p in sub.choices.values():  # after the subcommand too: `fer-edge run --verbose`
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


EXTRAS = {"keras": "train", "tensorflow": "train"}  # optional packages a command may need, by extra


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import quiet

    quiet.configure(args.verbose)  # before any subcommand loads OpenCV, LiteRT or TensorFlow
    try:
        return int(args.func(args) or 0)
    except FerEdgeError as exc:
        print(f"fer-edge {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"fer-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"fer-edge {args.command}: error: this needs {exc.name}, which the light install leaves out: "
              f"pip install \"fer-edge[{extra}]\"", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
