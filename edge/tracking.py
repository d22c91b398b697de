"""Stable face ids across frames (greedy IoU matching) and per-track label smoothing with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.geometry import Box, iou_matrix

UNCERTAIN = "uncertain"


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray  # exponential moving average of the class probabilities
    label: str = UNCERTAIN  # the smoothed label shown to users
    missed: int = 0
    age: int = 0
    extra: dict = field(default_factory=dict)


def smooth_label(current: str, avg: np.ndarray, labels: tuple[str, ...], min_score: float, switch_margin: float) -> str:
    """Hysteresis: keep the current label unless another beats it by `switch_margin`; `uncertain` under `min_score`."""
    top = int(avg.argmax())
    if avg[top] < min_score:
        return UNCERTAIN
    if current in labels:
        held = avg[labels.index(current)]
        if labels[top] != current and avg[top] - held < switch_margin and held >= min_score:
            return current
    return labels[top]


class Tracker:
    """Greedy IoU matching of this frame's faces to live tracks; a track survives `max_missed` frames unseen."""

    def __init__(self, labels: tuple[str, ...], iou_threshold: float = 0.3, max_missed: int = 5, alpha: float = 0.4,
                 min_score: float = 0.4, switch_margin: float = 0.1):
        self.labels = labels
        self.iou_threshold, self.max_missed, self.alpha = iou_threshold, max_missed, alpha
        self.min_score, self.switch_margin = min_score, switch_margin
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: list[Box], probs: np.ndarray) -> list[Track]:
        """The track for each of `boxes` (same order), created or updated with `probs` (N, classes)."""
        assigned: list[Track | None] = [None] * len(boxes)
        if self.tracks and boxes:
            ious = iou_matrix(np.array([b.as_array() for b in boxes]), np.array([t.box.as_array() for t in self.tracks]))
            for flat in np.argsort(-ious, axis=None):
                i, j = np.unravel_index(flat, ious.shape)
                if ious[i, j] < self.iou_threshold:
                    break
                if assigned[i] is None and all(a is not self.tracks[j] for a in assigned):
                    assigned[i] = self.tracks[j]
        seen = set()
        for i, box in enumerate(boxes):
            track = assigned[i]
            if track is None:
                track = Track(self._next_id, box, probs[i].astype(np.float32).copy())
                self._next_id += 1
                self.tracks.append(track)
            else:
                track.probs = (1 - self.alpha) * track.probs + self.alpha * probs[i]
                track.box = box
            track.missed, track.age = 0, track.age + 1
            track.label = smooth_label(track.label, track.probs, self.labels, self.min_score, self.switch_margin)
            assigned[i] = track
            seen.add(track.id)
        for t in self.tracks:
            if t.id not in seen:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return assigned  # type: ignore[return-value]
