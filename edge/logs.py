"""One place that sends fer-edge's loggers to stderr: one line each, prefixed with the command (journald adds time)."""

from __future__ import annotations

import logging
import sys


def send_to_stderr(prefix: str, name: str = "edge") -> None:
    """Logger `name` (and those below it) prints `PREFIX: message` lines, once however often this is called."""
    log = logging.getLogger(name)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
