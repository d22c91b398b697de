"""What a source is: `FrameSource`, the little the loop reads of one; `OpenedSource`, what `run` and the service
also ask of a source they opened; and `NullSource`, the twin that stands in for a camera where there is none.

Every source is a context manager, and its `close()` is safe to call twice (picamera2's habit).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from ..closing import Closing as Closing  # the one `with` support, re-exported for the sources
from ..records import Frame


class FrameSource(Protocol):
    """What the loop reads of a source: frames, and how to treat them."""

    @property
    def still(self) -> bool:
        """Every frame is an unrelated picture (photos): the loop detects on each, never carries boxes over."""
        ...

    @property
    def live(self) -> bool:
        """A camera or stream: it keeps its own pace and drops frames when behind; its end is a failure."""
        ...

    @property
    def fps(self) -> float | None:
        """The frame rate the source reports (None: unknown, or photos): a video's own clock for the tracker."""
        ...

    @property
    def dropped(self) -> int:
        """Frames dropped because the loop was behind (a live source's queue was full)."""
        ...

    @property
    def undecodable(self) -> int:
        """Frames skipped because they did not decode (broken frames of a stream, unreadable photos)."""
        ...

    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended."""
        ...

    def close(self) -> None:
        """Let go of the device or file; a second call does nothing."""
        ...


class OpenedSource(FrameSource, Protocol):
    """A source `open_source` opened: what the loop reads, and what `run` and the service report and stop it by."""

    @property
    def name(self) -> str: ...

    @property
    def length(self) -> int | None:
        """How many frames a file or folder holds, for a progress line (None: a camera, a stream, or unknown)."""
        ...

    @property
    def failure(self) -> str | None:
        """Why a live source stopped delivering (stalled, or the stream ended); None while it delivers."""
        ...

    @property
    def stalled(self) -> bool:
        """The source stopped delivering without ending (no frame for a while)."""
        ...

    def wake(self) -> None:
        """From another thread: a `read` waiting for a frame returns now, so a stop is not held up."""
        ...


class FrameCounter:
    """Numbers a source's frames from 0 and stamps them with the time they were made."""

    def __init__(self) -> None:
        self.index = 0

    def frame(self, image: np.ndarray, lores: np.ndarray | None = None, file: str | None = None,
              video_time: float | None = None) -> Frame:
        f = Frame(image, self.index, time.time(), lores, file, video_time)
        self.index += 1
        return f


class NullSource(Closing):
    """A source with no device: the given pictures once each (none by default: it ends at once), at `fps`.

    The null twin of a camera, for code that needs a source and has none: unit tests of the loop, a headless check.
    """

    name = "null"
    live = stalled = False
    failure: str | None = None
    dropped = undecodable = 0

    def __init__(self, images: Iterable[np.ndarray] = (), *, fps: float | None = None, still: bool = False) -> None:
        self._images = list(images)
        self.fps, self.still, self.length = fps, still, len(self._images)
        self._counter = FrameCounter()
        self.closed = False

    def read(self) -> Frame | None:
        i = self._counter.index
        if self.closed or i >= len(self._images):
            return None
        return self._counter.frame(self._images[i])

    def wake(self) -> None:
        pass  # a read never waits

    def close(self) -> None:
        self.closed = True
