"""Frame sources behind one interface: picamera2, OpenCV cameras and streams, video files, still images, the demo
photo, and a null source; `open_source` picks one from what `--source` says.

Live sources (cameras, streams) are opened, read and released by a thread of their own that feeds a small queue,
dropping the oldest frame when the loop falls behind, so results stay current (edge/sources/reader.py). Files are
read in step with the loop and never dropped; stills are decoded to a bounded size. The rooms: `base` (the
Protocols, the null source), `camera` (OpenCV), `picamera` (picamera2 and its lores stream), `video` (files),
`stills` (photos and folders), `imageheader`, `reader`, `capture`, `reconnect` (the service's reopening wrapper).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import FerEdgeError, UsageError
from ..files import kind_of
from ..records import Frame
from .base import FrameSource, NullSource, OpenedSource
from .camera import CameraSource
from .picamera import Lores, open_picamera, picamera_present
from .stills import DEMO_IMAGE, IMAGE_SUFFIXES, MAX_PIXELS, ImageSource, read_still
from .video import VIDEO_SUFFIXES, VideoFileSource

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt")  # URLs opened

__all__ = ["DEMO_IMAGE", "IMAGE_SUFFIXES", "STREAM_SCHEMES", "VIDEO_SUFFIXES", "Frame", "FrameSource", "Lores", "NullSource",
           "OpenedSource", "open_source", "path_kind", "unreadable"]


def open_source(spec: str = "auto", width: int | None = None, height: int | None = None, fps: float | None = None,
                demo_frames: int = 1, cancel: threading.Event | None = None,
                lores: Lores = None) -> OpenedSource:
    """`auto` (picamera2 on a Pi, else /dev/video0), `demo`, `picamera`, an index, /dev/videoN, a file, folder or URL.

    `cancel`, when set while a camera or stream is being opened, abandons the opening (FerEdgeError). `lores`
    ("auto" or a size) only concerns picamera2: the detector then runs on its small stream.
    """
    if spec == "auto":
        if picamera_present():
            return open_picamera(width, height, fps, lores)
        return open_source("/dev/video0", width, height, fps, cancel=cancel)
    if spec == "demo":
        return ImageSource([DEMO_IMAGE], "demo", repeat=demo_frames)
    if spec == "picamera":
        return open_picamera(width, height, fps, lores)

    def live(target: str | int) -> CameraSource:
        return CameraSource(target, width=width, height=height, fps=fps, cancel=cancel)

    if spec.isdigit():
        return live(int(spec))
    if "://" in spec:
        return live(spec)
    try:
        return _open_path(Path(spec), spec, live)
    except OSError as exc:  # a folder on the way or the file itself unreadable: a fault the service waits out
        raise FerEdgeError(f"{spec}: {unreadable(exc)}") from None


def unreadable(exc: OSError) -> str:
    """Why a source path cannot be read, in the words `open_source` and `--check-config` both use."""
    if isinstance(exc, PermissionError):
        return f"not readable by this user ({exc.strerror})"
    return f"cannot read ({exc.strerror or exc})"


def _open_path(path: Path, spec: str, live: Callable[[str], CameraSource]) -> OpenedSource:
    """A camera node, a folder or a file; what is at the path now decides, and every OSError is the caller's."""
    if spec.startswith("/dev/video"):
        if not path.exists():
            raise FerEdgeError(f"{spec}: no such camera device")
        return live(spec)
    if path.is_dir():  # only regular files are frames: a FIFO or a device would block or never end
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not images:
            raise FerEdgeError(f"{path}: no images in folder")
        return ImageSource(images, str(path))
    if not path.exists():
        raise FerEdgeError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        if not suffix:  # a folder's name: the folder was replaced (a fault that may pass), not a wrong setting
            raise FerEdgeError(f"{path}: not a folder (it is {path_kind(path)})")
        raise UsageError(f"{path}: unknown source type (an image, a video file, a folder, a camera or a URL)")
    if not path.is_file():
        raise FerEdgeError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise FerEdgeError(f"{path}: empty file")
    if suffix in IMAGE_SUFFIXES:
        if read_still(path) is None:
            raise FerEdgeError(f"{path}: unreadable image (or above {MAX_PIXELS} pixels even reduced)")
        return ImageSource([path], str(path))
    return VideoFileSource(str(path))


def path_kind(path: Path) -> str:
    """What is at a path, with its article (`a regular file`, `a FIFO`)."""
    return kind_of(os.stat(path).st_mode)
