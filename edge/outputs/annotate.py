"""Opt-in pixel outputs: annotated photos, an annotated video file or a window. Nothing here runs unless asked."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import FerEdgeError, UsageError
from ..files import atomic_write_bytes, check_output_file, ensure_folder, writable_target
from ..pipeline.sink import Closing
from ..records import FaceRecord, Frame, FrameResult
from ..sources import DEMO_IMAGE, IMAGE_SUFFIXES
from .videofile import VideoWriter, open_video

log = logging.getLogger(__name__)

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


MIN_SCALE = 0.4  # Hershey simplex at 0.4 is about 9 px tall: the least that reads on a phone's screenshot
FACE_PER_SCALE = 120  # a face this many pixels tall gets scale 1 (text about a fifth of the face), up to the frame's


@dataclass(frozen=True)
class Label:
    """A face's label as drawn: its text, the filled box it sits on (x1, y1, x2, y2, the ends exclusive) and its size."""

    text: str
    rect: tuple[int, int, int, int]
    scale: float
    thick: int
    colour: Colour


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _spots(box: tuple[int, int, int, int], w: int, h: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Where a w x h label may go, best first: above the box, below it, inside its top, inside its bottom, then further
    below and further above, one label height at a time; each kept inside the frame."""
    x1, y1, x2, y2 = box
    tops = [y1 - h, y2, y1, y2 - h]
    tops += [y2 + k * h for k in range(1, height // max(h, 1) + 1)] + [y1 - (k + 1) * h for k in range(1, y1 // max(h, 1) + 1)]
    left = max(0, min(x1, width - w))
    seen, out = set(), []
    for top in tops:
        top = max(0, min(top, height - h))
        if top not in seen:
            seen.add(top)
            out.append((left, top, left + w, top + h))
    return out


def layout(shape: tuple[int, ...], faces: Sequence[FaceRecord]) -> list[Label | None]:
    """Each face's label, placed so that no two labels overlap (None: no free place, even for the short `#id` text).

    Larger faces choose first. Next to the box (above, below, inside its top or bottom) a shorter text (without the
    score, then the id alone) is tried before a place further off; a place that covers no other face is preferred.
    The font follows the face's size, from MIN_SCALE up to the frame's own (`style`).
    """
    height, width = shape[:2]
    frame_scale = style(shape)[0]
    placed: list[tuple[int, int, int, int]] = []
    labels: list[Label | None] = [None] * len(faces)
    order = sorted(range(len(faces)), key=lambda i: -(faces[i].box[3] - faces[i].box[1]))
    for i in order:
        f = faces[i]
        scale = min(frame_scale, max(MIN_SCALE, (f.box[3] - f.box[1]) / FACE_PER_SCALE))
        thick = max(1, round(scale * 1.5))
        colour = COLOURS.get(f.smoothed_label, (255, 255, 255))
        others = [g.box for j, g in enumerate(faces) if j != i]
        texts = (f"#{f.face_id} {f.smoothed_label} {f.smoothed_score:.2f}", f"#{f.face_id} {f.smoothed_label}",
                 f"#{f.face_id}")
        for near, text in itertools.product((True, False), texts):  # a shorter text by the face before one far off
            (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
            pad = max(2, th // 4)
            spots = _spots(f.box, tw + 2 * pad, th + base + 2 * pad, width, height)
            spots = [r for r in (spots[:4] if near else spots[4:]) if not any(overlaps(r, p) for p in placed)]
            clear = [r for r in spots if not any(overlaps(r, b) for b in others)]
            if spots:
                rect = (clear or spots)[0]
                placed.append(rect)
                labels[i] = Label(text, rect, scale, thick, colour)
                break
    return labels


def draw(image: np.ndarray, faces: Sequence[FaceRecord]) -> np.ndarray:
    """A copy of `image` with each face's box, then the labels on filled backgrounds, laid out not to overlap."""
    out = image.copy()
    box_thick = style(out.shape)[2]
    for f in faces:
        x1, y1, x2, y2 = f.box
        colour = COLOURS.get(f.smoothed_label, (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), OUTLINE, box_thick + 2)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, box_thick)
    for label in layout(out.shape, faces):
        if label is not None:
            _label(out, label)
    return out


