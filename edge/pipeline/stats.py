"""Loop metrics that cost little: per-stage perf_counter timings in a bounded window, and two frame rates.

`wait` is the time a read spent waiting rather than decoding: the service holding a file to its frame rate, a
reopening's backoff, a camera's next frame; `decode` is the rest of the read. `total` holds both.
`detect` is timed only on the frames that ran the detector (with --detect-every N the tracker carries the boxes on
the others), so its percentiles are a detection's cost; `track` is the tracker's share (scene cut, following,
matching, second looks); `events` is the outputs' (every sink's `on_frame`); `detected` counts the frames the
detector ran on. `fps_now` is a moving average over about the last ten frames (Frigate's), `fps_mean()` the frames
over the seconds since the start.
"""

from __future__ import annotations

import collections
import time

import numpy as np

STAGES = ("wait", "decode", "detect", "track", "crop", "classify", "events", "total")


class LoopStats:
    def __init__(self, window: int = 1000) -> None:
        self._ms: dict[str, collections.deque[float]] = {s: collections.deque(maxlen=window) for s in STAGES}
        self.total_s = dict.fromkeys(STAGES, 0.0)  # since the start, for Prometheus summaries' _sum
        self.frames = 0
        self.detected = 0  # frames on which the detector ran
        self.faces = 0
        self.fps_now = 0.0  # exponential moving average of the frame rate, like Frigate's (avg*9 + new)/10
        self._last: float | None = None
        self.started = time.perf_counter()
        self.detect_every: int | None = None  # the interval the loop chose on its first frame (None: not yet)

    def add(self, timings_s: dict[str, float], faces: int, detected: bool = True) -> None:
        """One frame's stage timings; a frame that did not run the detector gives no `detect` timing."""
        for stage, seconds in timings_s.items():
            if stage == "detect" and not detected:
                continue
            self._ms[stage].append(seconds * 1000.0)
            self.total_s[stage] += seconds
        self.frames += 1
        self.detected += bool(detected)
        self.faces += faces
        now = time.perf_counter()
        previous = self.started if self._last is None else self._last  # the first frame: the time it took to come
        if now > previous:
            inst = 1.0 / (now - previous)
            self.fps_now = inst if self.fps_now == 0 else (self.fps_now * 9 + inst) / 10
        self._last = now

    def time(self, stage: str, seconds: float) -> None:
        """A stage timed after its frame was counted: the outputs (`events`), then `total` with them."""
        self._ms[stage].append(seconds * 1000.0)
        self.total_s[stage] += seconds

    def latency(self) -> dict[str, dict[str, float]]:
        out = {}
        for stage, values in self._ms.items():
            if values:
                arr = np.fromiter(values, dtype=np.float64)
                out[stage] = {"p50": round(float(np.percentile(arr, 50)), 3), "p95": round(float(np.percentile(arr, 95)), 3),
                              "mean": round(float(arr.mean()), 3)}
        return out

    def quantiles(self, stage: str, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
        """`{"p50": ms, ...}` of a stage over the window (empty before any frame): the bench's loop latency."""
        values = self._ms[stage]
        if not values:
            return {}
        arr = np.fromiter(values, dtype=np.float64)
        return {f"p{q:g}": round(float(np.percentile(arr, q)), 3) for q in qs}

    def count(self, stage: str) -> int:
        """Frames timed for `stage` since the start: the detected ones for `detect`, every frame otherwise."""
        return self.detected if stage == "detect" else self.frames

    def detected_share(self) -> float:
        return self.detected / self.frames if self.frames else 0.0

    def fps_mean(self) -> float:
        """Frames over the seconds since the start."""
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0


def latency_summary(seconds: np.ndarray) -> dict[str, float]:
    """min, mean, p50, p90, p99 and the coefficient of variation, in ms (pure: tested)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    out = {"min": float(ms.min()), "mean": float(ms.mean())}
    out |= {f"p{q}": float(np.percentile(ms, q)) for q in (50, 90, 99)}
    out["cv"] = float(ms.std() / ms.mean()) if ms.mean() > 0 else 0.0
    return {k: round(v, 4) for k, v in out.items()}
