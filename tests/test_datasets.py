"""Dataset readers on synthetic files and on the real FER2013 CSV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, write_fer_csv

from fer_edge.errors import FerEdgeError
from fer_edge.eval.datasets import load_split, read_fer2013_csv, read_image_folder, stratified_sample
from fer_edge.labels import EMOTIONS


def _face(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_csv_plain_and_gzipped(tmp_path, name):
    rows = [(3, _face(0), "Training"), (0, _face(1), "Training"), (6, _face(2), "PublicTest"),
            (5, _face(3), "PrivateTest")]
    path = write_fer_csv(tmp_path / name, rows)
    splits = read_fer2013_csv(path)
    assert set(splits) == {"Training", "PublicTest", "PrivateTest"}
    train = splits["Training"]
    assert train.images.shape == (2, 48, 48, 1) and train.images.dtype == np.uint8
    assert train.label_ids.tolist() == [3, 0]
    np.testing.assert_array_equal(train.images[0, :, :, 0], _face(0))
    assert train.counts()["happy"] == 1 and train.counts()["angry"] == 1
    assert load_split(path, "test").label_ids.tolist() == [5]


@pytest.mark.parametrize("pixels,label,expect", [
    (" ".join(["1"] * 2303), 3, "2303 pixels, expected 2304"),
    (" ".join(["1"] * 2303 + ["x7"]), 3, "non-numeric pixel 'x7'"),
    (" ".join(["1"] * 2304), 9, "unknown label '9'"),
    (" ".join(["1"] * 2303 + ["300"]), 3, "out of 0-255"),
])
def test_malformed_row_names_file_and_row(tmp_path, pixels, label, expect):
    path = write_fer_csv(tmp_path / "bad.csv", [(3, _face(0), "Training"), (label, pixels, "Training")])
    with pytest.raises(FerEdgeError) as err:
        read_fer2013_csv(path)
    assert "bad.csv: row 3" in str(err.value) and expect in str(err.value)


def test_malformed_row_cli_exit(tmp_path):
    path = write_fer_csv(tmp_path / "bad.csv", [(3, " ".join(["1"] * 100), "PrivateTest")])
    proc = run_cli("evaluate", "--data", str(path), "--split", "PrivateTest")
    assert_one_line_error(proc, "bad.csv: row 2", "100 pixels")


def _write_tree(root, shapes):
    for i, (cls, shape) in enumerate(shapes):
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        img = np.random.default_rng(i).integers(0, 256, shape, dtype=np.uint8)
        cv2.imwrite(str(d / f"{i}.{'png' if i % 2 else 'jpg'}"), img)


def test_image_tree_any_size_and_colour(tmp_path):
    _write_tree(tmp_path / "train", [("happy", (48, 48)), ("happy", (120, 90, 3)), ("sad", (30, 30)),
                                     ("Surprise", (200, 200, 3))])
    (tmp_path / "train" / "sad" / "broken.png").write_bytes(b"not an image")
    (tmp_path / "train" / "sad" / "empty.jpg").write_bytes(b"")
    data = load_split(tmp_path, "Training")
    assert data.images.shape == (4, 48, 48, 1)
    assert sorted(data.label_ids.tolist()) == [3, 3, 4, 5]
    assert data.undecodable == 2
    assert "2 undecodable skipped" in data.describe()
    rgb = read_image_folder(tmp_path / "train", size=(96, 96), channels=3)
    assert rgb.images.shape == (4, 96, 96, 3)


def test_image_tree_errors(tmp_path):
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "x.png").write_bytes(b"junk")
    with pytest.raises(FerEdgeError, match="no readable image"):
        read_image_folder(tmp_path)
    (tmp_path / "smirk").mkdir()
    with pytest.raises(FerEdgeError, match="smirk: folder name is not one of"):
        read_image_folder(tmp_path)


@pytest.mark.shared
def test_real_fer2013_counts(fer_splits):
    assert {k: len(v) for k, v in fer_splits.items()} == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert fer_splits["PrivateTest"].counts() == dict(zip(EMOTIONS, [491, 55, 528, 879, 594, 416, 626]))
    assert fer_splits["Training"].counts()["disgust"] == 436


def test_stratified_sample_keeps_class_shares_and_every_present_class():
    ids = np.array([3] * 60 + [0] * 30 + [1] * 2 + [6] * 8)  # no 2, 4 or 5
    idx = stratified_sample(ids, 20, seed=0)
    assert np.array_equal(idx, np.sort(idx)) and len(set(idx.tolist())) == len(idx)
    assert np.bincount(ids[idx], minlength=7).tolist() == [6, 1, 0, 12, 0, 0, 2]  # round(20 * share), at least one
    assert np.array_equal(idx, stratified_sample(ids, 20, seed=0))  # the same draw for the same seed
    assert np.array_equal(stratified_sample(ids, 100, seed=0), np.arange(100))  # n not below the rows: all of them
