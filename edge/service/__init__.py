"""`fer-edge service`: the camera loop as a long-running systemd service.

One validated config; the outputs are built before the models load (`build_outputs`: the HTTP port bound, the
MQTT login tried), so a taken port or a refused login fails the start at once;
SIGTERM, SIGINT and SIGHUP only set the stop event (SIGHUP does not reload: the config is read once, at start);
READY once the model is loaded (the process, not systemd, owns reconnecting a missing camera: STATUS and /healthz
say it is waiting), WATCHDOG from the loop thread while it runs (frames, or attempts to reopen the source), STOPPING
on the way out; teardown (events flushed and closed) in `finally`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from ..config import Config, add_arguments, load_config, overrides_from
from ..redact import redact

if TYPE_CHECKING:
    from ..sources import OpenedSource
    from .sdnotify import Notifier

log = logging.getLogger(__name__)


def add_service_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("service", help="run as a long-running service (systemd: sd_notify, watchdog, HTTP metrics)",
                       description="The camera loop for weeks: one TOML config validated at start (every key also a "
                                   "flag), reconnecting source, events file, /healthz /metrics /events/latest on "
                                   "127.0.0.1. No frame or face crop leaves the process.")
    add_arguments(p)
    p.add_argument("--mqtt-forget", action="store_true",
                   help="clear this node's retained Home Assistant configs and state on the broker (and those of the "
                        "prefix it announced last), so Home Assistant removes the device; then exit")
    p.set_defaults(func=cmd_service)


def cmd_service(args: argparse.Namespace) -> int:
    from ..pipeline.check import check_loaders

    cfg = load_config(args.config, overrides_from(args), check=check_loaders)
    if args.mqtt_forget:
        return _forget(cfg)
    if args.check_config:
        from ..config import check_events_now
        from ..pipeline.build import build_pipeline
        from ..pipeline.check import check_source_now

        check_source_now(cfg.source.input)  # an unreadable folder: the start would wait it out, the check says so
        check_events_now(cfg.outputs.events)  # an events file that cannot be written: the start would retry it

        build_pipeline(cfg, keyed_errors=True)  # what the start loads, so a model that would fail the start fails the check
        print(f"fer-edge service: config OK ({args.config or 'defaults and flags'})")
        return 0
    return run_service(cfg)


def _forget(cfg: Config) -> int:
    """`--mqtt-forget`: the labels (for the count sensors' topics) from the model's sidecar, no model loaded."""
    from ..bundled import DEFAULT_MODEL
    from ..classification.sidecar import read_sidecar
    from ..errors import UsageError
    from ..labels import EMOTIONS
    from ..outputs.mqtt.node import forget, state_folder

    if not cfg.mqtt.host:
        raise UsageError("--mqtt-forget needs the broker: set mqtt.host (--mqtt-host)")
    sidecar = read_sidecar(cfg.model.path or DEFAULT_MODEL) or {}
    labels = tuple(dict.fromkeys([*sidecar.get("labels", []), *EMOTIONS]))
    forget(cfg.mqtt, labels, state_folder())
    return 0


def _log(text: str) -> None:
    log.info(redact(text))


def run_service(cfg: Config) -> int:
    from ..errors import FerEdgeError, UsageError
    from ..outputs.build import build_outputs
    from ..pipeline.build import build_pipeline, model_info, model_labels, source_lores
    from ..sources import open_source
    from ..sources.reconnect import ReconnectingSource
    from .sdnotify import Notifier
    from .watchdog import Watchdog

    stop = threading.Event()
    received: list[str] = []  # which signal stopped us: said in the stop line

    def on_signal(sig: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(sig).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    notifier = Notifier()
    det, src, out = cfg.detector, cfg.source, cfg.outputs
    lores = source_lores(cfg)

    def opener() -> OpenedSource:  # first called by the loop's first read, once the models are loaded
        return open_source(src.input, src.width or None, src.height or None, src.fps or None, cancel=stop, lores=lores)

    def on_state(text: str) -> None:
        watchdog.on_source_state(text)
        outputs.source_state(text)

    min_wait, max_wait = reconnect_waits(src.reconnect_min_s, src.reconnect_max_s, notifier.watchdog_s)
    source = ReconnectingSource(opener, src.input, stop, min_wait, max_wait, src.fps, on_state,
                                stale_s=cfg.http.stale_after_s)
    try:
        try:
            labels = model_labels(cfg)
        except FerEdgeError as exc:  # an unreadable sidecar: the model's setting is wrong, as build_pipeline says
            raise UsageError(f"model.path: {exc}") from None
        with build_outputs(cfg, "service", labels=labels, info=model_info(cfg), source=source) as outputs:
            watcher = threading.Thread(target=_on_stop, args=(stop, notifier, source), name="stop", daemon=True)
            try:
                pipeline = build_pipeline(cfg, keyed_errors=True)
                watchdog = Watchdog(notifier, source, outputs.events)
                watcher.start()
                http = outputs.http
                _log(f"model {pipeline.model.name}, detector {det.name}, source {src.input}, events "
                     f"{out.events or 'off'}, http {http.url if http else 'off'}")
                outputs.source_state(f"opening {redact(src.input)}")
                watchdog.started(redact(src.input))
                stats = pipeline.run(source, [*outputs.sinks, watchdog], stop=stop, detecting=outputs.detecting)
            finally:
                stop.set()
                if watcher.is_alive():
                    watcher.join(timeout=2)  # STOPPING=1 is out before the outputs say goodbye
    finally:
        stop.set()
        source.close()
        notifier.close()
    lost = outputs.events.lost if outputs.events is not None else 0
    if "SIGHUP" in received:
        _log("SIGHUP: stopping (the config is read only at start; restart the service to apply a changed one)")
    _log(f"stopped: {stats.frames} frames, {stats.faces} faces, {source.reconnects} reconnects, "
         f"{source.undecodable} undecodable, {lost} event records lost")
    return 0


def reconnect_waits(min_s: float, max_s: float, watchdog_s: float) -> tuple[float, float]:
    """The source's backoff bounds, the longest held to the watchdog's ping interval: each attempt pings, so the
    watchdog must not fire between two of them (only a hung loop should get the service restarted)."""
    if watchdog_s and max_s > watchdog_s:
        log.warning(f"source.reconnect_max_s {max_s:g} s is longer than half of WatchdogSec; reopening the source at "
                    f"least every {watchdog_s:g} s so that the watchdog hears from the loop")
        max_s = watchdog_s
    return min(min_s, max_s), max_s


def _on_stop(stop: threading.Event, notifier: Notifier, source: OpenedSource) -> None:
    """Waits for the stop event so that signal handlers only set it: tells systemd, wakes a read that waits."""
    stop.wait()
    notifier.send("STOPPING=1", "STATUS=stopping")
    source.wake()
