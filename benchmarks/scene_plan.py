"""Who walks where in the composed scene clip (benchmarks/scene_clip.py): the camera's pinhole view, each person's
path through a segment, and the pillars and signs in front of them; seeded, so a seed gives the same plan.

Only numbers and cut-outs are planned here; drawing the frames and their truth is scene_clip's."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fer_edge.benchmarks.scene_backdrops import BACKDROPS

BASE_SIZE = (1920, 1080)  # the geometry below is for this frame size; other sizes scale it with the width
FPS = 30.0
SEGMENT_FRAMES = 150  # one backdrop for 5 s, then a cut to the next

# The view: a camera 15-50 cm above the faces, looking level; a face box is FACE_M wide
FOCAL = 1600.0  # pixels at 1920 wide (about 62 degrees across)
FACE_M = 0.15
HORIZON = 0.36  # the eye-level line, as a fraction of the frame height
NEAREST = 1.45  # metres: closer than this a walker has passed the camera (a face of about 165 px)
MIN_SQUASH = 0.7  # a head turned 45 degrees: narrower than that a squashed frontal face no longer looks like one


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
