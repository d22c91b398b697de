"""What a run learns from and is selected by: FER2013 labels mixed with soft parts, or the FER+ crowd's votes.

Kept apart from the loop (trainer.py) so that the targets can be read and tested on their own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_edge.errors import UsageError

if TYPE_CHECKING:
    from fer_edge.train.trainer import TrainOptions

log = logging.getLogger(__name__)


def soft_targets(opts: TrainOptions, train_data, rows: np.ndarray, out: Path) -> np.ndarray:
    """The training targets: FER2013 one-hot, mixed with the teacher's and the FER+ crowd's probabilities."""
    from fer_edge.train.targets import ferplus_probs, mix_targets, teacher_probs

    parts = []
    if opts.teacher and opts.teacher_weight > 0:
        probs = teacher_probs(opts.teacher, train_data.images, out / "teacher.npz")
        agree = float((probs.argmax(1) == train_data.label_ids).mean())
        log.info(f"teacher ({len(opts.teacher)} models) agrees with {agree:.1%} of {opts.train_split} labels")
        parts.append((opts.teacher_weight, probs, np.ones(len(probs), bool)))
    if opts.ferplus and opts.ferplus_weight > 0:
        if not str(opts.data).lower().endswith((".csv", ".csv.gz")):
            raise UsageError("--ferplus needs --data to be the FER2013 CSV (FER+ rows follow its rows)")
        from fer_edge.eval.ferplus import paired_votes

        votes = paired_votes(opts.ferplus, opts.data, opts.train_split).votes[rows]
        probs, valid = ferplus_probs(votes)
        log.info(f"FER+ votes for {int(valid.sum())} of {len(valid)} {opts.train_split} images")
        parts.append((opts.ferplus_weight, probs, valid))
    return mix_targets(train_data.label_ids, parts)


def ferplus_training(opts: TrainOptions, data, rows: np.ndarray, out: Path):
    """Training on the FER+ votes (Barsoum et al. 2016, "probabilistic label"): each kept row's target is its vote
    distribution over the seven classes; rows FER+ dropped or with no emotion vote are left out. With `--teacher`,
    the teacher's probabilities take `--teacher-weight` of each target (distillation from a FER+-trained teacher)."""
    from fer_edge.eval.ferplus import paired_votes
    from fer_edge.train.targets import ferplus_probs

    votes = paired_votes(opts.ferplus, opts.data, opts.train_split)
    probs, valid = ferplus_probs(votes.votes[rows])
    keep = np.flatnonzero(valid & votes.named[rows])
    log.info(f"FER+ soft targets for {keep.size} of {len(rows)} {opts.train_split} images "
             f"({len(rows) - keep.size} left out: dropped by FER+ or no emotion vote)")
    subset = data.subset(keep)
    targets = probs[keep]
    if opts.teacher and opts.teacher_weight > 0:
        from fer_edge.train.targets import teacher_probs

        teacher = teacher_probs(opts.teacher, data.images, out / "teacher.npz")[keep]
        agree = float((teacher.argmax(1) == targets.argmax(1)).mean())
        log.info(f"teacher ({len(opts.teacher)} models) agrees with {agree:.1%} of the FER+ vote majorities; it takes "
                 f"{opts.teacher_weight:g} of each target")
        targets = (1 - opts.teacher_weight) * targets + opts.teacher_weight * teacher
    return type(subset)(subset.images, targets.argmax(1), subset.source), targets


def ferplus_validation(opts: TrainOptions, data, rows: np.ndarray):
    """PublicTest rows with a 7-way FER+ majority, labelled with it: selection on what the model is reported on."""
    from fer_edge.eval.ferplus import split_outcomes

    outcomes = split_outcomes(opts.ferplus, opts.data, opts.val_split)[rows]
    keep = np.flatnonzero(outcomes >= 0)
    log.info(f"selecting on FER+ {opts.val_split} majorities: {keep.size} of {len(rows)} images scored")
    subset = data.subset(keep)
    return type(subset)(subset.images, outcomes[keep], subset.source)
