"""The stream reader: a thread of its own opens, reads and releases a live device (a camera, a stream), feeding a
small queue the loop takes from; when the loop falls behind the oldest frame is dropped, so results stay current.

No other thread touches the device: a stop or a stall abandons a reader stuck in a driver instead of releasing the
device under it.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import FerEdgeError
from ..records import Frame
from .base import Closing, FrameCounter

STALL_S = 10.0  # a live source that delivers no frame for this long has stalled
FAILED_READS = 5  # failed reads in a row that end a live source; fewer are broken frames, skipped and counted


Grabbed = np.ndarray | tuple[np.ndarray, np.ndarray]  # a picture, or (main, lores) from a camera with a detection stream


class LatestFrames:
    """A capture thread feeding a bounded deque: when full, the oldest frame is dropped and counted.

    The thread owns the device: it runs `opener` (when given), then `grab` until stopped or ended, then `release`.
    `stop` only sets a flag, so a grab stuck in a driver is abandoned, never released under it.
    """

    def __init__(self, grab: Callable[[], Grabbed | None], size: int, release: Callable[[], None] | None = None,
                 opener: Callable[[], None] | None = None) -> None:
        self._grab, self._release, self._opener = grab, release, opener
        self._frames: collections.deque[Frame] = collections.deque(maxlen=max(1, size))
        self._cond, self._stop = threading.Condition(), threading.Event()
        self._opened = opener is None
        self._open_error: FerEdgeError | None = None
        self._ended = self._woken = self.stalled = False
        self.failure: str | None = None
        self.dropped = self.undecodable = 0
        self._counter = FrameCounter()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            if self._opener is None or self._open(self._opener):
                self._read_frames()
        finally:
            if self._release is not None:
                self._release()

    def _open(self, opener: Callable[[], None]) -> bool:
        try:
            opener()
        except Exception as exc:  # noqa: BLE001 -- handed to the waiting caller, which reports it
            with self._cond:
                self._open_error = exc if isinstance(exc, FerEdgeError) else FerEdgeError(f"cannot open ({exc})")
                self._cond.notify_all()
            return False
        with self._cond:
            self._opened = True
            self._cond.notify_all()
        return True

    def _read_frames(self) -> None:
        failed = 0
        while not self._stop.is_set():
            try:
                image = self._grab()
            except Exception:  # noqa: BLE001 -- a driver error is a failed read, like a False from OpenCV
                image = None
            with self._cond:
                if image is None:
                    failed += 1
                    if failed >= FAILED_READS:
                        self._ended, self.failure = True, self.failure or "the stream ended"
                        self._cond.notify_all()
                        return
                    continue
                self.undecodable, failed = self.undecodable + failed, 0
                if len(self._frames) == self._frames.maxlen:
                    self.dropped += 1
                # a grab may return (main, lores) from a camera with a detection stream
                self._frames.append(self._counter.frame(*image) if isinstance(image, tuple) else self._counter.frame(image))
                self._cond.notify_all()

    def wait_open(self, cancel: threading.Event | None = None, name: str = "source") -> None:
        """Until the thread has opened the device; raises its error, or one when `cancel` is set first."""
        with self._cond:
            while not (self._opened or self._open_error):
                if cancel is not None and cancel.is_set():
                    raise FerEdgeError(f"{name}: stopped while opening")
                self._cond.wait(0.1)
            if self._open_error is not None:
                raise self._open_error

    def get(self, timeout: float = STALL_S) -> Frame | None:
        """The oldest queued frame; None when the source ended, was woken, or stalled (no frame for `timeout`).

        The frame says how long this call waited for it (`waited_s`): the camera's pace, not the loop's cost.
        """
        t0 = time.perf_counter()
        with self._cond:
            if not self._cond.wait_for(lambda: self._frames or self._ended or self._stop.is_set() or self._woken, timeout):
                self.stalled, self.failure = True, f"no frame for {timeout:.0f} s (stalled)"
                return None
            frame = self._frames.popleft() if self._frames else None
        return None if frame is None else dataclasses.replace(frame, waited_s=time.perf_counter() - t0)

    def wake(self) -> None:
        """From another thread: a waiting `get` returns now (None without a frame), so a stop is not held up."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stop(self, wait_s: float = 0.5) -> None:
        """Ends the thread, which releases the device itself; waits up to `wait_s` for that, never releases here."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if wait_s > 0 and threading.current_thread() is not self._thread:
            self._thread.join(timeout=wait_s)


class ThreadedSource(Closing):
    """A live source read on a `LatestFrames` thread (an OpenCV camera or stream, picamera2): what it says of its
    frames and its health is the reader's; the subclass names itself and starts `_reader`."""

    still = False
    live = True
    length: int | None = None  # a camera never ends
    dropped = 0
    name: str
    _reader: LatestFrames

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
        self._reader.stop()  # the reader releases the device itself, once its read returns
