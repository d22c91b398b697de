"""Where the models shipped inside the package live, and which one is the default."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "cnn_int8.tflite"


def bundled_models() -> list[Path]:
    return sorted(MODELS_DIR.glob("*.tflite"))
