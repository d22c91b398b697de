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
from pathlib import Path

import cv2
import numpy as np

from fer_edge.benchmarks.clip import writing_video
from fer_edge.benchmarks.scene_backdrops import BACKDROPS, load_backdrop
from fer_edge.benchmarks.scene_people import FACES, FER_BOX, FER_PEOPLE, Person, make_people
from fer_edge.benchmarks.scene_plan import BASE_SIZE, FPS, MIN_SQUASH, SEGMENT_FRAMES, Occluder, Segment, plan, plan_occluders
from fer_edge.files import atomic_write_text

log = logging.getLogger(__name__)
SHOWN_FACE, SHOWN_ANY, MIN_FACE = 0.6, 0.25, 20.0  # see the module docstring


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


def paste(frame: np.ndarray, image: np.ndarray, alpha: np.ndarray, m: np.ndarray) -> None:
    """Warp a picture and its alpha (float32 0-1) by `m` and blend it into `frame` in place (only the touched
    rectangle): a walker here, a head in benchmarks/crops_frames.py."""
    h, w = frame.shape[:2]
    ex0, ey0, ex1, ey1 = _extent(m, image.shape)
    region = (max(0, ex0), max(0, ey0), min(w, ex1), min(h, ey1))
    if region[2] <= region[0] or region[3] <= region[1]:
        return
    interp = cv2.INTER_AREA if abs(m[1, 1]) < 1 else cv2.INTER_LINEAR
    patch = _warp(image, m, region, interp, cv2.BORDER_REPLICATE)
    a = _warp(alpha, m, region, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT)[:, :, None]
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
        paste(frame, person.image, person.alpha, m)
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
    truth, done = [], 0
    with writing_video(video, FPS, size) as writer:
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
    meta = {"v": 2, "key": key, "seed": seed, "frames": frames, "width": size[0], "height": size[1], "fps": FPS,
            "box_format": "x1,y1,x2,y2 frame pixels, BlazeFace-style face box; faces: [track, box], ignore: [track or -1, box]",
            "people": [p.source for p in people],
            "segments": [{"start": s.start, "frames": s.frames, "backdrop": BACKDROPS[s.backdrop].name,
                          "walkers": len(s.walkers)} for s in segments],
            "truth": truth}
    atomic_write_text(truth_file, json.dumps(meta, separators=(",", ":")) + "\n")
    log.info("wrote %s (%d frames) and %s", video, frames, truth_file.name)
    return video, truth_file
