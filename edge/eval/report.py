"""Evaluation reports shared by Keras and TFLite models: JSON plus a confusion-matrix PNG, on FER2013's own labels,
FER+ majority votes, or both from one pass over the images."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FerEdgeError
from ..files import atomic_write_text
from .plots import confusion_plot
from .scores import classification_report, format_report

LABEL_SETS = ("fer2013", "ferplus", "both")
NAMES = {"fer2013": "FER2013 labels", "ferplus": "FER+ majority labels"}


def report_from_probs(probs: np.ndarray, label_ids: np.ndarray, labels: tuple[str, ...],
                      **meta: Any) -> dict[str, Any]:
    report = classification_report(label_ids, probs.argmax(axis=1), labels)
    return {**meta, **report}


def ferplus_report(probs: np.ndarray, outcomes: np.ndarray, labels: tuple[str, ...], ferplus_file: str,
                   published: np.ndarray | None = None, **meta: Any) -> dict[str, Any]:
    """The report on the rows with a 7-way FER+ majority; `ferplus` says what was left out and why, and with
    `published` (outcomes by the published rule) the accuracy that rule gives, to compare with published figures."""
    from .ferplus import outcome_summary, published_summary

    keep = np.asarray(outcomes) >= 0
    summary = outcome_summary(outcomes, probs.argmax(axis=1), labels)
    if published is not None:
        summary["published_rule"] = published_summary(published, probs.argmax(axis=1))
    return report_from_probs(probs[keep], outcomes[keep], labels, **meta, ferplus={"file": ferplus_file, **summary})


def both_report(probs: np.ndarray, label_ids: np.ndarray, outcomes: np.ndarray, labels: tuple[str, ...],
                ferplus_file: str, published: np.ndarray | None = None, **meta: Any) -> dict[str, Any]:
    """One pass, two label sets: `fer2013` (every image, the CSV's label) and `ferplus` (the majority-vote rows)."""
    return {**meta, "fer2013": report_from_probs(probs, label_ids, labels),
            "ferplus": ferplus_report(probs, outcomes, labels, ferplus_file, published)}


def label_set_reports(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The classification report of each label set an evaluation holds, by label set."""
    if report.get("label_set") == "both":
        return {"fer2013": report["fer2013"], "ferplus": report["ferplus"]}
    return {report.get("label_set") or "fer2013": report}


def save_report(report: dict[str, Any], json_path: str | Path, title: str) -> tuple[Path, list[Path]]:
    """Write the report JSON and, when matplotlib is there, a confusion matrix PNG per label set: `<same stem>.png`
    (and `<stem>_ferplus.png` for FER+ beside FER2013's)."""
    json_path = Path(json_path)
    atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    pngs = []
    reports = label_set_reports(report)
    for i, (label_set, r) in enumerate(reports.items()):
        png = json_path.with_suffix(".png") if i == 0 else json_path.with_name(f"{json_path.stem}_{label_set}.png")
        name = f" ({NAMES[label_set]})" if len(reports) > 1 or label_set != "fer2013" else ""
        if confusion_plot(png, r["confusion_matrix"], r["labels"],
                          f"{title}{name}\naccuracy {r['accuracy']:.2%}, macro-F1 {r['macro_f1']:.3f}"):
            pngs.append(png)
    return json_path, pngs


def format_evaluation(report: dict[str, Any]) -> str:
    """The terminal's tables: each label set's, FER+ with what it left out and its neutral recall."""
    from .ferplus import format_summary

    reports = label_set_reports(report)
    lines = []
    for label_set, r in reports.items():
        if len(reports) > 1:
            lines.append(f"{NAMES[label_set]}:")
        lines.append(format_report(r))
        if label_set == "ferplus":
            lines.append(format_summary(r["ferplus"]))
            if "neutral" in r["per_class"]:
                lines.append(f"FER+ neutral recall {r['per_class']['neutral']['recall']:.1%} "
                             f"({r['per_class']['neutral']['support']} crowd-neutral faces)")
    return "\n".join(lines)


def face_latency(classify: Any, faces: np.ndarray, warmup: int = 20) -> dict[str, Any]:
    """Milliseconds per face through `classify([face])`, batch 1 as the loop calls it, over real faces in turn."""
    import time

    from ..pipeline.stats import latency_summary

    for face in faces[:warmup]:
        classify([face])
    seconds = np.empty(len(faces))
    for i, face in enumerate(faces):
        t0 = time.perf_counter()
        classify([face])
        seconds[i] = time.perf_counter() - t0
    return {**latency_summary(seconds), "faces": len(faces), "machine": _machine()}


def _machine() -> str:
    """Where a latency was measured, in a few words (`fer-edge bench` describes a machine in full)."""
    import os
    import platform

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class recall of one label set's report, rounded for a file people read."""
    return {"images": report["images"], "accuracy": round(report["accuracy"], 6),
            "macro_f1": round(report["macro_f1"], 6),
            "recall": {name: round(c["recall"], 6) for name, c in report["per_class"].items()}}


def accuracy_block(report: dict[str, Any]) -> dict[str, Any]:
    """A sidecar's `accuracy` from one `evaluate --labels both` report of the model: FER2013 and FER+ figures on the
    same split, the per-face latency where it was measured, and how to measure them again. `tflite` stays the
    FER2013 accuracy, the key older readers take."""
    reports = label_set_reports(report)
    if set(reports) != {"fer2013", "ferplus"}:
        raise FerEdgeError("a sidecar's accuracy needs both label sets: evaluate with --ferplus")
    fer, plus = reports["fer2013"], reports["ferplus"]
    block: dict[str, Any] = {
        "split": report["split"], "tflite": round(fer["accuracy"], 6),
        "fer2013": {"data": Path(report["data"]).name, **_figures(fer)},
        "ferplus": {"data": Path(plus["ferplus"]["file"]).name, **_figures(plus),
                    "excluded": {**plus["ferplus"]["excluded"], "contempt": plus["ferplus"]["contempt"]["images"]}},
    }
    if "published_rule" in plus["ferplus"]:  # what published FER+ accuracies are measured by (ferplus.py)
        rule = plus["ferplus"]["published_rule"]
        block["ferplus"]["published_rule"] = {"images": rule["scored"], "accuracy": round(rule["accuracy"], 6)}
    if report.get("latency_ms"):
        lat = report["latency_ms"]
        block["latency_ms"] = {k: lat[k] for k in ("p50", "min", "faces", "threads", "machine") if k in lat}
    threads = (report.get("latency_ms") or {}).get("threads", 1)
    command = (f"fer-edge evaluate {Path(report['model']).name} --data {block['fer2013']['data']} "
               f"--ferplus {block['ferplus']['data']} --split {report['split']} --threads {threads} --sidecar")
    block["evaluated"] = {"date": datetime.now(UTC).date().isoformat(), "command": command}
    return block
