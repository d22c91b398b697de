"""Boxes, IoU, (weighted) non-maximum suppression and face-crop geometry, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Box:
    """Pixel box, corners (x1, y1) inclusive to (x2, y2) exclusive, in frame coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    @property
    def pixels(self) -> tuple[int, int, int, int]:
        """The corners rounded to whole pixels."""
        return round(self.x1), round(self.y1), round(self.x2), round(self.y2)

    def as_list(self) -> list[int]:
        return list(self.pixels)

    def as_array(self) -> np.ndarray:
        return np.array([self.x1, self.y1, self.x2, self.y2], dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    """A face found by a detector: box, confidence and (where the model gives them) keypoints (x, y).

    BlazeFace and YuNet list the eyes first: keypoints[0] is the subject's
    right eye (on the image's left), keypoints[1] the left eye.
    """

    box: Box
    score: float
    keypoints: tuple[tuple[float, float], ...] = field(default=())
    # Found only on a tile of a large frame (the `room` detector), not by its whole-frame pass: such boxes are
    # where textures pass for faces, so the tracker checks them again before reporting a new face.
    tile_only: bool = False


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), corners x1 y1 x2 y2."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe-style suppression: each cluster of overlapping boxes becomes the score-weighted mean of its members.

    boxes (N, 4), scores (N,), keypoints (N, K, 2). Returns (box, score, keypoints) best first.
    """
    order = np.argsort(-scores)
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    remaining = np.ones(len(boxes), bool)
    out = []
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        overlap = iou_matrix(boxes[i:i + 1], boxes)[0] >= iou_threshold
        overlap[i] = True  # a box of no area overlaps nothing, itself included: it is still its own cluster
        members = np.flatnonzero(overlap & remaining)
        remaining[members] = False
        w = scores[members][:, None]
        box = (boxes[members] * w).sum(0) / w.sum()
        kps = (keypoints[members] * w[:, :, None]).sum(0) / w.sum()
        out.append((box, float(scores[i]), kps))
    return out


# The face crop grows by this fraction of its side around the detector's box. Chosen on FER+ PublicTest faces pasted
# into the shared photos (python -m fer_edge.benchmarks.crops; docs/bench.md, "Small faces and the crop"): for the
# FER+ default, BlazeFace's own square (0) scored best from 48 px on (0.1 lost 0.6 points, 0.3 lost 3.5); the
# FER2013 CNN before it did best at 0.1.
MARGIN = 0.0


def square_crop_box(box: Box, margin: float, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
    """A square around the box, grown by `margin` (0.2 = 20% of the side), clipped to the frame: x1, y1, x2, y2."""
    cx, cy = box.center
    side = max(box.width, box.height) * (1 + margin)
    x1 = int(round(max(0.0, cx - side / 2)))
    y1 = int(round(max(0.0, cy - side / 2)))
    x2 = int(round(min(float(frame_w), cx + side / 2)))
    y2 = int(round(min(float(frame_h), cy + side / 2)))
    return x1, y1, x2, y2


def eye_angle(keypoints: tuple[tuple[float, float], ...]) -> float:
    """Degrees to rotate the image by so the eyes (keypoints 0 and 1) are level."""
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def on_frame(box: Box, width: int, height: int) -> bool:
    """At least half the box lies inside a width x height frame (a tracked face carried off it has left)."""
    iw = max(0.0, min(box.x2, width) - max(box.x1, 0.0))
    ih = max(0.0, min(box.y2, height) - max(box.y1, 0.0))
    return iw * ih >= 0.5 * max(box.width * box.height, 1e-6)
