"""A reproducible street-or-room clip made of real pictures, with every true face box known.

The shared data holds no 1080p video of people walking, so one is composed, segment by segment (5 s each):

- the backdrop is a real picture scaled up to the frame: a shared photo (a rally with flags and a crowd, a
  state room with curtains, a wall of the three portraits: suits, a space suit, flags) or a Hamilton frame (a
  stage, a singer before a curtain, an audience). Faces
  already in it are ignore regions: a box there is no hit and no false box;
- people are real faces with head and shoulders: the nine faces of the shared photos, and FER2013 PrivateTest faces
  upscaled and Poisson-blended (their own context of hair and cheek included) onto those heads;
- they walk at 1.1-1.7 m/s in a pinhole view (a face box is 15 cm: 160 px at 1.5 m, 20 px at 12 m): across the
  frame at their depth (a 60 px face crosses 1920 px in about 3.5 s), or in from a side towards the camera, growing
  until they leave; a few stand and sway. Heads bob with each step and turn (a horizontal squash to 70% of the
  width, mirrored to the walking direction); nearer people hide farther ones, and a pillar or a sign cut from another
  backdrop hides whoever passes behind it;
- a face counts as a true face while at least 60% of it shows in the frame and its box is at least 20 px wide
  (the box is cut at the frame's edge); from 25% to 60% shown (or narrower) it is an ignore region; under 25% it is
  not in view at all, so a box left on it is a box on no face.

The same seed gives the same frames and boxes; the clip and its truth are cached (write_clip).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.errors import FerEdgeError
from fer_edge.eval.datasets import imread
from fer_edge.files import atomic_write_text

log = logging.getLogger(__name__)

BASE_SIZE = (1920, 1080)  # the geometry below is for this frame size; other sizes scale it with the width
FPS = 30.0
SEGMENT_FRAMES = 150  # one backdrop for 5 s, then a cut to the next
HAMILTON = "fr_short_hamilton_clip.mp4"
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

# The view: a camera 15-50 cm above the faces, looking level; a face box is FACE_M wide
FOCAL = 1600.0  # pixels at 1920 wide (about 62 degrees across)
FACE_M = 0.15
HORIZON = 0.36  # the eye-level line, as a fraction of the frame height
NEAREST = 1.45  # metres: closer than this a walker has passed the camera (a face of about 165 px)
# head and shoulders around a face box, in face widths: sides, above, below
CUT_SIDE, CUT_ABOVE, CUT_BELOW = 0.8, 0.75, 1.9
SHOWN_FACE, SHOWN_ANY, MIN_FACE = 0.6, 0.25, 20.0  # see the module docstring
MIN_SQUASH = 0.7  # a head turned 45 degrees: narrower than that a squashed frontal face no longer looks like one


@dataclass(frozen=True)
class Person:
    """A face with head and shoulders, on a soft mask; `box` is its face box inside `image`."""

    image: np.ndarray  # BGR
    alpha: np.ndarray  # float32 0-1
    box: tuple[float, float, float, float]
    source: str


@dataclass(frozen=True)
class Walker:
    """One person's path through a segment, in metres and seconds from its start frame (which may be before 0)."""

    person: int
    start: float  # frame
    x0: float
    z0: float
    vx: float  # m/s
    vz: float
    lift: float  # metres the camera sits above this face
    yaw0: float  # degrees: the head's turn at rest (towards where it walks)
    yaw_amp: float
    yaw_period: float  # frames
    phase: float
    sway: float  # metres, for people standing
    flip: bool

    def place(self, t: int, size: tuple[int, int]) -> tuple[float, float, float, float] | None:
        """(centre x, centre y, face width, squash) in frame `t`, or None when the walker has passed the camera."""
        w, h = size
        f = FOCAL * w / BASE_SIZE[0]
        dt = (t - self.start) / FPS
        if dt < 0:
            return None
        z = self.z0 + self.vz * dt
        if z < NEAREST:
            return None
        x = self.x0 + self.vx * dt + self.sway * math.sin(2 * math.pi * dt / 4.0 + self.phase)
        width = f * FACE_M / z
        walking = math.hypot(self.vx, self.vz) > 0.3
        bob = 0.06 * width * math.sin(2 * math.pi * 1.9 * dt + self.phase) if walking else 0.0  # steps: about 2 Hz
        yaw = self.yaw0 + self.yaw_amp * math.sin(2 * math.pi * t / self.yaw_period + self.phase)
        squash = max(MIN_SQUASH, math.cos(math.radians(yaw)))
        return w / 2 + f * x / z, h * HORIZON + f * self.lift / z + bob, width, squash


