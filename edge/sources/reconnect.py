"""A source that outlives its camera: a long-running service reopens what it loses instead of exiting.

Files, folders and the demo photo loop (at `fps`, so the demo plays at a steady rate); a camera or stream that
cannot be opened or stops delivering (ends, or stalls) is reopened with exponential backoff; a frame that is not an
image is skipped and counted. `read` returns None only once `stop` is set. `up` is true while frames come: it goes
false as soon as none came for `stale_s`, before a stalled stream is given up on.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from ..errors import FerEdgeError, UsageError
from ..records import Frame
from ..redact import redact
from .base import Closing, OpenedSource

log = logging.getLogger(__name__)


def decodable(image: object) -> bool:
    """A frame the loop can use: a non-empty uint8 grey or 3-channel image."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size > 0
            and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)))


class ReconnectingSource(Closing):
    """An `OpenedSource` over whatever `opener` opens now; it never ends or fails before `stop` (no `failure`)."""

    failure: str | None = None  # a lost source is reopened, never reported to the loop as ended
    stalled = False

    def __init__(self, opener: Callable[[], OpenedSource], name: str, stop: threading.Event, min_wait_s: float = 0.5,
                 max_wait_s: float = 16.0, fps: float = 0.0, on_state: Callable[[str], None] = lambda text: None,
                 stale_s: float = 5.0) -> None:
        self.name, self._opener, self._stop = name, opener, stop
        self._min_wait, self._max_wait, self._period = min_wait_s, max_wait_s, 1.0 / fps if fps > 0 else 0.0
        self._on_state = on_state
        self._inner: OpenedSource | None = None
        self._index = 0  # frame numbers run on across reopenings
        self._due = 0.0
        self._got_frame = False  # since the last opening
        self._opened = False  # ever: a wrong setting fails the first opening, a later failure is a fault
        self._failing_since: float | None = None
        self._wait = min_wait_s
        self._backoff_s = 0.0  # seconds waited between attempts since the last frame: part of the next one's `wait`
        self._up, self._stale_s, self._last_frame_at = False, stale_s, -float("inf")
        self.errors = 0  # openings that failed and live sources that stopped delivering
        self.reconnects = 0  # recoveries: the first frame after one or more errors
        self._undecodable = 0
        self._closed_dropped = self._closed_undecodable = 0

    @property
    def up(self) -> bool:
        """Open and delivering: a frame came within `stale_s` (a stalled stream reads as down before it is lost)."""
        return self._up and time.monotonic() - self._last_frame_at <= self._stale_s

    @property
    def dropped(self) -> int:
        """Frames a live source dropped because the loop was behind, over every opening."""
        return self._closed_dropped + (self._inner.dropped if self._inner is not None else 0)

    @property
    def still(self) -> bool:
        """Whether the source now open gives unrelated pictures (a folder): the loop then detects on every one."""
        return self._inner is not None and self._inner.still

    @property
    def live(self) -> bool:
        """Whether the source now open is a camera or stream."""
        return self._inner is not None and self._inner.live

    @property
    def fps(self) -> float | None:
        return self._inner.fps if self._inner is not None else None

    @property
    def length(self) -> int | None:
        return None  # a service's file loops for ever: no end to count down to

    @property
    def undecodable(self) -> int:
        """Frames skipped because they could not be decoded, over every opening."""
        inner = self._inner.undecodable if self._inner is not None else 0
        return self._undecodable + self._closed_undecodable + inner

    def read(self) -> Frame | None:
        paced = False  # one wait per frame, however many reopenings (a one-image folder reopens every frame)
        waited = 0.0  # pacing, backoff and a camera's pace: the loop's `wait` stage, kept out of `decode`
        while not self._stop.is_set():
            inner = self._inner or self._open()
            if inner is None:
                continue
            if not paced:
                t0 = time.perf_counter()
                paced = self._pace()
                waited += time.perf_counter() - t0
            frame = inner.read()
            if self._stop.is_set():
                return None
            if frame is None:
                self._lost()
                continue
            if not decodable(frame.image):
                self._undecodable += 1
                continue
            self._got_frame = True
            if self._failing_since is not None:
                self.reconnects += 1
                log.info(redact(f"source {self.name}: back after {time.monotonic() - self._failing_since:.1f} s "
                                f"(reconnect {self.reconnects})"))
                self._failing_since, self._wait = None, self._min_wait
            self._up, self._last_frame_at = True, time.monotonic()
            frame = dataclasses.replace(frame, index=self._index, waited_s=waited + self._backoff_s + frame.waited_s)
            self._backoff_s = 0.0
            self._index += 1
            return frame
        return None

    def _open(self) -> OpenedSource | None:
        try:
            self._inner = self._opener()
            self._got_frame = False
            self._opened = True
            return self._inner
        except UsageError as exc:
            if not self._opened:
                raise  # the source setting itself is wrong: no retry helps
            reason = str(exc)  # it opened before: what is at the path changed (a folder replaced), which may pass
        except FerEdgeError as exc:
            reason = str(exc)
        except OSError as exc:  # whatever the opener did not word itself: a fault, never the end of the service
            reason = f"cannot open ({exc.strerror or exc})"
        if not self._stop.is_set():  # a stop abandons an opening: that is no failure to report
            self._fail(reason)
        return None

    def _lost(self) -> None:
        looped = self._got_frame and not self.live
        why = self._inner.failure if self._inner is not None else None  # a live source says: stalled, or it ended
        self._close_inner()
        if not looped:  # a file that ended after frames just starts again; anything else is a failure
            self._fail(why or ("stopped delivering frames" if self._got_frame else "no frame could be read"))

    def _fail(self, reason: str) -> None:
        self.errors += 1
        self._up = False
        if self._failing_since is None:  # an outage began with the last frame (a stall is noticed 10 s later)
            self._failing_since = min(self._last_frame_at, time.monotonic()) if self._index else time.monotonic()
        wait = self._wait
        self._wait = min(self._wait * 2, self._max_wait)
        text = redact(f"source {self.name}: {reason}; reconnecting in {wait:.1f} s (attempt {self.errors})")
        log.warning(text)
        self._on_state(text)
        t0 = time.perf_counter()
        self._stop.wait(wait)
        self._backoff_s += time.perf_counter() - t0

    def _pace(self) -> bool:
        """Hold files and the demo photo to a steady frame rate; live sources keep their own."""
        if not self._period or self.live:
            return True
        now = time.monotonic()
        self._due += self._period
        if self._due < now - self._period:  # fell behind (a slow frame, a reopening): start over, no burst
            self._due = now
        self._stop.wait(max(0.0, self._due - now))
        return True

    def wake(self) -> None:
        """From another thread, on stop: a read waiting on a camera returns now."""
        inner = self._inner
        if inner is not None:
            inner.wake()

    def _close_inner(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            self._closed_dropped += inner.dropped
            self._closed_undecodable += inner.undecodable
            inner.close()

    def close(self) -> None:
        self._close_inner()
