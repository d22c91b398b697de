"""Accuracy where the loop crops (benchmarks/crops.py): FER+ faces blended into real photos through the default
detector, crop and classifier; and `smoothing.min_face`, below which a face is shown `uncertain`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer_edge.benchmarks.crops import SCHEMA, match
from fer_edge.benchmarks.crops_frames import feather_mask, paste_face
from fer_edge.benchmarks.crops_loop import load_faces
from fer_edge.geometry import MARGIN, Box, Detection
from fer_edge.labels import EMOTIONS
from fer_edge.tracking import UNCERTAIN, Tracker


def _shown(tracker: Tracker, boxes: list[Box], probs: np.ndarray, now: float) -> list:
    """The tracks for `boxes` detected on a blank frame, in `boxes`' order, smoothed with `probs`."""
    shown = tracker.step(np.zeros((480, 640, 3), np.uint8), [Detection(b, 0.9) for b in boxes], now)
    order = [next(k for k, t in enumerate(shown) if t.box == b) for b in boxes]
    tracker.faces([shown[k] for k in order], probs, time=now, frame=0)
    return [shown[k] for k in order]


def test_a_face_smaller_than_min_face_is_uncertain_however_sure_the_classifier_is():
    sure = np.array([[0.0, 0.0, 0.0, 0.95, 0.05, 0.0, 0.0]] * 2, np.float32)
    tracker = Tracker(EMOTIONS, min_face=40)
    small, big = Box(0, 0, 39, 30), Box(100, 100, 140, 135)
    first = _shown(tracker, [small, big], sure, 0.0)
    assert [t.label for t in first] == [UNCERTAIN, "happy"] and first[0].score == pytest.approx(0.95)
    grown = _shown(tracker, [Box(0, 0, 44, 40), big], sure, 0.1)  # the same face, now big enough: its label comes back
    assert grown[0] is first[0] and grown[0].label == "happy"
    assert _shown(Tracker(EMOTIONS, min_face=0), [small], sure[:1], 0.0)[0].label == "happy"  # no minimum


def test_pasted_face_is_the_luma_of_its_square_and_fades_at_the_edge():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[:] = (40, 120, 200)  # a skin-like BGR colour
    paste_face(frame, face, 50, 60, 96)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(int)
    want = cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC).astype(int)
    inner = slice(20, 76)  # inside the feathered rim
    assert np.abs(grey[60:156, 50:146][inner, inner] - want[inner, inner]).max() <= 1  # what the classifier sees
    assert frame[60:156, 50:146][inner, inner].std(axis=2).mean() > 10  # still in colour, for the detector
    assert (frame[0, 0] == (40, 120, 200)).all() and (frame[60:156, 49] == (40, 120, 200)).all()  # outside: untouched
    m = feather_mask(96)
    assert m[48, 48] == 1 and m[0, 0] < 0.01 and np.allclose(m, m.T) and np.allclose(m, m[::-1, ::-1])


def test_each_pasted_square_matches_one_detection_at_most():
    squares = np.array([[0, 0, 50, 50], [100, 0, 150, 50], [300, 300, 350, 350]], float)
    boxes = np.array([[5, 5, 45, 45], [8, 8, 48, 48], [102, 3, 148, 47], [0, 200, 40, 240]], float)
    assert match(squares, boxes) == [1, 2, None] or match(squares, boxes) == [0, 2, None]
    assert match(squares, boxes)[0] in (0, 1) and match(squares, np.zeros((0, 4))) == [None] * 3