@dataclass(frozen=True)
class Occluder:
    """A pillar or a sign in front of everyone: a piece of another backdrop, opaque with a soft edge."""

    x: int
    y: int
    image: np.ndarray
    alpha: np.ndarray


@dataclass(frozen=True)
class Segment:
    start: int  # first frame of the clip
    frames: int
    backdrop: int
    walkers: tuple[Walker, ...]
    first_track: int  # walker i of this segment is true track first_track + i


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
        image = imread(scenes / name)
        if image is None:
            raise FerEdgeError(f"{scenes / name}: missing or unreadable shared photo")
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
            image = imread(scenes / name)
            if image is None:
                raise FerEdgeError(f"{scenes / name}: missing or unreadable shared photo")
            pictures.append((image, [list(b) for n, b in FACES if n == name]))
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


def _walker(rng: np.random.Generator, person: int, start: float, size: tuple[int, int], kind: str) -> Walker:
    w = size[0]
    half = w / 2 / (FOCAL * w / BASE_SIZE[0])  # half the view's width per metre of depth
    lift = float(rng.uniform(0.15, 0.5))
    speed = float(rng.uniform(1.1, 1.7))
    yaw_amp, period, phase = float(rng.uniform(0, 25)), float(rng.uniform(45, 150)), float(rng.uniform(0, 2 * math.pi))
    if kind == "stand":
        z = float(np.exp(rng.uniform(math.log(2.0), math.log(8.0))))
        x = float(rng.uniform(-0.8, 0.8)) * half * z
        return Walker(person, start, x, z, 0.0, 0.0, lift, float(rng.uniform(-20, 20)), yaw_amp, period, phase,
                      float(rng.uniform(0.05, 0.25)), bool(rng.integers(2)))
    side = 1 if rng.integers(2) else -1  # enters on the right (+1) or the left
    if kind == "cross":
        width = float(np.exp(rng.uniform(math.log(20), math.log(160))))  # the face width it crosses at
        z = FOCAL * FACE_M / width
        vz = float(rng.uniform(-0.25, 0.25))
        x0 = side * (half * z + 0.4)
        return Walker(person, start, x0, z, -side * speed, vz, lift, side * -float(rng.uniform(15, 40)), yaw_amp,
                      period, phase, 0.0, side > 0)
    # "approach": in from a side far away, diagonally towards the camera, out through the other side or past it
    z0 = float(rng.uniform(7.0, 13.0))
    z1 = float(rng.uniform(1.5, 3.0))
    x0 = side * (half * z0 + 0.3)
    x1 = -side * (float(rng.uniform(0.7, 1.2)) * half * z1 + 0.3)  # at its nearest it is leaving by the side
    travel = math.hypot(x1 - x0, z1 - z0) / speed
    return Walker(person, start, x0, z0, (x1 - x0) / travel, (z1 - z0) / travel, lift, side * -float(rng.uniform(0, 30)),
                  yaw_amp, period, phase, 0.0, side > 0)


def plan_segment(rng: np.random.Generator, frames: int, people: int, size: tuple[int, int]) -> list[Walker]:
    """Walkers arriving every 0.4-1.2 s from 8 s before the segment (so it opens mid-stream) to its end, plus 0-2
    people standing: 5-8 faces in view on average, as on a busy street."""
    walkers = [_walker(rng, int(rng.integers(people)), -FPS * 8, size, "stand") for _ in range(int(rng.integers(0, 3)))]
    t = -8.0 * FPS
    while True:
        t += float(rng.uniform(0.4, 1.2)) * FPS
        if t >= frames:
            return walkers
        walkers.append(_walker(rng, int(rng.integers(people)), t, size, "cross" if rng.random() < 0.6 else "approach"))


