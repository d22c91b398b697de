"""A reproducible room-view clip composed from the shared photos, with every true face box known.

The shared data holds no 1080p multi-face video, so one is built: the nine
faces of the five shared photos are cut out (head and shoulders, feathered
edge), scaled so that the face box spans 20-160 px at 1920x1080 (small at the
back of the room, larger at the front), laid out in eight slots and moved
slowly on smooth paths over a drawn room. Four slots are filled throughout;
the other four come and go, so 4-8 faces show at a time. The same seed gives
the same frames and boxes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.datasets import imread
from fer_edge.errors import FerEdgeError
from fer_edge.files import atomic_write_text

log = logging.getLogger(__name__)

BASE_SIZE = (1920, 1080)  # face sizes below are for this frame size; other sizes scale them
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
# head-and-shoulders cut around a face box, in face widths: left/right, above, below
CUT_SIDE, CUT_ABOVE, CUT_BELOW = 0.55, 0.6, 0.9
# two rows of four slots: the back row (top) holds small faces, the front row larger ones
ROWS = ((0.28, (20.0, 60.0)), (0.68, (48.0, 160.0)))  # (slot centre y as a frame fraction, face width range px)
COLUMNS = 4


@dataclass(frozen=True)
class Track:
    """One face's path: which cut-out, its width, where it drifts and when it is on screen."""

    face: int
    width: float  # face box width in frame pixels
    flip: bool
    centre: tuple[float, float]  # slot centre, frame pixels
    amplitude: tuple[float, float]
    period: tuple[float, float]  # frames
    phase: tuple[float, float]
    start: int
    stop: int  # exclusive


@dataclass(frozen=True)
class Cutout:
    image: np.ndarray  # BGR
    alpha: np.ndarray  # float32 0-1, feathered ellipse
    box: tuple[float, float, float, float]  # face box inside the cut-out


def make_cutouts(scenes: Path) -> list[Cutout]:
    """Each face of the shared photos with its head and shoulders, on a soft elliptical mask."""
    out = []
    for name, (x1, y1, x2, y2) in FACES:
        image = imread(scenes / name)
        if image is None:
            raise FerEdgeError(f"{scenes / name}: missing or unreadable shared photo")
        w = x2 - x1
        h, wi = image.shape[:2]
        cx1, cy1 = max(0, int(x1 - CUT_SIDE * w)), max(0, int(y1 - CUT_ABOVE * w))
        cx2, cy2 = min(wi, int(x2 + CUT_SIDE * w)), min(h, int(y2 + CUT_BELOW * w))
        crop = image[cy1:cy2, cx1:cx2]
        ch, cw = crop.shape[:2]
        mask = np.zeros((ch, cw), np.float32)
        cv2.ellipse(mask, (cw // 2, ch // 2), (int(cw * 0.46), int(ch * 0.46)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, cw * 0.04))
        out.append(Cutout(crop, mask, (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)))
    return out


def plan_tracks(seed: int, frames: int, size: tuple[int, int] = BASE_SIZE) -> list[Track]:
    """Eight slots; four faces stay the whole clip, four come and go (each on screen for 40-90% of it)."""
    rng = np.random.default_rng(seed)
    w, h = size
    k = w / BASE_SIZE[0]
    faces = rng.permutation(len(FACES)).tolist()
    tracks = []
    for r, (cy, (lo, hi)) in enumerate(ROWS):
        for c in range(COLUMNS):
            slot = r * COLUMNS + c
            width = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) * k
            cx = (c + 0.5) * w / COLUMNS
            period = (rng.uniform(150, 450), rng.uniform(150, 450))  # 5-15 s at 30 fps: slow
            phase = (rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))
            # top speed 0.5-2.5% of the face width a frame (a seated or slowly shifting person), within the slot
            speed = rng.uniform(0.005, 0.025) * width
            room = max(0.0, w / COLUMNS / 2 - 1.2 * width)
            amp = (min(room, speed * period[0] / (2 * np.pi)), min(0.04 * h, 0.3 * speed * period[1] / (2 * np.pi)))
            always = slot % 2 == r  # a checkerboard: two fixed faces per row
            if always:
                start, stop = 0, frames
            else:
                length = int(rng.uniform(0.4, 0.9) * frames)
                start = int(rng.uniform(0, frames - length))
                stop = start + length
            tracks.append(Track(faces[slot % len(faces)], width, bool(rng.integers(2)), (cx, cy * h),
                                (float(amp[0]), float(amp[1])), period, phase, start, stop))
    return tracks


