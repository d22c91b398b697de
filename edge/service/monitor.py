"""What the running service tells the outside: sd_notify (READY, WATCHDOG, STATUS), health, metrics, latest faces.

The process owns reconnecting its source, so systemd hears READY once the model is loaded, whether or not a camera
is there. Watchdog pings come only from the loop thread: `on_frame` after a processed frame, `on_source_state`
after each failed attempt to open the source. A loop that hangs stops both and gets the service restarted; a
camera that is missing does not. HTTP threads read only what the loop thread copied under the lock: the
monitor is a prometheus_client collector in its own registry, with the process collector beside it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from ..outputs.events import EventWriter, face_json
from ..pipeline.stats import STAGES, LoopStats
from ..records import FaceRecord
from ..redact import redact
from ..sources import Frame
from ..tracking import UNCERTAIN
from .sdnotify import Notifier


class SourceHealth(Protocol):
    """What the monitor reads of the source: a ReconnectingSource, or `run`'s plain source (edge/outputs/http/runhttp.py)."""

    @property
    def dropped(self) -> int: ...

    @property
    def undecodable(self) -> int: ...

    @property
    def up(self) -> bool: ...

    @property
    def errors(self) -> int: ...

    @property
    def reconnects(self) -> int: ...


class Monitor:
    STATUS_EVERY_S = 2.0
    SNAPSHOT_EVERY_S = 1.0  # latency percentiles and the latest-faces pruning: cheap, but not per frame

    def __init__(self, notifier: Notifier, source: SourceHealth, events: EventWriter, labels: tuple[str, ...],
                 stale_after_s: float, info: dict[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        self._notifier, self._source, self._events = notifier, source, events
        self._stale, self._info, self._clock = stale_after_s, info, clock
        self._lock = threading.Lock()
        self.ready = False
        self._last_frame: float | None = None
        self._frames = self._faces = self._frame_faces = 0
        self._fps = 0.0
        self._detected = 0
        self._labels = dict.fromkeys((*labels, UNCERTAIN), 0)
        self._in_view: list[FaceRecord] = []  # the last processed frame's records: the faces in view now
        self._ended: dict[int, tuple[float, FaceRecord]] = {}  # face_id -> (when last seen, its last record), gone since
        self._latency: dict[str, tuple[float, float, float, int]] = {}  # stage -> (p50 s, p95 s, sum s, count)
        self._last_ping = self._last_status = self._last_snapshot = -math.inf
        self._waiting: str | None = None  # why there is no frame now: the source's last failed attempt
        # /metrics: this monitor's families, the process's (memory, CPU, descriptors), and what other parts
        # register (the HTTP server, the preview, MQTT): each collected when scraped, on the HTTP thread
        self.registry = CollectorRegistry()
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def started(self, source_name: str) -> None:
        """The model is loaded and the endpoint up: READY, before any frame (the camera may be missing for hours)."""
        self.ready = True
        self._waiting = f"opening {redact(source_name)}"
        self._last_status = self._clock()
        self._notifier.send("READY=1", f"STATUS={self.status()}")

    def on_source_state(self, text: str) -> None:
        """From the loop thread after each failed attempt to open or read the source: say why, and that it is alive."""
        now = self._clock()
        self._waiting = redact(text)  # STATUS= and /healthz print it
        fields = []
        if self._notifier.watchdog_s and now - self._last_ping >= self._notifier.watchdog_s:
            self._last_ping = now
            fields.append("WATCHDOG=1")
        self._last_status = now
        self._notifier.send(*fields, f"STATUS={self.status()}")

    def on_frame(self, frame: Frame, records: Sequence[FaceRecord], stats: LoopStats) -> None:
        """The loop's observer: count, remember each face's last record, and tell systemd the loop is alive."""
        now = self._clock()
        was_waiting, self._waiting = self._waiting is not None, None
        with self._lock:
            self._last_frame = now
            self._frames, self._faces, self._fps, self._frame_faces = stats.frames, stats.faces, stats.fps_now, len(records)
            self._detected = stats.detected
            for r in records:
                self._labels[r.smoothed_label] = self._labels.get(r.smoothed_label, 0) + 1
                self._ended.pop(r.face_id, None)
            seen = {r.face_id for r in records}
            for r in self._in_view:
                if r.face_id not in seen:
                    self._ended[r.face_id] = (now, r)
            self._in_view = list(records)
            if now - self._last_snapshot >= self.SNAPSHOT_EVERY_S:
                self._last_snapshot = now
                self._latency = {stage: (v["p50"] / 1000, v["p95"] / 1000, stats.total_s[stage], stats.count(stage))
                                 for stage, v in stats.latency().items()}
                self._ended = {k: v for k, v in self._ended.items() if now - v[0] <= self._stale}
        fields = []
        if not self.ready:
            self.ready = True
            fields.append("READY=1")
        if self._notifier.watchdog_s and now - self._last_ping >= self._notifier.watchdog_s:
            self._last_ping = now
            fields.append("WATCHDOG=1")
        if now - self._last_status >= self.STATUS_EVERY_S or was_waiting or fields and fields[0] == "READY=1":
            self._last_status = now
            fields.append(f"STATUS={self.status()}")
        if fields:
            self._notifier.send(*fields)

    def status(self) -> str:
        if self._waiting is not None:
            return f"waiting for camera: {self._waiting}"
        faces = "1 face" if self._frame_faces == 1 else f"{self._frame_faces} faces"
        lost = f", {self._events.lost} event records lost" if self._events.lost else ""
        return f"{self._fps:.1f} fps, {faces}, {self._frames} frames, {self._source.reconnects} reconnects{lost}"

    def healthy(self) -> bool:
        """Frames are flowing: one was processed within the last `stale_after_s` seconds."""
        last = self._last_frame
        return last is not None and self._clock() - last <= self._stale

    def health_text(self) -> str:
        last, waiting = self._last_frame, self._waiting
        if last is None:
            return f"waiting for camera: {waiting}\n" if waiting else "starting: no frame processed yet\n"
        age = self._clock() - last
        if age <= self._stale:
            return f"ok: last frame {age:.2f} s ago\n"
        return f"stale: no frame for {age:.1f} s" + (f"; waiting for camera: {waiting}" if waiting else "") + "\n"

    def latest_json(self) -> str:
        """The faces in view now (the last frame's, while frames flow), and apart, those that left the view within
        `stale_after_s` (their last record and how long ago): a street scene is a few faces, not every passer-by."""
        now = self._clock()
        with self._lock:
            fresh = self._last_frame is not None and now - self._last_frame <= self._stale
            faces = sorted(self._in_view, key=lambda r: r.face_id) if fresh else []
            ended = [(r, round(now - seen, 2)) for _, (seen, r) in sorted(self._ended.items()) if now - seen <= self._stale]
        return json.dumps({"time": round(time.time(), 3), "healthy": self.healthy(), "faces": [face_json(r) for r in faces],
                           "ended": [{**face_json(r), "gone_s": gone} for r, gone in ended]}) + "\n"

    def faces_in_view(self) -> int:
        """How many faces the last frame held; 0 once frames stop (nothing is known to be in view)."""
        with self._lock:
            fresh = self._last_frame is not None and self._clock() - self._last_frame <= self._stale
            return len(self._in_view) if fresh else 0

    def metrics_text(self) -> str:
        """The registry in the Prometheus text format (0.0.4)."""
        return generate_latest(self.registry).decode()

    def collect(self) -> Iterator[Metric]:
        """The loop's families (prometheus_client's collector interface), from what the loop thread last copied."""
        now = self._clock()
        with self._lock:
            frames, faces, fps, labels = self._frames, self._faces, self._fps, dict(self._labels)
            detected = self._detected
            latency, last = dict(self._latency), self._last_frame
        healthy = last is not None and now - last <= self._stale
        src, ev = self._source, self._events
        yield InfoMetricFamily("fer_edge", "What this service runs (value 1).", value=self._info)
        yield GaugeMetricFamily("fer_edge_healthy", "1 while frames flow (the /healthz answer).", value=int(healthy))
        yield CounterMetricFamily("fer_edge_frames_total", "Frames processed.", value=frames)
        yield CounterMetricFamily("fer_edge_faces_total", "Faces classified.", value=faces)
        yield GaugeMetricFamily("fer_edge_faces_in_view", "Faces in the last processed frame (0 while frames stop).",
                                value=self.faces_in_view())
        yield CounterMetricFamily("fer_edge_frames_detected_total", "Frames on which the face detector ran (the others "
                                  "reuse the last boxes).", value=detected)
        yield GaugeMetricFamily("fer_edge_frames_per_second", "The frame rate now: a moving average over about the "
                                "last ten frames (0 while frames stop).", value=round(fps, 3) if healthy else 0.0)
        yield GaugeMetricFamily("fer_edge_last_frame_age_seconds", "Seconds since the last processed frame.",
                                value=round(now - last, 3) if last is not None else -1.0)
        yield CounterMetricFamily("fer_edge_frames_dropped_total", "Camera frames dropped because the loop was behind.",
                                  value=src.dropped)
        yield CounterMetricFamily("fer_edge_frames_undecodable_total", "Frames skipped because they did not decode.",
                                  value=src.undecodable)
        yield GaugeMetricFamily("fer_edge_source_up", "1 while the source delivers frames (one within stale_after_s).",
                                value=int(src.up))
        yield CounterMetricFamily("fer_edge_source_errors_total", "Source openings that failed or sources that stopped.",
                                  value=src.errors)
        yield CounterMetricFamily("fer_edge_source_reconnects_total", "Recoveries of the source after an error.",
                                  value=src.reconnects)
        yield CounterMetricFamily("fer_edge_events_write_errors_total", "Failed writes of the events file.",
                                  value=ev.errors)
        yield CounterMetricFamily("fer_edge_events_lost_total", "Event records not written (disk full, unwritable).",
                                  value=ev.lost)
        by_label = CounterMetricFamily("fer_edge_labels_total", "Face records by smoothed label.", labels=["label"])
        for label, n in labels.items():
            by_label.add_metric([label], n)
        yield by_label
        # a summary with quantiles, which prometheus_client's SummaryMetricFamily does not take: samples by hand
        stages = Metric("fer_edge_stage_seconds", "Per-stage latency over the last 1000 frames timed for it (wait: the "
                        "source idle, pacing a file or waiting for a camera's frame; decode: the rest of the read; "
                        "detect counts only the frames that ran the detector).", "summary")
        for stage in STAGES:
            if stage in latency:
                p50, p95, total, count = latency[stage]  # sum and count of one moment: the detected frames' for detect
                stages.add_sample("fer_edge_stage_seconds", {"stage": stage, "quantile": "0.5"}, p50)
                stages.add_sample("fer_edge_stage_seconds", {"stage": stage, "quantile": "0.95"}, p95)
                stages.add_sample("fer_edge_stage_seconds_sum", {"stage": stage}, round(total, 6))
                stages.add_sample("fer_edge_stage_seconds_count", {"stage": stage}, count)
        yield stages


def metric_value(text: str, name: str) -> float | None:
    """The unlabelled sample `name` of a /metrics text, read with prometheus_client's own parser (None: absent);
    for the programs that watch a running service (the soak and SIGTERM benchmarks)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return None
