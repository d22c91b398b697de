"""Moving a face's box between detections, and telling when the box no longer holds that face.

Sparse optical flow (Lucas-Kanade, as OpenCV's median-flow tracker does it): a few corners inside the box are
tracked into the next frame and back again; the points that come back to where they started vote, by their
median, on the box's shift and on its change of size. Only a grey region around each box is ever converted, at
most FLOW_FACE_PX across the face, so a 1080p frame costs what a 640x480 one does. A tiny grey template of the face,
taken when the detector last saw it, says when a carried box has slid onto a jacket or a wall.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import Box

FLOW_FACE_PX = 64  # a larger face is followed scaled down by a whole factor, to 32-64 px: enough for the flow
GRID = 4  # points on a GRID x GRID lattice over the inner face, as median flow does: no corner search needed
MIN_POINTS = 4  # fewer points coming back than this (or than a quarter of them): the flow is lost
FB_ERROR_PX = 1.0  # a point that comes back further than this from where it started (region pixels) is dropped
WINDOW = (9, 9)  # Lucas-Kanade window in region pixels: about a fifth of a followed face
LEVELS = 2  # pyramid levels above the region: with WINDOW, shifts of about 18 region px (0.4 face) a frame
MAX_SCALE_STEP = 1.2  # a face grows or shrinks by at most this factor from one frame to the next
TEMPLATE = 16  # the likeness template's side: a face's coarse shading, not its details
# MACs-equivalent of following one face for one frame, for the loop's budget (counted, not timed): two grey
# regions of about 100x100 px cut, scaled and converted (0.3 M); their pyramids and Scharr derivatives (0.6 M);
# Lucas-Kanade for 16 points both ways over 3 levels, a 9x9 window, up to 10 iterations (0.5 M); the template (0.1 M).
FLOW_MACS = 1_500_000

_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03)


@dataclass(frozen=True)
class Patch:
    """A grey region of one frame, scaled: what the next frame's flow step compares against."""

    x: int  # the region's top-left corner in frame pixels
    y: int
    scale: float  # region pixels per frame pixel (at most 1)
    grey: np.ndarray  # uint8, the region scaled by `scale`


