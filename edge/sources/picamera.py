"""picamera2 on a Raspberry Pi, with its small `lores` stream for the detector: the Pi's ISP does the downscale.

picamera2's own pattern (its TensorFlow examples): configure a YUV420 `lores` stream beside `main`, take both from
one request with `capture_arrays(["main", "lores"])` so they show the same instant, and hand the detector the lores
Y plane (edge/detection/lores.py scales its boxes back to main). YUV420 arrives as a (height * 3 / 2, stride)
array: the first `height` rows are the Y (grey) plane, padded to the stride. picamera2 is imported only when asked
for (it needs the apt-installed libcamera).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import FerEdgeError
from .reader import LatestFrames, ThreadedSource

# picamera2's small stream for the detector: a size, "auto" (320 px wide at main's aspect ratio), or none
Lores = tuple[int, int] | Literal["auto"] | None
LORES_WIDTH = 320  # BlazeFace back letterboxes to 256 anyway: more lores pixels buy the kiosk detector nothing


def lores_size(main: tuple[int, int], width: int = LORES_WIDTH) -> tuple[int, int]:
    """A lores size with main's aspect ratio (so faces are not squashed), even sides, never larger than main."""
    mw, mh = main
    w = min(width, mw) // 2 * 2
    h = max(2, round(w * mh / mw / 2) * 2)
    return w, min(h, mh // 2 * 2)


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


class PiCameraSource(ThreadedSource):
    """picamera2 on a Raspberry Pi, imported only when asked for (it needs the apt-installed libcamera)."""

    fps: float | None = None  # not read back from the camera (an annotated video is written at 15 fps)

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, pixel_format: str = "RGB888",
                 queue: int = 2, lores: tuple[int, int] | None = None) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise FerEdgeError(
                f"picamera2 is not available ({exc}); on Raspberry Pi OS: sudo apt install python3-picamera2 "
                "and create the venv with --system-site-packages") from None
        self.name = "picamera2"
        try:
            self._cam = Picamera2()
            # with `lores`, the detector gets a small YUV stream of the same frames (edge/detection/lores.py)
            extra = {"lores": lores_stream(lores)} if lores else {}
            config = self._cam.create_video_configuration(
                main={"size": (width, height), "format": pixel_format}, controls={"FrameRate": fps}, **extra)
            self._cam.configure(config)
            self._cam.start()
        except (RuntimeError, IndexError) as exc:
            raise FerEdgeError(f"picamera2: no camera available ({exc})") from None
        if lores:
            self._reader = LatestFrames(lambda: capture_main_and_lores(self._cam, lores), queue, self._cam.close)
        else:
            # picamera2's "RGB888" is laid out B, G, R in memory: OpenCV's BGR as it is
            self._reader = LatestFrames(lambda: self._cam.capture_array("main")[:, :, :3], queue, self._cam.close)


def picamera_present() -> bool:
    return importlib.util.find_spec("picamera2") is not None and Path("/proc/device-tree/model").exists()


def open_picamera(width: int | None, height: int | None, fps: float | None, lores: Lores) -> PiCameraSource:
    """picamera2 with its lores stream: "auto" picks one 320 px wide at main's aspect ratio."""
    size = (width or 640, height or 480)
    return PiCameraSource(*size, fps or 30.0, lores=lores_size(size) if isinstance(lores, str) else lores)
