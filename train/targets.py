"""Soft training targets: a teacher's probabilities and the FER+ crowd votes, mixed with the FER2013 label.

Distillation and crowd votes both carry what a one-hot label hides (a face that is
half surprise, half fear). The teacher's probabilities are computed once per run
with the TFLite runtime and cached in the run folder with each teacher file's sha256, so `--resume` does not pay again
(nor need the files) unless a teacher changed in place.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from fer_edge.convert.loading import file_sha256
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.labels import EMOTIONS

log = logging.getLogger(__name__)

def ferplus_probs(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Votes (N, 10) in FER+ column order -> (probabilities over the 7 FER2013 classes (N, 7), valid rows (N,)).

    Contempt, unknown and not-a-face votes are dropped; a row left with no votes is not valid.
    """
    from fer_edge.eval.ferplus import VOTE_COLUMNS

    fer_ids = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0, "disgust": 1, "fear": 2}
    probs = np.zeros((len(votes), len(EMOTIONS)), np.float32)
    for col, name in enumerate(VOTE_COLUMNS):
        if name in fer_ids:
            probs[:, fer_ids[name]] += votes[:, col]
    total = probs.sum(axis=1)
    valid = total > 0
    probs[valid] /= total[valid, None]
    return probs, valid


def mix_targets(label_ids: np.ndarray, parts: list[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
    """The one-hot targets of `label_ids` mixed with soft parts: each (weight, probs (N, 7), valid (N,)).

    Per row, the weight of a part that is not valid there goes back to the label.
    """
    n_cls = len(EMOTIONS)
    target = np.zeros((len(label_ids), n_cls), np.float32)
    rest = np.ones(len(label_ids), np.float32)
    for weight, probs, valid in parts:
        w = np.where(valid, np.float32(weight), np.float32(0.0))
        target += w[:, None] * probs
        rest -= w
    if np.any(rest < -1e-6):
        raise UsageError("soft-target weights add up to more than 1")
    target[np.arange(len(label_ids)), label_ids] += rest
    return target


def _cached(cache: Path, key: str, models: tuple[str, ...], count: int) -> np.ndarray | None:
    """The cached probabilities if they are of these teachers: same paths, and every teacher file still there has the
    bytes it had (one retrained in place is computed again); a resume without the files keeps the cache."""
    if not cache.is_file():
        return None
    with np.load(cache, allow_pickle=False) as z:
        if str(z["key"]) != key or len(z["probs"]) != count:
            return None
        hashes = [str(h) for h in z["sha256"]] if "sha256" in z else []  # older caches kept the paths only
        probs = z["probs"]
    for model, digest in zip(models, hashes):
        if Path(model).is_file() and file_sha256(Path(model)) != digest:
            log.info("teacher %s changed since %s was written: computing its probabilities again", model, cache.name)
            return None
    return probs


def teacher_probs(models: tuple[str, ...], images: np.ndarray, cache: Path) -> np.ndarray:
    """Mean probabilities of TFLite teacher models over `images`, cached in `cache` (an .npz)."""
    key = "|".join(str(Path(m).resolve()) for m in models)
    cached = _cached(cache, key, models, len(images))
    if cached is not None:
        return cached
    from fer_edge.classification.classifier import TFLiteClassifier

    total = np.zeros((len(images), len(EMOTIONS)), np.float32)
    for model in models:
        clf = TFLiteClassifier(model)
        if tuple(clf.labels) != tuple(EMOTIONS):
            raise FerEdgeError(f"{model}: a teacher must output the 7 FER2013 classes, not {list(clf.labels)}")
        log.info("teacher %s: %d images", model, len(images))
        total += clf.predict_dataset(images)
    probs = total / len(models)
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    np.savez_compressed(tmp, probs=probs, key=np.asarray(key), sha256=np.asarray([file_sha256(Path(m)) for m in models]))
    tmp.replace(cache)
    return probs
