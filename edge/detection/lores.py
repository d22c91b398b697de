"""Detect on picamera2's small `lores` stream, crop from `main`: the Pi's ISP does the downscale for free.

The source (edge/sources/picamera.py) captures both streams from one request; here the detector runs on the lores
Y plane when the frame has one, and its boxes are scaled to `main`, where the faces are cropped. `lores_option`
says whether a stream is asked for at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError
from ..geometry import Box, Detection
from ..sources.picamera import Lores

if TYPE_CHECKING:
    from ..records import Frame
    from . import FaceDetector


def lores_option(text: str, detector: str, main: tuple[int, int]) -> Lores:
    """`--lores`: "auto" (a 320 px stream, unless `room` would tile main: tiles need main's pixels), "off", "WxH"."""
    if text == "auto":
        from .tiled import TILE_SCALE, TILE_SIZE

        return None if detector == "room" and max(main) * TILE_SCALE > TILE_SIZE else "auto"
    if text == "off":
        return None
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit()) or int(w) < 32 or int(h) < 32:
        raise UsageError(f"--lores: {text!r} is not auto, off or WIDTHxHEIGHT (at least 32x32)")
    return int(w), int(h)


def scale_detections(dets: list[Detection], sx: float, sy: float) -> list[Detection]:
    """Boxes and keypoints from lores pixels to main pixels."""
    return [Detection(Box(d.box.x1 * sx, d.box.y1 * sy, d.box.x2 * sx, d.box.y2 * sy), d.score,
                      tuple((x * sx, y * sy) for x, y in d.keypoints)) for d in dets]


def detect_image(frame: Frame) -> np.ndarray:
    """What the detector sees: the lores image when the source gave one, else the frame itself."""
    return frame.image if frame.lores is None else frame.lores


def detect_frame(detector: FaceDetector, frame: Frame) -> list[Detection]:
    """Faces in main's pixels: found on the lores image when there is one (detectors take grey), else on main."""
    lores = frame.lores
    if lores is None:
        return detector.detect(frame.image)
    (mh, mw), (lh, lw) = frame.image.shape[:2], lores.shape[:2]
    return scale_detections(detector.detect(lores), mw / lw, mh / lh)
