"""`fer-edge evaluate --labels ferplus`: majority labels by hand on a tiny CSV pair, the real file's PrivateTest
counts, and the bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, write_fer_csv

from fer_edge.bundled import DEFAULT_MODEL
from fer_edge.classification.classifier import TFLiteClassifier
from fer_edge.classification.sidecar import read_sidecar
from fer_edge.errors import UsageError
from fer_edge.eval.ferplus import (
    CONTEMPT,
    NO_CLEAR_MAJORITY,
    NO_IMAGE,
    NOT_A_FACE,
    TIE,
    UNKNOWN,
    majority_outcomes,
    published_outcomes,
    read_ferplus_csv,
    split_outcomes,
)

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
# (Usage, has an image, votes: neutral happiness surprise sadness anger disgust fear contempt unknown NF,
#  the majority worked out by hand, FER2013's own label in the paired CSV: the same but on the anger row, as in the
#  real files, where most majorities agree with the original label)
ROWS = [
    ("Training", True, (0, 9, 0, 0, 0, 0, 0, 0, 1, 0), 3, 3),
    ("PrivateTest", True, (0, 8, 1, 0, 0, 0, 0, 0, 1, 0), 3, 3),           # happiness -> happy
    ("PrivateTest", True, (1, 0, 0, 0, 6, 3, 0, 0, 0, 0), 0, 6),           # anger -> angry (FER2013 said neutral)
    ("PublicTest", True, (0, 0, 0, 0, 0, 0, 10, 0, 0, 0), 2, 2),
    ("PrivateTest", True, (4, 4, 0, 0, 0, 0, 0, 0, 2, 0), TIE, 6),         # neutral and happiness tie
    ("PrivateTest", True, (3, 0, 0, 0, 0, 0, 0, 5, 2, 0), CONTEMPT, 6),
    ("PrivateTest", True, (2, 0, 0, 0, 0, 0, 0, 0, 6, 2), UNKNOWN, 6),
    ("PrivateTest", True, (0, 0, 0, 0, 0, 0, 0, 0, 0, 10), NOT_A_FACE, 6),
    ("PrivateTest", False, (0, 0, 0, 0, 0, 0, 0, 0, 0, 10), NO_IMAGE, 6),  # FER+ dropped it: no image name
    ("PrivateTest", True, (0, 0, 0, 7, 0, 0, 3, 0, 0, 0), 4, 4),           # sadness -> sad
    ("PrivateTest", True, (1, 0, 5, 0, 0, 0, 4, 0, 0, 0), 5, 5),           # surprise
    ("PrivateTest", True, (0, 0, 0, 4, 3, 0, 0, 0, 2, 1), 4, 4),           # sad, but no emotion holds over half
]
# The same rows by the FER+ authors' test rule (single votes dropped, one column over half of the rest), by hand
PUBLISHED = [3, 3, 0, 2, NO_CLEAR_MAJORITY, NO_CLEAR_MAJORITY, UNKNOWN, NOT_A_FACE, NO_IMAGE, 4, 5, NO_CLEAR_MAJORITY]


def _pair(tmp_path, drop_last: bool = False, shuffled: bool = False):
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in ROWS]
    label_ids = [6 if shuffled else r[4] for r in ROWS]  # shuffled: FER2013's labels no longer meet their votes
    fer = write_fer_csv(tmp_path / "fer2013.csv", [(label, f, r[0]) for r, f, label in zip(ROWS, faces, label_ids)])
    lines = [HEADER] + [f"{u},{f'fer{i:07d}.png' if named else ''},{','.join(map(str, v))}"
                        for i, (u, named, v, _, _) in enumerate(ROWS)]
    plus = tmp_path / "fer2013new.csv"
    plus.write_text("\n".join(lines[:-1] if drop_last else lines) + "\n")
    return fer, plus, faces


def test_majority_outcomes_by_hand():
    votes = np.array([r[2] for r in ROWS])
    named = np.array([r[1] for r in ROWS])
    assert majority_outcomes(votes, named).tolist() == [r[3] for r in ROWS]
    assert majority_outcomes(np.zeros((1, 10), int), np.array([True])).tolist() == [TIE]  # no votes at all


def test_published_outcomes_by_hand():
    """The rule published FER+ accuracies use: 3 contempt against 5 of 10 is no clear majority (5 is not over half),
    6 unknown of 10 wins and leaves the row out, and single votes do not count towards the total."""
    votes = np.array([r[2] for r in ROWS])
    named = np.array([r[1] for r in ROWS])
    assert published_outcomes(votes, named).tolist() == PUBLISHED
    hand = np.array([(1,) * 10, (0,) * 10, (5, 1, 1, 1, 1, 1, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0, 0, 7, 3, 0)])
    assert published_outcomes(hand, np.ones(4, bool)).tolist() == [NO_CLEAR_MAJORITY, NO_CLEAR_MAJORITY, 6, CONTEMPT]


def test_split_outcomes_follow_the_csv_rows(tmp_path):
    fer, plus, _ = _pair(tmp_path)
    assert split_outcomes(plus, fer, "PrivateTest").tolist() == [r[3] for r in ROWS if r[0] == "PrivateTest"]
    assert split_outcomes(plus, fer, "PublicTest").tolist() == [2]


def test_evaluate_ferplus_on_a_small_slice(tmp_path):
    fer, plus, faces = _pair(tmp_path)
    report_path = tmp_path / "r.json"
    proc = run_cli("evaluate", "--data", str(fer), "--split", "PrivateTest", "--labels", "ferplus", "--ferplus", str(plus),
                   "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(report_path.read_text())
    private = [(r, f) for r, f in zip(ROWS, faces) if r[0] == "PrivateTest"]
    predicted = TFLiteClassifier(DEFAULT_MODEL).predict(np.stack([f[..., None] for _, f in private])).argmax(1)
    truth = np.array([r[3] for r, _ in private])
    scored = truth >= 0
    assert report["images"] == 5 and report["label_set"] == "ferplus"
    assert np.array(report["confusion_matrix"]).sum(axis=1).tolist() == [1, 0, 0, 1, 2, 1, 0]  # angry happy sad surprise
    assert report["accuracy"] == pytest.approx(float((predicted[scored] == truth[scored]).mean()))
    fp = report["ferplus"]
    assert fp["images"] == 10 and fp["scored"] == 5
    assert fp["excluded"] == {"tie": 1, "unknown": 1, "not_a_face": 1, "no_image": 1}
    said = report["labels"][predicted[truth == CONTEMPT][0]]
    assert fp["contempt"]["images"] == 1 and fp["contempt"]["predicted"][said] == 1
    assert report["macs"] == 36_905_088 and report["params"] == 1_206_583
    assert "5 of 10 images scored" in proc.stdout and "1 contempt" in proc.stdout and "37 M MACs" in proc.stdout
    published = np.array([p for r, p in zip(ROWS, PUBLISHED) if r[0] == "PrivateTest"])
    ok = published >= 0
    assert ok.sum() == 4  # the split sad face is scored by our rule, not by the published one
    rule = fp["published_rule"]
    assert rule["scored"] == 4 and rule["contempt"] == 0
    assert rule["accuracy"] == pytest.approx(float((predicted[ok] == published[ok]).mean()))
    assert "FER+ by the published rule" in proc.stdout and f"{rule['accuracy']:.2%} of 4 images" in proc.stdout


def test_evaluate_both_label_sets_in_one_run(tmp_path):
    """--ferplus alone scores both label sets from one pass: each part equals what its own run reports."""
    fer, plus, _ = _pair(tmp_path)
    base = ("evaluate", "--data", str(fer), "--split", "PrivateTest")
    proc = run_cli(*base, "--ferplus", str(plus), "--report", str(tmp_path / "both.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert run_cli(*base, "--report", str(tmp_path / "fer.json")).returncode == 0
    assert run_cli(*base, "--labels", "ferplus", "--ferplus", str(plus), "--report", str(tmp_path / "plus.json")).returncode == 0
    both = json.loads((tmp_path / "both.json").read_text())
    alone = {"fer2013": json.loads((tmp_path / "fer.json").read_text()),
             "ferplus": json.loads((tmp_path / "plus.json").read_text())}
    assert both["label_set"] == "both" and both["macs"] == 36_905_088
    for label_set, report in alone.items():
        for key in ("images", "accuracy", "macro_f1", "per_class", "confusion_matrix"):
            assert both[label_set][key] == report[key], (label_set, key)
    assert both["fer2013"]["images"] == 10 and both["ferplus"]["images"] == 5
    assert both["ferplus"]["ferplus"]["published_rule"] == alone["ferplus"]["ferplus"]["published_rule"]
    assert both["ferplus"]["ferplus"]["excluded"] == alone["ferplus"]["ferplus"]["excluded"]
    lat = both["latency_ms"]
    assert lat["faces"] == 10 and 0 < lat["min"] <= lat["p50"] and lat["threads"] == 1
    assert (tmp_path / "both.png").is_file() and (tmp_path / "both_ferplus.png").is_file()
    assert "FER2013 labels:" in proc.stdout and "FER+ majority labels:" in proc.stdout
    neutral = both["ferplus"]["per_class"]["neutral"]
    assert f"FER+ neutral recall {neutral['recall']:.1%} ({neutral['support']} crowd-neutral faces)" in proc.stdout


def test_evaluate_sidecar_rewrites_the_accuracy_block(tmp_path):
    """`--sidecar` puts one evaluation's figures of both label sets into the model's sidecar; what conversion
    measured moves under `conversion` and stays there through a second rewrite; every other key is kept."""
    fer, plus, _ = _pair(tmp_path)
    model = tmp_path / "m.tflite"
    shutil.copy(DEFAULT_MODEL, model)
    before = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    conversion = {"data": "fer2013.csv.gz", "split": "PrivateTest", "images": 3589, "float": 0.5, "tflite": 0.51,
                  "delta_points": 1.0}
    model.with_suffix(".json").write_text(json.dumps({**before, "accuracy": conversion}))
    for _ in range(2):
        proc = run_cli("evaluate", str(model), "--data", str(fer), "--ferplus", str(plus), "--sidecar",
                       "--report", str(tmp_path / "r.json"))
        assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    side = json.loads(model.with_suffix(".json").read_text())
    acc = side["accuracy"]
    assert {k: v for k, v in side.items() if k != "accuracy"} == {k: v for k, v in before.items() if k != "accuracy"}
    assert acc["conversion"] == conversion
    assert acc["split"] == "PrivateTest" and acc["tflite"] == acc["fer2013"]["accuracy"]
    for label_set, data in (("fer2013", "fer2013.csv"), ("ferplus", "fer2013new.csv")):
        assert acc[label_set]["data"] == data
        assert acc[label_set]["accuracy"] == pytest.approx(report[label_set]["accuracy"], abs=1e-6)
        assert acc[label_set]["images"] == report[label_set]["images"]
        assert acc[label_set]["recall"] == {k: pytest.approx(c["recall"], abs=1e-6)
                                            for k, c in report[label_set]["per_class"].items()}
    assert acc["ferplus"]["excluded"] == {"tie": 1, "unknown": 1, "not_a_face": 1, "no_image": 1, "contempt": 1}
    rule = report["ferplus"]["ferplus"]["published_rule"]
    assert acc["ferplus"]["published_rule"] == {"images": 4, "accuracy": pytest.approx(rule["accuracy"], abs=1e-6)}
    assert acc["latency_ms"]["p50"] == report["latency_ms"]["p50"] and acc["latency_ms"]["threads"] == 1
    assert acc["evaluated"]["command"].startswith("fer-edge evaluate m.tflite --data fer2013.csv --ferplus")
    assert read_sidecar(model)["accuracy"]["tflite"] == acc["tflite"]  # still what run and bench read


def test_evaluate_fer2013_labels_prints_and_writes_macs(tmp_path):
    fer, _, _ = _pair(tmp_path)
    proc = run_cli("evaluate", "--data", str(fer), "--split", "PrivateTest", "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["images"] == 10 and report["label_set"] == "fer2013" and "ferplus" not in report
    assert report["macs"] == 36_905_088 and "compute: 37 M MACs per invoke" in proc.stdout


def test_bad_inputs(tmp_path):
    fer, plus, _ = _pair(tmp_path)
    short = tmp_path / "short"
    short.mkdir()
    _, short_plus, _ = _pair(short, drop_last=True)
    base = ("evaluate", "--data", str(fer), "--report", str(tmp_path / "r.json"))
    assert_one_line_error(run_cli(*base, "--labels", "affectnet"), "--labels 'affectnet'", "fer2013, ferplus, both",
                          code=2)
    assert_one_line_error(run_cli(*base, "--labels", "ferplus"), "needs --ferplus PATH", code=2)
    assert_one_line_error(run_cli(*base, "--labels", "both"), "needs --ferplus PATH", code=2)
    assert_one_line_error(run_cli(*base, "--labels", "fer2013", "--ferplus", str(plus)),
                          "--ferplus is not used with --labels fer2013", code=2)
    assert_one_line_error(run_cli(*base, "--sidecar"), "--sidecar records both label sets", code=2)
    assert_one_line_error(run_cli(*base, "--labels", "ferplus", "--ferplus", str(plus), "--sidecar"),
                          "--sidecar records both label sets", code=2)
    assert_one_line_error(run_cli(*base, "--labels", "ferplus", "--ferplus", str(tmp_path / "none.csv")),
                          "none.csv: no such file", code=2)
    assert_one_line_error(run_cli(*base, "--labels", "ferplus", "--ferplus", str(short_plus)),
                          "11 rows but fer2013.csv has 12", code=2)
    assert_one_line_error(run_cli("evaluate", "--data", str(tmp_path), "--labels", "ferplus", "--ferplus", str(plus)),
                          "needs the FER2013 CSV", code=2)
    other = tmp_path / "other"
    other.mkdir()
    shuffled, shuffled_plus, _ = _pair(other, shuffled=True)
    assert_one_line_error(run_cli("evaluate", "--data", str(shuffled), "--labels", "ferplus", "--ferplus",
                                  str(shuffled_plus), "--report", str(tmp_path / "r.json")),
                          "agree with fer2013.csv's labels on only 0% of rows", code=2)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.shared
def test_real_ferplus_privatetest_majorities(shared):
    """The majority counts of the FER+ file's own PrivateTest rows, as ../shared/README.md gives them."""
    votes = read_ferplus_csv(shared / "data" / "ferplus" / "fer2013new.csv")
    private = votes.usage == "PrivateTest"
    out = majority_outcomes(votes.votes[private], votes.named[private])
    counts = {int(k): int(v) for k, v in zip(*np.unique(out, return_counts=True))}
    assert counts == {6: 1166, 3: 909, 4: 424, 5: 421, 0: 316, 2: 92, CONTEMPT: 26, 1: 22, UNKNOWN: 27,
                      NOT_A_FACE: 1, TIE: 170, NO_IMAGE: 15}
    # by the published rule 3,137 are scored: the 213 more of ours are faces the crowd split on
    out = published_outcomes(votes.votes[private], votes.named[private])
    counts = {int(k): int(v) for k, v in zip(*np.unique(out, return_counts=True))}
    assert counts == {6: 1090, 3: 893, 4: 384, 5: 396, 0: 273, 2: 83, CONTEMPT: 16, 1: 18, UNKNOWN: 10,
                      NOT_A_FACE: 1, NO_CLEAR_MAJORITY: 410, NO_IMAGE: 15}


