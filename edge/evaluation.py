"""Evaluation reports shared by Keras and TFLite models: JSON plus a confusion-matrix PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_text
from .plots import confusion_plot
from .scores import classification_report


def report_from_probs(probs: np.ndarray, label_ids: np.ndarray, labels: tuple[str, ...],
                      **meta: Any) -> dict[str, Any]:
    report = classification_report(label_ids, probs.argmax(axis=1), labels)
    return {**meta, **report}


def save_report(report: dict[str, Any], json_path: str | Path, title: str) -> tuple[Path, Path | None]:
    """Write the report JSON and, when matplotlib is there, `<same stem>.png`."""
    json_path = Path(json_path)
    atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    png = json_path.with_suffix(".png")
    drawn = confusion_plot(png, report["confusion_matrix"], report["labels"],
                           f"{title}\naccuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.3f}")
    return json_path, png if drawn else None
