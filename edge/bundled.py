"""What ships with the package: where its models live, which one is the default, and its version."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "cnn_int8.tflite"


def bundled_models() -> list[Path]:
    return sorted(MODELS_DIR.glob("*.tflite"))


def package_version() -> str:
    """fer-edge's installed version (in --version, run records and MQTT discovery); "unknown" in a checkout that
    was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fer-edge")
    except PackageNotFoundError:
        return "unknown"
