"""The people of the composed scene clip (benchmarks/scene_clip.py), and the heads benchmarks/crops.py pastes:
the faces of the shared photos cut out with head and shoulders, and FER2013 faces blended onto those heads.

Kept apart from the clip's motion and drawing so the crop benchmark can take the same heads without the rest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.errors import FerEdgeError
from fer_edge.eval.datasets import imread

# Face boxes (x1, y1, x2, y2) in the shared photos, found by BlazeFace back and checked by eye
# (tests/test_scene.py checks them against the detector).
FACES = (
    ("skimage_astronaut.png", (173, 75, 277, 178)),
    ("fr_obama.jpg", (361, 150, 625, 414)),
    ("fr_biden.jpg", (422, 269, 713, 560)),
    ("fr_two_people.jpg", (235, 75, 389, 230)),
    ("fr_two_people.jpg", (787, 100, 943, 256)),
    ("fr_obama_and_biden.jpg", (757, 443, 941, 627)),
    ("fr_obama_and_biden.jpg", (1149, 413, 1328, 592)),
    ("fr_obama_and_biden.jpg", (1635, 1077, 1785, 1227)),
)
# BlazeFace back's median face box on upscaled FER2013 PrivateTest faces, on the 48x48 grid: the face fills the crop
FER_BOX = (3.5, 6.75, 44.5, 48.25)
FER_PEOPLE = 24  # FER2013 faces blended onto the photos' heads, beside the nine photo faces themselves
# head and shoulders around a face box, in face widths: sides, above, below
CUT_SIDE, CUT_ABOVE, CUT_BELOW = 0.8, 0.75, 1.9


@dataclass(frozen=True)
class Person:
    """A face with head and shoulders, on a soft mask; `box` is its face box inside `image`."""

    image: np.ndarray  # BGR
    alpha: np.ndarray  # float32 0-1
    box: tuple[float, float, float, float]
    source: str


def read_photo(scenes: Path, name: str) -> np.ndarray:
    """A shared photo (BGR); a missing or unreadable one is an error naming the file."""
    image = imread(scenes / name)
    if image is None:
        raise FerEdgeError(f"{scenes / name}: missing or unreadable shared photo")
    return image


def _mask(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """Head ellipse plus shoulders ellipse around `box`, feathered: float32 0-1."""
    h, w = shape
    x1, y1, x2, y2 = box
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (round(cx), round(cy - 0.12 * fh)), (round(0.58 * fw), round(0.8 * fh)), 0, 0, 360, 1.0, -1)
    cv2.ellipse(mask, (round(cx), round(y2 + 1.05 * fw)), (round(1.0 * fw), round(0.85 * fw)), 0, 0, 360, 1.0, -1)
    cv2.rectangle(mask, (round(cx - 0.22 * fw), round(cy)), (round(cx + 0.22 * fw), round(y2 + 0.4 * fw)), 1.0, -1)  # neck
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, fw * 0.045))


def photo_heads(scenes: Path, cut: tuple[float, float, float] = (CUT_SIDE, CUT_ABOVE, CUT_BELOW)
                ) -> list[tuple[str, np.ndarray, tuple[float, float, float, float]]]:
    """Each face of the shared photos with its head and shoulders: (photo name, the cut, the face box in it); `cut`
    is how far the cut reaches around the face box, in face widths: to each side, above, below."""
    side, above, below = cut
    out = []
    for name, (x1, y1, x2, y2) in FACES:
        image = read_photo(scenes, name)
        w = x2 - x1
        ih, iw = image.shape[:2]
        cx1, cy1 = max(0, int(x1 - side * w)), max(0, int(y1 - above * w))
        cx2, cy2 = min(iw, int(x2 + side * w)), min(ih, int(y2 + below * w))
        crop = np.ascontiguousarray(image[cy1:cy2, cx1:cx2])
        out.append((name, crop, (float(x1 - cx1), float(y1 - cy1), float(x2 - cx1), float(y2 - cy1))))
    return out


def photo_people(scenes: Path) -> list[Person]:
    """Each face of the shared photos with its head and shoulders, on a head-shaped mask."""
    return [Person(crop, _mask(crop.shape[:2], box), box, name) for name, crop, box in photo_heads(scenes)]


def fer_faces(fer_csv: Path, count: int, seed: int) -> list[tuple[int, np.ndarray]]:
    """`count` PrivateTest faces (row within the split, 48x48 grey), picked by `seed` among those not near-blank."""
    from fer_edge.eval.datasets import read_fer2013_csv

    images = read_fer2013_csv(fer_csv, ("PrivateTest",))["PrivateTest"].images[..., 0]
    usable = np.flatnonzero((images.std(axis=(1, 2)) >= 25) & (images.mean(axis=(1, 2)) > 40) & (images.mean(axis=(1, 2)) < 210))
    rows = np.random.default_rng(seed + 7).choice(usable, size=min(count, len(usable)), replace=False)
    return [(int(r), images[r]) for r in sorted(rows)]


def blend_face(host: Person, face: np.ndarray, source: str) -> Person:
    """`face` (48x48 grey, FER2013) upscaled onto the host's face and Poisson-blended in, with the crop's own hair and
    cheeks: the host's skin colour and light carry across the seam, the FER face's shading stays."""
    hx1, hy1, hx2, hy2 = host.box
    scale = (hx2 - hx1) / (FER_BOX[2] - FER_BOX[0])
    side = round(48 * scale)
    ox, oy = round(hx1 - FER_BOX[0] * scale), round(hy1 - FER_BOX[1] * scale)
    src = host.image.copy()
    h, w = src.shape[:2]
    big = cv2.cvtColor(cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    x0, y0, x1, y1 = max(ox, 1), max(oy, 1), min(ox + side, w - 1), min(oy + side, h - 1)  # a clone may not touch the edge
    src[y0:y1, x0:x1] = big[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    mask = np.zeros((h, w), np.uint8)
    cx, cy = (ox + side / 2), (oy + side / 2)
    cv2.ellipse(mask, (round(cx), round(cy)), (round(side * 0.47), round(side * 0.5)), 0, 0, 360, 255, -1)
    mask[:y0], mask[y1:], mask[:, :x0], mask[:, x1:] = 0, 0, 0, 0
    ys, xs = np.nonzero(mask)
    centre = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
    blended = cv2.seamlessClone(src, host.image, mask, centre, cv2.NORMAL_CLONE)
    return Person(blended, host.alpha, host.box, source)


def make_people(scenes: Path, fer_csv: Path | None, seed: int, fer_count: int = FER_PEOPLE) -> list[Person]:
    """The photo faces, then (given the FER2013 CSV) `fer_count` FER2013 faces each on a host's head."""
    people = photo_people(scenes)
    if fer_csv is None:
        return people
    rng = np.random.default_rng(seed + 11)
    hosts = list(people)
    for row, face in fer_faces(fer_csv, fer_count, seed):
        people.append(blend_face(hosts[int(rng.integers(len(hosts)))], face, f"fer2013:PrivateTest:{row}"))
    return people
