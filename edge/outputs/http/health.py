"""What the HTTP endpoint tells about the loop: /healthz, /events/latest and the loop's families in /metrics.

The loop's thread copies what it needs under a lock (`on_frame`); the HTTP thread reads only that copy. The health
is a prometheus_client collector in its own registry, with the process collector beside it; the server, the
preview and MQTT register theirs there too. Nothing here reads a pixel.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from ...pipeline.sink import Closing
from ...pipeline.stats import STAGES
from ...records import FaceRecord, FrameResult
from ...redact import redact
from ...sources import OpenedSource
from ...tracking import UNCERTAIN
from ..events import JsonlWriter, face_json


class SourceHealth(Protocol):
    """What /metrics reads of the source, live (between frames too): a ReconnectingSource, or `Steady`."""

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


class Steady:
    """A plain source (`fer-edge run`'s) as /metrics reads it: it neither reconnects nor counts failed openings."""

    up, errors, reconnects = True, 0, 0

    def __init__(self, source: OpenedSource | None) -> None:
        self._source = source

    @property
    def dropped(self) -> int:
        return self._source.dropped if self._source is not None else 0

    @property
    def undecodable(self) -> int:
        return self._source.undecodable if self._source is not None else 0


class Health(Closing):
    """The endpoint's paths other than the preview's, fed by the loop: frames flowing, faces in view, ended faces."""

    SNAPSHOT_EVERY_S = 1.0  # latency percentiles and the ended faces' pruning: cheap, but not per frame

    def __init__(self, source: SourceHealth, events: JsonlWriter | None, labels: tuple[str, ...], stale_after_s: float,
                 info: dict[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        self._source, self._events = source, events
        self._stale, self._info, self._clock = stale_after_s, info, clock
        self._lock = threading.Lock()
        self._last_frame: float | None = None
        self._frames = self._faces = self._detected = 0
        self._fps = 0.0
        self._labels = dict.fromkeys((*labels, UNCERTAIN), 0)
        self._in_view: list[FaceRecord] = []  # the last processed frame's records: the faces in view now
        self._seen: dict[int, float] = {}  # face_id -> when its last record came, while in view
        self._ended: dict[int, tuple[float, FaceRecord]] = {}  # face_id -> (when last seen, its last record)
        self._last_record: dict[int, FaceRecord] = {}  # each tracked face's last record, until it ends
        self._latency: dict[str, tuple[float, float, float, int]] = {}  # stage -> (p50 s, p95 s, sum s, count)
        self._last_snapshot = -math.inf
        self._waiting: str | None = None  # why there is no frame now: the source's last failed attempt
        self.registry = CollectorRegistry()  # what /metrics renders, collected on the HTTP thread when scraped
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def on_source_state(self, text: str) -> None:
        """Why no frame comes now (opening the source, its last failed attempt): /healthz says so until one comes."""
        self._waiting = redact(text)

    def on_frame(self, result: FrameResult) -> None:
        """Count, keep the faces in view and those that ended (the frame result's rule, as MQTT's `end`)."""
        now, stats = self._clock(), result.stats
        self._waiting = None
        with self._lock:
            self._last_frame = now
            self._frames, self._faces, self._fps, self._detected = stats.frames, stats.faces, stats.fps_now, stats.detected
            for r in result.faces:
                self._labels[r.smoothed_label] = self._labels.get(r.smoothed_label, 0) + 1
                self._last_record[r.face_id], self._seen[r.face_id] = r, now
            for face_id in result.ended:
                if face_id in self._last_record:
                    self._ended[face_id] = (self._seen.pop(face_id), self._last_record.pop(face_id))
            self._in_view = list(result.faces)
            if now - self._last_snapshot >= self.SNAPSHOT_EVERY_S:
                self._last_snapshot = now
                self._latency = {stage: (v["p50"] / 1000, v["p95"] / 1000, stats.total_s[stage], stats.count(stage))
                                 for stage, v in stats.latency().items()}
                self._ended = {k: v for k, v in self._ended.items() if now - v[0] <= self._stale}

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
        """The faces in view now (the last frame's, while frames flow), and apart, those that ended (the tracker
        dropped their id) within `stale_after_s` of their last record: a street scene is a few faces, not every
        passer-by. `gone_s` is the time since that last record."""
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
                                  value=ev.errors if ev is not None else 0)
        yield CounterMetricFamily("fer_edge_events_lost_total", "Event records not written (disk full, unwritable).",
                                  value=ev.lost if ev is not None else 0)
        by_label = CounterMetricFamily("fer_edge_labels_total", "Face records by smoothed label.", labels=["label"])
        for label, n in labels.items():
            by_label.add_metric([label], n)
        yield by_label
        # a summary with quantiles, which prometheus_client's SummaryMetricFamily does not take: samples by hand
        stages = Metric("fer_edge_stage_seconds", "Per-stage latency over the last 1000 frames timed for it (wait: the "
                        "source idle, pacing a file or waiting for a camera's frame; decode: the rest of the read; "
                        "detect counts only the frames that ran the detector; events: the outputs).", "summary")
        for stage in STAGES:
            if stage in latency:
                p50, p95, total, count = latency[stage]  # sum and count of one moment: the detected frames' for detect
                stages.add_sample("fer_edge_stage_seconds", {"stage": stage, "quantile": "0.5"}, p50)
                stages.add_sample("fer_edge_stage_seconds", {"stage": stage, "quantile": "0.95"}, p95)
                stages.add_sample("fer_edge_stage_seconds_sum", {"stage": stage}, round(total, 6))
                stages.add_sample("fer_edge_stage_seconds_count", {"stage": stage}, count)
            else:  # nothing timed yet (before the first frame): a count of 0, as a Prometheus summary starts
                stages.add_sample("fer_edge_stage_seconds_sum", {"stage": stage}, 0.0)
                stages.add_sample("fer_edge_stage_seconds_count", {"stage": stage}, 0)
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