def flow_region(box: Box, shift: tuple[float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """The frame region (x1, y1, x2, y2) a face is followed in: its box and the box moved by `shift`, with half a
    face of room on every side, clipped to the frame."""
    side = max(box.width, box.height)
    dx, dy = shift
    x1, y1 = min(box.x1, box.x1 + dx) - side / 2, min(box.y1, box.y1 + dy) - side / 2
    x2, y2 = max(box.x2, box.x2 + dx) + side / 2, max(box.y2, box.y2 + dy) + side / 2
    return (max(0, int(x1)), max(0, int(y1)), min(width, int(np.ceil(x2))), min(height, int(np.ceil(y2))))


def flow_scale(box: Box) -> float:
    """Region pixels per frame pixel: 1/k for the least whole k that brings the face to FLOW_FACE_PX or less (a
    whole factor keeps the area resize cheap)."""
    return 1.0 / max(1, math.ceil(max(box.width, box.height) / FLOW_FACE_PX))


def grab(image: np.ndarray, region: tuple[int, int, int, int], scale: float) -> Patch:
    """The grey, scaled pixels of `region` of a BGR (or grey) frame."""
    x1, y1, x2, y2 = region
    k = round(1 / scale)
    x2, y2 = x1 + (x2 - x1) // k * k, y1 + (y2 - y1) // k * k  # whole blocks of k x k pixels
    crop = image[y1:y2, x1:x2]
    if k > 1 and crop.size:  # linear at a whole factor: a 2-tap average, a sixth of INTER_AREA's cost at k = 4
        crop = cv2.resize(crop, ((x2 - x1) // k, (y2 - y1) // k), interpolation=cv2.INTER_LINEAR)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 and crop.size else crop
    return Patch(x1, y1, 1.0 / k, np.ascontiguousarray(grey))


_LATTICE = np.stack(np.meshgrid(np.linspace(0.15, 0.85, GRID), np.linspace(0.15, 0.85, GRID)), -1).reshape(-1, 1, 2)


def _points(box: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A GRID x GRID lattice over the inner 70% of `box` (region pixels: x1 y1 x2 y2): the face, not what is
    behind it. Shape (N, 1, 2) float32, as OpenCV takes points; empty when the box is too small to follow."""
    h, w = shape[:2]
    if box[2] - box[0] < 4 or box[3] - box[1] < 4:
        return np.zeros((0, 1, 2), np.float32)
    pts = _LATTICE * (box[2:] - box[:2]) + box[:2]
    inside = (pts[..., 0] >= 0) & (pts[..., 0] <= w - 1) & (pts[..., 1] >= 0) & (pts[..., 1] <= h - 1)
    out: np.ndarray = pts[inside[:, 0]].astype(np.float32)
    return out


def flow_step(before: np.ndarray, after: np.ndarray, box: np.ndarray, guess: tuple[float, float] = (0.0, 0.0)
              ) -> tuple[np.ndarray, int] | None:
    """The box (x1 y1 x2 y2, region pixels of `before`) moved into `after` (same region, same scale), and the
    number of points that voted; None when too few points survive the forward-backward check.

    `guess` is the expected shift in region pixels (the track's velocity): Lucas-Kanade starts from it.
    """
    if before.shape != after.shape or min(before.shape[:2]) < 8:
        return None
    p0 = _points(box, before.shape)
    if len(p0) < MIN_POINTS:
        return None
    start = p0 + np.array(guess, np.float32)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(before, after, p0, start.copy(), winSize=WINDOW, maxLevel=LEVELS,
                                          criteria=_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(after, before, p1, p0.copy(), winSize=WINDOW, maxLevel=LEVELS,
                                            criteria=_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    err = (back - p0).reshape(-1, 2)
    fb = np.hypot(err[:, 0], err[:, 1])
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & np.isfinite(fb)
    if ok.sum() < MIN_POINTS:
        return None
    ok &= fb <= FB_ERROR_PX
    # Median flow's rule: the better half of the points votes. With 4-7 points back within FB_ERROR_PX that half is
    # under MIN_POINTS and the face counts as lost, deliberately: letting those few points vote halved the losses on
    # composed 1080p clips, but the boxes then drifted onto collars and backdrops (recall of YuNet's faces 0.888 ->
    # 0.877 on seeds 0-4, ids per track 1.19 -> 1.31).
    if ok.sum() >= MIN_POINTS:
        ok &= fb <= np.median(fb[ok])
    if ok.sum() < max(MIN_POINTS, len(p0) // 4):
        return None
    a, b = p0.reshape(-1, 2)[ok], p1.reshape(-1, 2)[ok]
    shift = np.median(b - a, axis=0)
    scale = median_scale(a, b)
    cx, cy = (box[0] + box[2]) / 2 + shift[0], (box[1] + box[3]) / 2 + shift[1]
    hw, hh = (box[2] - box[0]) * scale / 2, (box[3] - box[1]) * scale / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32), int(ok.sum())


@functools.cache
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of n points."""
    i, j = np.triu_indices(n, 1)
    return i, j


def median_scale(a: np.ndarray, b: np.ndarray) -> float:
    """The median ratio of point-to-point distances after (b) over before (a), bounded to MAX_SCALE_STEP."""
    i, j = _pairs(len(a))
    d0 = np.hypot(a[i, 0] - a[j, 0], a[i, 1] - a[j, 1])
    d1 = np.hypot(b[i, 0] - b[j, 0], b[i, 1] - b[j, 1])
    keep = d0 > 2.0  # points closer than this give a ratio of noise
    if not keep.any():
        return 1.0
    return float(np.clip(np.median(d1[keep] / d0[keep]), 1 / MAX_SCALE_STEP, MAX_SCALE_STEP))


def follow_flow(patch: Patch, image: np.ndarray, box: Box, shift: tuple[float, float]) -> tuple[Box, Patch] | None:
    """`box` of the frame `patch` came from, followed into `image` (starting from the expected `shift`, frame px):
    the new box and `image`'s grey region (for the likeness check); None when the flow is lost."""
    h, w = image.shape[:2]
    region = (patch.x, patch.y, patch.x + round(patch.grey.shape[1] / patch.scale),
              patch.y + round(patch.grey.shape[0] / patch.scale))
    now = grab(image, (region[0], region[1], min(w, region[2]), min(h, region[3])), patch.scale)
    if now.grey.shape != patch.grey.shape:
        return None
    s = patch.scale
    local = patch_box(box, patch).as_array()
    moved = flow_step(patch.grey, now.grey, local, (shift[0] * s, shift[1] * s))
    if moved is None:
        return None
    b = moved[0] / s + np.array([patch.x, patch.y, patch.x, patch.y], np.float32)
    return Box(*map(float, b)), now


def template(image: np.ndarray, box: Box) -> np.ndarray | None:
    """The face's coarse grey shading: the box's pixels (of a BGR or grey image) at TEMPLATE x TEMPLATE, zero mean and unit length
    (float32, flattened), so a change of exposure or size does not count; None for a box off the frame."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box.x1)), max(0, int(box.y1))
    x2, y2 = min(w, int(np.ceil(box.x2))), min(h, int(np.ceil(box.y2)))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    crop = image[y1:y2, x1:x2]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    small = cv2.resize(grey, (TEMPLATE, TEMPLATE), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 1e-3 else np.zeros_like(small)


def patch_box(box: Box, patch: Patch) -> Box:
    """`box` in `patch`'s region pixels."""
    s = patch.scale
    return Box((box.x1 - patch.x) * s, (box.y1 - patch.y) * s, (box.x2 - patch.x) * s, (box.y2 - patch.y) * s)


def likeness(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Normalized cross-correlation of two templates: 1 the same shading, about 0 unrelated; 0 when one is missing."""
    if a is None or b is None:
        return 0.0
    return float(np.dot(a, b))


def moved_box(box: Box, shift: tuple[float, float], grow: float = 1.0) -> Box:
    """`box` shifted by (dx, dy) and scaled by `grow` about its centre."""
    cx, cy = box.center
    hw, hh = box.width * grow / 2, box.height * grow / 2
    return Box(cx + shift[0] - hw, cy + shift[1] - hh, cx + shift[0] + hw, cy + shift[1] + hh)


def moved_points(points: tuple[tuple[float, float], ...], before: Box, after: Box) -> tuple[tuple[float, float], ...]:
    """Keypoints moved and scaled with their box."""
    sx, sy = after.width / max(before.width, 1e-6), after.height / max(before.height, 1e-6)
    return tuple((after.x1 + (x - before.x1) * sx, after.y1 + (y - before.y1) * sy) for x, y in points)
