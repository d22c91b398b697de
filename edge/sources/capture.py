"""One cv2.VideoCapture (a camera, a stream URL, a video file), opened, read and released by whichever single
thread owns it.

Streams go through FFmpeg with open and read timeouts, so a server that never answers or a stream that stalls makes
`open` or `grab` return instead of blocking for good.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from ..errors import FerEdgeError

OPEN_TIMEOUT_S = 10.0  # FFmpeg gives up opening a stream whose server accepts and never answers
READ_TIMEOUT_S = 15.0  # FFmpeg gives up a read after this, so a stalled reader abandoned at STALL_S ends itself


def is_camera(target: str | int) -> bool:
    return isinstance(target, int) or str(target).startswith("/dev/video")


class Capture:
    """One cv2.VideoCapture; every call comes from the one thread that owns it (the reader's, or the loop's)."""

    def __init__(self, target: str | int, width: int | None = None, height: int | None = None,
                 fps: float | None = None):
        self.target, self._size, self._fps = target, (width, height), fps
        self._cap: cv2.VideoCapture | None = None
        self.fps: float | None = None
        self.length: int | None = None  # frames in a file, as its container says (a live source: None)

    def open(self) -> None:
        if isinstance(self.target, str) and "://" in self.target:
            os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # broken frames are counted, not logged by FFmpeg
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000)])
        else:
            cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            raise FerEdgeError(f"{self.target}: cannot open {'camera' if is_camera(self.target) else 'video source'}")
        width, height = self._size
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self._fps:
            cap.set(cv2.CAP_PROP_FPS, self._fps)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        if not is_camera(self.target) and "://" not in str(self.target):
            self.length = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        self._cap = cap

    def grab(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        try:
            ok, image = self._cap.read()
        except cv2.error:
            return None
        return image if ok else None

    def position_s(self) -> float | None:
        """Seconds into the file of the frame `grab` returned last (its container timestamp)."""
        if self._cap is None:
            return None
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return ms / 1000.0 if ms >= 0 else None

    def release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
