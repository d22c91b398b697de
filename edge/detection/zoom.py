"""Close looks where something small moved that no followed face explains: a walker's head too small for the tiles.

`room`'s tiles see a 1080p frame at 0.4 scale, where a 20-40 px face is 8-16 px and BlazeFace back finds few of them.
A patch of changed cells (motion.py) no wider than a head and shoulders, cropped at full size and seen by BlazeFace
short-range (128x128, 31 M MACs), shows such a face at 25-60 px of the model's input, where it finds faces best. A
spread search (spread.py) pays for each look from its budget, one a frame at most; a place looked at is left alone
for COOL frames, so a flag in the wind or a passing car costs a look now and then, not every frame, and when much of
the frame changes at once (the camera moved) there is no look at motion. A small box a tile scored just under its
threshold (a hint, tiled.py) is looked at before any motion, on one of the next few frames the budget can pay for:
the tiles see a 20-40 px face at 8-16 px, where BlazeFace back often scores a real face 0.2-0.4, and a face standing
still makes no motion to look at. Faces found this way are a tile's: the tracker's second look confirms them before
they are reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..geometry import Box, Detection
from .motion import CELL, changed

ZOOM_VARIANT = "short"  # 128x128: 31 M MACs
BACK = 3  # frames: motion is measured against the cells this many frames before, so a slow head's change shows
LEAST_CELLS = 4  # a patch of fewer changed cells than this is noise, or a face too small to read
MOST_PX = 200  # a patch wider than this (frame px) is someone the tiles see big enough
LEAST_CROP, MOST_CROP = 64, 160  # frame px: the crop is as wide as its patch, within these
TOP = 0.1  # the crop's top lies this much of its side above the patch's: the head is at the top of what moved
BIGGEST = 0.8  # a face found wider than this share of the crop is the crop's edge or a shoulder, not a face
COOL = 8  # frames a place looked at is left alone
# More of the frame than this changed and unexplained: the camera or the light moved, and every edge in view is a
# patch; no look then. On the real Hamilton clip at 1080p a third of the frames are so, on the composed clips 1-2 in 100;
# a walker no followed face explains changes about 1% of a 1080p frame, so a street with a few newcomers still gets looks.
BUSY = 0.05
PER_FRAME = 1  # looks a frame at most
HINT_CONTEXT = 3.0  # a hint's crop is this many of its widths wide: the face at a third of the model's input
HINT_FRAMES = 4  # frames a hint waits for a frame that can pay for its look (a walker moves a face width in 4-10)


def patches(mask: np.ndarray) -> list[tuple[int, tuple[float, float, float, float]]]:
    """The connected patches of a changed-cell mask as (changed cells, frame-pixel rectangle x1 y1 x2 y2), the most
    changed first; cells one cell apart are one patch (a moving head changes its edges, not its middle)."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    out = []
    for k in range(1, n):
        x, y, w, h = (int(v) for v in stats[k, :4])
        rows, cols = np.nonzero(mask[y:y + h, x:x + w] & (labels[y:y + h, x:x + w] == k))  # the changed cells
        x1, y1, x2, y2 = x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1
        out.append((len(rows), (float(x1 * CELL), float(y1 * CELL), float(x2 * CELL), float(y2 * CELL))))
    return sorted(out, key=lambda p: -p[0])


def crop_for(rect: tuple[float, float, float, float]) -> Box:
    """The square a patch is looked at in: as wide as the patch (LEAST_CROP..MOST_CROP), centred on it across,
    its top a little above the patch's."""
    x1, y1, x2, _ = rect
    side = float(np.clip(x2 - x1, LEAST_CROP, MOST_CROP))
    cx, top = (x1 + x2) / 2, y1 - side * TOP
    return Box(cx - side / 2, top, cx + side / 2, top + side)


def hint_crop(box: Box) -> Box:
    """The square a hint is looked at in: HINT_CONTEXT of its widths wide (LEAST_CROP..MOST_CROP), centred on it."""
    side = float(np.clip(box.width * HINT_CONTEXT, LEAST_CROP, MOST_CROP))
    cx, cy = box.center
    return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


class ZoomPlaces:
    """Which small patches of unexplained motion to look at closely: `see` each frame's cells (cheap), then ask for
    `places` only on a frame the budget holds a look for."""

    def __init__(self) -> None:
        self._history: list[np.ndarray] = []  # the last BACK + 1 frames' cells
        self._free: np.ndarray | None = None  # this frame's cells no followed face explains
        self._cool: list[tuple[Box, int]] = []  # places looked at, and the frame until which they are left alone
        self._hints: list[tuple[Box, int]] = []  # crops around hints not yet looked at, and the frame they came on
        self.frame = 0

    def see(self, now: np.ndarray, free: np.ndarray) -> None:
        """This frame's cells `now` and the ones no followed face explains (`free`)."""
        self.frame += 1
        if self._history and self._history[-1].shape != now.shape:
            self._history = []
        self._history = (self._history + [now])[-(BACK + 1):]
        self._free = free

    def hint(self, boxes: Sequence[Box]) -> None:
        """Boxes a search on the last seen frame scored just under its threshold (best first): looked at before any
        motion, on one of the next HINT_FRAMES frames that can pay for a look."""
        self._hints = [(hint_crop(b), self.frame) for b in boxes] + self._hints

    def places(self) -> list[Box]:
        """The last seen frame's crops worth a look: around the hints still fresh, then the patches of motion, the
        most changed first (none on a busy frame); none where a look was taken less than COOL frames ago."""
        self._cool = [(b, until) for b, until in self._cool if until > self.frame]
        self._hints = [(c, at) for c, at in self._hints if self.frame - at < HINT_FRAMES]
        out = [c for c, _ in self._hints]
        if len(self._history) > BACK and self._free is not None:
            mask = changed(self._history[0], self._history[-1]) & self._free
            if mask.mean() <= BUSY:
                out += [crop_for(rect) for count, rect in patches(mask) if count >= LEAST_CELLS
                        and rect[2] - rect[0] <= MOST_PX]
        return [c for c in out if not any(_inside(c.center, b) for b, _ in self._cool)]

    def looked(self, crop: Box) -> None:
        """`crop` was looked at: leave its place alone for COOL frames."""
        self._cool.append((crop, self.frame + COOL))
        self._hints = [(c, at) for c, at in self._hints if c != crop]


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box.x1 <= point[0] <= box.x2 and box.y1 <= point[1] <= box.y2


def close_faces(found: Sequence[Detection], crop: Box) -> list[Detection]:
    """The faces a close look found on `crop` (frame pixels), marked as a tile's; none wider than BIGGEST of it."""
    return [Detection(d.box, d.score, d.keypoints, tile_only=True) for d in found if d.box.width <= crop.width * BIGGEST]
