"""TensorFlow-free readers for FER2013 (Kaggle CSV, plain or gzipped) and image-folder trees.

The benchmarks run these on the device, so they use only numpy and OpenCV.
Both return a `LabelledImages`: uint8 images (N, H, W, C) and FER2013 label ids.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..classification.preprocess import batch_to_model_input, to_model_input
from ..errors import FerEdgeError, UsageError
from ..labels import EMOTIONS

log = logging.getLogger(__name__)

FER_SIDE = 48
FER_PIXELS = FER_SIDE * FER_SIDE
CSV_SPLITS = ("Training", "PublicTest", "PrivateTest")
_SPLIT_ALIASES = {
    "training": "Training", "train": "Training",
    "publictest": "PublicTest", "public": "PublicTest", "val": "PublicTest",
    "privatetest": "PrivateTest", "private": "PrivateTest", "test": "PrivateTest",
}
# Folder names seen in the common image-folder releases of FER2013 and its kin.
_CLASS_ALIASES = {
    "angry": 0, "anger": 0,
    "disgust": 1, "disgusted": 1,
    "fear": 2, "fearful": 2, "afraid": 2,
    "happy": 3, "happiness": 3,
    "sad": 4, "sadness": 4,
    "surprise": 5, "surprised": 5,
    "neutral": 6,
}


def class_counts(label_ids: np.ndarray) -> dict[str, int]:
    """{emotion name: rows} over the seven classes, absent ones at 0."""
    per_class = np.bincount(np.asarray(label_ids, np.int64), minlength=len(EMOTIONS))
    return {name: int(n) for name, n in zip(EMOTIONS, per_class)}


@dataclass(frozen=True)
class LabelledImages:
    """Images (N, H, W, C) uint8 with FER2013 label ids (N,): `label_ids`, as `labels` means names everywhere else."""

    images: np.ndarray
    label_ids: np.ndarray
    source: str
    undecodable: int = 0  # image files that did not decode, left out (the sources' word for frames too)

    def __len__(self) -> int:
        return len(self.label_ids)

    def counts(self) -> dict[str, int]:
        return class_counts(self.label_ids)

    def describe(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        extra = f"; {self.undecodable} undecodable skipped" if self.undecodable else ""
        return f"{self.source}: {len(self)} images ({counts}){extra}"

    def subset(self, index: np.ndarray) -> LabelledImages:
        return LabelledImages(self.images[index], self.label_ids[index], self.source, self.undecodable)


def stratified_sample(label_ids: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted row indices of about n rows, each class in its share of `label_ids` (at least one of each present
    class): every row when n is not below their number. Calibration and `train --limit` both draw with it."""
    label_ids = np.asarray(label_ids)
    if n >= len(label_ids):
        return np.arange(len(label_ids))
    rng = np.random.default_rng(seed)
    picks = [np.empty(0, np.int64)]
    for c in np.unique(label_ids):  # ascending, as the classes' ids: the same draws for the same seed
        idx = np.flatnonzero(label_ids == c)
        picks.append(rng.choice(idx, size=min(len(idx), max(1, round(n * len(idx) / len(label_ids)))), replace=False))
    return np.sort(np.concatenate(picks))


def canonical_split(name: str) -> str:
    split = _SPLIT_ALIASES.get(name.replace("_", "").replace("-", "").lower())
    if split is None:
        raise UsageError(f"unknown split {name!r}: use one of {', '.join(CSV_SPLITS)}")
    return split


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_fer2013_csv(path: str | os.PathLike[str], splits: tuple[str, ...] | None = None) -> dict[str, LabelledImages]:
    """Read the Kaggle `fer2013.csv` (or `.csv.gz`) into {Usage: LabelledImages}.

    A malformed row is an error naming the file and row number (1 = header),
    since a silently dropped row would change the benchmark's denominator.
    """
    path = Path(path)
    if not path.is_file():
        raise FerEdgeError(f"{path}: no such file")
    wanted = None if splits is None else {canonical_split(s) for s in splits}
    images: dict[str, list[np.ndarray]] = {}
    label_ids: dict[str, list[int]] = {}
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise FerEdgeError(f"{path}: empty file")
            cols = [c.strip().lower() for c in header]
            missing = {"emotion", "pixels"} - set(cols)
            if missing:
                raise FerEdgeError(f"{path}: row 1: header lacks {', '.join(sorted(missing))} (want emotion,pixels,Usage)")
            i_label, i_pix = cols.index("emotion"), cols.index("pixels")
            i_usage = cols.index("usage") if "usage" in cols else None
            for row_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(cols):
                    raise FerEdgeError(f"{path}: row {row_no}: {len(row)} fields, expected {len(cols)}")
                usage = row[i_usage].strip() if i_usage is not None else "Training"
                if wanted is not None and usage not in wanted:
                    continue
                try:
                    label = int(row[i_label])
                except ValueError:
                    label = -1
                if not 0 <= label < len(EMOTIONS):
                    raise FerEdgeError(f"{path}: row {row_no}: unknown label {row[i_label]!r} (want 0-6)")
                images.setdefault(usage, []).append(_parse_pixels(row[i_pix], path, row_no))
                label_ids.setdefault(usage, []).append(label)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise FerEdgeError(f"{path}: unreadable CSV ({exc})") from None
    out = {}
    for usage, imgs in images.items():
        arr = np.stack(imgs).reshape(-1, FER_SIDE, FER_SIDE, 1)
        out[usage] = LabelledImages(arr, np.asarray(label_ids[usage], dtype=np.int64), f"{path.name}:{usage}")
    if wanted is not None:
        absent = wanted - set(out)
        if absent:
            raise FerEdgeError(f"{path}: no rows for split {', '.join(sorted(absent))}")
    if not out:
        raise FerEdgeError(f"{path}: no data rows")
    return out


