"""Opt-in pixel outputs: annotated photos, an annotated video file or a window. Nothing here runs unless asked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .errors import FerEdgeError, UsageError
from .files import atomic_write_bytes, writable_target
from .records import FaceRecord
from .sources import DEMO_IMAGE, IMAGE_SUFFIXES, Frame

Colour = tuple[int, int, int]  # B, G, R
# BGR, each light enough (luma >= 100) to show on a dark scene; a black outline keeps them visible on a bright one
COLOURS: dict[str, Colour] = {"angry": (60, 60, 255), "disgust": (0, 200, 0), "fear": (255, 80, 255), "happy": (0, 215, 255),
           "sad": (255, 144, 30), "surprise": (0, 165, 255), "neutral": (200, 200, 200), "uncertain": (255, 255, 0)}
FONT = cv2.FONT_HERSHEY_SIMPLEX
OUTLINE: Colour = (0, 0, 0)


def luma(colour: Colour) -> float:
    b, g, r = colour
    return 0.114 * b + 0.587 * g + 0.299 * r


def style(shape: tuple[int, ...]) -> tuple[float, int, int]:
    """(font scale, text thickness, box thickness) for a frame: text about 3% of the shorter side, at 360p as before."""
    side = min(shape[:2])
    scale = max(0.5, side / 720)
    return scale, max(1, round(scale * 1.5)), max(2, round(side / 270))


def draw(image: np.ndarray, faces: Sequence[FaceRecord]) -> np.ndarray:
    """A copy of `image` with each face's box and a label on a filled background, sized to the frame."""
    out = image.copy()
    scale, thick, box_thick = style(out.shape)
    for f in faces:
        x1, y1, x2, y2 = f.box
        colour = COLOURS.get(f.smoothed_label, (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), OUTLINE, box_thick + 2)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, box_thick)
        _label(out, f"#{f.face_id} {f.smoothed_label} {f.smoothed_score:.2f}", x1, y1, colour, scale, thick)
    return out


def _label(out: np.ndarray, text: str, x: int, y: int, colour: Colour, scale: float, thick: int) -> None:
    """Text on a filled box above (x, y), or just below it when there is no room; kept inside the frame."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    pad = max(2, th // 4)
    w, h = tw + 2 * pad, th + base + 2 * pad
    left = max(0, min(x, out.shape[1] - w))
    top = y - h if y - h >= 0 else min(y, out.shape[0] - h)
    cv2.rectangle(out, (left, top), (left + w, top + h), colour, cv2.FILLED)
    ink = (0, 0, 0) if luma(colour) >= 128 else (255, 255, 255)
    cv2.putText(out, text, (left + pad, top + pad + th), FONT, scale, ink, thick, cv2.LINE_AA)


def annotation_sink(target: str, source_spec: str, still: bool, fps: float | None) -> StillSink | VideoSink:
    """Photos give annotated photos (one per input, named after it); videos and cameras give a video."""
    path = Path(target)
    if still:
        if source_spec != "demo" and _same(path, Path(source_spec)):
            raise UsageError(f"--annotate {target}: is the source itself; name another folder or file")
        folder = target.endswith(("/", os.sep)) or path.is_dir() or not path.suffix
        return StillSink(path, folder, folder_source=source_spec != "demo" and Path(source_spec).is_dir())
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(f"--annotate {target}: the source is a video or a camera; name a video file (.mp4 or .avi)")
    return VideoSink(path, fps or 15.0)


def _same(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and os.path.samefile(a, b)


class StillSink:
    """Annotated copies of still photos: the file named, or `folder/<the photo's name>` for a folder of them."""

    def __init__(self, path: Path, folder: bool, folder_source: bool):
        self.path, self.folder = path, folder
        if not self.folder and path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"--annotate {path}: the source is a photo; name an image file (.jpg, .png) or a folder")
        if folder_source and not self.folder:
            raise UsageError(f"--annotate {path}: the source is a folder of photos; name a folder for the annotated "
                             "copies (one per photo, named after it)")
        self.written = 0

    def target(self, frame: Frame) -> Path:
        """Where this frame's copy goes; never over the photo it came from."""
        photo = Path(frame.file or DEMO_IMAGE)
        out = self.path / photo.name if self.folder else self.path
        if _same(out, photo):
            raise UsageError(f"--annotate {self.path}: would overwrite the photo {photo}; name another folder or file")
        return out

    def show(self, frame: Frame, faces: Sequence[FaceRecord]) -> None:
        out = self.target(frame)
        try:
            ok, data = cv2.imencode(out.suffix.lower(), draw(frame.image, faces))
        except cv2.error:
            ok = False
        if not ok:
            raise FerEdgeError(f"{out}: cannot encode an image of this type")
        atomic_write_bytes(out, data.tobytes())
        self.written += 1

    def close(self) -> None:
        pass


class VideoSink:
    """Writes annotated frames to a video file (mp4v; MJPG for .avi); on close, the file is checked to be whole."""

    COUNTED = (".mp4", ".m4v", ".mov", ".avi")  # containers whose header says how many frames they hold

    def __init__(self, path: str | Path, fps: float = 15.0):
        self.path = Path(path)
        writable_target(self.path)  # a device, FIFO or folder is refused, not written into
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise FerEdgeError(f"{self.path}: cannot write video ({self.path.parent} is not a folder)") from None
        except OSError as exc:
            raise FerEdgeError(f"{self.path}: cannot write video ({exc.strerror or exc})") from None
        self.fps = fps
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size = (0, 0)  # (w, h) of the video, from its first frame

    def show(self, frame: Frame, faces: Sequence[FaceRecord]) -> None:
        image = draw(frame.image, faces)
        h, w = image.shape[:2]
        if self._writer is None:
            fourcc = cv2.VideoWriter.fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            self._size = (w, h)
            if not self._writer.isOpened():
                raise FerEdgeError(f"{self.path}: cannot write video")
        if (w, h) != self._size:  # a camera reopened at another size: a video has one
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the file; OpenCV reports no failed write, so read the header back (a full disk cuts it short)."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        cap = cv2.VideoCapture(str(self.path))
        try:
            found = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
        finally:
            cap.release()
        if found < 0 or (self.path.suffix.lower() in self.COUNTED and found != self.frames):
            what = "unreadable" if found < 0 else f"{found} of {self.frames} frames"
            raise FerEdgeError(f"{self.path}: the annotated video was not written whole ({what})")


class WindowSink:
    """A live window, where OpenCV has GUI support and a display exists."""

    def __init__(self, title: str = "fer-edge"):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise FerEdgeError("--show needs a display (no DISPLAY or WAYLAND_DISPLAY set)")
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise FerEdgeError("--show needs OpenCV with GUI support (pip install opencv-python<5 instead of the "
                               "headless build)") from None

    def show(self, frame: Frame, faces: Sequence[FaceRecord]) -> None:
        cv2.imshow(self.title, draw(frame.image, faces))
        cv2.waitKey(1)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass
