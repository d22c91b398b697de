"""Loop metrics that cost little: per-stage perf_counter timings in a bounded window and an FPS moving average."""

from __future__ import annotations

import collections
import time

import numpy as np

STAGES = ("decode", "detect", "crop", "classify", "events", "total")


class LoopStats:
    def __init__(self, window: int = 1000):
        self._ms = {s: collections.deque(maxlen=window) for s in STAGES}
        self.total_s = dict.fromkeys(STAGES, 0.0)  # since the start, for Prometheus summaries' _sum
        self.frames = 0
        self.faces = 0
        self.fps = 0.0  # exponential moving average, like Frigate's (avg*9 + new)/10
        self._last = None
        self.started = time.perf_counter()

    def add(self, timings_s: dict[str, float], faces: int) -> None:
        for stage, seconds in timings_s.items():
            self._ms[stage].append(seconds * 1000.0)
            self.total_s[stage] += seconds
        self.frames += 1
        self.faces += faces
        now = time.perf_counter()
        if self._last is not None and now > self._last:
            inst = 1.0 / (now - self._last)
            self.fps = inst if self.fps == 0 else (self.fps * 9 + inst) / 10
        self._last = now

    def latency(self) -> dict[str, dict[str, float]]:
        out = {}
        for stage, values in self._ms.items():
            if values:
                arr = np.fromiter(values, dtype=np.float64)
                out[stage] = {"p50": round(float(np.percentile(arr, 50)), 3), "p95": round(float(np.percentile(arr, 95)), 3),
                              "mean": round(float(arr.mean()), 3)}
        return out

    def overall_fps(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0
