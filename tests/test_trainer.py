"""The trainer's soft targets (distillation, crowd votes), its augmentation and its Keras backends."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from fer_edge.train.targets import ferplus_probs, mix_targets

BUNDLED_CNN = ROOT / "edge" / "models" / "cnn_fer2013_int8.tflite"


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
    label_ids = np.array([3, 0])
    teacher = np.full((2, 7), 1 / 7, np.float32)
    crowd = np.zeros((2, 7), np.float32)
    crowd[0, 5] = 1.0
    target = mix_targets(label_ids, [(0.5, teacher, np.array([True, True])), (0.2, crowd, np.array([True, False]))])
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
    assert target[0, 3] == pytest.approx(0.3 + 0.5 / 7) and target[0, 5] == pytest.approx(0.2 + 0.5 / 7)
    assert target[1, 0] == pytest.approx(0.5 + 0.5 / 7)  # row 1 has no crowd votes: its 0.2 goes to the label
    with pytest.raises(Exception, match="more than 1"):
        mix_targets(label_ids, [(0.7, teacher, np.array([True, True])), (0.6, crowd, np.array([True, True]))])


@pytest.mark.tf
def test_dscnn_fits_the_pi_budget(tf_available):
    from fer_edge.train.models import build_model

    model = build_model("dscnn")
    assert model.output_shape == (None, 7)
    assert 400_000 < model.count_params() < 1_400_000  # under 1.5 MB as int8


@pytest.mark.tf
def test_squeeze_excitation_sits_on_the_middle_stages_only(tf_available):
    from fer_edge.train.models import build_model

    plain, se = build_model("dscnn", blocks=(1, 2, 2, 2, 2)), build_model("dscnn", blocks=(1, 2, 2, 2, 2), se=8)
    gated = sorted({layer.name.split("_se_")[0] for layer in se.layers if "_se_" in layer.name})
    assert gated == ["s2_1", "s2_2", "s3_1", "s3_2", "s4_1", "s4_2"]  # the 96, 192 and 384 stages; not 48 or 768
    assert not any("_se_" in layer.name for layer in plain.layers)
    # per block: a 1x1 conv down to width/8 and one back up, each with its bias
    by_hand = 2 * sum(2 * w * (w // 8) + w // 8 + w for w in (96, 192, 384))
    assert se.count_params() - plain.count_params() == by_hand == 98_280
    with pytest.raises(Exception, match="dscnn only"):
        build_model("cnn", se=8)


@pytest.mark.shared
@pytest.mark.tf
def test_squeeze_excitation_trains_resumes_and_converts_to_full_int8(tmp_path, fer_csv, tf_available):
    from fer_edge.classification.classifier import TFLiteClassifier
    from fer_edge.runtime import graph_ops

    run = tmp_path / "se"
    proc = run_cli("train", "--data", str(fer_csv), "--arch", "dscnn", "--widths", "8,96", "--blocks", "1",
                   "--se", "8", "--out", str(run), "--epochs", "1", "--limit", "300")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run / "state.json").read_text())["options"]["se"] == 8
    again = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "2", "--resume")
    assert again.returncode == 0 and "epoch 2/2" in again.stderr, again.stderr[-2000:]
    conv = run_cli("convert", str(run / "best.keras"), "--calib", str(fer_csv), "--calib-images", "50",
                   "--out", str(tmp_path / "models"), "--name", "se", "--variants", "int8")
    assert conv.returncode == 0, conv.stderr[-2000:]
    model = tmp_path / "models" / "se_int8.tflite"
    ops = {op.name for op in graph_ops(model)}
    assert {"MEAN", "LOGISTIC", "MUL"} <= ops, ops  # the gate survived conversion
    clf = TFLiteClassifier(model)
    assert {dtype for _, dtype in clf.tensor_dtypes()} <= {"int8", "int32", "int16", "uint8"}
    probs = clf.classify([np.full((48, 48), 128, np.uint8), np.zeros((60, 60), np.uint8)])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=0.03)
    bad = run_cli("train", "--data", str(fer_csv), "--arch", "dscnn", "--se", "-1", "--out", str(tmp_path / "x"))
    assert_one_line_error(bad, "--se -1", code=2)


@pytest.mark.tf
def test_precise_batchnorm_replaces_the_moving_averages_by_the_population_statistics(tf_available):
    import keras

    from fer_edge.train.precise_bn import batchnorm_layers, recompute_batchnorm

    inputs = keras.Input((2,))
    inner = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization(name="inner_bn")])
    model = keras.Model(inputs, inner(keras.layers.BatchNormalization(name="outer_bn")(inputs)))
    outer_bn, inner_bn = batchnorm_layers(model)
    assert (outer_bn.name, inner_bn.name) == ("outer_bn", "inner_bn")  # nested models are searched too
    outer_bn.moving_mean.assign([40.0, -40.0])  # stale statistics, far from the data's
    outer_bn.moving_variance.assign([90.0, 90.0])
    x = np.zeros((64, 2), np.float32)
    x[::2, 0], x[1::2, 0], x[:, 1] = 1.0, 3.0, 7.0  # feature 0: mean 2, variance 1; feature 1: 7, 0

    assert recompute_batchnorm(model, x, count=64, batch=64) == 1
    np.testing.assert_allclose(outer_bn.moving_mean.numpy(), [2.0, 7.0], atol=1e-5)
    np.testing.assert_allclose(outer_bn.moving_variance.numpy(), [1.0, 0.0], atol=1e-4)
    outer_bn.moving_mean.assign([40.0, -40.0])
    assert recompute_batchnorm(model, x, count=64, batch=16) == 4
    # four batches of 16 weigh alike: the mean of their means is the data's mean, nothing of the stale 40 is left
    np.testing.assert_allclose(outer_bn.moving_mean.numpy(), [2.0, 7.0], atol=1e-5)
    assert 0.5 < outer_bn.moving_variance.numpy()[0] <= 1.0 + 1e-5
    assert outer_bn.momentum == inner_bn.momentum == 0.99  # put back for training


@pytest.mark.shared
@pytest.mark.tf
def test_precise_bn_scores_publictest_and_keeps_recomputed_statistics(tmp_path, shared, fer_csv, tf_available):
    import keras

    run = tmp_path / "pbn"
    common = ("--data", str(fer_csv), "--out", str(run))
    ferplus = shared / "data" / "ferplus" / "fer2013new.csv"
    proc = run_cli("train", *common, "--ferplus", str(ferplus), "--labels", "ferplus", "--arch", "dscnn",
                   "--widths", "8,16,32", "--blocks", "1,1", "--epochs", "1", "--limit", "400", "--precise-bn", "256")
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = json.loads((run / "state.json").read_text())
    row = state["history"][0]
    assert "precise-BN val_acc" in proc.stderr and state["options"]["precise_bn"] == 256
    assert state["best_val_accuracy"] == row["val_accuracy_precise"] != row["val_accuracy"]
    best, trained = keras.models.load_model(run / "best.keras"), keras.models.load_model(run / "last.keras").layers[-1]
    np.testing.assert_array_equal(best.get_layer("stem").get_weights()[0], trained.get_layer("stem").get_weights()[0])
    moving = [m.get_layer("stem_bn").moving_mean.numpy() for m in (best, trained)]
    assert not np.allclose(*moving, atol=1e-3)  # the same weights, BatchNorm statistics recomputed
    again = run_cli("train", *common, "--epochs", "2", "--resume", "--precise-bn", "0")  # a resume may turn it off
    assert again.returncode == 0, again.stderr[-2000:]
    state = json.loads((run / "state.json").read_text())
    assert "val_accuracy_precise" not in state["history"][1] and state["options"]["precise_bn"] == 0
    bad = run_cli("train", *common, "--precise-bn", "-5")
    assert_one_line_error(bad, "--precise-bn -5", code=2)


def test_running_mean_of_weights_equals_the_mean_of_every_epoch():
    from fer_edge.train.swa import running_mean

    epochs = [[np.full((2, 2), v), np.array([v, -v])] for v in (1.0, 4.0, 10.0)]
    mean, count = None, 0
    for weights in epochs:
        mean, count = running_mean(mean, weights, count), count + 1
    np.testing.assert_allclose(mean[0], np.full((2, 2), 5.0))
    np.testing.assert_allclose(mean[1], [5.0, -5.0])


@pytest.mark.shared
@pytest.mark.tf
def test_weight_averaging_holds_the_mean_of_its_epochs_across_a_resume(tmp_path, fer_csv, tf_available):
    import shutil

    import keras

    run = tmp_path / "swa"
    common = ("--data", str(fer_csv), "--out", str(run))
    proc = run_cli("train", *common, "--arch", "dscnn", "--widths", "8,16,32", "--blocks", "1,1", "--epochs", "1",
                   "--limit", "300")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_cli("train", *common, "--epochs", "2", "--resume", "--swa-from", "2")  # turned on by a resume
    assert proc.returncode == 0, proc.stderr[-2000:]
    shutil.copy(run / "last.keras", tmp_path / "epoch2.keras")
    again = run_cli("train", *common, "--epochs", "3", "--resume")  # and kept by the next
    assert again.returncode == 0, again.stderr[-2000:]
    state = json.loads((run / "state.json").read_text())
    assert [("val_accuracy_swa" in h) for h in state["history"]] == [False, True, True]
    assert "SWA val_acc" in again.stderr and "the mean of epochs 2-3" in again.stderr
    swa = keras.models.load_model(run / "swa.keras")
    two, three = (keras.models.load_model(p).layers[-1] for p in (tmp_path / "epoch2.keras", run / "last.keras"))
    for layer in ("stem", "s1_1_dw", "s2_1_pw", "logits"):  # the mean of epochs 2 and 3, layer by layer
        for got, a, b in zip(*(m.get_layer(layer).get_weights() for m in (swa, two, three))):
            np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-5, atol=1e-6)
    moving = [m.get_layer("s2_1_pw_bn").moving_mean.numpy() for m in (swa, two, three)]
    assert not np.allclose(moving[0], (moving[1] + moving[2]) / 2, atol=1e-3)  # its own BatchNorm statistics
    bad = run_cli("train", *common, "--swa-from", "-1")
    assert_one_line_error(bad, "--swa-from -1", code=2)
    bad = run_cli("train", *common, "--lowres", "1.5")
    assert_one_line_error(bad, "--lowres 1.5", code=2)


@pytest.mark.shared
@pytest.mark.tf
def test_distillation_run_caches_the_teacher_and_resumes(tmp_path, fer_csv, tf_available):
    run = tmp_path / "kd"
    proc = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "1", "--limit", "300",
                   "--widths", "8,16", "--teacher", str(BUNDLED_CNN), "--teacher-weight", "0.5", "--erase", "0.25",
                   "--lowres", "0.3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "teacher (1 models) agrees with" in proc.stderr
    with np.load(run / "teacher.npz") as z:
        probs = z["probs"]
    assert probs.shape == (300, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.03)  # int8 softmax: steps of 1/256
    stamp = (run / "teacher.npz").stat().st_mtime_ns
    state = json.loads((run / "state.json").read_text())
    assert state["options"]["teacher_weight"] == 0.5 and state["options"]["augment"]["erase"] == 0.25
    assert state["options"]["augment"]["lowres"] == 0.3  # and the resume below loads last.keras, which holds its layer

    again = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "2", "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "epoch 2/2" in again.stderr and (run / "teacher.npz").stat().st_mtime_ns == stamp  # not computed again


@pytest.mark.shared
@pytest.mark.tf
def test_init_from_starts_from_a_trained_model_and_refuses_another_network(tmp_path, fer_csv, tf_available):
    common = ["--data", str(fer_csv), "--epochs", "1", "--limit", "200", "--widths", "8,16"]
    first = tmp_path / "first"
    assert run_cli("train", *common, "--out", str(first)).returncode == 0
    tuned = tmp_path / "tuned"  # a learning rate of 1e-9 leaves the start where it was: the first run's weights
    proc = run_cli("train", *common, "--out", str(tuned), "--init-from", str(first / "best.keras"), "--lr", "1e-9",
                   "--warmup", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "starting from its" in proc.stderr
    import keras

    a, b = (keras.models.load_model(run / "best.keras") for run in (first, tuned))
    kernels = [(x, y) for x, y in zip(a.weights, b.weights) if "kernel" in x.path]
    assert len(kernels) >= 3
    for x, y in kernels:
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-6, err_msg=x.path)
    assert json.loads((tuned / "state.json").read_text())["options"]["init_from"] == str(first / "best.keras")

    other = run_cli("train", *common[:-1], "8,32", "--out", str(tmp_path / "other"), "--init-from",
                    str(first / "last.keras"))
    assert_one_line_error(other, str(first / "last.keras"), code=2)
    assert "another network" in other.stderr
    not_keras = run_cli("train", *common, "--out", str(tmp_path / "tflite"), "--init-from", str(BUNDLED_CNN))
    assert_one_line_error(not_keras, f"{BUNDLED_CNN}: not a Keras model", code=2)


@pytest.mark.shared
@pytest.mark.tf
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
    (["--init-from", "/nonexistent/best.keras"], "/nonexistent/best.keras"),
    (["--init-from", __file__, "--resume"], "--init-from starts a run"),
])
@pytest.mark.tf
def test_bad_training_options_are_one_line_errors(tmp_path, args, fragment, tf_available):  # train loads Keras first
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


@pytest.mark.tf
def test_ferplus_votes_train_as_soft_labels(tmp_path, tf_available):
    data, plus = _paired_files(tmp_path)
    proc = run_cli("train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--widths", "8,16",
                   "--ferplus", str(plus), "--ferplus-weight", "0.3", "--batch", "16")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FER+ votes for 69 of 70 Training images" in proc.stderr


@pytest.mark.shared
@pytest.mark.tf
def test_ferplus_that_does_not_pair_with_the_csv_is_refused(tmp_path, shuffled_fer_csv, shared, tf_available):
    """A FER2013 copy shuffled within its splits: FER+ votes would be random labels for it."""
    proc = run_cli("train", "--data", str(shuffled_fer_csv), "--out", str(tmp_path / "run"), "--epochs", "1",
                   "--limit", "200", "--ferplus", str(shared / "data" / "ferplus" / "fer2013new.csv"))
    assert_one_line_error(proc, "fer2013new.csv", "not in the order", code=2)
    assert not (tmp_path / "run" / "last.keras").exists()


@pytest.mark.tf
def test_ferplus_labels_train_on_votes_alone_and_resume(tmp_path, tf_available):
    """--labels ferplus: rows without an emotion vote are left out, PublicTest majorities select, weights change,
    and --resume continues from the checkpoint."""
    import keras

    data, plus = _paired_files(tmp_path)
    run = tmp_path / "run"
    proc = run_cli("train", "--data", str(data), "--out", str(run), "--epochs", "1", "--widths", "8,16",
                   "--labels", "ferplus", "--ferplus", str(plus), "--batch", "16", "--float32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FER+ soft targets for 69 of 70 Training images" in proc.stderr
    assert "selecting on FER+ PublicTest majorities: 21 of 21 images scored" in proc.stderr
    assert "training in float32 (--float32)" in proc.stderr
    assert "epoch 1/1: batch" in proc.stderr and "ETA" in proc.stderr  # progress inside the epoch
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and state["options"]["labels"] == "ferplus"
    from fer_edge.train.models import build_model

    fresh = build_model("cnn", 48, widths=(8, 16))
    trained = keras.models.load_model(run / "best.keras")
    first = [w for w in fresh.get_weights() if w.ndim == 4][0]
    assert not np.allclose(first, [w for w in trained.get_weights() if w.ndim == 4][0])  # (a fresh init differs too)
    before = (run / "last.keras").read_bytes()
    again = run_cli("train", "--data", str(data), "--out", str(run), "--epochs", "2", "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming" in again.stderr and "epoch 2/2" in again.stderr
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    assert (run / "last.keras").read_bytes() != before


@pytest.mark.tf
def test_ferplus_labels_need_the_vote_file(tmp_path, tf_available):
    proc = run_cli("train", "--data", "x.csv", "--out", str(tmp_path / "r"), "--labels", "ferplus")
    assert_one_line_error(proc, "--ferplus", code=2)


@pytest.mark.parametrize("requested,flags,gpu,bf16,words", [
    (None, {"avx512f", "avx512_bf16"}, False, True, "natively (avx512_bf16)"),
    (None, {"avx512f", "amx_bf16", "amx_tile"}, False, True, "amx_bf16"),
    (None, {"avx512f", "avx2"}, False, False, "float32: the CPU has no avx512_bf16 or AMX"),
    (None, set(), True, True, "on the GPU"),
    (False, {"avx512_bf16"}, False, False, "--float32"),
    (True, {"avx2"}, False, True, "expect it slower"),
])
def test_bf16_only_where_the_hardware_has_it(requested, flags, gpu, bf16, words):
    from fer_edge.train.precision import choose_mixed_bf16

    chosen, why = choose_mixed_bf16(requested, flags, gpu)
    assert chosen is bf16 and words in why


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    from fer_edge.train.precision import cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512f"}
    info.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert "bf16" in cpu_flags(info) and cpu_flags(tmp_path / "missing") == set()


@pytest.mark.tf
def test_ferplus_labels_distil_from_a_teacher(tmp_path, tf_available):
    """--labels ferplus with --teacher: each kept row's target is the crowd's votes mixed with the teacher's
    probabilities at --teacher-weight (distillation from a FER+-trained teacher), the teacher's cached."""
    data, plus = _paired_files(tmp_path)
    run = tmp_path / "kd"
    proc = run_cli("train", "--data", str(data), "--out", str(run), "--epochs", "1", "--widths", "8,16",
                   "--labels", "ferplus", "--ferplus", str(plus), "--teacher", str(BUNDLED_CNN), "--teacher-weight",
                   "0.4", "--batch", "16", "--float32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FER+ soft targets for 69 of 70 Training images" in proc.stderr
    assert "agrees with" in proc.stderr and "of the FER+ vote majorities; it takes 0.4 of each target" in proc.stderr
    with np.load(run / "teacher.npz") as z:
        assert z["probs"].shape == (70, 7)


def test_teacher_cache_is_recomputed_when_a_teacher_changes_in_place(tmp_path):
    """The cached teacher probabilities serve while the teacher file is the same or gone (a resume elsewhere), and
    are computed again when another model was written at the same path (a retrained teacher)."""
    from fer_edge.train.targets import teacher_probs

    images = np.random.default_rng(3).integers(0, 256, (40, 48, 48), dtype=np.uint8)
    teacher, cache = tmp_path / "teacher.tflite", tmp_path / "teacher.npz"
    shutil.copy(BUNDLED_CNN, teacher)
    first = teacher_probs((str(teacher),), images, cache)
    stamp = cache.stat().st_mtime_ns
    np.testing.assert_array_equal(teacher_probs((str(teacher),), images, cache), first)
    teacher.unlink()
    np.testing.assert_array_equal(teacher_probs((str(teacher),), images, cache), first)  # the file is not needed
    assert cache.stat().st_mtime_ns == stamp
    shutil.copy(ROOT / "edge" / "models" / "mobilenetv2_fer2013_int8.tflite", teacher)
    again = teacher_probs((str(teacher),), images, cache)
    assert cache.stat().st_mtime_ns != stamp and not np.allclose(again, first, atol=0.05)


def test_ferplus_targets_take_the_teacher_s_share(tmp_path):
    """The targets themselves: (1 - w) x the vote distribution + w x the teacher's probabilities, on the kept rows."""
    from fer_edge.eval.datasets import load_split
    from fer_edge.train.label_sets import ferplus_training
    from fer_edge.train.targets import teacher_probs
    from fer_edge.train.trainer import TrainOptions

    data, plus = _paired_files(tmp_path)
    train = load_split(str(data), "Training", (48, 48))
    rows = np.arange(len(train.label_ids))
    base = TrainOptions(data=str(data), out=str(tmp_path), ferplus=str(plus), labels="ferplus")
    _, votes = ferplus_training(base, train, rows, tmp_path)
    kd = TrainOptions(data=str(data), out=str(tmp_path), ferplus=str(plus), labels="ferplus",
                      teacher=(str(BUNDLED_CNN),), teacher_weight=0.4)
    subset, mixed = ferplus_training(kd, train, rows, tmp_path)
    teacher = teacher_probs(kd.teacher, train.images, tmp_path / "teacher.npz")[1:]  # row 0: no emotion vote
    np.testing.assert_allclose(mixed, 0.6 * votes + 0.4 * teacher, atol=1e-6)
    assert len(subset.label_ids) == len(mixed) == 69 and not np.allclose(mixed, votes)


@pytest.mark.tf
def test_lowres_augmentation_blurs_the_share_it_is_given_and_only_in_training(tf_available):
    import keras

    from fer_edge.train.lowres import RandomLowRes

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (400, 48, 48, 1)).astype(np.float32)  # noise: all detail, which shrinking loses

    def detail(x):  # mean absolute difference between neighbouring pixels, per face
        return np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))

    every = np.asarray(RandomLowRes(1.0, sides=(24,), seed=1)(faces, training=True))
    assert every.shape == faces.shape and every.min() >= -1 and every.max() <= 256
    assert (detail(every) < 0.5 * detail(faces)).all()  # each face shrunk to 24 px and back: much blurrier
    np.testing.assert_allclose(every.mean(axis=(1, 2, 3)), faces.mean(axis=(1, 2, 3)), atol=3)  # the same face, blurred
    half = np.asarray(RandomLowRes(0.5, seed=1)(faces, training=True))
    changed = ~np.isclose(half, faces).all(axis=(1, 2, 3))
    assert 0.35 < changed.mean() < 0.65
    np.testing.assert_array_equal(np.asarray(RandomLowRes(1.0, seed=1)(faces, training=False)), faces)
    with pytest.raises(ValueError, match="rate"):
        RandomLowRes(1.5)
    layer = keras.layers.deserialize(keras.layers.serialize(RandomLowRes(0.3, sides=(20, 32), seed=4)))
    assert (layer.rate, layer.sides, layer.seed) == (0.3, (20, 32), 4)
