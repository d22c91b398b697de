"""Train (one epoch, a few hundred images), resume, convert every variant, evaluate: the user's commands end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from fer_edge.classification.classifier import TFLiteClassifier
from fer_edge.classification.cost import model_cost
from fer_edge.classification.sidecar import REQUIRED_KEYS, read_sidecar

pytestmark = [pytest.mark.shared, pytest.mark.tf]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, fer_csv, tf_available):
    out = tmp_path_factory.mktemp("run") / "cnn"
    proc = run_cli("train", "--data", str(fer_csv), "--arch", "cnn", "--out", str(out), "--epochs", "1",
                   "--limit", "400", "--widths", "8,16,32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "epoch 1/1" in proc.stderr and "fer2013.csv.gz:Training: 400 images" in proc.stderr
    return out


def test_training_writes_checkpoints_history_and_plot(trained_run):
    state = json.loads((trained_run / "state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(state["history"][0])
    for name in ("best.keras", "last.keras"):
        assert (trained_run / name).stat().st_size > 10_000
    assert (trained_run / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_continues_from_last_epoch(trained_run, tmp_path, fer_csv):
    import shutil

    run = tmp_path / "cnn"
    shutil.copytree(trained_run, run)
    again = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "1")
    assert_one_line_error(again, "already holds a run", code=2)
    empty = run_cli("train", "--data", str(fer_csv), "--out", str(tmp_path / "empty"), "--resume")
    assert_one_line_error(empty, "nothing to resume", code=2)
    proc = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--epochs", "2", "--resume")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming" in proc.stderr and "epoch 2/2" in proc.stderr and "epoch 1/2" not in proc.stderr
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["options"]["widths"] == [8, 16, 32]
    assert state["options"]["out"] == str(run)  # a copied or moved run records where it now is
    done = run_cli("train", "--data", str(fer_csv), "--out", str(run), "--resume")  # no --epochs: the run's own 2
    assert done.returncode == 0 and "epoch 3/" not in done.stderr, done.stderr[-2000:]
    assert json.loads((run / "state.json").read_text())["epoch"] == 2


@pytest.fixture(scope="module")
def converted(trained_run, fer_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny"
    proc = run_cli("convert", str(trained_run / "best.keras"), "--calib", str(fer_csv), "--calib-images", "100",
                   "--out", str(out), "--variants", "int8,float16,float32,dynamic")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stderr


def test_convert_every_variant_with_complete_sidecars(converted):
    out, log = converted
    report = json.loads((out / "tiny_conversion_report.json").read_text())
    assert [v["variant"] for v in report["variants"]] == ["int8", "float16", "float32", "dynamic"]
    for variant in ("int8", "float16", "float32", "dynamic"):
        model = out / f"tiny_{variant}.tflite"
        side = read_sidecar(model)
        assert side is not None and set(REQUIRED_KEYS) <= set(side), variant
        assert side["labels"][3] == "happy" and side["input"]["shape"] == [48, 48, 1]
        assert side["source"]["sha256"] and len(side["source"]["sha256"]) == 64
        acc = side["accuracy"]
        assert acc["split"] == "PrivateTest" and acc["images"] == 3589
        assert 0 <= acc["tflite"] <= 1 and 0 <= acc["top1_agreement"] <= 1
        assert side["macs"] == model_cost(model).macs and side["params"] == model_cost(model).params
    int8 = read_sidecar(out / "tiny_int8.tflite")
    # the same graph in every variant: same compute (widths 8,16,32 on 48x48: about 3 M MACs)
    assert {read_sidecar(out / f"tiny_{v}.tflite")["macs"] for v in ("float16", "float32", "dynamic")} == {int8["macs"]}
    assert 1e6 < int8["macs"] < 1e7 and int8["params"] > 1000
    assert int8["calibration"]["images"] >= 100 - 7 and int8["calibration"]["per_class"]["disgust"] >= 1
    assert "edgetpu_compiler" in log  # says how to compile for the Edge TPU


def test_int8_model_is_fully_integer(converted):
    out, _ = converted
    clf = TFLiteClassifier(out / "tiny_int8.tflite")
    assert clf.input_dtype == np.int8
    dtypes = {dtype for _, dtype in clf.tensor_dtypes()}
    assert dtypes <= {"int8", "int32", "int16", "uint8"}, dtypes
    report = json.loads((out / "tiny_conversion_report.json").read_text())
    assert report["variants"][0]["all_integer"] is True
    # the float32 variant, for contrast, is not integer
    assert "float32" in {d for _, d in TFLiteClassifier(out / "tiny_float32.tflite").tensor_dtypes()}


def test_float_variants_match_the_keras_model(converted):
    out, _ = converted
    rows = {r["variant"]: r for r in json.loads((out / "tiny_conversion_report.json").read_text())["variants"]}
    assert rows["float32"]["accuracy"]["top1_agreement"] > 0.99
    assert rows["float16"]["accuracy"]["top1_agreement"] > 0.97


def test_evaluate_tflite_writes_json_and_png(converted, fer_csv, tmp_path):
    out, _ = converted
    report_path = tmp_path / "eval.json"
    proc = run_cli("evaluate", str(out / "tiny_int8.tflite"), "--data", str(fer_csv), "--split", "PrivateTest",
                   "--report", str(report_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["images"] == 3589 and np.array(report["confusion_matrix"]).sum() == 3589
    assert set(report["per_class"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert report_path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    side = read_sidecar(out / "tiny_int8.tflite")
    assert report["accuracy"] == pytest.approx(side["accuracy"]["tflite"], abs=1e-9)
    assert "macro-F1" in proc.stdout


def test_savedmodel_source_converts(trained_run, fer_csv, tmp_path):
    import keras

    saved = tmp_path / "saved_model"
    keras.models.load_model(trained_run / "best.keras").export(str(saved), verbose=False)
    proc = run_cli("convert", str(saved), "--calib", str(fer_csv), "--calib-images", "50", "--out", str(tmp_path / "sm"),
                   "--variants", "float32,int8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["variant"]: r for r in json.loads((tmp_path / "sm" / "sm_conversion_report.json").read_text())["variants"]}
    assert rows["float32"]["accuracy"]["top1_agreement"] > 0.99
    assert rows["int8"]["all_integer"] is True


def test_imagenet_weights_unavailable_is_a_clear_error(monkeypatch, tf_available):
    import keras

    from fer_edge.errors import FerEdgeError
    from fer_edge.train.models import build_model

    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(FerEdgeError, match="could not download ImageNet weights.*--weights none"):
        build_model("mobilenetv2", 96, 0.35, "imagenet")


def test_flip_average_is_baked_into_the_int8_graph(trained_run, converted, fer_csv, fer_splits, tmp_path):
    proc = run_cli("convert", str(trained_run / "best.keras"), "--calib", str(fer_csv), "--calib-images", "100",
                   "--out", str(tmp_path / "flip"), "--variants", "int8", "--flip-average")
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = tmp_path / "flip" / "flip_int8.tflite"
    side, plain = read_sidecar(model), read_sidecar(converted[0] / "tiny_int8.tflite")
    assert "mirror" in side["output"]["test_time_augmentation"]
    # two passes, one set of weights (int8 re-quantizes the second pass's biases: those few count twice)
    assert side["macs"] == 2 * plain["macs"] and plain["params"] <= side["params"] < 1.01 * plain["params"]
    clf = TFLiteClassifier(model)
    faces = fer_splits["PublicTest"].images[:32]
    probs, mirrored = clf.predict(faces), clf.predict(faces[:, :, ::-1].copy())
    np.testing.assert_allclose(probs, mirrored, atol=2 / 256)  # the mirror of a face scores the same
    assert {d for _, d in clf.tensor_dtypes()} <= {"int8", "int32"}
