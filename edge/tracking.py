"""Stable face ids across frames (greedy IoU matching), per-track label smoothing with hysteresis, and scene cuts.

Defaults were tuned on the Hamilton test clip with `python -m fer_edge.benchmarks.stability` (README, "Stable labels"):
never on FER2013, whose PrivateTest split is what accuracy is reported on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .geometry import Box, Detection, iou_matrix
from .records import FaceRecord

UNCERTAIN = "uncertain"
ALPHA, MIN_SCORE, SWITCH_MARGIN, IOU_THRESHOLD, MAX_MISSED, SCENE_CUT = 0.3, 0.3, 0.15, 0.3, 5, 18.0
# Pixels (a box's longer side): a smaller face is shown `uncertain`, too small to read an expression from. Chosen on
# FER+ PublicTest faces pasted into real photos (python -m fer_edge.benchmarks.crops; README, "Small faces").
MIN_FACE = 32
THUMB = (32, 24)  # (w, h) of the grey thumbnail a cut is judged on: about 0.05 ms a frame


@dataclass
class Track:
    id: int
    box: Box
    probs: np.ndarray  # exponential moving average of the class probabilities (float32)
    label: str = UNCERTAIN  # the smoothed label shown to users
    score: float = 0.0  # the smoothed probability of `label` (of the top class while `uncertain`)
    missed: int = 0


def smooth_label(current: str, avg: np.ndarray, labels: tuple[str, ...], min_score: float, switch_margin: float) -> str:
    """The label to show for the moving average `avg`, given the one shown now.

    Hysteresis both ways, so a face whose scores wobble near a threshold does not flicker: the shown label stays
    while no other leads it by `switch_margin` and its own score stays above `min_score - switch_margin`; otherwise
    the top label when it reaches `min_score`, else `uncertain`.
    """
    top = int(avg.argmax())
    if current in labels:
        held = float(avg[labels.index(current)])
        if held >= min_score - switch_margin and avg[top] - held < switch_margin:
            return current
    return labels[top] if avg[top] >= min_score else UNCERTAIN


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny grey copy with its mean taken out (a change of exposure is not a cut); float32, THUMB sized."""
    import cv2  # not at the top: edge.config takes its defaults from here, and every command builds its parser

    h, w = image.shape[:2]
    step = max(1, min(w // (THUMB[0] * 4), h // (THUMB[1] * 4)))  # subsample first: INTER_AREA on 1080p is slow
    small = cv2.resize(image[::step, ::step], THUMB, interpolation=cv2.INTER_AREA)
    grey: np.ndarray = (cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small).astype(np.float32)
    return grey - np.float32(grey.mean())


def cut_between(before: np.ndarray | None, after: np.ndarray, threshold: float) -> bool:
    """A scene cut: the thumbnails differ by more than `threshold` grey levels on average (0: never a cut).

    On the test clip its three cuts score 25-33 and camera moves and fades at most 13.
    """
    return before is not None and threshold > 0 and float(np.abs(after - before).mean()) > threshold


class Tracker:
    """Greedy IoU matching of this frame's faces to live tracks; a track survives `max_missed` frames unseen.

    The keyword arguments are the service config's [smoothing] keys, so `Tracker(labels, **asdict(cfg))` builds it.
    """

    def __init__(self, labels: tuple[str, ...], iou_threshold: float = IOU_THRESHOLD, max_missed: int = MAX_MISSED,
                 alpha: float = ALPHA, min_score: float = MIN_SCORE, switch_margin: float = SWITCH_MARGIN,
                 scene_cut: float = SCENE_CUT, min_face: int = MIN_FACE) -> None:
        self.labels = labels
        self.iou_threshold, self.max_missed, self.alpha = iou_threshold, max_missed, alpha
        self.min_score, self.switch_margin, self.scene_cut = min_score, switch_margin, scene_cut
        self.min_face = min_face
        self.tracks: list[Track] = []
        self.cuts = 0
        self._next_id = 1
        self._thumb: np.ndarray | None = None

    def new_frame(self, image: np.ndarray) -> bool:
        """Call before `update` with each frame: on a scene cut every track ends (True: detect faces afresh)."""
        if self.scene_cut <= 0:
            return False
        thumb = thumbnail(image)
        cut = cut_between(self._thumb, thumb, self.scene_cut)
        self._thumb = thumb
        if cut:
            self.cuts += 1
            self.tracks = []
        return cut

    def faces(self, detections: Sequence[Detection], probs: np.ndarray, *, time: float, frame: int,
              detected: bool = True, file: str | None = None, video_time: float | None = None) -> list[FaceRecord]:
        """This frame's faces as records (same order as `detections`), after `update` with `probs` (N, classes).

        `detected` is False when the boxes were carried over from an earlier frame's detection (--detect-every).
        """
        tracks = self.update([d.box for d in detections], probs)
        return [FaceRecord(face_id=t.id, box=d.box.pixels, detector_score=float(d.score), probs=tuple(p.tolist()),
                           labels=self.labels, smoothed_label=t.label, smoothed_score=t.score, detected=detected,
                           time=time, frame=frame, file=file, video_time=video_time)
                for d, t, p in zip(detections, tracks, probs)]

    def update(self, boxes: Sequence[Box], probs: np.ndarray) -> list[Track]:
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
        seen: set[int] = set()
        out: list[Track] = []
        for i, box in enumerate(boxes):
            track = assigned[i]
            if track is None:
                track = Track(self._next_id, box, probs[i].astype(np.float32).copy())
                self._next_id += 1
                self.tracks.append(track)
            else:
                track.probs = (1 - self.alpha) * track.probs + self.alpha * probs[i]
                track.box = box
            track.missed = 0
            track.label = smooth_label(track.label, track.probs, self.labels, self.min_score, self.switch_margin)
            if max(box.width, box.height) < self.min_face:
                track.label = UNCERTAIN  # probabilities still averaged: the label returns once the face is big enough
            shown = self.labels.index(track.label) if track.label in self.labels else int(track.probs.argmax())
            track.score = float(track.probs[shown])
            assigned[i] = track
            out.append(track)
            seen.add(track.id)
        for t in self.tracks:
            if t.id not in seen:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return out