def plan_occluders(rng: np.random.Generator, pictures: list[tuple[np.ndarray, list[list[float]]]],
                   size: tuple[int, int]) -> list[Occluder]:
    """A pillar (always) and a sign (half the time), each cut from another backdrop where it shows no face."""
    w, h = size
    k = w / BASE_SIZE[0]
    out = []
    for kind in ["pillar"] + (["sign"] if rng.random() < 0.5 else []):
        pic, faces = pictures[int(rng.integers(len(pictures)))]
        if kind == "pillar":
            ow, oh = round(rng.uniform(50, 140) * k), h
            x, y = round(rng.uniform(0.1, 0.85) * w), 0
        else:
            ow, oh = round(rng.uniform(260, 480) * k), round(rng.uniform(110, 220) * k)
            x, y = round(rng.uniform(0.05, 0.75) * w), round(rng.uniform(0.12, 0.45) * h)
        for _ in range(30):  # a piece of the picture away from its faces (no face on the pillar itself)
            sx = int(rng.integers(0, max(1, pic.shape[1] - ow)))
            sy = 0 if kind == "pillar" else int(rng.integers(0, max(1, pic.shape[0] - oh)))
            ex, ey = (ow, h) if kind == "pillar" else (ow, oh)
            if not any(b[0] - 0.3 * (b[2] - b[0]) < sx + ex and sx < b[2] + 0.3 * (b[2] - b[0])
                       and b[1] - 0.3 * (b[3] - b[1]) < sy + ey and sy < b[3] + 0.3 * (b[3] - b[1]) for b in faces):
                break
        else:
            continue
        piece = np.ascontiguousarray(pic[sy:sy + ey, sx:sx + ex])
        alpha = np.zeros((oh, ow), np.float32)
        cv2.rectangle(alpha, (2, 0 if kind == "pillar" else 2), (ow - 3, oh - (1 if kind == "pillar" else 3)), 1.0, -1)
        out.append(Occluder(x, y, cv2.resize(piece, (ow, oh), interpolation=cv2.INTER_AREA),
                            cv2.GaussianBlur(alpha, (0, 0), 1.2)))
    return out


