"""Soft training targets: a teacher's probabilities and the FER+ crowd votes, mixed with the FER2013 label.

Distillation and crowd votes both carry what a one-hot label hides (a face that is
half surprise, half fear). The teacher's probabilities are computed once per run
with the TFLite runtime and cached in the run folder, so `--resume` does not pay again.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from edge.errors import FerEdgeError, UsageError
from edge.labels import EMOTIONS

log = logging.getLogger(__name__)

# FER+ vote columns (fer2013new.csv) in file order, and the FER2013 id each maps to (None: no such class).
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
FERPLUS_TO_FER2013 = (6, 3, 5, 4, 0, 1, 2, None, None, None)


def read_ferplus_votes(path: str | Path, split: str, expected_rows: int | None = None) -> np.ndarray:
    """(N, 10) vote counts of the rows of `split`, in file order (which is fer2013.csv's order)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[2:12]] != list(FERPLUS_COLUMNS):
                raise UsageError(f"{path}: not a FER+ fer2013new.csv (header {header!r})")
            rows, total = [], 0
            for row in reader:
                total += 1
                if row and row[0] == split:
                    rows.append([int(v or 0) for v in row[2:12]])
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"{path}: row {total + 1}: vote counts must be integers") from None
    votes = np.asarray(rows, dtype=np.int32).reshape(-1, len(FERPLUS_COLUMNS))
    if expected_rows is not None and len(votes) != expected_rows:
        raise UsageError(f"{path}: {len(votes)} {split} rows, but the FER2013 file has {expected_rows}: "
                         "the two files must come from the same release, row for row")
    return votes


def ferplus_probs(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Votes (N, 10) -> (probabilities over the 7 FER2013 classes (N, 7), valid rows (N,)).

    Contempt, unknown and not-a-face votes are dropped; a row left with no votes is not valid.
    """
    probs = np.zeros((len(votes), len(EMOTIONS)), np.float32)
    for col, fer_id in enumerate(FERPLUS_TO_FER2013):
        if fer_id is not None:
            probs[:, fer_id] += votes[:, col]
    total = probs.sum(axis=1)
    valid = total > 0
    probs[valid] /= total[valid, None]
    return probs, valid


def mix_targets(labels: np.ndarray, parts: list[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
    """One-hot labels mixed with soft parts: each (weight, probs (N, 7), valid (N,)).

    Per row, the weight of a part that is not valid there goes back to the label.
    """
    n_cls = len(EMOTIONS)
    target = np.zeros((len(labels), n_cls), np.float32)
    rest = np.ones(len(labels), np.float32)
    for weight, probs, valid in parts:
        w = np.where(valid, np.float32(weight), np.float32(0.0))
        target += w[:, None] * probs
        rest -= w
    if np.any(rest < -1e-6):
        raise UsageError("soft-target weights add up to more than 1")
    target[np.arange(len(labels)), labels] += rest
    return target


def teacher_probs(models: tuple[str, ...], images: np.ndarray, cache: Path) -> np.ndarray:
    """Mean probabilities of TFLite teacher models over `images`, cached in `cache` (an .npz)."""
    key = "|".join(str(Path(m).resolve()) for m in models)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key and len(z["probs"]) == len(images):
                return z["probs"]
    from edge.classifier import TFLiteClassifier

    total = np.zeros((len(images), len(EMOTIONS)), np.float32)
    for model in models:
        clf = TFLiteClassifier(model)
        if tuple(clf.labels) != tuple(EMOTIONS):
            raise FerEdgeError(f"{model}: a teacher must output the 7 FER2013 classes, not {list(clf.labels)}")
        log.info("teacher %s: %d images", model, len(images))
        total += clf.predict_dataset(images)
    probs = total / len(models)
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    np.savez_compressed(tmp, probs=probs, key=np.asarray(key))
    tmp.replace(cache)
    return probs
