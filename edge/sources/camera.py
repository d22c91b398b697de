"""A live OpenCV source: a USB camera (an index, /dev/videoN) or a stream URL (RTSP, HTTP, ...), opened, read and
released on the stream reader's thread, so the loop takes the latest frames and never waits on a driver."""

from __future__ import annotations

import threading

from ..errors import FerEdgeError
from ..records import Frame
from .base import Closing
from .capture import Capture
from .reader import LatestFrames


class CameraSource(Closing):
    """cv2.VideoCapture on its own thread; a set `cancel` event abandons an opening that hangs."""

    still = False
    live = True
    length: int | None = None

    def __init__(self, target: str | int, width: int | None = None, height: int | None = None,
                 fps: float | None = None, queue: int = 2, cancel: threading.Event | None = None):
        self.name = str(target)
        self.dropped = 0
        capture = Capture(target, width, height, fps)
        self._reader = LatestFrames(capture.grab, queue, capture.release, capture.open)
        try:
            self._reader.wait_open(cancel, self.name)
        except FerEdgeError:
            self._reader.stop(wait_s=0)
            raise
        self.fps = capture.fps

    @property
    def failure(self) -> str | None:
        """Why the source stopped delivering (stalled, or the stream ended); None while it delivers."""
        return self._reader.failure

    @property
    def stalled(self) -> bool:
        return self._reader.stalled

    @property
    def undecodable(self) -> int:
        """Failed reads between good frames: broken frames of a stream."""
        return self._reader.undecodable

    def read(self) -> Frame | None:
        frame = self._reader.get()
        self.dropped = self._reader.dropped
        return frame

    def wake(self) -> None:
        self._reader.wake()

    def close(self) -> None:
        self._reader.stop()  # the reader releases the capture itself, once its read returns
