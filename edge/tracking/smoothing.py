"""Each face's labels smoothed over frames: an exponential moving average of its probabilities, shown with
hysteresis both ways so a face whose scores wobble near a threshold does not flicker."""

from __future__ import annotations

import numpy as np

UNCERTAIN = "uncertain"


def smooth_label(current: str, avg: np.ndarray, labels: tuple[str, ...], min_score: float, switch_margin: float) -> str:
    """The label to show for the moving average `avg`, given the one shown now.

    Hysteresis both ways, so a face whose scores wobble near a threshold does not flicker: the shown label stays
    while no other leads it by `switch_margin` and its own score stays above `min_score - switch_margin`; otherwise
    the top label when it reaches `min_score`, else `uncertain`.
    """
    top = int(avg.argmax())
    if current in labels:
        held = float(avg[labels.index(current)])
        if held >= min_score - switch_margin and avg[top] - held < switch_margin:
            return current
    return labels[top] if avg[top] >= min_score else UNCERTAIN


def moving_average(avg: np.ndarray | None, probs: np.ndarray, alpha: float) -> np.ndarray:
    """The face's average after this frame's `probs` (float32): the first frame's as it is, then weighted by `alpha`."""
    p = probs.astype(np.float32)
    return p.copy() if avg is None else (1 - alpha) * avg + alpha * p
