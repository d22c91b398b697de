"""What ships with the package: where its models live, which one is the default, and its version."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "dscnn_ferplus_int8.tflite"
# Names the bundled models had before they were named for the labels they learned; still accepted.
ALIASES = {"cnn_int8.tflite": "cnn_fer2013_int8.tflite", "mobilenetv2_int8.tflite": "mobilenetv2_fer2013_int8.tflite"}


def bundled_models() -> list[Path]:
    return sorted(MODELS_DIR.glob("*.tflite"))


def resolve_model(spec: str | Path | None) -> Path:
    """The model a --model value names: the default for none, the path when it exists, else a bundled model by
    its file name, with or without `.tflite`, old names included (`cnn_int8` is `cnn_fer2013_int8.tflite`)."""
    if spec is None or str(spec) == "":
        return DEFAULT_MODEL
    path = Path(spec)
    if path.exists() or len(path.parts) > 1 and path.parent.resolve() != MODELS_DIR:
        return path
    name = path.name if path.suffix == ".tflite" else f"{path.name}.tflite"
    bundled = MODELS_DIR / ALIASES.get(name, name)
    return bundled if bundled.is_file() else path


def package_version() -> str:
    """fer-edge's installed version (in --version, run records and MQTT discovery); "unknown" in a checkout that
    was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fer-edge")
    except PackageNotFoundError:
        return "unknown"
