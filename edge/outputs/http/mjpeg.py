"""MJPEG (`multipart/x-mixed-replace`) to a few viewers from one thread of its own.

A stream never ends, so it cannot live in the HTTP selector thread's strict per-request limits: the HTTP thread
answers the request line and hands the socket over (`adopt`), and this thread feeds at most `max_viewers` of them.
It encodes a frame at most `fps` times a second and only while someone watches; a viewer that reads slower than
that skips frames (never queues them), and one that has not taken a whole picture within `STALL_S` of its sending
begun is closed. Each viewer's send buffer is kept small (`SEND_BUFFER`): the kernel's own would take megabytes from
a socket that never reads before anything here saw it stall, and four such sockets held every slot for 80 s.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable

from .guard import forget

log = logging.getLogger(__name__)

BOUNDARY = b"fer-edge-frame"
HEAD = (b"HTTP/1.0 200 OK\r\nServer: fer-edge\r\nContent-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY
        + b"\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n")
STALL_S = 5.0  # a viewer that has not taken the whole of its pending part for this long is closed
SEND_BUFFER = 64 << 10  # bytes the kernel may hold for a viewer (it doubles it): a few pictures, not megabytes
POLL_S = 0.1  # longest wait before a newly adopted viewer is served


def part(jpeg: bytes) -> bytes:
    """One multipart body part: a whole JPEG picture."""
    return (b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
            + b"\r\n\r\n" + jpeg + b"\r\n")


class _Viewer:
    __slots__ = ("sock", "pending", "progress", "pictured")

    def __init__(self, sock: socket.socket, pending: bytes, now: float, pictured: bool):
        self.sock, self.pending, self.progress = sock, memoryview(pending), now
        self.pictured = pictured  # a picture is queued or sent; until then the first one joins the head


class MjpegStreamer:
    """`encode(last_seq)` gives (seq, jpeg) of a frame newer than `last_seq`, or None when there is none."""

    def __init__(self, encode: Callable[[int], tuple[int, bytes] | None], fps: float, max_viewers: int,
                 clock: Callable[[], float] = time.monotonic):
        self._encode, self._period, self._max, self._clock = encode, 1.0 / fps, max_viewers, clock
        self._lock = threading.Lock()
        self._incoming: list[socket.socket] = []
        self._viewers: dict[socket.socket, _Viewer] = {}
        self._selector = selectors.DefaultSelector()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = -1
        self._last_part = b""
        self.encoded = self.sent = self.skipped = self.stalled = 0

    @property
    def viewers(self) -> int:
        with self._lock:
            return len(self._viewers) + len(self._incoming)

    def has_room(self) -> bool:
        return self.viewers < self._max

    def adopt(self, sock: socket.socket) -> bool:
        """Take over a client socket whose request asked for the stream; False (not taken) when full."""
        with self._lock:
            if self._stop.is_set() or len(self._viewers) + len(self._incoming) >= self._max:
                return False
            self._incoming.append(sock)
        self._wake.set()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mjpeg", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        with self._lock:
            socks = [*self._viewers, *self._incoming]
            self._viewers.clear()
            self._incoming.clear()
        for sock in socks:
            sock.close()
        self._selector.close()

    def _run(self) -> None:
        due = 0.0
        while not self._stop.is_set():
            self._take_incoming()
            if not self._viewers:  # no one watches: no encoding, no wake-ups until someone comes
                self._wake.wait()
                self._wake.clear()
                continue
            now = self._clock()
            if now >= due:
                due = now + self._period
                self._broadcast(now)
            for key, mask in self._selector.select(max(0.0, min(due - now, POLL_S))):
                self._service(key.data, mask)
            self._expire()

    def _take_incoming(self) -> None:
        with self._lock:
            incoming, self._incoming = self._incoming, []
            now = self._clock()
            for sock in incoming:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                except OSError:
                    pass  # the default buffer: slower to notice a viewer that does not read, nothing worse
                viewer = _Viewer(sock, HEAD + self._last_part, now, bool(self._last_part))  # no blank page
                self._viewers[sock] = viewer
                self._selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, viewer)

    def _broadcast(self, now: float) -> None:
        try:
            fresh = self._encode(self._seq)
        except Exception as exc:  # a bug in drawing or encoding: this frame is skipped, the stream goes on
            log.warning(f"preview: could not encode a frame ({type(exc).__name__}: {exc})")
            return
        if fresh is None:
            return
        self._seq, jpeg = fresh
        self.encoded += 1
        self._last_part = part(jpeg)
        for viewer in list(self._viewers.values()):
            if viewer.pending and viewer.pictured:
                self.skipped += 1  # still sending the last one: this viewer skips a frame
                continue
            if not viewer.pending:
                viewer.progress = now  # the clock for this picture starts when its sending does
            viewer.pending = memoryview(bytes(viewer.pending) + self._last_part)
            viewer.pictured = True
            self._selector.modify(viewer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, viewer)

    def _service(self, viewer: _Viewer, mask: int) -> None:
        try:
            if mask & selectors.EVENT_READ and not viewer.sock.recv(1024):
                self._drop(viewer)  # the viewer closed the page
                return
            if mask & selectors.EVENT_WRITE and viewer.pending:
                viewer.pending = viewer.pending[viewer.sock.send(viewer.pending):]
                if not viewer.pending:  # a whole picture taken: only that counts as progress, not a trickle
                    viewer.progress = self._clock()
                    self.sent += 1
                    self._selector.modify(viewer.sock, selectors.EVENT_READ, viewer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset, broken pipe: the viewer went away
            self._drop(viewer)

    def _expire(self) -> None:
        now = self._clock()
        for viewer in list(self._viewers.values()):
            if viewer.pending and now - viewer.progress > STALL_S:
                self.stalled += 1
                self._drop(viewer)

    def _drop(self, viewer: _Viewer) -> None:
        with self._lock:
            self._viewers.pop(viewer.sock, None)
        forget(self._selector, viewer.sock)
