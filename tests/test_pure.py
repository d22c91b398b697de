"""Pure tensor math and metrics: no interpreter, no data."""

from __future__ import annotations

import numpy as np
import pytest

from fer_edge.classification.preprocess import to_model_input
from fer_edge.classification.quant import dequantize, output_to_probs, pixels_to_input, quantize
from fer_edge.eval.scores import classification_report, confusion_matrix
from fer_edge.train.trainer import TrainOptions, class_weights, lr_at


def test_int8_input_with_unit_scale_is_lossless():
    pixels = np.arange(256, dtype=np.uint8)
    q = pixels_to_input(pixels, np.dtype(np.int8), 1.0, -128)
    assert q.dtype == np.int8 and q.min() == -128 and q.max() == 127
    np.testing.assert_array_equal(dequantize(q, 1.0, -128), pixels.astype(np.float32))


def test_quantize_clips_and_rounds():
    q = quantize(np.array([-1000.0, 0.26, 1000.0]), 0.5, 0, np.int8)
    assert q.tolist() == [-128, 1, 127]


def test_softmax_int8_output_dequantizes_to_probabilities():
    raw = np.array([[-128, 127, -128]], dtype=np.int8)
    probs = output_to_probs(raw, 1 / 256, -128)
    np.testing.assert_allclose(probs, [[0.0, 255 / 256, 0.0]])
    floats = np.array([[0.2, 0.8]], dtype=np.float32)
    np.testing.assert_array_equal(output_to_probs(floats, 0.0, 0), floats)


def test_report_metrics():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    m = confusion_matrix(y_true, y_pred, 3)
    assert m.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    r = classification_report(y_true, y_pred, ("a", "b", "c"))
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert r["per_class"]["c"]["recall"] == pytest.approx(0.5)
    f1 = [2 * 0.5 * 0.5 / 1.0, 2 * (2 / 3) * 1 / (2 / 3 + 1), 2 * 1 * 0.5 / 1.5]
    assert r["macro_f1"] == pytest.approx(np.mean(f1))


def test_preprocess_geometry_and_colour():
    bgr = np.zeros((100, 80, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    grey = to_model_input(bgr, (48, 48), 1)
    assert grey.shape == (48, 48, 1) and grey.dtype == np.uint8
    assert abs(int(grey[0, 0, 0]) - 76) <= 1  # ITU-R 601 luma of red
    rgb = to_model_input(bgr, (32, 32), 3)
    assert rgb.shape == (32, 32, 3) and rgb[0, 0].tolist() == [255, 0, 0]
    assert to_model_input(np.full((48, 48), 7, np.uint8), (64, 64), 3).shape == (64, 64, 3)


def test_class_weights_and_schedule():
    label_ids = np.array([0] * 90 + [1] * 10)
    w = class_weights(label_ids, "balanced")
    assert w[label_ids].mean() == pytest.approx(1.0)
    assert w[1] / w[0] == pytest.approx(9.0)
    assert class_weights(label_ids, "sqrt")[1] / class_weights(label_ids, "sqrt")[0] == pytest.approx(3.0)
    opts = TrainOptions(data="", out="", epochs=10, warmup=1, lr=0.1)
    assert lr_at(0, opts) == pytest.approx(0.05)
    assert lr_at(1, opts) == pytest.approx(0.1)
    assert lr_at(9, opts) < 0.01
