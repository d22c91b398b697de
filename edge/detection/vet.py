"""The second look `room` takes at a big box only a tile found, remembered so a face or texture that stays put is
looked at once (the same place and the same score from the tile: the same pixels).

At 1080p the whole-frame pass sees an 80-160 px face at 10-20 px and finds half of them; the tiles find them all,
and also textures seen up close (a sleeve, a hand, statues on a dark stage). A big tile box counts when BlazeFace
full-range, on a crop three faces wide around it, finds a face there and the two models' scores average VET_SCORE
or more. Chosen on the composed street clip (24 of 24 true big tile-only boxes kept, 0 of 33 others) and checked on
the Hamilton clip at 1080p (6 of 14 kept, 0 of 161 others, where before none was kept) and the shared photos (none
of their 5 kept): a real face that big scores 0.7-0.9 with both, textures 0.4-0.65.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..geometry import Box, Detection, iou_matrix

VET_SCORE = 0.6  # the mean of the tile's score and the closer look's a big tile box needs
# A big tile box scoring under BlazeFace's own threshold is not looked at: back runs at 0.4 for the small faces of an
# audience; a face this big that scores under 0.5 is not worth 117 M MACs (on the Hamilton clip at 1080p that halves
# the looks, and every box kept was above it).
MIN_TILE_SCORE = 0.5
SAME_PLACE = 0.5  # IoU with a box vetted at the last call: the same place...
SAME_SCORE = 0.03  # ... and the tile's score within this of that box's: the same pixels, which get the same answer


class Look(Protocol):
    """The closer look (edge/detection/tiled.py's `SecondLook`)."""

    @property
    def macs(self) -> int: ...

    def score(self, image: np.ndarray, box: Box) -> float: ...


class BigBoxVet:
    """`vet(frame, det)`: whether a big tile-only box is a face. Call `next_call()` at the start of each detect call:
    the answers of the last `memory` calls are remembered."""

    def __init__(self, look: Look, memory: int = 1) -> None:
        self.look = look
        self.macs = 0  # MACs spent on looks since the start
        self.memory = memory  # calls whose answers are remembered (a spread search's call is one part of a search)
        self._last: list[list[tuple[Detection, bool]]] = []
        self._now: list[tuple[Detection, bool]] = []

    def next_call(self) -> None:
        self._last = ([self._now] + self._last)[:self.memory]
        self._now = []

    def __call__(self, frame: np.ndarray, det: Detection, min_score: float = MIN_TILE_SCORE) -> bool:
        """Whether `det` is a face: a remembered call's answer for the same pixels, no for a score under `min_score`,
        else a closer look."""
        known = [v for call in self._last for seen, v in call
                 if _iou(seen.box, det.box) >= SAME_PLACE and abs(seen.score - det.score) <= SAME_SCORE]
        if known:
            verdict = known[0]
        elif det.score < min_score:
            verdict = False
        else:
            self.macs += self.look.macs
            score = self.look.score(frame, det.box)
            verdict = score > 0 and (float(det.score) + score) / 2 >= VET_SCORE
        self._now.append((det, verdict))
        return verdict


def _iou(a: Box, b: Box) -> float:
    return float(iou_matrix(a.as_array()[None], b.as_array()[None])[0, 0])
