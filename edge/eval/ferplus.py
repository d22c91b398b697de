"""FER+ majority labels for FER2013's images (Barsoum et al., ICMI 2016), read without TensorFlow.

`fer2013new.csv` has one row per row of `fer2013.csv`, in the same order: ten crowd votes per image over eight
emotions plus unknown and not-a-face (NF). Its majority labels are a cleaner test set than FER2013's single
labels, so `fer-edge evaluate --labels ferplus` scores a model on them.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FerEdgeError, UsageError
from .datasets import _open_text, canonical_split

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# A row's outcome: a FER2013 id (0-6) when it is scored, else one of these.
CONTEMPT, TIE, UNKNOWN, NOT_A_FACE, NO_IMAGE = -1, -2, -3, -4, -5
NO_CLEAR_MAJORITY = -6  # the published rule only: no emotion holds over half the votes (see published_outcomes)
EXCLUDED = {TIE: "tie", UNKNOWN: "unknown", NOT_A_FACE: "not_a_face", NO_IMAGE: "no_image"}
# Vote column -> outcome: FER+ names onto FER2013 ids (angry 0, disgust 1, fear 2, happy 3, sad 4, surprise 5,
# neutral 6); contempt has no FER2013 class.
_COLUMN_OUTCOME = np.array([6, 3, 5, 4, 0, 1, 2, CONTEMPT, UNKNOWN, NOT_A_FACE])
# FER+ relabelled FER2013, but most majorities still agree with the original label; rows that do not pair up (a CSV
# in another order than Kaggle's fer2013.csv) agree only by chance, about 0.2 with FER2013's class balance.
MIN_AGREEMENT = 0.35


@dataclass(frozen=True)
class FerPlusVotes:
    """Per row of the file: its Usage, whether it names an image, and its votes (N, 10) in VOTE_COLUMNS order."""

    usage: np.ndarray
    named: np.ndarray
    votes: np.ndarray

    def __len__(self) -> int:
        return len(self.usage)


def majority_outcomes(votes: np.ndarray, named: np.ndarray) -> np.ndarray:
    """The majority of each row as a FER2013 id, or CONTEMPT, TIE (two or more classes share the top count),
    UNKNOWN, NOT_A_FACE, or NO_IMAGE (rows FER+ dropped: no image name)."""
    votes = np.asarray(votes)
    top = votes.max(axis=1)
    winners = (votes == top[:, None]).sum(axis=1)
    out = _COLUMN_OUTCOME[votes.argmax(axis=1)]
    out = np.where(winners > 1, TIE, out)
    return np.where(np.asarray(named, bool), out, NO_IMAGE).astype(np.int64)


def published_outcomes(votes: np.ndarray, named: np.ndarray) -> np.ndarray:
    """Each row's outcome under the test rule of the FER+ authors' code (microsoft/FERPlus, `_process_data` in
    majority mode), which published FER+ accuracies are measured by: single votes are dropped as outliers, and a row
    counts only when one column holds more than half of the votes left (unknown and not-a-face votes count in the
    total), else NO_CLEAR_MAJORITY. Stricter than `majority_outcomes`: it leaves out the faces the crowd split on."""
    votes = np.where(np.asarray(votes) > 1, votes, 0)
    clear = 2 * votes.max(axis=1) > votes.sum(axis=1)  # integers: no rounding at exactly half
    out = np.where(clear, _COLUMN_OUTCOME[votes.argmax(axis=1)], NO_CLEAR_MAJORITY)
    return np.where(np.asarray(named, bool), out, NO_IMAGE).astype(np.int64)


def published_summary(published: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Accuracy on the rows the published rule scores (a 7-way outcome; its few contempt rows are left out, as in
    the main figure), to set beside published FER+ accuracies."""
    published = np.asarray(published)
    keep = published >= 0
    return {"rule": "FER+ authors' test rule: single votes dropped, one emotion over half the rest",
            "scored": int(keep.sum()), "contempt": int((published == CONTEMPT).sum()),
            "accuracy": float(np.mean(np.asarray(predicted)[keep] == published[keep])) if keep.any() else 0.0}


def read_ferplus_csv(path: str | os.PathLike[str]) -> FerPlusVotes:
    """Read `fer2013new.csv` (plain or gzipped); a malformed row is an error naming the file and row (1 = header)."""
    path = Path(path)
    if not path.is_file():
        raise FerEdgeError(f"{path}: no such FER+ file")
    usage, named, votes = [], [], []
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = [c.strip().lower() for c in next(reader, [])]
            want = ("usage", "image name", *(c.lower() for c in VOTE_COLUMNS))
            missing = [c for c in want if c not in header]
            if missing:
                raise FerEdgeError(f"{path}: row 1: not a FER+ label file (header lacks {', '.join(missing)})")
            i_usage, i_name = header.index("usage"), header.index("image name")
            i_votes = [header.index(c.lower()) for c in VOTE_COLUMNS]
            for row_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise FerEdgeError(f"{path}: row {row_no}: {len(row)} fields, expected {len(header)}")
                try:
                    votes.append([int(row[i]) for i in i_votes])
                except ValueError:
                    raise FerEdgeError(f"{path}: row {row_no}: a vote count is not an integer") from None
                usage.append(row[i_usage].strip())
                named.append(bool(row[i_name].strip()))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise FerEdgeError(f"{path}: unreadable CSV ({exc})") from None
    if not usage:
        raise FerEdgeError(f"{path}: no data rows")
    return FerPlusVotes(np.asarray(usage), np.asarray(named), np.asarray(votes, dtype=np.int64).reshape(-1, 10))


