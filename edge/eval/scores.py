"""Accuracy scores as pure numpy (confusion matrix, per-class precision, recall, F1) for Keras and TFLite models alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import EMOTIONS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = len(EMOTIONS)) -> np.ndarray:
    """Counts [true, predicted]."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...] = EMOTIONS) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    m = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(m).astype(np.float64)
    predicted, support = m.sum(axis=0), m.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = support > 0
    return {
        "images": int(m.sum()),
        "accuracy": float(tp.sum() / max(m.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": m.tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  ({report['images']} images)",
             f"{'class':<10}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}"]
    for name, c in report["per_class"].items():
        lines.append(f"{name:<10}{c['precision']:>10.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}{c['support']:>9}")
    return "\n".join(lines)
