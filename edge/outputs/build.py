"""One way from the validated config to the outputs, beside `build_pipeline` for the models: `fer-edge run`,
`fer-edge service` and the benchmarks all call `build_outputs`, so no two wire the events, the annotated copies,
MQTT, the HTTP endpoint and the preview differently. Each output is a sink (edge/pipeline/sink.py); adding one is
a module and a line here (docs/extending.md).

Modes: `run` (a command: events started afresh, the options `RunRequest` carries), `service` (for weeks: events
appended and retried, the MQTT node remembered) and `api` (a program that runs the loop itself, a benchmark: the
events alone, never a port, a broker, a window or a picture). The HTTP endpoint is on when `http.enabled` is;
`fer-edge run` turns it on only when an --http-* flag is given.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO, TypeVar

from ..config import Config
from ..errors import FerEdgeError
from ..pipeline.build import model_info
from ..pipeline.progress import Progress, Summary, wants_progress
from ..pipeline.sink import Closing, Sink
from ..records import FrameResult
from ..sources import OpenedSource
from .events import EventsSink, JsonlWriter, run_record

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from .http.server import HttpEndpoint

log = logging.getLogger(__name__)

Mode = Literal["run", "service", "api"]
S = TypeVar("S", bound=Sink)


@dataclass(frozen=True)
class RunRequest:
    """What `fer-edge run` asks for beyond the config's keys."""

    annotate: str | None = None  # --annotate: a file or folder for the annotated copies
    show: bool = False  # --show: a window
    summary: bool = False  # --summary: the table at the end (`Outputs.summary`)
    append: bool = False  # add to the events file instead of starting it afresh
    record: dict[str, Any] | None = None  # the run record's config, written first in an events file
    on_gone: Callable[[], None] = field(default=lambda: None)  # stdout's reader left (`| head`): stop the run


class Outputs(Closing):
    """The sinks a config turned on, in the order each frame reaches them, and what the caller reads of them. Closing
    closes each (all of them, whatever fails; the first failure, an annotated video cut short, is raised after)."""

    def __init__(self) -> None:
        self.sinks: list[Sink] = []
        self.events: JsonlWriter | None = None  # the events file's writer: lost and written records
        self.summary: Summary | None = None
        self.detecting: Callable[[], bool] | None = None  # MQTT's detection switch: False while paused
        self.http: HttpEndpoint | None = None  # the HTTP endpoint (its `url`), when on
        self.states: list[Callable[[str], None]] = []  # who says why no frame comes (/healthz)

    def add(self, sink: S) -> S:
        self.sinks.append(sink)
        return sink

    def source_state(self, text: str) -> None:
        """Why no frame comes now (the source opening, its last failed attempt), for those that say so."""
        for tell in self.states:
            tell(text)

    def on_frame(self, result: FrameResult) -> None:
        for sink in self.sinks:
            sink.on_frame(result)

    def close(self) -> None:
        """The endpoint first (no client waits on a closing sink), then the sinks last to first: the progress line
        is erased before anything else logs, the events file's last stats record comes after every other output."""
        closing: list[Closing | Sink] = [self.http] if self.http is not None else []
        closing += reversed(self.sinks)
        self.sinks, self.http = [], None
        failed: FerEdgeError | None = None
        for each in closing:
            try:
                each.close()
            except FerEdgeError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed


def build_outputs(cfg: Config, mode: Mode, *, labels: tuple[str, ...], info: dict[str, str] | None = None,
                  source: OpenedSource | None = None, run: RunRequest = RunRequest(),
                  events_to: TextIO | None = None) -> Outputs:
    """The outputs `cfg` turns on for `mode`. `labels` are the classifier's (MQTT's expression options, /metrics'
    label counts); `info` names the model and detector (default: as the config does); `source` is the loop's (a
    run's annotation and progress follow its kind, /metrics reads its counters); `events_to` takes the events
    instead of `outputs.events` (a benchmark reading them back). If one output fails to start, those already
    started are closed and the error is raised."""
    info = info if info is not None else model_info(cfg)
    outputs = Outputs()
    try:
        _build(outputs, cfg, mode, labels, info, source, run, events_to)
    except BaseException:
        outputs.close()
        raise
    return outputs


