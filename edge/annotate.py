"""Opt-in pixel outputs: an annotated video file or a window. Nothing here runs unless the user asks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.errors import FerEdgeError
from edge.sources import Frame

COLOURS = {"angry": (0, 0, 255), "disgust": (0, 128, 0), "fear": (128, 0, 128), "happy": (0, 215, 255),
           "sad": (255, 0, 0), "surprise": (0, 165, 255), "neutral": (200, 200, 200), "uncertain": (128, 128, 128)}


def draw(image: np.ndarray, faces: list[dict]) -> np.ndarray:
    out = image.copy()
    for f in faces:
        x1, y1, x2, y2 = f["box"]
        colour = COLOURS.get(f["smoothed_label"], (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        text = f"#{f['face_id']} {f['smoothed_label']} {f['smoothed_score']:.2f}"
        cv2.putText(out, text, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


class VideoSink:
    """Writes annotated frames to a video file (mp4v); the file is finished on close."""

    def __init__(self, path: str | Path, fps: float = 15.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._writer = None

    def show(self, frame: Frame, faces: list[dict]) -> None:
        image = draw(frame.image, faces)
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise FerEdgeError(f"{self.path}: cannot write video")
        self._writer.write(image)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class WindowSink:
    """A live window, where OpenCV has GUI support and a display exists."""

    def __init__(self, title: str = "fer-edge"):
        import os

        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise FerEdgeError("--show needs a display (no DISPLAY or WAYLAND_DISPLAY set)")
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise FerEdgeError("--show needs OpenCV with GUI support (pip install opencv-python<5 instead of the "
                               "headless build)") from None

    def show(self, frame: Frame, faces: list[dict]) -> None:
        cv2.imshow(self.title, draw(frame.image, faces))
        cv2.waitKey(1)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass
