"""Atomic file writes: a crash or Ctrl-C never leaves a half-written result behind, and only a regular file is
ever replaced (a rename over a device, a FIFO or a symlink would destroy it)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FerEdgeError, UsageError

_KINDS = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """What a file of this mode is, with its article: `a FIFO`, `a character device`."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def writable_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to `path` must replace: a symlink's target (the link stays a link), or `path` itself.

    Anything that exists and is not a regular file is refused with a UsageError naming it: renaming a result over
    /dev/full once turned the device into a JSON file.
    """
    path = Path(path)
    try:
        st = os.stat(path)  # follows links, /proc/self/fd/N included
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # a new file, or the missing target of a dangling link
    except OSError:
        return path  # a folder on the way is missing or unreadable: the write itself says so
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path}: is {kind_of(st.st_mode)}, not a regular file; refusing to replace it")
    return Path(os.path.realpath(path))


def read_regular(path: str | os.PathLike[str], limit: int = 1 << 20) -> bytes:
    """The bytes of the regular file `path`, opened without blocking: a FIFO with no writer would hold a plain open
    forever, and a device never ends. Anything else, or a file above `limit` bytes, is an OSError saying so."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"is {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        return f.read(limit + 1)


def _unwritable(folder: Path) -> str | None:
    """Why no file can be made in `folder` (created if missing), or None when one can. A probe, not `os.access`,
    which says yes to root on a read-only mount."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:
        return f"{folder} is not a folder"
    except OSError as exc:
        return f"cannot write in {folder} ({exc.strerror or exc})"
    return None


def ensure_folder(path: str | os.PathLike[str], option: str) -> Path:
    """Make the output folder `path` now, so that a bad output option fails in one line naming `option` (exit 2)
    before any work is done rather than after it."""
    path = Path(path)
    reason = _unwritable(path)
    if reason:
        raise UsageError(f"{option} {path}: {reason}")
    return path


def check_output_file(path: str | os.PathLike[str], option: str) -> Path:
    """The result file `path`, checked now: not a folder or device, and its folder takes new files."""
    target = writable_target(path)
    reason = _unwritable(target.parent)
    if reason:
        raise UsageError(f"{option} {path}: {reason}")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside the real target, renamed over it only when the block succeeds.

    For writers that want a file name rather than bytes (Keras `model.save`); `suffix` keeps the extension they
    insist on. OS errors become one line naming `path`.
    """
    target = writable_target(path)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        _fsync(tmp)
        os.replace(tmp, writable_target(path))  # checked again: the block may have taken minutes
    except OSError as exc:
        raise FerEdgeError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _fsync(name: str) -> None:
    fd = os.open(name, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def printable(text: str) -> str:
    """`text` with the bytes of a file name that is not UTF-8 (Python's surrogate escapes) shown as `\\xNN`, so it
    can be written as UTF-8 or drawn in a plot."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, printable(text).encode("utf-8"))
