"""What a face detector is to the loop (`FaceDetector`), what the registry holds (`DetectorType`: a class with its
own options and a way to load it), and how the config's `detector.options` table becomes those options.

Each detector's options are a small frozen dataclass in its own module (as Frigate's detector plugins carry their
config model): the config holds only the table, and this checks it against the chosen detector's fields, naming
the key (`detector.options.model`) in any error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import UsageError
from ..geometry import Detection

OPTIONS = "detector.options"
TRUE_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


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


class DetectorType(Protocol):
    """A detector class as the registry holds it: its options dataclass, and `load`, which builds one."""

    @property
    def Options(self) -> type[Any]:  # noqa: N802 -- a class, named as one
        ...

    def load(self, name: str, options: Any, threads: int, min_score: float | None) -> FaceDetector:
        """The detector `name` (a registry key) with its checked `options`; `min_score` None: its own default."""
        ...


@dataclass(frozen=True)
class NoOptions:
    """A detector that takes no options."""


def option(default: Any, help: str, *, file: bool = False, required: bool = False) -> Any:
    """A detector option: its default (whose type is the option's), a one-line help; `file`, a path the service
    checks it can read at start; `required`, an empty value is an error."""
    return dataclasses.field(default=default, metadata={"help": help, "file": file, "required": required})


def parse_options(name: str, options_type: type[Any], table: Mapping[str, object]) -> Any:
    """`options_type` from the config's table: an unknown option, a wrong type or a missing required one is a
    UsageError naming `detector.options.<option>`. Values from a flag come as text and are read as the type."""
    fields = {f.name: f for f in dataclasses.fields(options_type)}
    for key in table:
        if key not in fields:
            takes = ", ".join(fields) or "none"
            raise UsageError(f"{OPTIONS}.{key}: not an option of the {name} detector (it takes {takes})")
    values = {key: _typed(f"{OPTIONS}.{key}", type(fields[key].default), value) for key, value in table.items()}
    for f in fields.values():
        if f.metadata.get("required") and not values.get(f.name, f.default):
            raise UsageError(f"{OPTIONS}.{f.name}: needed for detector.name = \"{name}\" ({f.metadata['help']})")
    return options_type(**values)


def _typed(path: str, want: type[Any], value: object) -> Any:
    if isinstance(value, str) and want is not str:
        try:
            value = TRUE_WORDS[value.strip().lower()] if want is bool else want(value)
        except (KeyError, ValueError):
            pass  # said below, as for a value of the wrong type
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not want or (want is float and not math.isfinite(value)):  # type: ignore[arg-type]
        kind = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}[want]
        raise UsageError(f"{path}: want {kind}, got {value!r}")
    return value


def file_options(options: object) -> dict[str, str]:
    """{key path: path} of the options that name files, where set: what `--check-config` checks it can read."""
    return {f"{OPTIONS}.{f.name}": getattr(options, f.name) for f in dataclasses.fields(options)  # type: ignore[arg-type]
            if f.metadata.get("file") and getattr(options, f.name)}