def _parse_pixels(text: str, path: Path, row_no: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # older numpy stops quietly at a bad token
            values = np.fromstring(text, dtype=np.int32, sep=" ")
    except ValueError:  # numpy >= 2.3 raises instead
        values = np.empty(0, np.int32)
    if values.size != FER_PIXELS:
        tokens = text.split()
        if len(tokens) == FER_PIXELS:
            bad = next(t for t in tokens if not t.lstrip("-").isdigit())
            raise FerEdgeError(f"{path}: row {row_no}: non-numeric pixel {bad!r}")
        raise FerEdgeError(f"{path}: row {row_no}: {len(tokens)} pixels, expected {FER_PIXELS}")
    if values.min() < 0 or values.max() > 255:
        raise FerEdgeError(f"{path}: row {row_no}: pixel value out of 0-255")
    return values.astype(np.uint8)


def read_image_folder(
    root: str | os.PathLike[str], size: tuple[int, int] = (FER_SIDE, FER_SIDE), channels: int = 1
) -> LabelledImages:
    """Read `root/<class>/*.<image>` (any size, colour or grey), resized through the runtime's preprocessing.

    Images that do not decode are skipped and counted (`undecodable`); an unknown
    class folder or an empty result is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise FerEdgeError(f"{root}: no such folder")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise FerEdgeError(f"{root}: no class folders (want {'/, '.join(EMOTIONS)}/)")
    images, label_ids, undecodable = [], [], 0
    for class_dir in class_dirs:
        label = _CLASS_ALIASES.get(class_dir.name.lower())
        if label is None:
            raise FerEdgeError(f"{class_dir}: folder name is not one of {', '.join(EMOTIONS)}")
        found, bad = read_images(sorted(class_dir.rglob("*")), size, channels)
        images += found
        label_ids += [label] * len(found)
        undecodable += bad
    if not images:
        raise FerEdgeError(f"{root}: no readable image ({undecodable} undecodable files)")
    return LabelledImages(np.stack(images), np.asarray(label_ids, dtype=np.int64), str(root), undecodable)


def read_images(files: list[Path], size: tuple[int, int], channels: int, limit: int = 0) -> tuple[list[np.ndarray], int]:
    """Decode image files (hidden files and folders ignored) through the runtime's preprocessing: (images, undecodable)."""
    images: list[np.ndarray] = []
    undecodable = 0
    for file in files:
        if limit and len(images) >= limit:
            break
        if not file.is_file() or file.name.startswith("."):
            continue
        image = imread(file)
        if image is None:
            undecodable += 1
            continue
        images.append(to_model_input(image, size, channels))
    return images, undecodable


def imread(path: Path) -> np.ndarray | None:
    """cv2.imread that tolerates non-ASCII paths and returns None for anything it can't decode."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def load_split(
    data: str | os.PathLike[str], split: str, size: tuple[int, int] = (FER_SIDE, FER_SIDE), channels: int = 1
) -> LabelledImages:
    """One split from either source: a FER2013 CSV, or a folder tree (`root/<split>/<class>/` or `root/<class>/`)."""
    path = Path(data)
    if path.is_dir():
        for name in _folder_split_names(split):
            if (path / name).is_dir():
                return read_image_folder(path / name, size, channels)
        if any(p.name.lower() in _CLASS_ALIASES for p in path.iterdir() if p.is_dir()):
            return read_image_folder(path, size, channels)
        raise FerEdgeError(f"{path}: no {split!r} folder and no class folders")
    if not path.exists():
        raise FerEdgeError(f"{path}: no such file or folder")
    rows = read_fer2013_csv(path, (split,))[canonical_split(split)]
    images = batch_to_model_input(rows.images, size, channels)  # the CSV's 48x48 grey, as the caller asked
    return LabelledImages(images, rows.label_ids, rows.source, rows.undecodable)


def _folder_split_names(split: str) -> tuple[str, ...]:
    key = canonical_split(split)
    return {"Training": ("train", "training", "Training"),
            "PublicTest": ("val", "valid", "validation", "publictest", "PublicTest"),
            "PrivateTest": ("test", "privatetest", "PrivateTest")}[key]


def log_counts(data: LabelledImages) -> None:
    log.info(data.describe())