@pytest.mark.shared
def test_crops_benchmark_on_a_small_slice(shared, tmp_path):
    out = tmp_path / "crops"
    env = dict(os.environ, FER_EDGE_SHARED=str(shared))
    proc = subprocess.run([sys.executable, "-m", "fer_edge.benchmarks.crops", "--split", "PublicTest", "--faces", "12",
                           "--sizes", "32,96", "--margins", "0.1,0.25", "--min-face", "40", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == SCHEMA and results["frames"] >= 4 and {"cpu", "cores"} <= set(results["machine"])
    s = results["settings"]
    assert (s["split"], s["faces"], s["sizes"], s["margins"], s["min_face"]) == ("PublicTest", 12, [32, 96], [0.1, 0.25], 40)
    assert s["detector"] == "room" and s["model"].endswith(".tflite") and s["frame"] == [640, 480]
    assert 0 <= results["direct"]["accuracy"] <= 1 and 0 <= results["direct"]["published_accuracy"] <= 1
    with open(out / "faces.csv", newline="") as fh:
        faces = list(csv.DictReader(fh))
    assert len(faces) == 24 and {f["size"] for f in faces} == {"32", "96"}
    # by the published rule, worked out here from the votes: the same label where it scores one, none elsewhere
    from fer_edge.eval.ferplus import paired_votes, published_outcomes

    votes = paired_votes(shared / "data/ferplus/fer2013new.csv", shared / "data/fer2013/fer2013.csv.gz", "PublicTest")
    by_rule = published_outcomes(votes.votes, votes.named)
    assert [f["published"] for f in faces] == [EMOTIONS[by_rule[int(f["row"])]] if by_rule[int(f["row"])] >= 0 else ""
                                               for f in faces]
    assert results["direct"]["published_faces"] == sum(by_rule[int(f["row"])] >= 0 for f in faces) // 2
    for row in results["sizes"]:
        mine = [f for f in faces if int(f["size"]) == row["size"]]
        found = [f for f in mine if f["detected"] == "True"]
        assert row["faces"] == 12 and row["detected"] == len(found) and row["recall"] == round(len(found) / 12, 4)
        assert set(row["accuracy"]) == {"0.1", "0.25"} and row["direct_all"] == results["direct"]["accuracy"]
        if found:
            acc = np.mean([f["label@0.25"] == f["truth"] for f in found])
            assert row["accuracy"]["0.25"] == pytest.approx(acc, abs=1e-4)
        scored = [f for f in found if f["published"]]  # the published rule: the faces it gives a label
        assert row["published_faces"] == len(scored)
        if scored:
            acc = np.mean([f["label@0.1"] == f["published"] for f in scored])
            assert row["published_accuracy"]["0.1"] == pytest.approx(acc, abs=1e-4)
    found = [f for f in faces if f["detected"] == "True"]
    small = [f for f in found if float(f["box_side"]) < 40]
    assert small and len(small) < len(found)  # both sides of the minimum were seen
    assert all(f["shown"] == UNCERTAIN for f in small)
    assert any(f["shown"] != UNCERTAIN for f in found if float(f["box_side"]) >= 40)
    assert all(f["label"] in EMOTIONS and f["label"] == f[f"label@{MARGIN:g}"] for f in found)  # the loop's margin
    assert results["choice"]["margin"] in (0.1, 0.25)
    report = (out / "report.md").read_text()
    assert "| face px | faces | found |" in report and "| 96 | 12 |" in report
    assert "| published rule, margin 0.1 |" in report and "by the published rule" in report
    image = cv2.imread(str(out / "crops.png"))
    assert image is not None and image.shape[1] > 600


@pytest.mark.shared
def test_faces_carry_both_rules_labels(shared):
    from fer_edge.eval.ferplus import paired_votes, published_outcomes

    data, ferplus = shared / "data/fer2013/fer2013.csv.gz", shared / "data/ferplus/fer2013new.csv"
    faces = load_faces(data, ferplus, "PublicTest", 0, 0)
    votes = paired_votes(ferplus, data, "PublicTest")
    by_rule = published_outcomes(votes.votes, votes.named)[faces.rows]
    np.testing.assert_array_equal(faces.published, by_rule)
    assert (faces.published < 0).sum() > 100  # split faces: a majority by our rule, none by the published one
    assert ((faces.published >= 0) & (faces.published != faces.truth)).sum() == 0  # where both score, they agree
