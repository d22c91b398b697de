"""A live OpenCV source: a USB camera (an index, /dev/videoN) or a stream URL (RTSP, HTTP, ...), opened, read and
released on the stream reader's thread, so the loop takes the latest frames and never waits on a driver."""

from __future__ import annotations

import threading

from ..errors import FerEdgeError
from .capture import Capture
from .reader import LatestFrames, ThreadedSource


class CameraSource(ThreadedSource):
    """cv2.VideoCapture on its own thread; a set `cancel` event abandons an opening that hangs."""

    def __init__(self, target: str | int, width: int | None = None, height: int | None = None,
                 fps: float | None = None, queue: int = 2, cancel: threading.Event | None = None):
        self.name = str(target)
        capture = Capture(target, width, height, fps)
        self._reader = LatestFrames(capture.grab, queue, capture.release, capture.open)
        try:
            self._reader.wait_open(cancel, self.name)
        except FerEdgeError:
            self._reader.stop(wait_s=0)
            raise
        self.fps = capture.fps
