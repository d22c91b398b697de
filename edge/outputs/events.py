"""JSON Lines events: one record per face per processed frame, and periodic stats records.

Schema (documented in docs/run.md, "Events"):
  face:  {"type": "face", "time", "frame", "file" (stills only), "video_time" (video files only), "face_id",
          "box": [x1, y1, x2, y2], "detected",
          "detector_score", "label", "score", "probs": {label: p}, "smoothed_label", "smoothed_score"}
  run:   {"type": "run", "time", "version", "command", "config"} (first in a file, once per run)
  stats: {"type": "stats", "time", "frames", "fps_now", "fps_mean", "detected", "detected_share", "faces",
          "faces_per_frame", "dropped", "latency_ms": {stage: {"p50", "p95", "mean"}}} (`detect`: detected frames only)
Version 2 (docs/run.md, "Events"): the stats record's `fps` and `fps_avg` became `fps_mean` and `fps_now`; `detected`
and `detected_share` were added.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..errors import FerEdgeError, UsageError
from ..files import writable_target
from ..pipeline.sink import Closing
from ..records import FaceRecord, FrameResult, LoopCounts

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


Json = dict[str, Any]  # a record as it leaves the process: JSON types only


def face_json(r: FaceRecord) -> Json:
    """A face record in the events schema: the JSONL line, and each face of /events/latest and /faces.

    `file` is the photo a still came from, by its name only (a folder run numbers frames, which says nothing);
    `video_time` the frame's position in a video file, in seconds (`time` is the wall clock when it was read).
    """
    top = r.top
    return {
        "type": "face", "v": SCHEMA_VERSION, "time": round(r.time, 3), "frame": r.frame,
        **({"file": Path(r.file).name} if r.file else {}),
        **({"video_time": round(r.video_time, 3)} if r.video_time is not None else {}), "face_id": r.face_id,
        "box": list(r.box), "detected": r.detected, "detector_score": round(r.detector_score, 3),
        "label": r.labels[top], "score": round(r.probs[top], 4),
        "probs": {name: round(p, 4) for name, p in zip(r.labels, r.probs)},
        "smoothed_label": r.smoothed_label, "smoothed_score": round(r.smoothed_score, 4),
    }


def run_record(time_s: float, command: str, config: Json) -> Json:
    """Opens a run in an events file, so that a file appended to by many runs says where each begins and how."""
    from ..bundled import package_version

    return {"type": "run", "v": SCHEMA_VERSION, "time": round(time_s, 3), "version": package_version(), "command": command,
            "config": config}


def stats_record(time_s: float, stats: LoopCounts, dropped: int) -> Json:
    return {
        "type": "stats", "v": SCHEMA_VERSION, "time": round(time_s, 3), "frames": stats.frames,
        "fps_now": round(stats.fps_now, 2), "fps_mean": round(stats.fps_mean(), 2), "detected": stats.detected,
        "detected_share": round(stats.detected_share(), 3), "faces": stats.faces,
        "faces_per_frame": round(stats.faces / stats.frames, 3) if stats.frames else 0.0,
        "dropped": dropped, "latency_ms": stats.latency(),
    }


class JsonlWriter(Closing):
    """Appends records to a file (or stdout for "-", or an open text stream), written once per frame by `flush`.

    A failed write (disk full, file unwritable) is logged once, counted and never stops the loop: that frame's
    records are dropped, not kept in memory, and a partly written line is cut off again. With `keep_going`, a file
    that cannot be opened is retried every `REOPEN_S` instead of being an error; with `max_bytes`, the file is
    rotated to `<file>.1` beyond that size, so weeks of events fit on an SD card. A file deleted or moved away while
    running is reopened at its path, as log shippers expect; with `truncate`, what the file held before is dropped
    when it is first opened (a run's own output), else it is appended to (the service, across restarts). Stdout is
    written with `os.write` on its descriptor (no hidden buffer); once its reader is gone (a broken pipe) nothing
    more is tried, `gone` is set and `on_gone` called, and every later record is counted as lost (a warning, unless
    `quiet_pipe`).
    """

    REOPEN_S = 30.0
    WRITE_WAIT_S = 0.5  # a FIFO or device output that takes no data for this long loses the frame's records

    def __init__(self, target: str | Path | TextIO = "-", keep_going: bool = False, max_bytes: int = 0,
                 on_gone: Callable[[], None] = lambda: None, truncate: bool = False, quiet_pipe: bool = False):
        self.target = str(target) if isinstance(target, (str, Path)) else str(getattr(target, "name", target))
        self.errors = 0  # failed writes
        self.lost = 0  # records not written
        self.written = 0  # records written
        self.gone = False  # stdout's reader went away: nothing more can be delivered
        self._on_gone, self._quiet_pipe = on_gone, quiet_pipe
        self._pending: list[str] = []
        self._failing = False
        self._max_bytes, self._size, self._retry_at, self._rotate_at = max_bytes, 0, 0.0, 0.0
        self._stream: TextIO | None = None  # the caller's stream
        self._fd: int | None = None  # one os.write per flush, no hidden buffer to fill up
        self._own = isinstance(target, (str, Path)) and self.target != "-"  # a file we open, rotate and reopen
        self._inode: tuple[int, int] | None = None
        self._regular = True  # a regular file, which alone is rotated (never /dev/null, renamed to /dev/null.1)
        self._truncate = truncate  # the first opening only: a reopened or rotated file is a new one anyway
        self._path = Path(self.target)
        if not isinstance(target, (str, Path)):
            self._stream = target
        elif not self._own:
            self._fd = self._stdout_fd(keep_going)
        else:
            try:
                self._open()
            except OSError as exc:
                if not keep_going:
                    raise UsageError(f"{self.target}: cannot open events file ({exc.strerror or exc})") from None
                self._error(exc.strerror or str(exc), "cannot open")

    def _stdout_fd(self, keep_going: bool) -> int | None:
        """Stdout's descriptor; None (and every record lost) when the process was started with it closed."""
        if sys.stdout is not None:
            sys.stdout.flush()  # anything printed before goes first
            try:
                return sys.stdout.fileno()
            except (OSError, ValueError):  # a stream without a descriptor (a test's capture)
                self._stream = sys.stdout
                return None
        if not keep_going:
            raise FerEdgeError("events -: stdout is closed; give --events FILE")
        self._set_gone("stdout is closed")
        return None

    def _open(self) -> None:
        """Opened without blocking: a FIFO with no reader is an error now (retried), never a wait that holds up the
        start and SIGTERM; on a FIFO or a device, a write that would block waits at most WRITE_WAIT_S."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
                 | (os.O_TRUNC if self._truncate else 0))
        try:
            self._fd = os.open(self._path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OSError(errno.ENXIO, "a FIFO with no reader") from None
            raise
        self._truncate = False
        st = os.fstat(self._fd)
        self._size, self._inode, self._regular = st.st_size, (st.st_dev, st.st_ino), stat.S_ISREG(st.st_mode)

    def write(self, record: FaceRecord | Json) -> None:
        data = face_json(record) if isinstance(record, FaceRecord) else record
        self._pending.append(json.dumps(data, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        data, count = "".join(self._pending), len(self._pending)
        self._pending.clear()
        if not data:
            return  # nothing tried, so nothing learnt about a failing output
        if self.gone:
            self.lost += count
            return
        try:
            if self._stream is not None:
                self._stream.write(data)
                self._stream.flush()
            elif self._own:
                if self._fd is None and time.monotonic() < self._retry_at:
                    self.lost += count
                    return
                self._ensure_open()
                self._write_fd(data.encode())
            else:
                self._write_fd(data.encode())
        except BrokenPipeError:
            self.lost += count
            self._set_gone("the reader closed the pipe", quiet=self._quiet_pipe)
            return
        except OSError as exc:
            self.lost += count
            self._error(exc.strerror or str(exc), "write failed")
            return
        self.written += count
        if self._failing:
            self._failing = False
            log.info(f"events {self.target}: writing again ({self.lost} records lost so far)")
        if self._own and self._regular and self._max_bytes and self._size > self._max_bytes:
            self._rotate()

    def _ensure_open(self) -> None:
        """Open the file if it is closed, or again if the path now names another file (deleted, moved away)."""
        if self._fd is not None:
            try:
                st = os.stat(self._path)
                if (st.st_dev, st.st_ino) == self._inode:
                    return
            except FileNotFoundError:
                pass
            except OSError:
                return  # cannot tell: keep writing where we were
            os.close(self._fd)
            self._fd = None
            log.warning(f"events {self.target}: the file was deleted or replaced; reopening it")
        self._open()

    def _write_fd(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:  # not reached: a closed stdout sets `gone`, a file is opened first
            raise OSError(errno.EBADF, "no file open")
        view = memoryview(data)
        deadline = time.monotonic() + self.WRITE_WAIT_S
        try:
            while view:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:  # a FIFO's reader is slow, or a terminal is paused
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([], [fd], [], left)[1]:
                        raise OSError(errno.EAGAIN, f"the reader took no data for {self.WRITE_WAIT_S:g} s") from None
        except OSError:
            if self._own and len(view) < len(data):
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._size)  # no half line left for readers to trip on
            raise
        self._size += len(data)

    def _rotate(self) -> None:
        """Rename the real file (a symlink's target: the link stays) to `<file>.1`, a regular file or nothing.

        When that fails, writing goes on in the same file (nothing is lost) and rotation is tried again later.
        """
        if time.monotonic() < self._rotate_at:
            return
        real = Path(os.path.realpath(self._path))
        try:
            os.replace(real, writable_target(real.with_name(real.name + ".1")))
        except (OSError, UsageError) as exc:
            self._rotate_at = time.monotonic() + self.REOPEN_S
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log.warning(f"events {self.target}: rotation failed ({reason}); writing on to the same file, "
                        f"retrying in {self.REOPEN_S:.0f} s")
            return
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self._open()
        except OSError as exc:
            self._error(exc.strerror or str(exc), "cannot open")

    def _set_gone(self, reason: str, quiet: bool = False) -> None:
        """Nothing more can be delivered. With `quiet_pipe` (`run ... | head -2`), a reader that closed the pipe is
        no fault: the caller says so, no warning here."""
        self.gone = True
        log.log(logging.DEBUG if quiet else logging.WARNING, f"events {self.target}: {reason}; dropping every later record")
        self._on_gone()

    def _error(self, reason: str, what: str) -> None:
        self.errors += 1
        if self._fd is None:
            self._retry_at = time.monotonic() + self.REOPEN_S
        if not self._failing:
            self._failing = True
            retry = f", retrying every {self.REOPEN_S:.0f} s" if self._fd is None and self._own else ""
            log.warning(f"events {self.target}: {what} ({reason}); dropping records{retry} and continuing")

    def close(self) -> None:
        self.flush()
        if self._own and self._fd is not None:
            os.close(self._fd)
            self._fd = None


class EventsSink(Closing):
    """The events output: each frame's face records, one line each, written once per frame; a stats record every
    `stats_every_s` and a last one at `close` (when a frame was processed), which flushes and closes the writer."""

    def __init__(self, writer: JsonlWriter, stats_every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.writer, self._every, self._clock = writer, stats_every_s, clock
        self._last_stats = clock()
        self._last: FrameResult | None = None
        self._closed = False

    def on_frame(self, result: FrameResult) -> None:
        for r in result.faces:
            self.writer.write(r)
        self._last = result
        if self._clock() - self._last_stats >= self._every:
            self._last_stats = self._clock()
            self.writer.write(stats_record(time.time(), result.stats, result.dropped))
        self.writer.flush()

    def close(self) -> None:
        """The last stats record, then the file. Without a frame there is none: a start that failed (a model that
        would not load) adds nothing to a file the service appends to."""
        if self._closed:
            return
        self._closed = True
        if self._last is not None:
            self.writer.write(stats_record(time.time(), self._last.stats, self._last.dropped))
        self.writer.close()
