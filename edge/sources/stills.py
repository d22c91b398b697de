"""Photos: a still image or a folder of them, each read once (the demo photo, `repeat` times), decoded to a bounded
size so a huge file cannot take the memory a service is allowed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..files import read_regular
from ..records import Frame
from .base import Closing, FrameCounter
from .imageheader import image_header, reduction

DEMO_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "demo_astronaut.jpg"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_PIXELS = 4096 * 4096  # a still decodes to at most this (48 MB as BGR): MemoryMax=384M holds an 8000x8000 JPEG
MAX_FILE_BYTES = 64 << 20  # a still file larger than this is not read at all
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


class ImageSource(Closing):
    """A still image or a folder of images, each shown once (or `repeat` times, for the demo)."""

    still = True  # every frame is a new picture: the loop detects on each
    live = stalled = False
    fps: float | None = None
    failure: str | None = None

    def __init__(self, paths: list[Path], name: str, repeat: int = 1) -> None:
        self.name, self.dropped, self._paths, self._repeat = name, 0, paths, max(1, repeat)
        self._i, self._counter, self.undecodable = 0, FrameCounter(), 0
        self.length: int | None = len(paths) * self._repeat

    def read(self) -> Frame | None:
        while self._i < len(self._paths) * self._repeat:
            path = self._paths[self._i % len(self._paths)]
            self._i += 1
            image = read_still(path)
            if image is not None:
                return self._counter.frame(image, file=str(path))
            self.undecodable += 1
        return None

    def wake(self) -> None:
        pass  # a read never waits

    def close(self) -> None:
        self._i = len(self._paths) * self._repeat


def _read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file; None for anything else (a FIFO would block a plain open until a writer comes)."""
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except OSError:
        return None
    return data or None


def read_still(path: Path) -> np.ndarray | None:
    """A photo as BGR of at most MAX_PIXELS (a large JPEG decodes at 1/2, 1/4 or 1/8 of its size); None for what
    is not a regular file, does not decode, or would not fit."""
    data = _read_regular(path)
    if data is None:
        return None
    scale = reduction(image_header(data), MAX_PIXELS)
    if scale is None:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[scale])
