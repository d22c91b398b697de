"""The JSON file beside each model: labels, input geometry, normalization, provenance, accuracy."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FerEdgeError
from ..files import atomic_write_text
from ..labels import EMOTIONS

SIDECAR_FORMAT = "fer-edge-model/1"
REQUIRED_KEYS = ("format", "labels", "input", "output", "variant", "source", "calibration", "accuracy")


def sidecar_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def write_sidecar(model_path: str | Path, data: dict[str, Any]) -> Path:
    path = sidecar_path(model_path)
    atomic_write_text(path, json.dumps({"format": SIDECAR_FORMAT, **data}, indent=2) + "\n")
    return path


def read_sidecar(model_path: str | Path) -> dict[str, Any] | None:
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
    _check_types(path, data)
    return data


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# what run, evaluate and bench read from a sidecar, and the shape each must have: a sidecar is edited by hand
_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "labels": ("a list of distinct names", lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v)
               and len(set(v)) == len(v)),
    "variant": ("a string", lambda v: isinstance(v, str)),
    "macs": ("a number", _number),
    "params": ("a number", _number),
    "accuracy": ("an object whose \"tflite\" is a number", lambda v: isinstance(v, dict)
                 and (v.get("tflite") is None or _number(v["tflite"]))),
}


def _check_types(path: Path, data: dict[str, Any]) -> None:
    """A sidecar that parses but holds a wrong type is refused in one line naming the file and the key."""
    for key, (want, ok) in _CHECKS.items():
        if data.get(key) is not None and not ok(data[key]):
            raise FerEdgeError(f"{path}: \"{key}\" is not {want}")


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


def update_accuracy(model_path: str | Path, block: dict[str, Any]) -> Path:
    """Replace the sidecar's accuracy block (made by `fer_edge.eval.report.accuracy_block`), the rest kept, in one
    atomic write. What conversion measured there (float against int8, top-1 agreement) moves under `conversion`,
    where it stays through later rewrites."""
    side = read_sidecar(model_path)
    if side is None:
        raise FerEdgeError(f"{sidecar_path(model_path)}: no sidecar to write the accuracy into")
    old = side.get("accuracy") or {}
    conversion = old.get("conversion") if "fer2013" in old else (old or None)
    side["accuracy"] = {**block, **({"conversion": conversion} if conversion else {})}
    path = sidecar_path(model_path)
    atomic_write_text(path, json.dumps(side, indent=2) + "\n")
    return path
