"""`fer-edge run`: the live loop from a camera, a video, photos or the demo photo to the outputs its flags ask for."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FerEdgeError, UsageError
from ..redact import redact

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from ..config import Config, HttpConfig
    from ..outputs.build import RunRequest
    from ..outputs.events import JsonlWriter
    from ..sources import OpenedSource

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger(__name__)


def add_run(sub: Subparsers) -> None:
    from ..config import SERVICE_ONLY, add_section_arguments

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



def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """`run`'s --http-* flags: the service's [http] keys, so `run` and `service` agree on names, limits and the
    token rule; the endpoint is off unless one is given."""
    from ..config import add_key_argument, iter_keys

    group = parser.add_argument_group("HTTP endpoint (off unless one of these is given; the service's [http] keys)")
    for path, f in iter_keys():
        if path.startswith("http.") and path != "http.enabled":
            add_key_argument(group, path, f)


def http_config(args: argparse.Namespace) -> HttpConfig | None:
    """The [http] the flags give, checked like the service's config (exit 2 naming the flag); None: no flag given."""
    from ..config import iter_keys, load_config

    given = {path: getattr(args, path) for path, _ in iter_keys()
             if path.startswith("http.") and getattr(args, path, None) is not None}
    return load_config(None, given).http if given else None


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
        raise UsageError("--detect-every 0: want --detect-every >= 1 (leave it out for the --detect-budget rule)")


def run_config(args: argparse.Namespace) -> Config:
    """The Config `run`'s flags give, each key checked as the service checks it (exit 2 naming the flag)."""
    from ..config import load_config, overrides_from

    return load_config(None, overrides_from(args))


def run_settings(args: argparse.Namespace) -> Config:
    """The config a run goes by: its flags' keys, and the [http] its --http-* flags give (the endpoint off without
    one); a bad value is exit 2 naming the flag, before any model loads."""
    import dataclasses

    from ..config import HttpConfig

    http = http_config(args)
    _check_run_args(args)
    return dataclasses.replace(run_config(args), http=http or HttpConfig(enabled=False))


def run_request(args: argparse.Namespace, record: dict[str, Any] | None = None,
                on_gone: Callable[[], None] = lambda: None) -> RunRequest:
    """What run's own flags ask of the outputs (--annotate, --show, --summary, --append), with the run record."""
    from ..outputs.build import RunRequest

    return RunRequest(annotate=args.annotate, show=args.show, summary=args.summary, append=args.append,
                      record=record, on_gone=on_gone)


def _run_config(args: argparse.Namespace, model: Path, cfg: Config | None = None) -> dict[str, Any]:
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
    import signal
    import threading

    from ..config import to_toml
    from ..outputs.build import build_outputs
    from ..pipeline.build import build_pipeline
    from ..sources import open_source

    cfg = run_settings(args)
    if args.print_config:
        print(to_toml(cfg), end="")
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
    request = run_request(args, _run_config(args, pipeline.model, cfg), on_gone=stop.set)  # stdout's reader gone
    try:
        with build_outputs(cfg, "run", labels=pipeline.labels, info=pipeline.info, source=source,
                           run=request) as outputs:
            if outputs.http is not None:
                log.info(f"http {outputs.http.url}")
            stats = pipeline.run(source, outputs.sinks, stop=stop, detecting=outputs.detecting)
    finally:
        source.close()
    if stats.frames == 0 and not stop.is_set():
        raise FerEdgeError(f"{src.input}: {source.failure or 'no frame could be read'}")
    events = outputs.events
    if events is not None and events.gone:  # `fer-edge run ... | head`: the reader has what it wanted, no error
        _quiet_stdout()
        log.info(f"stdout's reader closed the pipe after {events.written} records: stopped at frame {stats.frames}")
    else:
        log.info(f"{stats.frames} frames, {stats.faces} faces, {stats.fps_mean():.1f} fps, {source.dropped} dropped")
    if outputs.summary is not None:
        print(outputs.summary.table(), end="", file=sys.stderr if out.events == "-" else sys.stdout, flush=True)
    if events is not None:
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


def _check_events_delivered(events: JsonlWriter) -> None:
    """A run whose events did not all arrive failed, whatever the loop did: its output is what a caller wanted.
    A reader that closed stdout (`| head`) took what it wanted: the records after it are not counted as lost."""
    if events.lost and not events.gone:
        from ..errors import FerEdgeError

        raise FerEdgeError(f"events {events.target}: {events.lost} of {events.lost + events.written} records lost")
