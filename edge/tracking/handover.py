"""A face that was out of sight for a while keeps its id when a detection finds it where its motion says it went.

A shown face is matched to a detection within one face width (`match_pairs`). A hidden one (the flow lost it, a
walker passed in front, a detection missed it) coasts on its velocity, which is known only roughly: after half a second
a walker's face can be two widths from where the coasting put it. So a detection that matched nothing is handed to a
confirmed hidden face whose coasted box is within a gate that widens with the time the face has been out of sight,
HANDOVER_SLACK widths a second from the shown faces' one, up to HANDOVER_MAX; sizes within MATCH_SIZE of each other;
nearest (relative to its gate) first. A box only a tile found is handed over only if the second look says face: else
a texture near where a walker went out of sight would take the walker's id, shown at once, with no look at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from ..geometry import Box

HANDOVER_SLACK = 3.0  # face widths a second: how far a coasted face may be from where it went (walking: 7-11 a second)
HANDOVER_MAX = 4.0  # face widths: the widest gate (two faces in a crowd are rarely that close and both lost)


class Hidden(Protocol):
    """What the handover reads of a track (edge/tracking's `Track`)."""

    box: Box
    visible: bool
    confirmed: bool
    seen_at: float


def handover_pairs(dets: Sequence[Box], tracks: Sequence[Hidden], taken: Sequence[tuple[int, int]], now: float,
                   near: float, size: float, vet: Callable[[int], bool] | None = None) -> list[tuple[int, int]]:
    """(detection, track) pairs among those not in `taken`: hidden confirmed tracks within their widened gate (`near`
    face widths when just hidden, growing with the time unseen) and within `size` times each other's width. `vet(i)`,
    asked before detection i is handed over: False leaves it to start a track of its own."""
    used_d, used_t = {i for i, _ in taken}, {j for _, j in taken}
    candidates = []
    for j, t in enumerate(tracks):
        if j in used_t or t.visible or not t.confirmed:
            continue
        gate = min(HANDOVER_MAX, near + HANDOVER_SLACK * max(0.0, now - t.seen_at))
        for i, d in enumerate(dets):
            if i in used_d:
                continue
            wide, narrow = max(d.width, t.box.width), max(min(d.width, t.box.width), 1e-3)
            (ax, ay), (bx, by) = d.center, t.box.center
            dist = math.hypot(ax - bx, ay - by) / wide
            if dist <= gate and wide / narrow <= size:
                candidates.append((dist / gate, i, j))
    out: list[tuple[int, int]] = []
    for _, i, j in sorted(candidates):
        if i not in used_d and j not in used_t:
            if vet is not None and not vet(i):
                used_d.add(i)
                continue
            out.append((i, j))
            used_d.add(i)
            used_t.add(j)
    return out
