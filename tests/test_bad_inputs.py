"""Every bad input: one clear line naming the file, a non-zero exit, no traceback."""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error, run_cli


@pytest.mark.shared
def test_truncated_tflite_model(tmp_path, shared):
    from fer_edge.bundled import DEFAULT_MODEL

    bad = tmp_path / "cut.tflite"
    bad.write_bytes(DEFAULT_MODEL.read_bytes()[:5000])
    proc = run_cli("evaluate", str(bad), "--data", str(shared / "data/fer2013/fer2013.csv.gz"))
    assert_one_line_error(proc, "cut.tflite", "not a valid TFLite model")


def test_non_model_and_empty_tflite(tmp_path):
    text = tmp_path / "notes.tflite"
    text.write_text("hello, I am not a model\n" * 50)
    proc = run_cli("evaluate", str(text), "--data", str(tmp_path))
    assert_one_line_error(proc, "notes.tflite", "not a valid TFLite model")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    assert_one_line_error(run_cli("evaluate", str(empty), "--data", str(tmp_path)), "empty.tflite", "empty file")


def test_missing_data_file(tmp_path):
    from fer_edge.bundled import DEFAULT_MODEL

    proc = run_cli("evaluate", str(DEFAULT_MODEL), "--data", str(tmp_path / "nope.csv"))
    assert_one_line_error(proc, "nope.csv")


@pytest.mark.shared
def test_unknown_split_is_a_usage_error(tmp_path, shared):
    proc = run_cli("evaluate", "--data", str(shared / "data/fer2013/fer2013.csv.gz"), "--split", "Validation")
    assert_one_line_error(proc, "unknown split 'Validation'", code=2)


@pytest.mark.tf
def test_truncated_and_non_keras_source_models(tmp_path, tf_available):
    cut = tmp_path / "cut.keras"
    cut.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    proc = run_cli("convert", str(cut), "--out", str(tmp_path / "o"), "--variants", "float32")
    assert_one_line_error(proc, "cut.keras", "not a Keras model file")
    h5 = tmp_path / "model.h5"
    h5.write_text("definitely not HDF5")
    proc = run_cli("convert", str(h5), "--out", str(tmp_path / "o"), "--variants", "float32")
    assert_one_line_error(proc, "model.h5", "not a loadable Keras model")
    folder = tmp_path / "saved"
    folder.mkdir()
    proc = run_cli("convert", str(folder), "--out", str(tmp_path / "o"), "--variants", "float32")
    assert_one_line_error(proc, "saved", "not a SavedModel")


@pytest.mark.tf
@pytest.mark.network
def test_calibration_folder_with_no_readable_image(tmp_path, fer_package_model):
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "a.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    (calib / "b.txt").write_text("text")
    proc = run_cli("convert", str(fer_package_model), "--normalize", "symmetric", "--calib", str(calib),
                   "--out", str(tmp_path / "o"), "--variants", "int8")
    assert_one_line_error(proc, "calib", "no readable image for calibration")
    assert not (tmp_path / "o" / "o_int8.tflite").exists()


@pytest.mark.tf
@pytest.mark.network
def test_unknown_variant_and_normalization_are_usage_errors(tmp_path, fer_package_model):
    proc = run_cli("convert", str(fer_package_model), "--out", str(tmp_path / "o"), "--variants", "int4")
    assert_one_line_error(proc, "--variants 'int4'", code=2)
    proc = run_cli("convert", str(fer_package_model), "--out", str(tmp_path / "o"), "--normalize", "zscore")
    assert_one_line_error(proc, "--normalize 'zscore'", code=2)


@pytest.mark.tf
def test_keras_model_without_seven_classes_is_refused(tmp_path, tf_available):
    import keras
    import numpy as np
    from conftest import write_fer_csv

    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(5, "softmax")])
    model.save(tmp_path / "five.keras")
    rng = np.random.default_rng(0)
    data = write_fer_csv(tmp_path / "mini.csv", [(i % 7, rng.integers(0, 256, (48, 48)), "PrivateTest")
                                                 for i in range(14)])
    proc = run_cli("evaluate", str(tmp_path / "five.keras"), "--data", str(data),
                   "--report", str(tmp_path / "r.json"))
    assert_one_line_error(proc, "five.keras", "5 outputs", "7 classes", code=2)
    assert not (tmp_path / "r.json").exists()
