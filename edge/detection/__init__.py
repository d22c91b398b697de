"""Face detectors behind one small interface; the loop only sees `FaceDetector.detect`.

`DETECTORS` is the registry: a config's `detector.name` to the class that loads it, each class with its options
dataclass beside it in its module (`detector.options` in the config). A new detector is one module with a class
(`name`, `detect`, `macs`, `Options`, `load`) and its line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import UsageError
from .base import DetectorType, FaceDetector, file_options, parse_options
from .blazeface import MODEL_DIR, VARIANTS, BlazeFaceDetector, variant_of
from .opencv import HaarDetector, YuNetDetector
from .tiled import TiledBlazeFace

DEFAULT_DETECTOR = "room"  # back on small frames, back on tiles too on big ones: docs/run.md, "Detectors"
DETECTORS: dict[str, DetectorType] = {
    "blazeface": BlazeFaceDetector,  # the default variant, back
    "blazeface-short": BlazeFaceDetector,
    "blazeface-full": BlazeFaceDetector,
    "blazeface-back": BlazeFaceDetector,
    "room": TiledBlazeFace,
    "yunet": YuNetDetector,
    "haar": HaarDetector,
}

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "FaceDetector", "check_detector", "detector_files", "detector_model_file",
           "make_detector"]


def check_detector(name: str, options: Mapping[str, object] | None = None) -> object:
    """The detector's checked options: an unknown name or option, or a bad value, is a UsageError naming its key."""
    if name not in DETECTORS:
        raise UsageError(f"detector.name: unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
    return parse_options(name, DETECTORS[name].Options, options or {})


def make_detector(name: str = DEFAULT_DETECTOR, threads: int = 1, min_score: float | None = None,
                  options: Mapping[str, object] | None = None) -> FaceDetector:
    """The detector `name` with its `options` (the config's `detector.options` table), loaded."""
    checked = check_detector(name, options)
    return DETECTORS[name].load(name, checked, threads, min_score)


def detector_files(name: str, options: Mapping[str, object] | None = None) -> dict[str, str]:
    """{key path: path} of the files the detector's options name (checked readable by `--check-config`)."""
    return file_options(check_detector(name, options))


def detector_model_file(name: str) -> Path | None:
    """The .tflite a BlazeFace detector runs (for counting its MACs); None for the others: `room`'s cost depends on
    the frame size, OpenCV's detectors have no .tflite."""
    if DETECTORS.get(name) is not BlazeFaceDetector:
        return None
    return MODEL_DIR / VARIANTS[variant_of(name)].file
