"""A video file, read in step with the loop: every frame, none dropped, with the file's own timestamps (the
annotated video's encoder is edge/outputs/videofile.py)."""

from __future__ import annotations

from ..records import Frame
from .base import Closing, FrameCounter
from .capture import Capture

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".h264", ".gif")


class VideoFileSource(Closing):
    """cv2.VideoCapture on a file; a file that ends short of its header's frame count says so (`failure`)."""

    still = live = stalled = False
    dropped = undecodable = 0

    def __init__(self, path: str) -> None:
        self.name = path
        self._capture = Capture(path)
        self._capture.open()
        self._counter = FrameCounter()
        self._cut_short: str | None = None
        self.fps = self._capture.fps
        self.length = self._capture.length

    @property
    def failure(self) -> str | None:
        """Why the file ended before its header's frame count (truncated or damaged); None otherwise."""
        return self._cut_short

    def read(self) -> Frame | None:
        image = self._capture.grab()
        if image is None:
            self._ended_early()
            return None
        return self._counter.frame(image, video_time=self._capture.position_s())

    def _ended_early(self) -> None:
        """A file whose frames stop short of its header's count (a few frames of slack for estimated counts)."""
        read, count = self._counter.index, self._capture.length or 0
        if count and read < count - max(2, count // 50):
            self._cut_short = f"the video ended at frame {read} of {count}: the file is truncated or damaged"

    def wake(self) -> None:
        pass  # a read never waits

    def close(self) -> None:
        self._capture.release()
