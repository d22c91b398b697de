"""The composed scene clip's backdrops: real pictures (the shared photos side by side, or a Hamilton frame) scaled
and cut to the frame, with the faces already in them, which the clip's truth marks as ignore regions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.benchmarks.scene_people import FACES, read_photo
from fer_edge.errors import FerEdgeError

HAMILTON = "fr_short_hamilton_clip.mp4"


@dataclass(frozen=True)
class Backdrop:
    """Real pictures side by side at one height, cut to the frame's aspect ratio (`anchor`: which part of a taller
    one stays, 0 the top), or one Hamilton frame."""

    sources: tuple[str, ...]  # shared photos' file names, or (HAMILTON,) with `frame`
    anchor: float = 0.5
    frame: int = -1
    faces: tuple[tuple[float, float, float, float], ...] = ()  # faces in a Hamilton frame (YuNet at 0.5, by eye)

    @property
    def name(self) -> str:
        return "+".join(self.sources) + (f"@{self.frame}" if self.frame >= 0 else "")


BACKDROPS = (
    Backdrop(("fr_obama_and_biden.jpg",), 0.35),  # a rally: flags, lights, a crowd, three faces
    Backdrop(("fr_two_people.jpg",), 0.3),  # a state room: curtains, a chandelier, two faces
    # a wall of posters: suits, a striped tie, an orange space suit, flags, three large faces
    Backdrop(("fr_biden.jpg", "skimage_astronaut.png", "fr_obama.jpg"), 0.0),
    Backdrop((HAMILTON,), frame=0, faces=((524, 47, 564, 103), (59, 185, 82, 218))),  # a stage, a piano, statues
    Backdrop((HAMILTON,), frame=100, faces=((205, 86, 284, 190),)),  # a singer in a suit, a gold curtain
    Backdrop((HAMILTON,), frame=250, faces=((43, 63, 103, 141), (389, 86, 459, 187), (325, 41, 389, 137),
                                            (174, 81, 234, 182), (596, 55, 640, 124), (257, 8, 332, 87))),  # an audience
)


def _read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        for _ in range(index + 1):  # read up to it: seeking in H.264 is not exact on every backend
            ok, image = cap.read()
            if not ok:
                raise FerEdgeError(f"{path}: cannot read frame {index}")
    finally:
        cap.release()
    return image


def load_backdrop(scenes: Path, spec: Backdrop, size: tuple[int, int]) -> tuple[np.ndarray, list[list[float]]]:
    """The pictures scaled to cover `size` and cut at the anchor, with the faces in them in frame pixels."""
    if spec.sources == (HAMILTON,):
        pictures = [(_read_frame(scenes / HAMILTON, spec.frame), [list(b) for b in spec.faces])]
    else:
        pictures = []
        for name in spec.sources:
            pictures.append((read_photo(scenes, name), [list(b) for n, b in FACES if n == name]))
    height = max(p.shape[0] for p, _ in pictures)
    parts, faces, x = [], [], 0.0
    for image, boxes in pictures:  # side by side at the tallest one's height
        k = height / image.shape[0]
        parts.append(cv2.resize(image, (round(image.shape[1] * k), height), interpolation=cv2.INTER_CUBIC) if k != 1 else image)
        faces += [[b[0] * k + x, b[1] * k, b[2] * k + x, b[3] * k] for b in boxes]
        x += parts[-1].shape[1]
    image = np.hstack(parts) if len(parts) > 1 else parts[0]
    w, h = size
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    sw, sh = max(w, round(iw * s)), max(h, round(ih * s))
    left, top = round((sw - w) / 2), round(spec.anchor * (sh - h))
    scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    frame = np.ascontiguousarray(scaled[top:top + h, left:left + w])
    out = []
    for x1, y1, x2, y2 in faces:
        b = [x1 * s - left, y1 * s - top, x2 * s - left, y2 * s - top]
        if min(b[2], w) - max(b[0], 0) > 0.2 * (b[2] - b[0]) and min(b[3], h) - max(b[1], 0) > 0.2 * (b[3] - b[1]):
            out.append([round(max(0.0, b[0]), 1), round(max(0.0, b[1]), 1), round(min(w, b[2]), 1), round(min(h, b[3]), 1)])
    return frame, out