def track_box(track: Track, t: int, cutout: Cutout) -> tuple[float, float, float, float]:
    """Face box of `track` in frame `t`: the slot centre plus a slow sinusoidal drift."""
    dx = track.amplitude[0] * np.sin(2 * np.pi * t / track.period[0] + track.phase[0])
    dy = track.amplitude[1] * np.sin(2 * np.pi * t / track.period[1] + track.phase[1])
    bx1, by1, bx2, by2 = cutout.box
    aspect = (by2 - by1) / (bx2 - bx1)
    cx, cy = track.centre[0] + dx, track.centre[1] + dy
    half_w, half_h = track.width / 2, track.width * aspect / 2
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def draw_room(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A plain room: a shaded wall, a window, a whiteboard, a floor and desks, with a little sensor noise."""
    rng = np.random.default_rng(seed + 1)
    w, h = size
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    wall = np.array([180, 190, 200], np.float32) * (0.85 + 0.15 * y)
    img = np.broadcast_to(wall, (h, w, 3)).copy()
    floor = int(0.58 * h)
    img[floor:] = np.array([70, 90, 120], np.float32) * (0.7 + 0.3 * y[floor:])
    wx = int(rng.uniform(0.05, 0.25) * w)
    cv2.rectangle(img, (wx, int(0.08 * h)), (wx + int(0.22 * w), int(0.42 * h)), (235, 215, 190), -1)  # window
    cv2.rectangle(img, (wx, int(0.08 * h)), (wx + int(0.22 * w), int(0.42 * h)), (90, 90, 90), max(2, w // 400))
    bx = int(rng.uniform(0.55, 0.7) * w)
    cv2.rectangle(img, (bx, int(0.1 * h)), (bx + int(0.25 * w), int(0.38 * h)), (245, 245, 245), -1)  # whiteboard
    for i in range(COLUMNS):
        x = int((i + 0.1) * w / COLUMNS)
        cv2.rectangle(img, (x, int(0.8 * h)), (x + int(0.8 * w / COLUMNS), h), (40, 60, 90), -1)  # front desks
        cv2.rectangle(img, (x, int(0.45 * h)), (x + int(0.8 * w / COLUMNS), int(0.5 * h)), (60, 80, 110), -1)  # back
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(frame: np.ndarray, cutout: Cutout, box: tuple[float, float, float, float], flip: bool) -> None:
    """Scale the cut-out so its face box lands on `box` and alpha-blend it into `frame` in place."""
    bx1, by1, bx2, by2 = cutout.box
    scale = (box[2] - box[0]) / (bx2 - bx1)
    image, alpha = cutout.image, cutout.alpha
    if flip:
        image, alpha = image[:, ::-1], alpha[:, ::-1]
        bx1 = image.shape[1] - bx2
    ox, oy = box[0] - bx1 * scale, box[1] - by1 * scale
    # affine warp straight into frame coordinates, then blend only the touched rectangle
    m = np.float32([[scale, 0, ox], [0, scale, oy]])
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(ox)), max(0, int(oy))
    x1 = min(w, int(np.ceil(ox + image.shape[1] * scale)))
    y1 = min(h, int(np.ceil(oy + image.shape[0] * scale)))
    if x1 <= x0 or y1 <= y0:
        return
    m[:, 2] -= (x0, y0)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.warpAffine(np.ascontiguousarray(image), m, (x1 - x0, y1 - y0), flags=interp,
                           borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(np.ascontiguousarray(alpha), m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)[:, :, None]
    region = frame[y0:y1, x0:x1]
    region[:] = (patch * a + region * (1 - a)).astype(np.uint8)


def compose(cutouts: list[Cutout], tracks: list[Track], background: np.ndarray, t: int
            ) -> tuple[np.ndarray, list[list[float]]]:
    """Frame `t` and its true face boxes (x1, y1, x2, y2), back row first so the front row overlaps it."""
    frame = background.copy()
    boxes = []
    for tr in tracks:
        if not tr.start <= t < tr.stop:
            continue
        cut = cutouts[tr.face]
        box = track_box(tr, t, cut)
        paste(frame, cut, box, tr.flip)
        boxes.append([round(v, 1) for v in box])
    return frame, boxes


def clip_key(seed: int, frames: int, size: tuple[int, int], fps: float) -> str:
    """A short name that changes whenever the clip would."""
    text = json.dumps({"v": 1, "faces": FACES, "seed": seed, "frames": frames, "size": size, "fps": fps})
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def write_clip(scenes: Path, out_dir: Path, seed: int = 0, frames: int = 300, size: tuple[int, int] = BASE_SIZE,
               fps: float = 30.0, progress=None) -> tuple[Path, Path]:
    """Write `scene-<key>.mp4` (MPEG-4 part 2: every OpenCV build writes it; decodes in ~3 ms a 1080p frame here)
    and its `.json` of true boxes.

    An existing pair with the same key is reused. Returns (video, truth JSON)."""
    key = clip_key(seed, frames, size, fps)
    video, truth = out_dir / f"scene-{key}.mp4", out_dir / f"scene-{key}.json"
    if video.is_file() and truth.is_file():
        return video, truth
    out_dir.mkdir(parents=True, exist_ok=True)
    cutouts = make_cutouts(scenes)
    tracks = plan_tracks(seed, frames, size)
    background = draw_room(seed, size)
    tmp = video.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise FerEdgeError(f"{tmp}: OpenCV cannot write MPEG-4 video here")
    boxes = []
    try:
        for t in range(frames):
            frame, b = compose(cutouts, tracks, background, t)
            writer.write(frame)
            boxes.append(b)
            if progress:
                progress(t + 1, frames)
    finally:
        writer.release()
    tmp.replace(video)
    meta = {"v": 1, "key": key, "seed": seed, "frames": frames, "width": size[0], "height": size[1], "fps": fps,
            "box_format": "x1,y1,x2,y2 frame pixels, BlazeFace-style face box", "boxes": boxes}
    atomic_write_text(truth, json.dumps(meta, separators=(",", ":")) + "\n")
    log.info("wrote %s (%d frames) and %s", video, frames, truth.name)
    return video, truth
