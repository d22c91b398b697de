"""`fer-edge convert`: convert every variant, verify each against the float model, write sidecars and a report."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fer_edge.classification.classifier import TFLiteClassifier
from fer_edge.classification.cost import format_macs, model_cost
from fer_edge.classification.preprocess import batch_to_model_input
from fer_edge.classification.sidecar import write_sidecar
from fer_edge.convert.converter import Converted, convert_all, labels_for, non_integer_tensors
from fer_edge.convert.edgetpu import compile_for_edgetpu
from fer_edge.convert.loading import SourceModel, load_source_model
from fer_edge.convert.outliers import DEFAULT_RATIO
from fer_edge.errors import FerEdgeError
from fer_edge.eval.datasets import LabelledImages, load_split
from fer_edge.files import atomic_write_text

log = logging.getLogger(__name__)


def run_convert(source: str, out_dir: str, variants: tuple[str, ...], calib: str | None, calib_n: int = 500,
                eval_data: str | None = None, eval_split: str = "PrivateTest", normalize: str = "none",
                name: str | None = None, seed: int = 0, flip_average: bool = False,
                calib_outliers: float = DEFAULT_RATIO) -> dict:
    t_start = time.perf_counter()
    for given in (calib, eval_data):
        if given and not Path(given).exists():
            raise FerEdgeError(f"{given}: no such file or folder")
    model = load_source_model(source, normalize, flip_average)
    labels = labels_for(model)
    out = Path(out_dir)
    name = name or out.name
    log.info(f"{model.path}: input {model.height}x{model.width}x{model.channels}, {model.classes} classes, "
             f"{model.keras_model.count_params():,} parameters")
    converted, calib_info = convert_all(model, out, name, variants, calib, calib_n, seed, calib_outliers)
    eval_set = _eval_set(model, eval_data or (calib if calib and Path(calib).is_file() else None), eval_split)
    float_probs = model.predict(eval_set[0]) if eval_set else None
    results = []
    for item in converted:
        results.append(_verify(model, item, labels, calib_info, eval_set, float_probs, normalize, out))
    report = {"source": str(model.path), "source_sha256": model.sha256, "created": _now(),
              "seconds": round(time.perf_counter() - t_start, 1), "calibration": calib_info,
              "evaluation": eval_set[2] if eval_set else None,
              "float_accuracy": _acc(float_probs, eval_set[1]) if eval_set else None, "variants": results}
    atomic_write_text(out / f"{name}_conversion_report.json", json.dumps(report, indent=2) + "\n")
    _print_table(report)
    return report


def _eval_set(model: SourceModel, data: str | None, split: str) -> tuple[np.ndarray, np.ndarray, dict] | None:
    if not data:
        log.warning("no --eval-data: accuracy not checked (pass a FER2013 CSV or an image tree)")
        return None
    ds: LabelledImages = load_split(data, split, (model.height, model.width), model.channels)
    images = batch_to_model_input(ds.images, (model.height, model.width), model.channels)
    return images, ds.label_ids, {"data": Path(data).name, "split": split, "images": len(ds)}


def _acc(probs: np.ndarray | None, label_ids: np.ndarray) -> float | None:
    return None if probs is None else float((probs.argmax(1) == label_ids).mean())


def _verify(model: SourceModel, item: Converted, labels: list[str], calib_info: dict | None, eval_set,
            float_probs, normalize: str, out: Path) -> dict:
    clf = TFLiteClassifier(item.path)
    cost = model_cost(item.path)
    row: dict = {"variant": item.variant, "path": item.path.name, "size_bytes": item.size_bytes,
                 "convert_seconds": item.seconds, "input_dtype": clf.input_dtype.name, **cost.to_dict()}
    if item.variant == "int8":
        floats = non_integer_tensors(clf)
        row["all_integer"] = not floats
        row["non_integer_tensors"] = floats[:20]
    accuracy = None
    if eval_set is not None:
        t0 = time.perf_counter()
        probs = clf.predict_dataset(eval_set[0])
        f_acc, t_acc = _acc(float_probs, eval_set[1]), _acc(probs, eval_set[1])
        accuracy = {**eval_set[2], "float": f_acc, "tflite": t_acc,
                    "delta_points": round((t_acc - f_acc) * 100, 3),
                    "top1_agreement": float((probs.argmax(1) == float_probs.argmax(1)).mean()),
                    "eval_seconds": round(time.perf_counter() - t0, 2)}
        row["accuracy"] = accuracy
    if item.variant == "int8":
        row["edgetpu"] = compile_for_edgetpu(item.path, out)
        if not row["edgetpu"]["compiled"]:
            log.info(row["edgetpu"]["message"])
    scale, offset = model.normalization
    write_sidecar(item.path, {
        "labels": labels,
        "variant": item.variant,
        "input": {"shape": [clf.input.height, clf.input.width, clf.input.channels],
                  "colour": clf.input.colour, "dtype": clf.input_dtype.name,
                  "pixels": "raw 0-255",
                  "normalization": "inside the graph" + ("" if normalize == "none" else
                                                         f" (added at conversion: x * {scale:.6g} + {offset:.6g})")},
        "output": {"kind": "softmax probabilities", "classes": len(labels),
                   "test_time_augmentation": "mean over the face and its mirror image" if model.flip_average else None},
        "source": {"path": model.path.name, "sha256": model.sha256},
        "calibration": calib_info if item.variant == "int8" else None,
        "accuracy": accuracy,
        "macs": cost.macs,  # per invoke, batch 1, both passes of a mirror-averaged model (edge.cost)
        "params": cost.params,
        "size_bytes": item.size_bytes,
        "created": _now(),
    })
    return row


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _print_table(report: dict) -> None:
    """The variants side by side, on stderr as before: the command's result (the report JSON holds it all)."""
    print(f"\n{'variant':<9}{'KiB':>8}{'MACs':>8}{'accuracy':>10}{'float':>8}{'delta pt':>10}{'agree':>8}  integer",
          file=sys.stderr)
    for r in report["variants"]:
        a = r.get("accuracy") or {}
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"  # noqa: E731
        integer = {True: "yes", False: "NO"}.get(r.get("all_integer"), "")
        print(f"{r['variant']:<9}{r['size_bytes'] / 1024:>8.0f}{format_macs(r.get('macs')):>8}{fmt(a.get('tflite'), '.4f'):>10}"
              f"{fmt(a.get('float'), '.4f'):>8}{fmt(a.get('delta_points'), '+.2f'):>10}"
              f"{fmt(a.get('top1_agreement'), '.3f'):>8}  {integer}", file=sys.stderr, flush=True)
    log.info(f"done in {report['seconds']:.1f}s")
