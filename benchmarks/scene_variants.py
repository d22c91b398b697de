"""What the scene benchmark compares, parsed from its command line: config variants (`--variants`), detectors as
variants (`--detectors`), and a frame size (`--size`, which benchmarks/crops.py's `--frame` takes too).

Each variant is checked against the config only when the benchmark runs (benchmarks/scene.py), so a bad key is
named with its variant."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

from fer_edge.errors import UsageError


@dataclass(frozen=True)
class Variant:
    """A named config: keys on top of the defaults."""

    name: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.overrides)


def _value(text: str) -> Any:
    """A TOML value (2, 0.5, true, "x") or, bare, a string: `detector.name=yunet`."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_variants(items: list[str]) -> list[Variant]:
    """["default", "every2=detector.every=2,smoothing.max_missed=10"] -> Variants (checked against the config later)."""
    out = []
    for item in items:
        name, _, rest = item.partition("=")
        name = name.strip()
        if not name:
            raise UsageError(f"--variants: {item!r} has no name (NAME or NAME=KEY=VALUE,...)")
        pairs = []
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise UsageError(f"--variants: {part!r} in {name!r} is not KEY=VALUE")
            pairs.append((key.strip(), _value(value.strip())))
        out.append(Variant(name, tuple(pairs)))
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise UsageError(f"--variants: names repeat ({', '.join(names)})")
    if not out:
        raise UsageError("--variants: give at least one variant")
    return out


def parse_detectors(text: str) -> list[Variant]:
    """"room,yunet:2" -> variants of detector.name (and detector.every; without it, the loop's MAC budget)."""
    from fer_edge.config.argtypes import csv_list
    from fer_edge.detection import DETECTORS

    out = []
    for item in csv_list(text):
        name, _, every = item.partition(":")
        if name not in DETECTORS:
            raise UsageError(f"--detectors: unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
        if every and (not every.isdigit() or int(every) < 1):
            raise UsageError(f"--detectors: {item!r}: the interval after ':' must be a whole number >= 1")
        out.append(Variant(item, (("detector.name", name), ("detector.every", int(every) if every else 0))))
    if not out:
        raise UsageError("--detectors: give at least one detector")
    return out


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit()) or int(w) < 64 or int(h) < 64:
        raise UsageError(f"--size: {text!r} is not WIDTHxHEIGHT (at least 64x64)")
    return int(w), int(h)


def variant_config(base: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The config keys of one variant: the base's, the variant's, and --yunet-model as the yunet detector's option."""
    values = {k: v for k, v in base.items() if k != "yunet_model"} | variant.values
    if values.get("detector.name") == "yunet" and base.get("yunet_model"):
        values["detector.options"] = {"model": base["yunet_model"]}
    return values