def _label(out: np.ndarray, label: Label) -> None:
    """The text on its filled box; dark ink on a light colour, white on a dark one."""
    x1, y1, x2, y2 = label.rect
    cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), label.colour, cv2.FILLED)
    (_, th), _ = cv2.getTextSize(label.text, FONT, label.scale, label.thick)
    pad = max(2, th // 4)
    ink = (0, 0, 0) if luma(label.colour) >= 128 else (255, 255, 255)
    cv2.putText(out, label.text, (x1 + pad, y1 + pad + th), FONT, label.scale, ink, label.thick, cv2.LINE_AA)


def annotation_sink(target: str, source_spec: str, still: bool, fps: float | None) -> StillSink | VideoSink:
    """Photos give annotated photos (one per input, named after it); videos and cameras give a video. The file or
    folder is checked now: a device, a FIFO, a place that cannot be written is exit 2 before the run, not exit 1
    after it."""
    path = Path(target)
    if still and (target.endswith(("/", os.sep)) or path.is_dir() or not path.suffix):
        ensure_folder(target, "--annotate")  # photos into a folder, as decided below
    else:
        check_output_file(target, "--annotate")
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


class StillSink(Closing):
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

    def on_frame(self, result: FrameResult) -> None:
        out = self.target(result.frame)
        try:
            ok, data = cv2.imencode(out.suffix.lower(), draw(result.frame.image, result.faces))
        except cv2.error:
            ok = False
        if not ok:
            raise FerEdgeError(f"{out}: cannot encode an image of this type")
        atomic_write_bytes(out, data.tobytes())
        self.written += 1


class VideoSink(Closing):
    """Writes annotated frames to a video file (H.264 where this install can, else mp4v; MJPG for .avi: see
    edge/outputs/videofile.py); on close, the file is checked to be whole."""

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
        self._writer: VideoWriter | None = None
        self._size = (0, 0)  # (w, h) of the video, from its first frame

    def on_frame(self, result: FrameResult) -> None:
        image = draw(result.frame.image, result.faces)
        h, w = image.shape[:2]
        if self._writer is None:
            self._writer = open_video(self.path, self.fps, (w, h))
            self._size = (w, h)
        if (w, h) != self._size:  # a camera reopened at another size: a video has one
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the file; OpenCV reports no failed write, so read the header back (a full disk cuts it short)."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.release()
        except OSError as exc:
            raise FerEdgeError(f"{self.path}: the annotated video was not written whole ({exc})") from None
        cap = cv2.VideoCapture(str(self.path))
        try:
            found = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
        finally:
            cap.release()
        if found < 0 or (self.path.suffix.lower() in self.COUNTED and found != self.frames):
            what = "unreadable" if found < 0 else f"{found} of {self.frames} frames"
            raise FerEdgeError(f"{self.path}: the annotated video was not written whole ({what})")
        log.info(f"annotated video: {self.path} ({writer.codec}, {self.frames} frames)")


class WindowSink(Closing):
    """A live window, where OpenCV has GUI support and a display exists; asked for where it cannot be, a usage
    error (exit 2), as any flag this machine cannot honour."""

    def __init__(self, title: str = "fer-edge"):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise UsageError("--show needs a display (no DISPLAY or WAYLAND_DISPLAY set)")
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UsageError("--show needs OpenCV with GUI support (pip install opencv-python<5 instead of the "
                               "headless build)") from None

    def on_frame(self, result: FrameResult) -> None:
        cv2.imshow(self.title, draw(result.frame.image, result.faces))
        cv2.waitKey(1)

    def close(self) -> None:
        if self.title:
            title, self.title = self.title, ""
            try:
                cv2.destroyWindow(title)
            except cv2.error:
                pass
