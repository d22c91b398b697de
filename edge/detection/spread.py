"""A room search spread over frames: one part of it (the whole-frame pass or one tile) every frame or two, the parts
where something moved that no followed face explains first, instead of the whole search at once every Nth frame.

At 1080p `room` is nine BlazeFace passes (1,701 M MACs); under a 100 M MAC budget the whole search ran every 18th
frame, so a face walking in waited 0.3 s on average, and a small face the tiles missed waited another 0.6 s for its
next chance. Spent a part at a time, the same budget searches a tile with a newcomer in it within a frame or two,
still reaches every part within `max_age` frames (a face standing still is found), and costs the same every frame
instead of a 1.7 G MAC spike every 18th: a Pi's frame time stays flat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..geometry import Box, Detection
from .motion import CELL, cells, count_changed, explained
from .zoom import PER_FRAME, ZoomPlaces


@dataclass(frozen=True)
class Part:
    """One part of a search: the faces from `least` to `most` frame pixels wide whose box lies inside `rect`."""

    rect: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    least: float
    most: float
    macs: int

    def covers(self, box: Box) -> bool:
        """Whether this part, searched, would have found a face at `box` (so not finding one there is a miss)."""
        x1, y1, x2, y2 = self.rect
        size = max(box.width, box.height)
        return (box.x1 >= x1 - 1 and box.y1 >= y1 - 1 and box.x2 <= x2 + 1 and box.y2 <= y2 + 1
                and self.least <= size <= self.most)

    @property
    def moving(self) -> int:
        """Cells changed since this part was last searched that make it worth a look before its turn: about the area
        of the least face it finds."""
        return max(1, math.ceil((self.least / CELL) ** 2))


class Spreading(Protocol):
    """A detector that can search a frame in parts (`room`): its `spread` option says whether the loop should."""

    spread: bool

    def parts(self, width: int, height: int) -> list[Part]: ...

    def search(self, frame: np.ndarray, which: Sequence[int], known: Sequence[Box] = ()) -> list[Detection]: ...

    def look_close(self, frame: np.ndarray, crop: Box) -> list[Detection]: ...

    @property
    def hints(self) -> list[Box]: ...

    @property
    def looked_macs(self) -> int: ...

    @property
    def close_macs(self) -> int: ...


class SpreadSearch:
    """Which parts to search on each frame, within `budget` MACs a frame on average; and, with `close_macs` (the
    cost of one close look, zoom.py), which small patches of motion to look at closely, from the same budget."""

    def __init__(self, parts: Sequence[Part], budget: float, close_macs: int = 0) -> None:
        if not parts or budget <= 0:
            raise ValueError("a spread search needs parts and a budget above 0")
        self.parts = tuple(parts)
        self.budget = float(budget)
        # frames one round of every part takes at this budget; any part waits at most two rounds
        period = max(len(self.parts), math.ceil(sum(p.macs for p in self.parts) / self.budget))
        self.max_age = 2 * period
        self.age = [0] * len(self.parts)
        self.moved = [0] * len(self.parts)
        self.credit = 0.0
        self._holds = [False] * len(self.parts)
        self._seen: list[np.ndarray | None] = [None] * len(self.parts)  # the cells when each part was last searched
        self.close_macs = close_macs
        self._zoom = ZoomPlaces() if close_macs > 0 else None

    def plan(self, image: np.ndarray, shown: Sequence[Box], everything: bool = False) -> list[int]:
        """The parts to search on this frame (indices into `parts`); `shown`, the boxes of the faces being followed
        (their motion is explained). `everything`: the caller searches the whole frame now (a first frame, a scene
        cut): every part counts as searched."""
        now = cells(image)
        free = ~explained(now.shape, shown)
        for i, p in enumerate(self.parts):
            self.age[i] += 1
            # what changed since this part was last searched (a slow walker adds up), less what followed faces explain
            self.moved[i] = count_changed(self._seen[i], now, free, p.rect)
        self._holds = [any(p.covers(b) for b in shown) for p in self.parts]
        if self._zoom is not None:
            self._zoom.see(now, free)
        if everything:  # as the interval does, a whole search on a first frame or a cut comes on top
            chosen = list(range(len(self.parts)))
        else:
            self.credit = min(self.credit + self.budget, self.budget + max(p.macs for p in self.parts))
            chosen = []
            for i in sorted(range(len(self.parts)), key=self._rank):
                if self.credit < self.parts[i].macs:
                    break
                self.credit -= self.parts[i].macs
                chosen.append(i)
        for i in chosen:
            self.age[i], self.moved[i], self._seen[i] = 0, 0, now
        return chosen

    def close_looks(self, hints: Sequence[Box] = ()) -> list[Box]:
        """The crops (frame pixels) to look at closely on this frame, after `plan`: around the search's `hints` (small
        boxes it scored under its threshold), then the most changed patches, PER_FRAME at most, while the budget holds
        a look; each is paid for now and its place left alone for a while."""
        if self._zoom is None:
            return []
        self._zoom.hint(hints)
        if self.credit < self.close_macs:
            return []  # the patches are only found on a frame that can pay for a look
        out: list[Box] = []
        for crop in self._zoom.places()[:PER_FRAME]:
            if self.credit < self.close_macs:
                break
            self.credit -= self.close_macs
            self._zoom.looked(crop)
            out.append(crop)
        return out

    def charge(self, macs: float) -> None:
        """Take MACs the search spent beyond its passes (second looks at big boxes) from the budget."""
        self.credit -= macs

    def _rank(self, i: int) -> tuple[bool, bool, bool, int]:
        """Overdue parts first; then the ones where something moved that no followed face explains (a newcomer);
        then the ones holding a followed face (is it still there?); each the longest unsearched first."""
        return (self.age[i] < self.max_age, self.moved[i] < self.parts[i].moving, not self._holds[i], -self.age[i])
