"""Stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better
Generalization"): the mean of the weights at the end of each epoch from `--swa-from` on.

The mean of several points along the end of a schedule often sits in a flatter, better place than any one of
them. Its BatchNorm statistics belong to none of those points, so they are recomputed for the averaged weights
(precise_bn.py) before it is scored on PublicTest and written as `swa.keras`, a model like `best.keras`.
The running mean is kept in `swa_weights.npz` with the last epoch it holds, so `--resume` goes on from it and an
epoch is never counted twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.files import atomic_path

AVERAGE = "swa_weights.npz"
MODEL = "swa.keras"


def running_mean(mean: list[np.ndarray] | None, weights: list[np.ndarray], count: int) -> list[np.ndarray]:
    """The mean of `count` + 1 weight sets, from the mean of the first `count` (None when 0) and one more."""
    if mean is None or count == 0:
        return [np.asarray(w, np.float64) for w in weights]
    return [m + (np.asarray(w, np.float64) - m) / (count + 1) for m, w in zip(mean, weights)]


def load_average(path: Path) -> tuple[list[np.ndarray] | None, int, int]:
    """(the mean, how many epochs it holds, the last of them) from `path`, or (None, 0, 0) when there is none."""
    if not path.is_file():
        return None, 0, 0
    with np.load(path, allow_pickle=False) as z:
        n = int(z["arrays"])
        return [z[f"w{i}"] for i in range(n)], int(z["count"]), int(z["through"])


def save_average(path: Path, mean: list[np.ndarray], count: int, through: int) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, arrays=len(mean), count=count, through=through, **{f"w{i}": w for i, w in enumerate(mean)})


def average_epoch(out: Path, weights: list[np.ndarray], epoch: int) -> tuple[list[np.ndarray], int]:
    """Fold epoch `epoch`'s weights into the run's mean (once: a rerun epoch after a crash is not added again);
    returns the mean and how many epochs it holds."""
    mean, count, through = load_average(out / AVERAGE)
    if mean is None or through < epoch:
        mean, count = running_mean(mean, weights, count), count + 1
        save_average(out / AVERAGE, mean, count, epoch)
    return mean, count
