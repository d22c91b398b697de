"""What the running service tells systemd: READY, WATCHDOG and STATUS over sd_notify, from the loop's thread.

The process owns reconnecting its source, so systemd hears READY once the model is loaded, whether or not a camera
is there. Watchdog pings come only from the loop thread: `on_frame` after a processed frame, `on_source_state`
after each failed attempt to open the source. A loop that hangs stops both and gets the service restarted; a
camera that is missing does not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from ..outputs.events import JsonlWriter
from ..pipeline.sink import Closing
from ..records import FrameResult
from ..redact import redact
from .sdnotify import Notifier


class Reconnects(Protocol):
    @property
    def reconnects(self) -> int: ...


class Watchdog(Closing):
    """A sink that pings systemd's watchdog while the loop makes progress and keeps STATUS= current."""

    STATUS_EVERY_S = 2.0

    def __init__(self, notifier: Notifier, source: Reconnects, events: JsonlWriter | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._notifier, self._source, self._events, self._clock = notifier, source, events, clock
        self.ready = False
        self._frames = self._frame_faces = 0
        self._fps = 0.0
        self._last_ping = self._last_status = -math.inf
        self._waiting: str | None = None  # why there is no frame now: the source's last failed attempt

    def started(self, source_name: str) -> None:
        """The model is loaded and the endpoint up: READY, before any frame (the camera may be missing for hours)."""
        self.ready = True
        self._waiting = f"opening {redact(source_name)}"
        self._last_status = self._clock()
        self._notifier.send("READY=1", f"STATUS={self.status()}")

    def on_source_state(self, text: str) -> None:
        """From the loop thread after each failed attempt to open or read the source: say why, and that it is alive."""
        now = self._clock()
        self._waiting = redact(text)  # STATUS= prints it
        fields = []
        if self._notifier.watchdog_s and now - self._last_ping >= self._notifier.watchdog_s:
            self._last_ping = now
            fields.append("WATCHDOG=1")
        self._last_status = now
        self._notifier.send(*fields, f"STATUS={self.status()}")

    def on_frame(self, result: FrameResult) -> None:
        """Tell systemd the loop is alive (at most every half WatchdogSec) and how it goes (every STATUS_EVERY_S)."""
        now = self._clock()
        was_waiting, self._waiting = self._waiting is not None, None
        self._frames, self._fps, self._frame_faces = result.stats.frames, result.stats.fps_now, len(result.faces)
        fields = []
        if not self.ready:
            self.ready = True
            fields.append("READY=1")
        if self._notifier.watchdog_s and now - self._last_ping >= self._notifier.watchdog_s:
            self._last_ping = now
            fields.append("WATCHDOG=1")
        if now - self._last_status >= self.STATUS_EVERY_S or was_waiting or fields and fields[0] == "READY=1":
            self._last_status = now
            fields.append(f"STATUS={self.status()}")
        if fields:
            self._notifier.send(*fields)

    def status(self) -> str:
        if self._waiting is not None:
            return f"waiting for camera: {self._waiting}"
        faces = "1 face" if self._frame_faces == 1 else f"{self._frame_faces} faces"
        lost = self._events.lost if self._events is not None else 0
        more = f", {lost} event records lost" if lost else ""
        return f"{self._fps:.1f} fps, {faces}, {self._frames} frames, {self._source.reconnects} reconnects{more}"