def fer2013_rows(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(Usage, label) of every data row of a FER2013 CSV, skipping blank lines as `read_fer2013_csv` does, so row i
    here is row i of the FER+ file. Pixels are not parsed; an unparsable label reads as -1."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: --labels ferplus needs the FER2013 CSV as --data (FER+ rows follow its rows)")
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = [c.strip().lower() for c in next(reader, [])]
            if not {"emotion", "pixels"} <= set(header):
                raise FerEdgeError(f"{path}: row 1: not a FER2013 CSV (want emotion,pixels,Usage)")
            i_label = header.index("emotion")
            i_usage = header.index("usage") if "usage" in header else None
            usages, label_ids = [], []
            for row in reader:
                if not row:
                    continue
                usages.append(row[i_usage].strip() if i_usage is not None and i_usage < len(row) else "Training")
                label_ids.append(int(row[i_label]) if row[i_label].strip().isdigit() else -1)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise FerEdgeError(f"{path}: unreadable CSV ({exc})") from None
    return np.asarray(usages), np.asarray(label_ids, dtype=np.int64)


def label_agreement(outcomes: np.ndarray, label_ids: np.ndarray) -> float:
    """Share of the scored FER+ majorities that equal the FER2013 label of the same row: the pairing check."""
    scored = np.asarray(outcomes) >= 0
    return float((np.asarray(outcomes)[scored] == np.asarray(label_ids)[scored]).mean()) if scored.any() else 1.0


def split_outcomes(ferplus: str | os.PathLike[str], fer2013: str | os.PathLike[str], split: str) -> np.ndarray:
    """FER+ majority outcomes of `split`'s rows, in the order `load_split` returns that split's images."""
    votes = paired_votes(ferplus, fer2013, split)
    return majority_outcomes(votes.votes, votes.named)


def paired_votes(ferplus: str | os.PathLike[str], fer2013: str | os.PathLike[str], split: str) -> FerPlusVotes:
    """The FER+ rows of `split`, paired with the FER2013 CSV's rows (evaluation labels, or soft training targets).

    The two files must pair row for row: a different row count, rows whose Usage differs, or majorities that agree
    with the CSV's own labels no more than chance does (the rows are in another order) is a usage error.
    """
    split = canonical_split(split)
    usages, label_ids = fer2013_rows(fer2013)
    votes = read_ferplus_csv(ferplus)
    if len(votes) != len(usages):
        raise UsageError(f"{ferplus}: {len(votes)} rows but {Path(fer2013).name} has {len(usages)}: "
                         "not the FER+ labels of this FER2013 file")
    differ = np.flatnonzero(votes.usage != usages)
    if differ.size:
        raise UsageError(f"{ferplus}: row {differ[0] + 2} is {votes.usage[differ[0]]!r} but {Path(fer2013).name} says "
                         f"{usages[differ[0]]!r} ({differ.size} rows differ): not the FER+ labels of this file")
    agreement = label_agreement(majority_outcomes(votes.votes, votes.named), label_ids)
    if agreement < MIN_AGREEMENT:
        raise UsageError(f"{ferplus}: its majorities agree with {Path(fer2013).name}'s labels on only {agreement:.0%} "
                         f"of rows (chance is about 20%): that CSV's rows are not in the order of Kaggle's "
                         "fer2013.csv, which FER+ follows")
    keep = usages == split
    return FerPlusVotes(votes.usage[keep], votes.named[keep], votes.votes[keep])


def outcome_summary(outcomes: np.ndarray, predicted: np.ndarray, label_names: tuple[str, ...]) -> dict[str, Any]:
    """What was scored and what was not: excluded rows by reason, and the contempt-majority rows (no such class
    in the model, so not scored) with what the model predicted for them."""
    outcomes = np.asarray(outcomes)
    contempt = np.asarray(predicted)[outcomes == CONTEMPT]
    counts = np.bincount(contempt, minlength=len(label_names))
    return {"images": int(len(outcomes)), "scored": int((outcomes >= 0).sum()),
            "excluded": {name: int((outcomes == code).sum()) for code, name in EXCLUDED.items()},
            "contempt": {"images": int(contempt.size),
                         "predicted": {name: int(n) for name, n in zip(label_names, counts)}}}


def format_summary(summary: dict[str, Any]) -> str:
    """A line for the terminal, and one for the published rule where it was scored."""
    ex = summary["excluded"]
    contempt = summary["contempt"]
    top = sorted(contempt["predicted"].items(), key=lambda kv: -kv[1])
    said = ", ".join(f"{name} {n}" for name, n in top if n)
    line = (f"FER+ majority labels: {summary['scored']} of {summary['images']} images scored; excluded "
            f"{ex['tie']} ties, {ex['unknown']} unknown, {ex['not_a_face']} not-a-face, {ex['no_image']} without "
            f"an image; {contempt['images']} contempt (not scored; predicted {said or 'nothing'})")
    rule = summary.get("published_rule")
    if rule:
        line += (f"\nFER+ by the published rule (single votes dropped, one emotion over half the rest, as published "
                 f"FER+ accuracies are measured): {rule['accuracy']:.2%} of {rule['scored']} images")
    return line
