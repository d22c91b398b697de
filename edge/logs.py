"""fer-edge's diagnostics: `logging`, set up once where a command starts, one stderr line a record, `PREFIX: message`.

Under systemd (stderr is the journal stream that `JOURNAL_STREAM` names), each line starts with its syslog priority,
`<4>` for a warning, `<6>` for information, which journald strips and keeps as the entry's priority
(`journalctl -p warning`); elsewhere the lines are as they read.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from .redact import redact

# The loggers fer-edge's modules log under (`logging.getLogger(__name__)`); `__main__` is a `python -m fer_edge.benchmarks.x`.
LOGGERS = ("fer_edge", "__main__")
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed, not at run time
    """Writes to whatever `sys.stderr` is when a record comes (a test's capture, a redirect), as logging's last resort."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # a read-only view of whatever sys.stderr is now
    def stream(self) -> TextIO:
        return sys.stderr


class _Lines(logging.Formatter):
    def __init__(self, prefix: str, journal: bool) -> None:
        super().__init__(f"{prefix}: %(message)s")
        self._journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))  # every line, whoever logged it: a URL's secrets never reach the journal
        return f"<{SYSLOG_PRIORITY.get(record.levelno, 6)}>{line}" if self._journal else line


def stderr_is_journal(environ: Mapping[str, str] = os.environ) -> bool:
    """stderr is connected to journald: `JOURNAL_STREAM` is `DEVICE:INODE` of that stream (systemd.exec(5))."""
    try:
        device, inode = (int(x) for x in environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def log_to_stderr(prefix: str, level: int = logging.INFO) -> None:
    """Every fer-edge logger prints `PREFIX: message` from `level` up to stderr; called again, the prefix changes."""
    handler = _Stderr()
    handler.setFormatter(_Lines(prefix, stderr_is_journal()))
    for name in LOGGERS:
        log = logging.getLogger(name)
        for old in [h for h in log.handlers if isinstance(h, _Stderr)]:
            log.removeHandler(old)
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False