def plan(seed: int, frames: int, people: int, size: tuple[int, int] = BASE_SIZE,
         segment_frames: int = SEGMENT_FRAMES) -> list[Segment]:
    """The segments of the clip: a backdrop each (in a seeded order) and its walkers."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(BACKDROPS)).tolist()
    out, track = [], 0
    for i, start in enumerate(range(0, frames, segment_frames)):
        n = min(segment_frames, frames - start)
        walkers = plan_segment(rng, n, people, size)
        out.append(Segment(start, n, order[i % len(order)], tuple(walkers), track))
        track += len(walkers)
    return out


def _affine(person: Person, cx: float, cy: float, width: float, squash: float, flip: bool) -> np.ndarray:
    """The 2x3 map from the person's picture to the frame: face centre on (cx, cy), face box `width` wide (times
    `squash` across: a turned head), mirrored when `flip`."""
    bx1, by1, bx2, by2 = person.box
    s = width / (bx2 - bx1)
    sx = -s * squash if flip else s * squash
    fcx, fcy = (bx1 + bx2) / 2, (by1 + by2) / 2
    return np.float32([[sx, 0, cx - sx * fcx], [0, s, cy - s * fcy]])


def _extent(m: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    xs = [m[0, 0] * x + m[0, 2] for x in (0, w)]
    ys = [m[1, 1] * y + m[1, 2] for y in (0, h)]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))


def _warp(src: np.ndarray, m: np.ndarray, region: tuple[int, int, int, int], flags: int, border: int) -> np.ndarray:
    x0, y0, x1, y1 = region
    shifted = m.copy()
    shifted[:, 2] -= (x0, y0)
    return cv2.warpAffine(src, shifted, (x1 - x0, y1 - y0), flags=flags, borderMode=border)


def paste(frame: np.ndarray, person: Person, m: np.ndarray) -> None:
    """Warp `person` by `m` and alpha-blend it into `frame` in place (only the touched rectangle)."""
    h, w = frame.shape[:2]
    ex0, ey0, ex1, ey1 = _extent(m, person.image.shape)
    region = (max(0, ex0), max(0, ey0), min(w, ex1), min(h, ey1))
    if region[2] <= region[0] or region[3] <= region[1]:
        return
    interp = cv2.INTER_AREA if abs(m[1, 1]) < 1 else cv2.INTER_LINEAR
    patch = _warp(person.image, m, region, interp, cv2.BORDER_REPLICATE)
    a = _warp(person.alpha, m, region, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT)[:, :, None]
    x0, y0, x1, y1 = region
    view = frame[y0:y1, x0:x1]
    view[:] = (patch * a + view * (1 - a)).astype(np.uint8)


def shown(face: tuple[float, float, float, float], size: tuple[int, int], covers: list[tuple[np.ndarray, tuple[int, int]]]
          ) -> float:
    """The share of the face's ellipse that is inside the frame and not behind `covers` ((alpha, (x0, y0)) each)."""
    x1, y1, x2, y2 = face
    gx0, gy0, gx1, gy1 = math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)
    gw, gh = max(1, gx1 - gx0), max(1, gy1 - gy0)
    yy, xx = np.mgrid[gy0:gy0 + gh, gx0:gx0 + gw].astype(np.float32) + 0.5
    rx, ry = max(0.5, (x2 - x1) / 2), max(0.5, (y2 - y1) / 2)
    inside = ((xx - (x1 + x2) / 2) / rx) ** 2 + ((yy - (y1 + y2) / 2) / ry) ** 2 <= 1
    if not inside.any():
        return 0.0
    visible = ((xx >= 0) & (xx < size[0]) & (yy >= 0) & (yy < size[1])).astype(np.float32)
    for alpha, (ax, ay) in covers:
        ah, aw = alpha.shape
        ix0, iy0 = max(gx0, ax), max(gy0, ay)
        ix1, iy1 = min(gx0 + gw, ax + aw), min(gy0 + gh, ay + ah)
        if ix1 > ix0 and iy1 > iy0:
            visible[iy0 - gy0:iy1 - gy0, ix0 - gx0:ix1 - gx0] *= 1 - alpha[iy0 - ay:iy1 - ay, ix0 - ax:ix1 - ax]
    return float(visible[inside].mean())


def compose(people: list[Person], segment: Segment, backdrop: np.ndarray, background_faces: list[list[float]],
            occluders: list[Occluder], t: int) -> tuple[np.ndarray, dict]:
    """Frame `t` of the segment (counted from its start) and its truth: {"faces": [[track, x1, y1, x2, y2], ...],
    "ignore": [[track or -1, x1, y1, x2, y2], ...]}, far walkers drawn first."""
    h, w = backdrop.shape[:2]
    frame = backdrop.copy()
    placed = []
    for i, walker in enumerate(segment.walkers):
        p = walker.place(t, (w, h))
        if p is None:
            continue
        cx, cy, width, squash = p
        person = people[walker.person]
        bx1, by1, bx2, by2 = person.box
        half_w, half_h = width * squash / 2, width * (by2 - by1) / (bx2 - bx1) / 2
        face = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        if face[2] < -w * 0.1 or face[0] > w * 1.1 or face[1] > h:
            continue
        placed.append((width, segment.first_track + i, person, _affine(person, cx, cy, width, squash, walker.flip), face))
    placed.sort(key=lambda item: item[0])  # far (narrow) first
    for _, _, person, m, _ in placed:
        paste(frame, person, m)
    for occ in occluders:
        oh, ow = occ.alpha.shape
        x1, y1 = min(w, occ.x + ow), min(h, occ.y + oh)
        a = occ.alpha[:y1 - occ.y, :x1 - occ.x, None]
        view = frame[occ.y:y1, occ.x:x1]
        view[:] = (occ.image[:y1 - occ.y, :x1 - occ.x] * a + view * (1 - a)).astype(np.uint8)
    truth: dict = {"faces": [], "ignore": [[-1, *b] for b in background_faces]}
    in_front = [(o.alpha, (o.x, o.y)) for o in occluders]
    bodies = [_cover(person, m, (w, h)) for _, _, person, m, _ in placed]
    for k, (_, track, _, _, face) in enumerate(placed):
        covers = in_front + bodies[k + 1:]
        share = shown(face, (w, h), covers)
        box = [round(max(0.0, face[0]), 1), round(max(0.0, face[1]), 1), round(min(w, face[2]), 1), round(min(h, face[3]), 1)]
        if share >= SHOWN_FACE and face[2] - face[0] >= MIN_FACE * w / BASE_SIZE[0]:
            truth["faces"].append([track, *box])
        elif share >= SHOWN_ANY:
            truth["ignore"].append([track, *box])
    return frame, truth


