"""Frame sources behind one interface: picamera2, OpenCV VideoCapture, still images, and the demo photo.

Live sources (cameras, streams) are opened, read and released by a thread of their own that feeds a small queue,
dropping the oldest frame when the loop falls behind, so results stay current. No other thread touches the device:
a stop or a stall abandons a reader stuck in a driver instead of releasing the device under it. Files are read in
step with the loop and never dropped; stills are decoded to a bounded size.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import cv2
import numpy as np

from ..detection.lores import Lores, capture_main_and_lores, lores_size, lores_stream
from ..errors import FerEdgeError, UsageError
from ..files import kind_of, read_regular

DEMO_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "demo_astronaut.jpg"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt")  # URLs opened
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".h264", ".gif")

OPEN_TIMEOUT_S = 10.0  # FFmpeg gives up opening a stream whose server accepts and never answers
STALL_S = 10.0  # a live source that delivers no frame for this long has stalled
READ_TIMEOUT_S = 15.0  # FFmpeg gives up a read after this, so a stalled reader abandoned at STALL_S ends itself
FAILED_READS = 5  # failed reads in a row that end a live source; fewer are broken frames, skipped and counted
MAX_PIXELS = 4096 * 4096  # a still decodes to at most this (48 MB as BGR): MemoryMax=384M holds an 8000x8000 JPEG
MAX_FILE_BYTES = 64 << 20  # a still file larger than this is not read at all


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR, H x W x 3
    index: int
    timestamp: float  # seconds since the epoch when captured
    lores: np.ndarray | None = None  # picamera2's small grey stream of the same instant: the detector's input
    file: str | None = None  # the image file a still came from (events name it, annotated copies are named after it)
    video_time: float | None = None  # seconds into a video file (its own timestamps); None for cameras and photos
    waited_s: float = 0.0  # of the read that gave this frame, the time spent waiting (pacing, a camera's next frame)


class FrameSource(Protocol):
    """What the loop, `run` and the service use of a source; every source answers each (a file: no drops, no failure)."""

    @property
    def name(self) -> str: ...

    @property
    def dropped(self) -> int:
        """Frames dropped because the loop was behind (a live source's queue was full)."""
        ...

    @property
    def undecodable(self) -> int:
        """Frames skipped because they did not decode (broken frames of a stream, unreadable photos)."""
        ...

    @property
    def still(self) -> bool:
        """Every frame is an unrelated picture (photos): the loop detects on each, never carries boxes over."""
        ...

    @property
    def live(self) -> bool:
        """A camera or stream: it keeps its own pace and drops frames when behind; its end is a failure."""
        ...

    @property
    def fps(self) -> float | None:
        """The frame rate the source reports (None: unknown, or photos)."""
        ...

    @property
    def length(self) -> int | None:
        """How many frames a file or folder holds, for a progress line (None: a camera, a stream, or unknown)."""
        ...

    @property
    def failure(self) -> str | None:
        """Why a live source stopped delivering (stalled, or the stream ended); None while it delivers."""
        ...

    @property
    def stalled(self) -> bool:
        """The source stopped delivering without ending (no frame for STALL_S)."""
        ...

    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended."""
        ...

    def wake(self) -> None:
        """From another thread: a `read` waiting for a frame returns now, so a stop is not held up."""
        ...

    def close(self) -> None: ...


class _Counter:
    def __init__(self) -> None:
        self.index = 0

    def frame(self, image: np.ndarray, lores: np.ndarray | None = None, file: str | None = None,
              video_time: float | None = None) -> Frame:
        f = Frame(image, self.index, time.time(), lores, file, video_time)
        self.index += 1
        return f


class ImageSource:
    """A still image or a folder of images, each shown once (or `repeat` times, for the demo)."""

    still = True  # every frame is a new picture: the loop detects on each
    live = stalled = False
    fps: float | None = None
    failure: str | None = None

    def __init__(self, paths: list[Path], name: str, repeat: int = 1) -> None:
        self.name, self.dropped, self._paths, self._repeat = name, 0, paths, max(1, repeat)
        self._i, self._counter, self.undecodable = 0, _Counter(), 0
        self.length: int | None = len(paths) * self._repeat

    def read(self) -> Frame | None:
        while self._i < len(self._paths) * self._repeat:
            path = self._paths[self._i % len(self._paths)]
            self._i += 1
            image = read_still(path)
            if image is not None:
                return self._counter.frame(image, file=str(path))
            self.undecodable += 1
        return None

    def wake(self) -> None:
        pass  # a read never waits

    def close(self) -> None:
        self._i = len(self._paths) * self._repeat


class _Header(NamedTuple):
    width: int
    height: int
    reducible: bool  # a baseline JPEG: libjpeg scales it down while decoding, never holding the full size


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_BASELINE = {0xC0, 0xC1}  # progressive and lossless JPEGs keep every coefficient at full size, whatever the scale
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def _jpeg_header(data: bytes) -> _Header | None:
    """Walks the marker segments to the frame header (SOFn): height and width sit 3 and 5 bytes into it."""
    i = 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        elif marker in _SOF:
            return _Header(int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big"),
                           marker in _BASELINE)
        elif marker == 0xDA:  # the scan starts before any frame header: not a JPEG we can size
            return None
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def image_header(data: bytes) -> _Header | None:
    """Width and height from a JPEG, PNG or BMP header, without decoding; None for other formats."""
    if data[:2] == b"\xff\xd8":
        return _jpeg_header(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return _Header(int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), False)
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = (abs(int.from_bytes(data[k:k + 4], "little", signed=True)) for k in (18, 22))
        return _Header(width, height, False)
    return None


def _reduction(header: _Header | None) -> int | None:
    """The least decode scale (1, 2, 4, 8) that fits MAX_PIXELS; None when none does."""
    if header is None:
        return 1
    for factor in (1, 2, 4, 8) if header.reducible else (1,):
        if math.ceil(header.width / factor) * math.ceil(header.height / factor) <= MAX_PIXELS:
            return factor
    return None


def _read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file; None for anything else (a FIFO would block a plain open until a writer comes)."""
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except OSError:
        return None
    return data or None


def read_still(path: Path) -> np.ndarray | None:
    """A photo as BGR of at most MAX_PIXELS (a large JPEG decodes at 1/2, 1/4 or 1/8 of its size); None for what
    is not a regular file, does not decode, or would not fit."""
    data = _read_regular(path)
    if data is None:
        return None
    scale = _reduction(image_header(data))
    if scale is None:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[scale])