def _build(outputs: Outputs, cfg: Config, mode: Mode, labels: tuple[str, ...], info: dict[str, str],
           source: OpenedSource | None, run: RunRequest, events_to: TextIO | None) -> None:
    """In an order that fails early and harmlessly: a bad --annotate, a taken port or a refused login stops the
    start before the events file is touched."""
    out, live = cfg.outputs, mode != "api"
    if mode == "run" and run.annotate and source is not None:
        from .annotate import annotation_sink

        outputs.add(annotation_sink(run.annotate, cfg.source.input, source.still, source.fps))
    if mode == "run" and run.show:
        from .annotate import WindowSink

        outputs.add(WindowSink())
    if live and cfg.http.enabled:
        from .http.server import HttpEndpoint

        outputs.http = HttpEndpoint(cfg.http.host, cfg.http.port, cfg.http.allowed_hosts)  # bound: not yet serving
    mqtt = None
    if live and cfg.mqtt.host:
        from .mqtt.node import state_folder
        from .mqtt.sink import open_mqtt

        mqtt = outputs.add(open_mqtt(cfg.mqtt, out.stats_every_s, labels, state_folder() if mode == "service" else None))
        outputs.detecting = mqtt.detecting
    outputs.events = _events(cfg, mode, run, events_to)
    if outputs.events is not None:
        outputs.sinks.insert(0, EventsSink(outputs.events, out.stats_every_s))  # records first, as the loop makes them
    if outputs.http is not None:
        _serve(outputs, outputs.http, cfg, source, labels, info, [mqtt] if mqtt is not None else [])
    if mode == "run" and source is not None and wants_progress(source, sys.stderr):
        outputs.add(Progress(source.length or 0, sys.stderr))
    if mode == "run" and run.summary:
        outputs.summary = outputs.add(Summary())


def _events(cfg: Config, mode: Mode, run: RunRequest, events_to: TextIO | None) -> JsonlWriter | None:
    """The events writer: a run starts its file afresh with a run record and stops when stdout's reader leaves; the
    service appends, retries a file it cannot open and keeps going."""
    out = cfg.outputs
    max_bytes = int(out.events_max_mb * 1e6)
    if events_to is not None:
        return JsonlWriter(events_to)
    if not out.events:
        return None
    if mode == "service":
        return JsonlWriter(out.events, keep_going=True, max_bytes=max_bytes)
    writer = JsonlWriter(out.events, on_gone=run.on_gone, truncate=not run.append, quiet_pipe=True, max_bytes=max_bytes)
    if run.record is not None and out.events != "-":  # a file outlives the run: it says which run, when and how
        writer.write(run_record(time.time(), "run", run.record))
    return writer


def _serve(outputs: Outputs, endpoint: HttpEndpoint, cfg: Config, source: OpenedSource | None,
           labels: tuple[str, ...], info: dict[str, str], collectors: list[Collector]) -> None:
    """The endpoint's health and, when asked, the preview; then it serves them, `collectors` in /metrics too."""
    from ..sources.reconnect import ReconnectingSource
    from .http.health import Health, Steady
    from .http.preview import make_preview

    http = cfg.http
    counts = source if isinstance(source, ReconnectingSource) else Steady(source)
    health = outputs.add(Health(counts, outputs.events, labels, http.stale_after_s, info))
    outputs.states.append(health.on_source_state)
    preview = outputs.add(make_preview(http, info)) if http.preview else None
    for collector in collectors:
        health.registry.register(collector)
    endpoint.start(health, preview)
    if endpoint.exposure:
        log.warning(endpoint.exposure)
