"""Finding a face the flow lost again, near its box, without taking another face's place.

When the optical flow loses a face it was following (a head turning, a step faster than the flow's reach, a face
with little texture), the tracker looks for it on a crop around its box (`Tracker.finder`: BlazeFace short-range,
edge/detection/region.py) rather than waiting for the next detection, up to 0.6 s away at 1080p. The face found there
is the lost one only when no other shown face is there already (a walker passing in front of another is found
instead of the one behind), and when it still looks somewhat like the face at its last detection. A face found
this way stays shown only if the next detection finds it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ..geometry import Box, Detection
from .match import apart

# A look for a lost face near its box: the face found there, or None (edge/detection/region.py's `RegionFinder`).
Finder = Callable[[np.ndarray, Box], Detection | None]
REGAIN_PER_FRAME = 2  # looks for lost faces a frame at most (a bound on the MACs a crowd of lost faces could take)
REGAIN_S = 0.3  # a face the flow lost is looked for this long after, while not found ...
REGAIN_STEP_S = 0.1  # ... at most this often (at the loss, then every third frame at 30 fps)
TAKEN = 0.5  # a face found within this many face widths of another shown face's centre is that face
MIN_REGAIN_LIKENESS = 0.2  # the found face's template must correlate this much with the lost one's


class Followed(Protocol):
    """What regain reads of a track (edge/tracking's `Track`)."""

    box: Box
    visible: bool
    template: np.ndarray | None


def regain(finder: Finder, image: np.ndarray, lost: Followed, others: Sequence[Followed]
           ) -> tuple[Detection | None, bool]:
    """The face `lost` followed, found again near its box (or None), and whether to look again on the next frame:
    not when the face found there is another shown face's (the lost one is most likely behind it)."""
    from .follow import likeness, template

    det = finder(image, lost.box)
    if det is None:
        return None, True
    if any(o is not lost and o.visible and apart(o.box, det.box) < TAKEN for o in others):
        return None, False
    return (det if likeness(lost.template, template(image, det.box)) >= MIN_REGAIN_LIKENESS else None), True