def _is_camera(target: str | int) -> bool:
    return isinstance(target, int) or str(target).startswith("/dev/video")


class _Capture:
    """One cv2.VideoCapture, opened, read and released by whichever single thread owns it.

    Streams (URLs) go through FFmpeg with open and read timeouts, so a server that never answers or a stream that
    stalls makes `open` or `grab` return instead of blocking for good.
    """

    def __init__(self, target: str | int, width: int | None = None, height: int | None = None,
                 fps: float | None = None):
        self.target, self._size, self._fps = target, (width, height), fps
        self._cap: cv2.VideoCapture | None = None
        self.fps: float | None = None
        self.length: int | None = None  # frames in a file, as its container says (a live source: None)

    def open(self) -> None:
        if isinstance(self.target, str) and "://" in self.target:
            os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # broken frames are counted, not logged by FFmpeg
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000)])
        else:
            cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            raise FerEdgeError(f"{self.target}: cannot open {'camera' if _is_camera(self.target) else 'video source'}")
        width, height = self._size
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self._fps:
            cap.set(cv2.CAP_PROP_FPS, self._fps)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        if not _is_camera(self.target) and "://" not in str(self.target):
            self.length = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        self._cap = cap

    def grab(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        try:
            ok, image = self._cap.read()
        except cv2.error:
            return None
        return image if ok else None

    def position_s(self) -> float | None:
        """Seconds into the file of the frame `grab` returned last (its container timestamp)."""
        if self._cap is None:
            return None
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return ms / 1000.0 if ms >= 0 else None

    def release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class VideoSource:
    """OpenCV VideoCapture: a device index, /dev/videoN, a file, or an RTSP/HTTP URL.

    A live source is opened on its reader thread; a set `cancel` event abandons an opening that hangs.
    """

    still = False

    def __init__(self, target: str | int, live: bool, width: int | None = None, height: int | None = None,
                 fps: float | None = None, queue: int = 2, cancel: threading.Event | None = None):
        self.name = str(target)
        self.dropped = 0
        self.live = live
        self._capture = _Capture(target, width, height, fps)
        self._counter = _Counter()
        self._reader = None
        self._cut_short: str | None = None
        if live:
            self._reader = _LatestFrames(self._capture.grab, queue, self._capture.release, self._capture.open)
            try:
                self._reader.wait_open(cancel, self.name)
            except FerEdgeError:
                self._reader.stop(wait_s=0)
                raise
        else:
            self._capture.open()
        self.fps = self._capture.fps

    @property
    def failure(self) -> str | None:
        """Why a live source stopped delivering (stalled, or the stream ended), or why a file ended before its
        header's frame count (truncated or damaged); None while it delivers."""
        return self._reader.failure if self._reader is not None else self._cut_short

    @property
    def stalled(self) -> bool:
        return self._reader is not None and self._reader.stalled

    @property
    def undecodable(self) -> int:
        """Failed reads between good frames: broken frames of a stream."""
        return self._reader.undecodable if self._reader is not None else 0

    def read(self) -> Frame | None:
        if self._reader is not None:
            frame = self._reader.get()
            self.dropped = self._reader.dropped
            return frame
        image = self._capture.grab()
        if image is None:
            self._ended_early()
            return None
        return self._counter.frame(image, video_time=self._capture.position_s())

    @property
    def length(self) -> int | None:
        return None if self.live else self._capture.length

    def _ended_early(self) -> None:
        """A file whose frames stop short of its header's count (a few frames of slack for estimated counts)."""
        read, count = self._counter.index, self._capture.length or 0
        if count and read < count - max(2, count // 50):
            self._cut_short = f"the video ended at frame {read} of {count}: the file is truncated or damaged"

    def wake(self) -> None:
        if self._reader is not None:
            self._reader.wake()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop()  # the reader releases the capture itself, once its read returns
        else:
            self._capture.release()


Grabbed = np.ndarray | tuple[np.ndarray, np.ndarray]  # a picture, or (main, lores) from a camera with a detection stream


class _LatestFrames:
    """A capture thread feeding a bounded deque: when full, the oldest frame is dropped and counted.

    The thread owns the device: it runs `opener` (when given), then `grab` until stopped or ended, then `release`.
    `stop` only sets a flag, so a grab stuck in a driver is abandoned, never released under it.
    """

    def __init__(self, grab: Callable[[], Grabbed | None], size: int, release: Callable[[], None] | None = None,
                 opener: Callable[[], None] | None = None) -> None:
        self._grab, self._release, self._opener = grab, release, opener
        self._frames: collections.deque[Frame] = collections.deque(maxlen=max(1, size))
        self._cond, self._stop = threading.Condition(), threading.Event()
        self._opened = opener is None
        self._open_error: FerEdgeError | None = None
        self._ended = self._woken = self.stalled = False
        self.failure: str | None = None
        self.dropped = self.undecodable = 0
        self._counter = _Counter()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            if self._opener is None or self._open(self._opener):
                self._read_frames()
        finally:
            if self._release is not None:
                self._release()

    def _open(self, opener: Callable[[], None]) -> bool:
        try:
            opener()
        except Exception as exc:  # noqa: BLE001 -- handed to the waiting caller, which reports it
            with self._cond:
                self._open_error = exc if isinstance(exc, FerEdgeError) else FerEdgeError(f"cannot open ({exc})")
                self._cond.notify_all()
            return False
        with self._cond:
            self._opened = True
            self._cond.notify_all()
        return True

    def _read_frames(self) -> None:
        failed = 0
        while not self._stop.is_set():
            try:
                image = self._grab()
            except Exception:  # noqa: BLE001 -- a driver error is a failed read, like a False from OpenCV
                image = None
            with self._cond:
                if image is None:
                    failed += 1
                    if failed >= FAILED_READS:
                        self._ended, self.failure = True, self.failure or "the stream ended"
                        self._cond.notify_all()
                        return
                    continue
                self.undecodable, failed = self.undecodable + failed, 0
                if len(self._frames) == self._frames.maxlen:
                    self.dropped += 1
                # a grab may return (main, lores) from a camera with a detection stream
                self._frames.append(self._counter.frame(*image) if isinstance(image, tuple) else self._counter.frame(image))
                self._cond.notify_all()

    def wait_open(self, cancel: threading.Event | None = None, name: str = "source") -> None:
        """Until the thread has opened the device; raises its error, or one when `cancel` is set first."""
        with self._cond:
            while not (self._opened or self._open_error):
                if cancel is not None and cancel.is_set():
                    raise FerEdgeError(f"{name}: stopped while opening")
                self._cond.wait(0.1)
            if self._open_error is not None:
                raise self._open_error

    def get(self, timeout: float = STALL_S) -> Frame | None:
        """The oldest queued frame; None when the source ended, was woken, or stalled (no frame for `timeout`).

        The frame says how long this call waited for it (`waited_s`): the camera's pace, not the loop's cost.
        """
        t0 = time.perf_counter()
        with self._cond:
            if not self._cond.wait_for(lambda: self._frames or self._ended or self._stop.is_set() or self._woken, timeout):
                self.stalled, self.failure = True, f"no frame for {timeout:.0f} s (stalled)"
                return None
            frame = self._frames.popleft() if self._frames else None
        return None if frame is None else dataclasses.replace(frame, waited_s=time.perf_counter() - t0)

    def wake(self) -> None:
        """From another thread: a waiting `get` returns now (None without a frame), so a stop is not held up."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stop(self, wait_s: float = 0.5) -> None:
        """Ends the thread, which releases the device itself; waits up to `wait_s` for that, never releases here."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if wait_s > 0 and threading.current_thread() is not self._thread:
            self._thread.join(timeout=wait_s)


class PiCameraSource:
    """picamera2 on a Raspberry Pi, imported only when asked for (it needs the apt-installed libcamera)."""

    still = False
    fps: float | None = None  # not read back from the camera (an annotated video is written at 15 fps)
    length: int | None = None

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, pixel_format: str = "RGB888",
                 queue: int = 2, lores: tuple[int, int] | None = None) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise FerEdgeError(
                f"picamera2 is not available ({exc}); on Raspberry Pi OS: sudo apt install python3-picamera2 "
                "and create the venv with --system-site-packages") from None
        self.name, self.dropped, self.live = "picamera2", 0, True
        try:
            self._cam = Picamera2()
            # with `lores`, the detector gets a small YUV stream of the same frames (edge/detection/lores.py)
            extra = {"lores": lores_stream(lores)} if lores else {}
            config = self._cam.create_video_configuration(
                main={"size": (width, height), "format": pixel_format}, controls={"FrameRate": fps}, **extra)
            self._cam.configure(config)
            self._cam.start()
        except (RuntimeError, IndexError) as exc:
            raise FerEdgeError(f"picamera2: no camera available ({exc})") from None
        if lores:
            self._reader = _LatestFrames(lambda: capture_main_and_lores(self._cam, lores), queue, self._cam.close)
        else:
            # picamera2's "RGB888" is laid out B, G, R in memory: OpenCV's BGR as it is
            self._reader = _LatestFrames(lambda: self._cam.capture_array("main")[:, :, :3], queue, self._cam.close)

    @property
    def failure(self) -> str | None:
        return self._reader.failure

    @property
    def stalled(self) -> bool:
        return self._reader.stalled

    @property
    def undecodable(self) -> int:
        return self._reader.undecodable

    def read(self) -> Frame | None:
        frame = self._reader.get()
        self.dropped = self._reader.dropped
        return frame

    def wake(self) -> None:
        self._reader.wake()

    def close(self) -> None:
        self._reader.stop()  # the reader closes the camera itself, once its capture returns


def _picamera_present() -> bool:
    import importlib.util

    return importlib.util.find_spec("picamera2") is not None and Path("/proc/device-tree/model").exists()


def _picamera(width: int | None, height: int | None, fps: float | None, lores: Lores) -> PiCameraSource:
    """picamera2 with its lores stream: "auto" picks one 320 px wide at main's aspect ratio."""
    size = (width or 640, height or 480)
    return PiCameraSource(*size, fps or 30.0, lores=lores_size(size) if isinstance(lores, str) else lores)


def open_source(spec: str = "auto", width: int | None = None, height: int | None = None, fps: float | None = None,
                demo_frames: int = 1, cancel: threading.Event | None = None,
                lores: Lores = None) -> FrameSource:
    """`auto` (picamera2 on a Pi, else /dev/video0), `demo`, `picamera`, an index, /dev/videoN, a file, folder or URL.

    `cancel`, when set while a camera or stream is being opened, abandons the opening (FerEdgeError). `lores`
    ("auto" or a size) only concerns picamera2: the detector then runs on its small stream.
    """
    if spec == "auto":
        if _picamera_present():
            return _picamera(width, height, fps, lores)
        return open_source("/dev/video0", width, height, fps, cancel=cancel)
    if spec == "demo":
        return ImageSource([DEMO_IMAGE], "demo", repeat=demo_frames)
    if spec == "picamera":
        return _picamera(width, height, fps, lores)

    def live(target: str | int) -> VideoSource:
        return VideoSource(target, live=True, width=width, height=height, fps=fps, cancel=cancel)

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


def _open_path(path: Path, spec: str, live: Callable[[str], VideoSource]) -> FrameSource:
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
    return VideoSource(str(path), live=False)


def path_kind(path: Path) -> str:
    """What is at a path, with its article (`a regular file`, `a FIFO`)."""
    return kind_of(os.stat(path).st_mode)
