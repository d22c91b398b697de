"""Detect on picamera2's small `lores` stream, crop from `main`: the Pi's ISP does the downscale for free.

picamera2's own pattern (its TensorFlow examples): configure a YUV420 `lores`
stream beside `main`, take both from one request with
`capture_arrays(["main", "lores"])` so they show the same instant, and run
the detector on the lores Y plane. YUV420 arrives as a (height * 3 / 2,
stride) array: the first `height` rows are the Y (grey) plane, padded to the
stride. Boxes found there are scaled to `main`, where the faces are cropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import UsageError
from ..geometry import Box, Detection

if TYPE_CHECKING:
    from ..sources import Frame
    from . import FaceDetector

# picamera2's small stream for the detector: a size, "auto" (320 px wide at main's aspect ratio), or none
Lores = tuple[int, int] | Literal["auto"] | None
LORES_WIDTH = 320  # BlazeFace back letterboxes to 256 anyway: more lores pixels buy the kiosk detector nothing


def lores_size(main: tuple[int, int], width: int = LORES_WIDTH) -> tuple[int, int]:
    """A lores size with main's aspect ratio (so faces are not squashed), even sides, never larger than main."""
    mw, mh = main
    w = min(width, mw) // 2 * 2
    h = max(2, round(w * mh / mw / 2) * 2)
    return w, min(h, mh // 2 * 2)


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


def lores_stream(size: tuple[int, int]) -> dict[str, Any]:
    """The `lores` entry of a picamera2 configuration: the Pi's ISP only gives YUV on that stream."""
    return {"size": tuple(size), "format": "YUV420"}


def y_plane(yuv420: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The grey (Y) plane of a picamera2 YUV420 array of shape (h * 3 / 2, stride): its first h rows, w columns."""
    w, h = size
    if yuv420.ndim != 2 or yuv420.shape[0] < h or yuv420.shape[1] < w:
        raise ValueError(f"not a YUV420 array for {w}x{h}: shape {yuv420.shape}")
    return yuv420[:h, :w]


def capture_main_and_lores(camera: Any, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(main as BGR, lores Y plane) from one request of a started picamera2 camera."""
    (main, lores), _ = camera.capture_arrays(["main", "lores"])
    # picamera2's "RGB888"/"XRGB8888" are laid out B, G, R(, X) in memory: OpenCV's BGR as it is
    return main[:, :, :3], y_plane(lores, size)


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
