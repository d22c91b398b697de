"""Finding one face again near where it was: BlazeFace short-range on a small crop around its box.

What MediaPipe's face pipeline does between full detections. The tracker calls it when the optical flow loses a
face it was following (a walker's head turning, a step faster than the flow's reach, a face with little texture):
the face is then within about half a face of its last box, so a crop REGION_CONTEXT faces wide holds it, at 40-50 px
of the model's 128 px input, where short-range finds faces best. 31 M MACs a look, against the 1,701 M of a
`room` detection at 1080p that would otherwise be the next chance to see the face, up to 0.6 s later.
"""

from __future__ import annotations

import math

import numpy as np

from ..geometry import Box, Detection
from .tiled import CropLook

REGION_VARIANT = "short"  # 128x128: 31 M MACs
REGION_CONTEXT = 2.5  # crop side in face widths
REGION_DISTANCE = 0.5  # a face found further than this many face widths from the box's centre is someone else's
REGION_SIZE = 1.6  # ... and so is one more than this many times larger or smaller


class RegionFinder(CropLook):
    """`finder(image, box)`: the face nearest `box` on a crop around it, in frame pixels, or None."""

    variant = REGION_VARIANT

    def __call__(self, image: np.ndarray, box: Box) -> Detection | None:
        best: tuple[float, Detection] | None = None
        width = max(box.width, 1e-3)
        for d in self.around(image, box, REGION_CONTEXT):
            (ax, ay), (bx, by) = d.box.center, box.center
            dist = math.hypot(ax - bx, ay - by) / width
            ratio = max(d.box.width, width) / max(min(d.box.width, width), 1e-3)
            if dist <= REGION_DISTANCE and ratio <= REGION_SIZE and (best is None or dist < best[0]):
                best = (dist, d)
        return None if best is None else best[1]
