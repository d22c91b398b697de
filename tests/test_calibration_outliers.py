"""Outlier-robust int8 calibration: the rule by hand, then `convert` leaving a planted outlier out of the ranges."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from fer_edge.convert.outliers import peak_ratios


def test_peak_ratios_compare_each_peak_with_its_tensors_median():
    peaks = np.array([[1.0, 2.0, 0.0],
                      [2.0, 2.0, 0.0],
                      [3.0, 4.0, 0.0],
                      [60.0, 2.0, 5.0]])
    ratios = peak_ratios(peaks)
    # medians 2.5, 2, 0: a tensor silent for most images has no usual peak, so it judges no image (1 throughout)
    np.testing.assert_allclose(ratios[:, :2], [[0.4, 1.0], [0.8, 1.0], [1.2, 2.0], [24.0, 1.0]])
    assert list(ratios[:, 2]) == [1.0, 1.0, 1.0, 1.0]
    assert list(ratios.max(axis=1) > 10) == [False, False, False, True]


def _write_images(folder, rng):
    import cv2

    folder.mkdir()
    for i in range(20):  # ordinary: mid-grey, faint texture (0.0-0.04 after the model's x/127.5-1)
        cv2.imwrite(str(folder / f"face{i:02d}.png"), (128 + rng.integers(0, 6, (48, 48))).astype(np.uint8))
    cv2.imwrite(str(folder / "white.png"), np.full((48, 48), 255, np.uint8))  # drives the conv to 1.0: 25x


def _tiny_model(path, name="conv", bias=0.0):
    """One ReLU conv on the normalized face; a bias of -0.5 makes it a gate: it fires only on bright faces
    (x/127.5 - 1 over 0.5), at zero for most, like an SE gate."""
    import keras

    inputs = keras.Input((48, 48, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(4, 1, activation="relu", kernel_initializer="ones", name=name,
                            bias_initializer=keras.initializers.Constant(bias))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(7, activation="softmax")(x)
    keras.Model(inputs, outputs).save(path)


def _relu_scale(model) -> float:
    from fer_edge.runtime import make_interpreter

    details = make_interpreter(model).get_tensor_details()
    (scale,) = [d["quantization"][0] for d in details if "Relu" in d["name"] and d["quantization"][0] > 0]
    return float(scale)


@pytest.mark.tf
def test_convert_leaves_a_planted_outlier_out_of_the_int8_ranges(tmp_path, tf_available):
    _tiny_model(tmp_path / "m.keras")
    _write_images(tmp_path / "calib", np.random.default_rng(0))

    def convert(name, *extra):
        proc = run_cli("convert", str(tmp_path / "m.keras"), "--calib", str(tmp_path / "calib"), "--out",
                       str(tmp_path / name), "--variants", "int8", *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        side = json.loads((tmp_path / name / f"{name}_int8.json").read_text())
        return side["calibration"], _relu_scale(tmp_path / name / f"{name}_int8.tflite")

    calib, robust_scale = convert("robust")  # on by default
    assert calib["images"] == 20 and calib["outliers"]["dropped"] == 1
    (dropped,) = calib["outliers"]["images"]
    assert dropped["ratio"] > 20 and dropped["tensor"]  # the tensor it peaked on, named
    assert calib["outliers"]["largest_kept_ratio"] < 2
    plain, plain_scale = convert("plain", "--calib-outliers", "0")
    assert plain["images"] == 21 and "outliers" not in plain
    # the white image's 1.0 sets the plain model's range; without it, the int8 step fits the faces' 0.04
    assert plain_scale == pytest.approx(1 / 255, rel=0.05)
    assert robust_scale < plain_scale / 10


@pytest.mark.tf
def test_per_class_counts_the_images_calibrated_on(tmp_path, tf_available):
    import cv2

    _tiny_model(tmp_path / "m.keras")
    _write_images(tmp_path / "flat", np.random.default_rng(1))
    calib = tmp_path / "calib"
    for cls in ("happy", "neutral"):
        (calib / cls).mkdir(parents=True)
    for i, image in enumerate(sorted((tmp_path / "flat").iterdir())):  # 10 faces each; the white one is happy
        folder = "happy" if image.name == "white.png" or i % 2 else "neutral"
        cv2.imwrite(str(calib / folder / image.name), cv2.imread(str(image), cv2.IMREAD_GRAYSCALE))
    proc = run_cli("convert", str(tmp_path / "m.keras"), "--calib", str(calib), "--out", str(tmp_path / "o"),
                   "--variants", "int8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    side = json.loads((tmp_path / "o" / "o_int8.json").read_text())["calibration"]
    assert side["outliers"]["dropped"] == 1 and side["images"] == 20
    assert side["per_class"]["happy"] == 10 and side["per_class"]["neutral"] == 10  # 11 happy drawn, 1 left out


@pytest.mark.tf
def test_calib_outliers_ratio_must_be_over_one(tmp_path, tf_available):
    proc = run_cli("convert", str(tmp_path / "m.keras"), "--out", str(tmp_path / "o"), "--calib-outliers", "0.5")
    assert_one_line_error(proc, "--calib-outliers 0.5", code=2)


@pytest.mark.tf
def test_a_tensor_that_fires_on_few_faces_keeps_them(tmp_path, tf_available):
    """The gate is at zero on 15 of 20 faces: the 5 it fires on are its range, not outliers. Left out, the range
    would be empty and LiteRT would abort the process loading the model (convert's own check, here)."""
    import cv2

    _tiny_model(tmp_path / "m.keras", "gate", -0.5)
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(2)
    for i in range(20):
        level = 230 if i % 4 == 0 else 128
        cv2.imwrite(str(calib / f"face{i:02d}.png"), (level + rng.integers(0, 6, (48, 48))).astype(np.uint8))
    proc = run_cli("convert", str(tmp_path / "m.keras"), "--calib", str(calib), "--out", str(tmp_path / "o"),
                   "--variants", "int8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    side = json.loads((tmp_path / "o" / "o_int8.json").read_text())["calibration"]
    assert side["outliers"]["dropped"] == 0 and side["images"] == 20
    scale = _relu_scale(tmp_path / "o" / "o_int8.tflite")
    assert 0.3 / 255 < scale < 0.5 / 255  # the bright faces' 0.3-0.35 set the gate's range


@pytest.mark.tf
def test_a_model_with_an_empty_int8_range_is_a_one_line_error(tmp_path, tf_available):
    """Calibrated only on faces the gate never fires on, a tensor's range is empty: LiteRT would abort on loading it
    (no message, exit 134). Loading it is refused by name instead, in convert's check and in evaluate."""
    import cv2

    _tiny_model(tmp_path / "m.keras", "gate", -0.5)
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(10):
        cv2.imwrite(str(calib / f"face{i:02d}.png"), np.full((48, 48), 120 + i, np.uint8))
    proc = run_cli("convert", str(tmp_path / "m.keras"), "--calib", str(calib), "--out", str(tmp_path / "o"),
                   "--variants", "int8")
    assert_one_line_error(proc, "o_int8.tflite", "int8 tensor", "empty range", code=1)
    proc = run_cli("evaluate", str(tmp_path / "o" / "o_int8.tflite"), "--data", str(calib))
    assert_one_line_error(proc, "o_int8.tflite", "empty range", code=1)