@pytest.mark.shared
def test_shared_fer2013_copy_pairs_with_ferplus(shared, fer_csv):
    """The shared fer2013.csv.gz is in Kaggle's row order (since 2026-12-06), so FER+ votes pair with it: PrivateTest
    has 3,350 rows with a 7-way majority (the counts ../shared/README.md lists), most agreeing with FER2013's label."""
    from fer_edge.eval.ferplus import fer2013_rows, label_agreement

    outcomes = split_outcomes(shared / "data" / "ferplus" / "fer2013new.csv", fer_csv, "PrivateTest")
    assert len(outcomes) == 3589
    counts = np.bincount(outcomes[outcomes >= 0], minlength=7)
    assert counts.tolist() == [316, 22, 92, 909, 424, 421, 1166]  # angry .. neutral
    usages, label_ids = fer2013_rows(fer_csv)
    assert 0.6 < label_agreement(outcomes, label_ids[usages == "PrivateTest"]) < 0.72


@pytest.mark.shared
def test_shuffled_fer2013_copy_does_not_pair_with_ferplus(shared, shuffled_fer_csv):
    """Rows shuffled within their split (what the shared copy was before): the FER+ majorities then agree with the
    labels only by chance, and the check refuses to score rather than print a meaningless number."""
    with pytest.raises(UsageError, match=r"agree with fer2013.csv's labels on only [12]\d% of rows"):
        split_outcomes(shared / "data" / "ferplus" / "fer2013new.csv", shuffled_fer_csv, "PrivateTest")
