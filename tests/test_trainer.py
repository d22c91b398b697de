"""The trainer's soft targets (distillation, crowd votes), its augmentation and its Keras backends."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from fer_edge.train.targets import ferplus_probs, mix_targets

BUNDLED_CNN = ROOT / "edge" / "models" / "cnn_int8.tflite"


def test_ferplus_votes_become_fer2013_probabilities():
    # neutral happiness surprise sadness anger disgust fear contempt unknown NF
    votes = np.array([[6, 4, 0, 0, 0, 0, 0, 0, 0, 0],
                      [0, 0, 5, 0, 0, 0, 3, 2, 0, 0],   # contempt dropped: 5 surprise, 3 fear
                      [0, 0, 0, 0, 0, 0, 0, 3, 2, 5]])  # nothing left: not valid
    probs, valid = ferplus_probs(votes)
    assert valid.tolist() == [True, True, False]
    assert probs[0, 6] == pytest.approx(0.6) and probs[0, 3] == pytest.approx(0.4)
    assert probs[1, 5] == pytest.approx(5 / 8) and probs[1, 2] == pytest.approx(3 / 8)
    assert probs[2].sum() == 0


def test_mix_targets_gives_an_invalid_part_back_to_the_label():
    labels = np.array([3, 0])
    teacher = np.full((2, 7), 1 / 7, np.float32)
    crowd = np.zeros((2, 7), np.float32)
    crowd[0, 5] = 1.0
    target = mix_targets(labels, [(0.5, teacher, np.array([True, True])), (0.2, crowd, np.array([True, False]))])
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
    assert target[0, 3] == pytest.approx(0.3 + 0.5 / 7) and target[0, 5] == pytest.approx(0.2 + 0.5 / 7)
    assert target[1, 0] == pytest.approx(0.5 + 0.5 / 7)  # row 1 has no crowd votes: its 0.2 goes to the label
    with pytest.raises(Exception, match="more than 1"):
        mix_targets(labels, [(0.7, teacher, np.array([True, True])), (0.6, crowd, np.array([True, True]))])


def test_dscnn_fits_the_pi_budget(tf_available):
    from fer_edge.train.models import build_model

    model = build_model("dscnn")
    assert model.output_shape == (None, 7)
    assert 400_000 < model.count_params() < 1_400_000  # under 1.5 MB as int8


@pytest.mark.shared
def test_distillation_run_caches_the_teacher_and_resumes(tmp_path, fer_csv, tf_available):
    run = tmp_path / "kd"
    proc = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "1", "--limit", "300",
                   "--widths", "8,16", "--teacher", str(BUNDLED_CNN), "--teacher-weight", "0.5", "--erase", "0.25")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "teacher (1 models) agrees with" in proc.stderr
    with np.load(run / "teacher.npz") as z:
        probs = z["probs"]
    assert probs.shape == (300, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.03)  # int8 softmax: steps of 1/256
    stamp = (run / "teacher.npz").stat().st_mtime_ns
    state = json.loads((run / "state.json").read_text())
    assert state["options"]["teacher_weight"] == 0.5 and state["options"]["augment"]["erase"] == 0.25

    again = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "2", "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "epoch 2/2" in again.stderr and (run / "teacher.npz").stat().st_mtime_ns == stamp  # not computed again


@pytest.mark.shared
def test_trains_on_the_jax_backend_and_the_model_loads_with_tensorflow(tmp_path, fer_csv, jax_available):
    run = tmp_path / "jax"
    proc = run_cli("train", "--backend", "jax", "--data", str(fer_csv), "--out", str(run), "--epochs", "1",
                   "--limit", "200", "--widths", "8,16", timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "on jax" in proc.stderr and "epoch 1/1" in proc.stderr
    import keras  # this process runs the TensorFlow backend: convert's side

    model = keras.models.load_model(run / "best.keras")
    assert model.output_shape == (None, 7) and model.input_shape == (None, 48, 48, 1)


@pytest.mark.parametrize("args,fragment", [
    (["--teacher-weight", "1.5", "--teacher", str(BUNDLED_CNN)], "--teacher-weight"),
    (["--teacher", "/nonexistent/teacher.tflite"], "/nonexistent/teacher.tflite"),
    (["--blocks", "1,x"], "--blocks"),
])
def test_bad_training_options_are_one_line_errors(tmp_path, args, fragment):
    proc = run_cli("train", "--data", "whatever.csv", "--out", str(tmp_path / "r"), *args)
    assert_one_line_error(proc, fragment, code=2)


def _paired_files(tmp_path, n_train=70, n_val=21):
    """A FER2013 CSV and a FER+ file that pair row for row: each row's crowd majority is its label, with a
    minority vote for the next class; row 0 has only not-a-face votes (no soft label there)."""
    from conftest import write_fer_csv

    rng = np.random.default_rng(0)
    rows, plus = [], ["Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"]
    column_of = {6: 0, 3: 1, 5: 2, 4: 3, 0: 4, 1: 5, 2: 6}  # FER2013 id -> FER+ vote column
    for i in range(n_train + n_val):
        usage, label = ("Training" if i < n_train else "PublicTest"), i % 7
        rows.append((label, rng.integers(0, 256, (48, 48)), usage))
        votes = [0] * 10
        if i == 0:
            votes[9] = 10
        else:
            votes[column_of[label]], votes[column_of[(label + 1) % 7]] = 7, 3
        plus.append(f"{usage},fer{i:07d}.png,{','.join(map(str, votes))}")
    (tmp_path / "fer2013new.csv").write_text("\n".join(plus) + "\n")
    return write_fer_csv(tmp_path / "fer2013.csv", rows), tmp_path / "fer2013new.csv"


def test_ferplus_votes_train_as_soft_labels(tmp_path, tf_available):
    data, plus = _paired_files(tmp_path)
    proc = run_cli("train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--widths", "8,16",
                   "--ferplus", str(plus), "--ferplus-weight", "0.3", "--batch", "16")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FER+ votes for 69 of 70 Training images" in proc.stderr


@pytest.mark.shared
def test_ferplus_that_does_not_pair_with_the_csv_is_refused(tmp_path, fer_csv, shared, tf_available):
    """The shared FER2013 copy is not in Kaggle's row order, so FER+ votes would be random labels for it."""
    proc = run_cli("train", "--data", str(fer_csv), "--out", str(tmp_path / "run"), "--epochs", "1", "--limit", "200",
                   "--ferplus", str(shared / "data" / "ferplus" / "fer2013new.csv"))
    assert_one_line_error(proc, "fer2013new.csv", "not in the order", code=2)
    assert not (tmp_path / "run" / "last.keras").exists()
