"""The annotated video's encoder: H.264 in MP4 where this install can write it, so browsers play the file.

OpenCV's pip wheels bundle an FFmpeg without libx264 (GPL): here their `avc1` tries only h264_v4l2m2m, a V4L2
hardware encoder of the kind a Raspberry Pi 4 has (not tried on one), and finds no device. PyAV's wheels bundle
libx264, so with the `video` extra
(`pip install "fer-edge[video]"`) H.264 is written on any machine. Without either, MPEG-4 Part 2 (`mp4v`) is
written, with a warning: players like VLC and ffmpeg read it, browsers do not. `.avi` is MJPG, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ..errors import FerEdgeError

log = logging.getLogger(__name__)

H264_SUFFIXES = (".mp4", ".m4v", ".mov")
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}  # 7.5 ms a 640x360 frame on this host; "medium" took 22 ms


class VideoWriter(Protocol):
    codec: str  # what the file holds, said to the user: "H.264", "MPEG-4 Part 2 (mp4v)", "MJPG"

    def write(self, image: np.ndarray) -> None: ...

    def release(self) -> None: ...


class _OpenCVWriter:
    def __init__(self, writer: cv2.VideoWriter, codec: str) -> None:
        self._writer, self.codec = writer, codec

    def write(self, image: np.ndarray) -> None:
        self._writer.write(image)

    def release(self) -> None:
        self._writer.release()


class _PyAVWriter:
    """libx264 through PyAV: yuv420p (what browsers decode), the index at the front (`faststart`: plays while loading).

    A failed write (a full disk) is kept and raised at `release`, so the sink reports the file as cut short.
    """

    codec = "H.264"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import av

        self._av = av
        self._container: Any = av.open(str(path), "w", options={"movflags": "+faststart"})
        stream: Any = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = size[0] - size[0] % 2, size[1] - size[1] % 2  # 4:2:0 wants even sides
        stream.pix_fmt = "yuv420p"
        stream.options = dict(X264_OPTIONS)
        self._stream = stream
        self.failed: str | None = None

    def write(self, image: np.ndarray) -> None:
        if self.failed:
            return
        h, w = self._stream.height, self._stream.width
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="bgr24")
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (OSError, self._av.FFmpegError) as exc:
            self.failed = str(exc)

    def release(self) -> None:
        try:
            if not self.failed:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        except (OSError, self._av.FFmpegError) as exc:
            self.failed = str(exc)
        finally:
            try:
                self._container.close()
            except (OSError, self._av.FFmpegError) as exc:
                self.failed = self.failed or str(exc)
        if self.failed:
            raise OSError(self.failed)


@contextlib.contextmanager
def _silent_fd2() -> Iterator[None]:
    """OpenCV and FFmpeg print [ERROR] lines to descriptor 2 when an encoder is missing: a probe's are not news."""
    from .. import quiet

    if quiet.verbose():
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _opencv(path: Path, fourcc: str, fps: float, size: tuple[int, int], codec: str) -> _OpenCVWriter | None:
    with _silent_fd2():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if writer.isOpened():
        return _OpenCVWriter(writer, codec)
    writer.release()
    return None


def h264_backend() -> str | None:
    """Which library here can write H.264: "pyav" (libx264 in PyAV's wheel), else None (OpenCV's is found by trying)."""
    try:
        import av
    except ImportError:
        return None
    return "pyav" if "libx264" in av.codecs_available else None


def open_video(path: Path, fps: float, size: tuple[int, int]) -> VideoWriter:
    """A writer for `path` (`size` is width, height): H.264 for .mp4/.m4v/.mov where it can be written, else mp4v and a
    warning that says how to get H.264; MJPG for .avi."""
    if path.suffix.lower() == ".avi":
        writer = _opencv(path, "MJPG", fps, size, "MJPG")
    elif path.suffix.lower() in H264_SUFFIXES:
        if h264_backend() == "pyav":
            try:
                return _PyAVWriter(path, fps, size)
            except (OSError, ValueError) as exc:
                log.warning(f"{path}: PyAV could not start H.264 ({exc}); trying OpenCV's encoders")
        writer = _opencv(path, "avc1", fps, size, "H.264")
        if writer is None:
            writer = _opencv(path, "mp4v", fps, size, "MPEG-4 Part 2 (mp4v)")
            if writer is not None:
                log.warning(f"{path}: no H.264 encoder in this install, so the video is MPEG-4 Part 2 (mp4v), which "
                            "VLC and ffmpeg play but browsers do not; pip install \"fer-edge[video]\" writes H.264")
    else:
        writer = _opencv(path, "mp4v", fps, size, "MPEG-4 Part 2 (mp4v)")
    if writer is None:
        raise FerEdgeError(f"{path}: cannot write video")
    return writer