def _cover(person: Person, m: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """A nearer person's alpha in frame pixels, for `shown`."""
    ex0, ey0, ex1, ey1 = _extent(m, person.image.shape)
    region = (max(0, ex0), max(0, ey0), min(size[0], ex1), min(size[1], ey1))
    if region[2] <= region[0] or region[3] <= region[1]:
        return np.zeros((1, 1), np.float32), (0, 0)
    return _warp(person.alpha, m, region, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT), (region[0], region[1])


def clip_key(seed: int, frames: int, size: tuple[int, int], fps: float, fer: bool) -> str:
    """A short name that changes whenever the clip would."""
    text = json.dumps({"v": 2, "faces": FACES, "fer": [FER_BOX, FER_PEOPLE if fer else 0],
                       "backdrops": [[b.sources, b.anchor, b.frame, b.faces] for b in BACKDROPS], "seed": seed,
                       "shown": [SHOWN_FACE, SHOWN_ANY, MIN_FACE, MIN_SQUASH],
                       "frames": frames, "size": size, "fps": fps, "segment": SEGMENT_FRAMES})
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def write_clip(scenes: Path, out_dir: Path, seed: int = 0, frames: int = 300, size: tuple[int, int] = BASE_SIZE,
               fer_csv: Path | None = None, progress: Callable[[int, int], None] | None = None) -> tuple[Path, Path]:
    """Write `scene-<key>.mp4` (MPEG-4 part 2: every OpenCV build writes it) and its `.json` of true boxes.

    An existing pair with the same key is reused. Without `fer_csv` the people are the photo faces alone.
    Returns (video, truth JSON)."""
    key = clip_key(seed, frames, size, FPS, fer_csv is not None)
    video, truth_file = out_dir / f"scene-{key}.mp4", out_dir / f"scene-{key}.json"
    if video.is_file() and truth_file.is_file():
        return video, truth_file
    out_dir.mkdir(parents=True, exist_ok=True)
    people = make_people(scenes, fer_csv, seed)
    segments = plan(seed, frames, len(people), size)
    pictures = {i: load_backdrop(scenes, b, size) for i, b in enumerate(BACKDROPS)}  # all: others give the occluders
    tmp = video.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    if not writer.isOpened():
        raise FerEdgeError(f"{tmp}: OpenCV cannot write MPEG-4 video here")
    truth, done = [], 0
    try:
        for seg in segments:
            backdrop, faces = pictures[seg.backdrop]
            rng = np.random.default_rng(seed * 1000 + seg.start + 1)
            others = [p for i, p in pictures.items() if i != seg.backdrop] or [pictures[seg.backdrop]]
            occluders = plan_occluders(rng, others, size)
            for t in range(seg.frames):
                frame, boxes = compose(people, seg, backdrop, faces, occluders, t)
                writer.write(frame)
                truth.append(boxes)
                done += 1
                if progress:
                    progress(done, frames)
    finally:
        writer.release()
    tmp.replace(video)
    meta = {"v": 2, "key": key, "seed": seed, "frames": frames, "width": size[0], "height": size[1], "fps": FPS,
            "box_format": "x1,y1,x2,y2 frame pixels, BlazeFace-style face box; faces: [track, box], ignore: [track or -1, box]",
            "people": [p.source for p in people],
            "segments": [{"start": s.start, "frames": s.frames, "backdrop": BACKDROPS[s.backdrop].name,
                          "walkers": len(s.walkers)} for s in segments],
            "truth": truth}
    atomic_write_text(truth_file, json.dumps(meta, separators=(",", ":")) + "\n")
    log.info("wrote %s (%d frames) and %s", video, frames, truth_file.name)
    return video, truth_file
