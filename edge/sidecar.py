"""The JSON file beside each model: labels, input geometry, normalization, provenance, accuracy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge.errors import FerEdgeError
from edge.files import atomic_write_text
from edge.labels import EMOTIONS

SIDECAR_FORMAT = "fer-edge-model/1"
REQUIRED_KEYS = ("format", "labels", "input", "output", "variant", "source", "calibration", "accuracy")


def sidecar_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def write_sidecar(model_path: str | Path, data: dict) -> Path:
    path = sidecar_path(model_path)
    atomic_write_text(path, json.dumps({"format": SIDECAR_FORMAT, **data}, indent=2) + "\n")
    return path


def read_sidecar(model_path: str | Path) -> dict | None:
    """The sidecar as a dict, or None when the model has none (a foreign model)."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FerEdgeError(f"{path}: unreadable model sidecar ({exc})") from None
    if not isinstance(data, dict):
        raise FerEdgeError(f"{path}: model sidecar is not a JSON object")
    return data


@dataclass(frozen=True)
class ModelInput:
    """What the runtime must feed: raw uint8 pixels of this size and channel count."""

    height: int
    width: int
    channels: int
    labels: tuple[str, ...] = EMOTIONS

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def colour(self) -> str:
        return "grey" if self.channels == 1 else "rgb"
