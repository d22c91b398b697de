"""Which detection is which tracked face: by box overlap, or, failing that, by centre distance, since two
people's faces are at least a face apart."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..geometry import Box, iou_matrix

MATCH_DISTANCE = 1.0  # face widths between a detection's centre and a track's: within this they are one face
MATCH_SIZE = 2.0  # ... and neither box is more than this many times the other's width


def match_pairs(dets: Sequence[Box], tracks: Sequence[Box], iou_threshold: float) -> list[tuple[int, int]]:
    """(detection, track) index pairs, greedily closest first: a pair qualifies when the boxes overlap by
    `iou_threshold`, or when their centres are within MATCH_DISTANCE face widths and their widths within MATCH_SIZE
    of each other. Centre distance is what keeps a walker's id when the detector's box and the carried one barely
    overlap (a small face, moved a little)."""
    if not dets or not tracks:
        return []
    a = np.array([b.as_array() for b in dets])
    b = np.array([t.as_array() for t in tracks])
    ious = iou_matrix(a, b)
    ca, cb = (a[:, :2] + a[:, 2:]) / 2, (b[:, :2] + b[:, 2:]) / 2
    wa, wb = np.maximum(a[:, 2] - a[:, 0], 1e-3), np.maximum(b[:, 2] - b[:, 0], 1e-3)
    width = np.maximum(wa[:, None], wb[None, :])
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2) / width
    ratio = width / np.minimum(wa[:, None], wb[None, :])
    ok = (ious >= iou_threshold) | ((dist <= MATCH_DISTANCE) & (ratio <= MATCH_SIZE))
    cost = np.where(ok, dist - ious, np.inf)
    pairs: list[tuple[int, int]] = []
    used_d, used_t = set(), set()
    for flat in np.argsort(cost, axis=None):
        i, j = (int(v) for v in np.unravel_index(flat, cost.shape))
        if not np.isfinite(cost[i, j]):
            break
        if i not in used_d and j not in used_t:
            pairs.append((i, j))
            used_d.add(i)
            used_t.add(j)
    return pairs


def apart(a: Box, b: Box) -> float:
    """Centre distance in widths of the wider box."""
    (ax, ay), (bx, by) = a.center, b.center
    return math.hypot(ax - bx, ay - by) / max(a.width, b.width, 1e-3)
