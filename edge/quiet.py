"""Quiet by default: the native libraries' own log lines (LiteRT, OpenCV/FFmpeg, TensorFlow) stay off stderr.

They print from C++ straight to file descriptor 2, past Python's `sys.stderr`, so where no switch of their own
works (LiteRT's "Created TensorFlow Lite XNNPACK delegate", TensorFlow's oneDNN and absl lines before
`absl::InitializeLog`) the descriptor is caught around the call and only lines that are not known noise are passed
on. `fer-edge --verbose` turns all of this off.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator

# Informational lines only: errors and warnings that mean something (an op that failed) pass through.
NOISE = re.compile(
    r"(INFO: |WARNING: All log messages before absl::InitializeLog|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ |"
    r"To enable the following instructions: |fully_quantize: |\[ (WARN|INFO):)")
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ INFO/WARNING (older releases; 2.21 logs some before it applies)
    "OPENCV_LOG_LEVEL": "ERROR",  # OpenCV's [ WARN ] lines
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # FFmpeg's own av_log lines ("moov atom not found"): AV_LOG_QUIET
}

_verbose = False


def configure(verbose: bool) -> None:
    """Before any native library loads: set the switches they honour, unless the user asked to see everything."""
    global _verbose
    _verbose = verbose
    if verbose:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)  # a user's own setting wins
    if "cv2" in sys.modules:  # already loaded: its logger still listens
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    warnings.filterwarnings("ignore", module=r"tensorflow(\.|$)")  # the converter's "Statistics for quantized..."
    logging.getLogger("absl").setLevel(logging.ERROR)


def verbose() -> bool:
    return _verbose


@contextlib.contextmanager
def native_stderr() -> Iterator[None]:
    """Catch what native code writes to descriptor 2 in this block; afterwards write back all but the noise."""
    if _verbose:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):  # stderr closed: nothing to keep quiet
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True)
                    if not NOISE.match(line.decode(errors="replace"))]
            if kept:
                with contextlib.suppress(OSError):
                    os.write(2, b"".join(kept))


def preload(module: str) -> None:
    """Import a noisy module (TensorFlow prints as it loads) inside `native_stderr`; a missing one is left for the
    caller's own import to report."""
    with native_stderr(), contextlib.suppress(ImportError):
        importlib.import_module(module)
