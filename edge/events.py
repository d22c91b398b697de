"""JSON Lines events: one record per face per processed frame, and periodic stats records.

Schema (documented in README.md, "Events"):
  face:  {"type": "face", "time", "frame", "face_id", "box": [x1, y1, x2, y2], "detected", "detector_score",
          "label", "score", "probs": {label: p}, "smoothed_label", "smoothed_score"}
  stats: {"type": "stats", "time", "frames", "fps", "fps_avg", "faces", "faces_per_frame", "dropped",
          "latency_ms": {stage: {"p50", "p95", "mean"}}}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

SCHEMA_VERSION = 1


def face_record(time_s: float, frame: int, track, box, detector_score: float, probs: np.ndarray,
                labels: tuple[str, ...], detected: bool = True) -> dict:
    """`detected` is False when the box was carried over from an earlier frame's detection (--detect-every)."""
    top = int(probs.argmax())
    smoothed = track.probs
    held = labels.index(track.label) if track.label in labels else int(smoothed.argmax())
    return {
        "type": "face", "v": SCHEMA_VERSION, "time": round(time_s, 3), "frame": frame, "face_id": track.id,
        "box": box.as_list(), "detected": detected, "detector_score": round(float(detector_score), 3),
        "label": labels[top], "score": round(float(probs[top]), 4),
        "probs": {name: round(float(p), 4) for name, p in zip(labels, probs)},
        "smoothed_label": track.label, "smoothed_score": round(float(smoothed[held]), 4),
    }


def stats_record(time_s: float, stats, dropped: int) -> dict:
    return {
        "type": "stats", "v": SCHEMA_VERSION, "time": round(time_s, 3), "frames": stats.frames,
        "fps": round(stats.overall_fps(), 2), "fps_avg": round(stats.fps, 2), "faces": stats.faces,
        "faces_per_frame": round(stats.faces / stats.frames, 3) if stats.frames else 0.0,
        "dropped": dropped, "latency_ms": stats.latency(),
    }


class JsonlWriter:
    """Appends records to a file (or stdout for "-", or an open text stream), flushed once per frame."""

    def __init__(self, target: str | Path | TextIO = "-"):
        self.target = str(getattr(target, "name", target))
        self.errors = 0
        self._owned = False
        if not isinstance(target, (str, Path)):
            self._fh: TextIO = target
        elif self.target == "-":
            self._fh = sys.stdout
        else:
            path = Path(self.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8", buffering=1 << 16)
            self._owned = True

    def write(self, record: dict) -> None:
        try:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        except OSError as exc:
            self._error(exc)

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            self._error(exc)

    def _error(self, exc: OSError) -> None:
        self.errors += 1
        if self.errors == 1:
            print(f"fer-edge: events {self.target}: write failed ({exc}); continuing", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.flush()
        if self._owned:
            self._fh.close()
