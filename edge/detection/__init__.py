"""Face detectors behind one small interface; the loop only sees `FaceDetector.detect`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import UsageError
from ..geometry import Detection

DEFAULT_DETECTOR = "room"  # back on small frames, back on tiles too on big ones: README "Detectors"
DETECTORS = ("blazeface", "blazeface-short", "blazeface-full", "blazeface-back", "room", "yunet", "haar")


class FaceDetector(Protocol):
    @property
    def name(self) -> str:
        """The detector's name as the config gives it (`detector.name`)."""
        ...

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in a BGR (or grey) frame, in frame pixels, best first."""
        ...

    def macs(self, width: int, height: int) -> int | None:
        """Multiply-accumulates one detect call costs on a width x height frame (None: not a network)."""
        ...


def make_detector(name: str = DEFAULT_DETECTOR, threads: int = 1, yunet_model: str | None = None,
                  min_score: float | None = None) -> FaceDetector:
    if name.startswith("blazeface"):
        from .blazeface import DEFAULT_VARIANT, BlazeFaceDetector

        variant = name.partition("-")[2] or DEFAULT_VARIANT
        if name not in DETECTORS:
            raise UsageError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
        return BlazeFaceDetector(variant, min_score=min_score, threads=threads)
    if name == "room":
        from .tiled import TiledBlazeFace

        return TiledBlazeFace(min_score=min_score, threads=threads)
    if name == "yunet":
        from .opencv import YuNetDetector

        return YuNetDetector(yunet_model, min_score=0.7 if min_score is None else min_score)
    if name == "haar":
        from .opencv import HaarDetector

        return HaarDetector()
    raise UsageError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")


def detector_model_file(name: str) -> Path | None:
    """The .tflite a detector runs (for counting its MACs), or None for OpenCV's detectors, which have none."""
    if not name.startswith("blazeface") or name not in DETECTORS:
        return None
    from .blazeface import DEFAULT_VARIANT, MODEL_DIR, VARIANTS

    return MODEL_DIR / VARIANTS[name.partition("-")[2] or DEFAULT_VARIANT].file
