"""`fer-edge service`: the camera loop as a long-running systemd service.

One validated config; the HTTP port is bound before the models load, so a taken port fails the start at once;
SIGTERM and SIGINT only set the stop event; READY after the first frame, WATCHDOG while frames flow, STOPPING on
the way out; teardown (events flushed and closed) in `finally`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from edge.config import ServiceConfig, add_arguments, load_config, overrides_from


def add_service_parser(sub) -> None:
    p = sub.add_parser("service", help="run as a long-running service (systemd: sd_notify, watchdog, HTTP metrics)",
                       description="The camera loop for weeks: one TOML config validated at start (every key also a "
                                   "flag), reconnecting source, events file, /healthz /metrics /events/latest on "
                                   "127.0.0.1. No frame or face crop leaves the process.")
    add_arguments(p)
    p.set_defaults(func=cmd_service)


def cmd_service(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, overrides_from(args))
    if args.check_config:
        print(f"fer-edge service: config OK ({args.config or 'defaults and flags'})")
        return 0
    return run_service(cfg)


def _log(text: str) -> None:
    print(f"fer-edge service: {text}", file=sys.stderr, flush=True)


def run_service(cfg: ServiceConfig) -> int:
    from edge.bundled import DEFAULT_MODEL
    from edge.classifier import TFLiteClassifier
    from edge.detectors import make_detector
    from edge.events import JsonlWriter, NullWriter
    from edge.httpd import HttpEndpoint
    from edge.monitor import Monitor
    from edge.pipeline import LoopOptions, run_loop
    from edge.reconnect import ReconnectingSource
    from edge.sdnotify import Notifier
    from edge.sources import open_source
    from edge.tracking import Tracker

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    http = HttpEndpoint(cfg.http.host, cfg.http.port) if cfg.http.enabled else None
    notifier = Notifier()
    events = source = watcher = None
    try:
        det, src, out = cfg.detector, cfg.source, cfg.outputs
        detector = make_detector(det.name, cfg.threads, det.yunet_model or None, det.min_score or None)
        model = Path(cfg.model.path) if cfg.model.path else DEFAULT_MODEL
        classifier = TFLiteClassifier(model, cfg.threads, cfg.model.accelerator)
        tracker = Tracker(tuple(classifier.labels), cfg.smoothing.iou_threshold, cfg.smoothing.max_missed,
                          cfg.smoothing.alpha, cfg.smoothing.min_score, cfg.smoothing.switch_margin)

        def opener():
            return open_source(src.input, src.width or None, src.height or None, src.fps or None, cancel=stop)

        def on_state(text: str) -> None:
            notifier.send(f"STATUS={text}")

        source = ReconnectingSource(opener, src.input, stop, src.reconnect_min_s, src.reconnect_max_s, src.fps,
                                    on_state, stale_s=cfg.http.stale_after_s)
        events = (JsonlWriter(out.events, keep_going=True, max_bytes=int(out.events_max_mb * 1e6)) if out.events
                  else NullWriter())
        monitor = Monitor(notifier, source, events, tuple(classifier.labels), cfg.http.stale_after_s,
                          {"model": model.name, "detector": det.name})
        watcher = threading.Thread(target=_on_stop, args=(stop, notifier, source), name="stop", daemon=True)
        watcher.start()
        if http is not None:
            http.start(monitor)
        _log(f"model {model.name}, detector {det.name}, source {src.input}, events {out.events or 'off'}, "
             f"http {http.url if http else 'off'}")
        opts = LoopOptions(margin=det.margin, level_eyes=det.level_eyes, stats_every_s=out.stats_every_s,
                           detect_every=det.every)
        stats = run_loop(source, detector, classifier, events, opts, stop=stop, tracker=tracker,
                         observer=monitor.on_frame)
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=2)  # STOPPING=1 is out before the socket closes
        if http is not None:
            http.close()
        if source is not None:
            source.close()
        if events is not None:
            events.close()
        notifier.close()
    _log(f"stopped: {stats.frames} frames, {stats.faces} faces, {source.reconnects} reconnects, "
         f"{source.undecodable} undecodable, {events.lost} event records lost")
    return 0


def _on_stop(stop: threading.Event, notifier, source) -> None:
    """Waits for the stop event so that signal handlers only set it: tells systemd, wakes a read that waits."""
    stop.wait()
    notifier.send("STOPPING=1", "STATUS=stopping")
    source.wake()
