"""Golden tests of the bundled int8 models: integer-only, small, and as accurate as their sidecars say."""

from __future__ import annotations

import numpy as np
import pytest

from fer_edge.bundled import DEFAULT_MODEL, bundled_models
from fer_edge.classification.classifier import TFLiteClassifier
from fer_edge.classification.sidecar import REQUIRED_KEYS, read_sidecar
from fer_edge.labels import EMOTIONS

MODELS = bundled_models()
# PrivateTest accuracy, FER2013 labels and FER+ majority, as edge/models/MODEL_CARD.md and the README publish them
# (to 0.01 points): the measured figures must round to these, so a retrained model that scores less cannot pass
# with a sidecar that says so; a new figure is published in the same commit as the model.
PUBLISHED = {"dscnn_ferplus_int8": (0.5860, 0.8206), "cnn_fer2013_int8": (0.6810, 0.6716),
             "mobilenetv2_fer2013_int8": (0.7097, 0.6704)}


def test_at_least_a_cnn_and_a_mobilenetv2_ship():
    names = [m.name for m in MODELS]
    assert DEFAULT_MODEL in MODELS
    assert any(n.startswith("cnn") and n.endswith("_int8.tflite") for n in names), names
    assert any(n.startswith("mobilenetv2") and n.endswith("_int8.tflite") for n in names), names
    assert (DEFAULT_MODEL.parent / "MODEL_CARD.md").is_file()


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_bundled_model_is_int8_small_and_described(model):
    # the default's target is 1.5 MB; any int8 model here is a fraction of its float32 file
    assert model.stat().st_size <= (1.5 if model == DEFAULT_MODEL else 2.5) * 1024 * 1024
    side = read_sidecar(model)
    assert side is not None and set(REQUIRED_KEYS) <= set(side)
    assert side["labels"] == list(EMOTIONS)
    clf = TFLiteClassifier(model)
    assert clf.input_dtype == np.int8
    assert {d for _, d in clf.tensor_dtypes()} <= {"int8", "int32"}
    assert list(clf.input.size) + [clf.input.channels] == side["input"]["shape"]
    calib = side["calibration"]  # 500 drawn; any left out as outliers are named (convert --calib-outliers)
    assert calib["images"] + (calib.get("outliers") or {}).get("dropped", 0) >= 500 and calib["images"] >= 450


@pytest.mark.shared
@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_bundled_model_accuracy_matches_its_sidecar(model, fer_splits, shared, fer_csv):
    """Both label sets, as the sidecar records them (evaluate --sidecar), measured again here."""
    from fer_edge.classification.cost import model_cost
    from fer_edge.eval.ferplus import split_outcomes

    side = read_sidecar(model)
    test = fer_splits["PrivateTest"]
    probs = TFLiteClassifier(model).predict_dataset(test.images)
    said = probs.argmax(1)
    accuracy = float((said == test.label_ids).mean())
    acc = side["accuracy"]
    assert acc["split"] == "PrivateTest"
    assert accuracy == pytest.approx(acc["tflite"], abs=1e-6) == acc["fer2013"]["accuracy"]
    truth = split_outcomes(shared / "data" / "ferplus" / "fer2013new.csv", fer_csv, "PrivateTest")
    keep, neutral = truth >= 0, truth == EMOTIONS.index("neutral")
    assert acc["ferplus"]["images"] == keep.sum() == 3350 and acc["fer2013"]["images"] == 3589
    assert acc["ferplus"]["accuracy"] == pytest.approx((said[keep] == truth[keep]).mean(), abs=1e-6)
    assert acc["ferplus"]["recall"]["neutral"] == pytest.approx((said[neutral] == truth[neutral]).mean(), abs=1e-6)
    assert set(acc["ferplus"]["recall"]) == set(acc["fer2013"]["recall"]) == set(EMOTIONS)
    assert acc["latency_ms"]["p50"] > 0 and "fer-edge evaluate" in acc["evaluated"]["command"]
    assert (side["macs"], side["size_bytes"]) == (model_cost(model).macs, model.stat().st_size)
    assert (accuracy, acc["ferplus"]["accuracy"]) == pytest.approx(PUBLISHED[model.stem], abs=5e-5)
    if model == DEFAULT_MODEL:  # trained on the FER+ votes: held to issue 18's targets that it meets today
        plus = acc["ferplus"]
        assert plus["accuracy"] >= 0.79 and plus["recall"]["neutral"] >= 0.85  # (FER+ 84% is the open target)
        assert side["macs"] <= 40e6 and side["size_bytes"] <= 1.5e6 and accuracy >= 0.5  # FER2013 reported beside
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.03)  # dequantized softmax


def test_models_are_named_for_their_labels_and_old_names_still_work(tmp_path):
    """`cnn_int8` and `mobilenetv2_int8` were renamed for the labels they learned; `--model` takes the old names,
    bare names and the old paths, while a file of that name elsewhere is that file."""
    from fer_edge.bundled import MODELS_DIR, resolve_model

    cnn, mnv2 = MODELS_DIR / "cnn_fer2013_int8.tflite", MODELS_DIR / "mobilenetv2_fer2013_int8.tflite"
    assert resolve_model(None) == resolve_model("") == DEFAULT_MODEL
    assert resolve_model("cnn_int8") == resolve_model("cnn_int8.tflite") == resolve_model("cnn_fer2013_int8") == cnn
    assert resolve_model(MODELS_DIR / "mobilenetv2_int8.tflite") == resolve_model("mobilenetv2_fer2013_int8") == mnv2
    own = tmp_path / "cnn_int8.tflite"
    own.write_bytes(b"")
    assert resolve_model(own) == own and resolve_model(tmp_path / "none.tflite") == tmp_path / "none.tflite"
    for model in MODELS:
        assert "_fer2013_" in model.name or "_ferplus_" in model.name, f"{model.name}: name the labels it learned"


def test_run_takes_an_old_model_name(tmp_path):
    import json

    from conftest import run_cli

    events = tmp_path / "e.jsonl"
    proc = run_cli("run", "--source", "demo", "--frames", "1", "--model", "mobilenetv2_int8", "--events", str(events))
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads(events.read_text().splitlines()[0])
    assert run["config"]["model"].endswith("mobilenetv2_fer2013_int8.tflite")
