"""Keras models where the README says they work beside the .tflite ones: `fer-edge evaluate model.keras` (and .h5)
and `fer-edge bench --keras`. The model is built here to answer `happy` whatever it sees, so the right figures are
known without fer-edge: on ten images of which four are labelled happy, accuracy 0.4 and happy's recall 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, write_fer_csv

from fer_edge.bundled import DEFAULT_MODEL

pytestmark = pytest.mark.tf

BUILD = """
import sys
import keras

i = keras.Input((48, 48, 1))
x = keras.layers.GlobalAveragePooling2D()(i)
o = keras.layers.Dense(7, activation="softmax", kernel_initializer="zeros",
                       bias_initializer=keras.initializers.Constant([0, 0, 0, 5, 0, 0, 0]))(x)  # always happy
model = keras.Model(i, o)
for path in sys.argv[1:]:
    model.save(path)
"""
LABELS = [3, 3, 3, 3, 0, 1, 2, 4, 5, 6]  # four happy, one of each other class


@pytest.fixture(scope="module")
def always_happy(tmp_path_factory, tf_available) -> tuple[Path, Path, Path]:
    """(model.keras, model.h5, a 10-image PrivateTest CSV)."""
    folder = tmp_path_factory.mktemp("keras")
    models = folder / "happy.keras", folder / "happy.h5"
    subprocess.run([sys.executable, "-c", BUILD, *map(str, models)], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    rng = np.random.default_rng(0)
    data = write_fer_csv(folder / "data.csv", [(label, rng.integers(0, 256, (48, 48)), "PrivateTest") for label in LABELS])
    return *models, data


@pytest.mark.parametrize("kind", [".keras", ".h5"])
def test_evaluate_a_keras_model(always_happy, tmp_path, kind, tf_available):
    model = always_happy[0] if kind == ".keras" else always_happy[1]
    report = tmp_path / "report.json"
    proc = run_cli("evaluate", str(model), "--data", str(always_happy[2]), "--report", str(report), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "accuracy 0.4000" in proc.stdout, proc.stdout
    result = json.loads(report.read_text())
    assert (result["model"], result["split"], result["images"], result["accuracy"]) == (str(model), "PrivateTest", 10, 0.4)
    happy = result["per_class"]["happy"]
    assert happy["recall"] == 1.0 and happy["precision"] == pytest.approx(0.4)
    assert [row[3] for row in result["confusion_matrix"]] == [1, 1, 1, 4, 1, 1, 1]  # every image said happy
    assert sum(map(sum, result["confusion_matrix"])) == 10 and report.with_suffix(".png").is_file()


def test_bench_measures_a_keras_model_beside_a_tflite_one(always_happy, tmp_path, tf_available):
    out = tmp_path / "bench"
    proc = run_cli("bench", "--models", str(DEFAULT_MODEL), "--keras", str(always_happy[0]), "--data",
                   str(always_happy[2]), "--runs", "3", "--warmup", "1", "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    tflite, keras = results["models"]
    assert (keras["name"], keras["kind"], keras["variant"], keras["status"]) == ("happy (keras)", "keras",
                                                                                 "keras float32", "ok")
    assert (keras["accuracy"], keras["images"], keras["accuracy_source"]) == (0.4, 10, "measured")
    timed = keras["threads"]["1"]
    assert timed["runs"] == 3 and 0 < timed["latency_ms"]["min"] <= timed["latency_ms"]["p50"]
    assert timed["tensorflow_loaded"] is True and tflite["threads"]["1"]["tensorflow_loaded"] is False
    assert tflite["name"] == DEFAULT_MODEL.stem and tflite["images"] == 10
    assert "happy (keras)" in (out / "report.md").read_text() and "happy (keras)" in proc.stdout
