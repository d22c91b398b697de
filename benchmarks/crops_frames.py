"""Frames for benchmarks/crops.py: FER2013's 48x48 grey faces blended over the faces of real heads (the shared
photos' head-and-shoulders cut-outs, benchmarks/scene_people.py) in frames cut from the shared photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.benchmarks.scene_clip import paste
from fer_edge.benchmarks.scene_people import FACES, Person, photo_heads, read_photo

# BlazeFace's box on a FER2013 face is about 0.86 of the 48x48 image's side (measured here): a head whose face box
# is this share of the pasted square carries the FER face where its own was
BOX_OF_SQUARE = 0.86
FEATHER = 0.15  # share of the side over which a pasted face fades into the head it is pasted on


@dataclass(frozen=True)
class Photo:
    image: np.ndarray  # BGR
    faces: tuple[tuple[float, float, float, float], ...]  # its own face boxes, kept clear of pasted faces


def load_photos(scenes: Path) -> list[Photo]:
    """The shared photos with their known face boxes (benchmarks/scene_people.py lists them, tests/test_scene.py
    checks them)."""
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for name, box in FACES:
        boxes.setdefault(name, []).append(box)
    return [Photo(read_photo(scenes, name), tuple(faces)) for name, faces in boxes.items()]


def background(photo: Photo, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """A frame cut from a random place of the photo at a random scale, and its own faces' boxes in the frame."""
    w, h = size
    ph, pw = photo.image.shape[:2]
    scale = max(w / pw, h / ph) * rng.uniform(1.0, 1.2)
    x0, y0 = rng.uniform(0, pw * scale - w), rng.uniform(0, ph * scale - h)
    m = np.array([[scale, 0, -x0], [0, scale, -y0]], np.float32)
    frame = cv2.warpAffine(photo.image, m, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    boxes = [np.array([x1 * scale - x0, y1 * scale - y0, x2 * scale - x0, y2 * scale - y0]) for x1, y1, x2, y2 in
             photo.faces]
    return frame, boxes


def feather_mask(side: int) -> np.ndarray:
    """(side, side) float32 weights: 1 inside, a cosine fade to 0 over the outer FEATHER of each edge."""
    ramp = max(1, int(round(side * FEATHER)))
    t = np.ones(side, np.float32)
    edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    t[:ramp], t[side - ramp:] = edge, edge[::-1]
    return np.outer(t, t)


def paste_face(frame: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> None:
    """Blend the 48x48 grey face, resized to `side`, into the BGR frame at (x, y), in place: it becomes the luma
    (grey level) of that square, feathered at the edge, while each pixel keeps the frame's colour, toned down
    where it would not fit in 0-255. BlazeFace finds few faces in grey frames (a third as many 32 px heads as in
    colour, measured here); the classifier, which sees grey, sees the FER face."""
    resized = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_CUBIC)
    alpha = feather_mask(side)
    region = frame[y:y + side, x:x + side].astype(np.float32)
    luma = region @ np.float32([0.114, 0.587, 0.299])  # OpenCV's BGR-to-grey weights
    target = alpha * resized + (1 - alpha) * luma
    colour = region - luma[..., None]  # what a pixel has beyond its grey level: adds nothing to the luma
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(colour > 0, (255 - target[..., None]) / colour,
                        np.where(colour < 0, -target[..., None] / colour, np.inf))
    keep = np.clip(room.min(axis=2), 0, 1)[..., None]
    frame[y:y + side, x:x + side] = np.clip(target[..., None] + keep * colour, 0, 255).round().astype(np.uint8)


def head_extent(head, box_side: float) -> tuple[float, float, float, float]:
    """Where a head cut-out reaches around its face box, scaled so the box is `box_side`: left, top, right,
    bottom, in box-relative pixels (left and top negative)."""
    bx1, by1, bx2, by2 = head.box
    scale = box_side / (bx2 - bx1)
    ch, cw = head.image.shape[:2]
    reach = max(bx1, cw - bx2) * scale  # either side: the cut-out may be flipped
    return -reach, -by1 * scale, box_side + reach, (ch - by1) * scale


def place(extent: tuple[float, float, float, float], size: tuple[int, int], taken: list[np.ndarray],
          rng: np.random.Generator, tries: int = 60) -> np.ndarray | None:
    """The frame position (x, y) of a face box whose head reaches `extent` around it: the head inside the frame and
    clear of the boxes taken; or None."""
    w, h = size
    left, top, right, bottom = extent
    if right - left > w or bottom - top > h:
        return None
    for _ in range(tries):
        x, y = rng.uniform(-left, w - right), rng.uniform(-top, h - bottom)
        box = np.array([x + left, y + top, x + right, y + bottom])
        if all(box[0] >= t[2] or box[2] <= t[0] or box[1] >= t[3] or box[3] <= t[1] for t in taken):
            taken.append(box)
            return np.array([x, y])
    return None


def compose(photo: Photo, heads: list, faces: list[np.ndarray], side: int, size: tuple[int, int],
            rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """A frame from `photo` with a head from the shared photos for each face that fits, the FER face blended over
    that head's own face: the frame and each placed face's square (x1, y1, x2, y2); the faces that did not fit are
    left out (the squares come in `faces` order)."""
    frame, own = background(photo, size, rng)
    taken = [b + np.array([-0.2, -0.2, 0.2, 0.2]) * (b[2] - b[0]) for b in own]  # the photo's faces stay visible
    box_side = side * BOX_OF_SQUARE
    placed = []
    for _ in faces:
        head = heads[int(rng.integers(len(heads)))]
        at = place(head_extent(head, box_side), size, taken, rng)
        if at is None:
            break
        box = (at[0], at[1], at[0] + box_side, at[1] + box_side)
        paste_head(frame, head, box, bool(rng.integers(2)))
        placed.append(box)
    squares = []
    for face, (x1, y1, x2, y2) in zip(faces, placed):
        x, y = int(round((x1 + x2 - side) / 2)), int(round((y1 + y2 - side) / 2))
        paste_face(frame, face, x, y, side)
        squares.append(np.array([x, y, x + side, y + side], float))
    return frame, squares


HEAD_CUT = (0.55, 0.6, 0.9)  # face widths to each side, above and below: a head and a little of the shoulders


def make_cutouts(scenes: Path) -> list[Person]:
    """Each face of the shared photos with its head and a little of the shoulders, on a soft elliptical mask (the
    scene clip's people reach further down, on a head-and-shoulders mask)."""
    out = []
    for name, crop, box in photo_heads(scenes, HEAD_CUT):
        ch, cw = crop.shape[:2]
        mask = np.zeros((ch, cw), np.float32)
        cv2.ellipse(mask, (cw // 2, ch // 2), (int(cw * 0.46), int(ch * 0.46)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, cw * 0.04))
        out.append(Person(crop, mask, box, name))
    return out


def paste_head(frame: np.ndarray, cutout: Person, box: tuple[float, float, float, float], flip: bool) -> None:
    """Scale the cut-out so its face box lands on `box` and alpha-blend it into `frame` in place."""
    bx1, by1, bx2, by2 = cutout.box
    scale = (box[2] - box[0]) / (bx2 - bx1)
    image, alpha = cutout.image, cutout.alpha
    if flip:
        image, alpha = image[:, ::-1], alpha[:, ::-1]
        bx1 = image.shape[1] - bx2
    ox, oy = box[0] - bx1 * scale, box[1] - by1 * scale
    paste(frame, np.ascontiguousarray(image), np.ascontiguousarray(alpha), np.float32([[scale, 0, ox], [0, scale, oy]]))
