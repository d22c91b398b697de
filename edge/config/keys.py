"""What a config key is (a dataclass field with its help and limits) and how a value is checked against it.

A key's type is its default's; a table key (`detector.options`) holds named values that the code using them
checks. Every error is a `UsageError` naming the key path (`http.port`) and the reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import field
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import UsageError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
Section = TypeVar("Section", bound="DataclassInstance")
Key = dataclasses.Field[Any]  # a key's field: its default, and its help and limits in `metadata`
Scalar = str | int | float | bool  # what a table key's entries may be
KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}


def key(default: T, help: str, *, lo: float | None = None, hi: float | None = None, above: float | None = None,
        choices: tuple[str, ...] = (), flag: str | None = None) -> T:
    """A config key: its default (whose type is the key's type), a one-line help, and its limits."""
    meta = {"help": help, "lo": lo, "hi": hi, "above": above, "choices": choices, "flag": flag, "table": False}
    return field(default=default, metadata=meta)


def table_key(help: str, *, flag: str | None = None) -> dict[str, Scalar]:
    """A key holding a table of named values (empty by default), each a string, number or true/false."""
    meta = {"help": help, "lo": None, "hi": None, "above": None, "choices": (), "flag": flag, "table": True}
    return field(default_factory=dict, metadata=meta)


def is_section(f: Key) -> bool:
    return f.default is dataclasses.MISSING and not f.metadata.get("table")


def section_of(f: Key) -> type[Any]:
    """A section's dataclass: the field's default factory."""
    if not isinstance(f.default_factory, type):
        raise TypeError(f"{f.name}: not a config section")
    return f.default_factory


def key_type(f: Key) -> type[Any]:
    return dict if f.metadata.get("table") else type(f.default)


def default_of(f: Key) -> Any:
    return {} if f.metadata.get("table") else f.default


def leaf_keys(cls: type[Any], prefix: str = "") -> Iterator[tuple[str, Key]]:
    """(dotted key path, dataclasses.Field) for every leaf key of `cls`, in declaration order."""
    for f in dataclasses.fields(cls):
        if is_section(f):
            yield from leaf_keys(section_of(f), f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, f


def flag_for(path: str, f: Key) -> str:
    """The key's flag: its short name where it has one (`--margin`), else the key path (`--http-port`)."""
    return f.metadata["flag"] or long_flag(path)


def long_flag(path: str) -> str:
    """The flag every key answers to, spelled from its path: `detector.margin` is `--detector-margin`."""
    return "--" + path.replace(".", "-").replace("_", "-")



def check_value(path: str, f: Key, value: Any) -> Any:
    """The value with the key's type, or a UsageError naming the key and the reason."""
    want = key_type(f)
    m = f.metadata
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not want:
        shown = "a secret" if path.endswith("password") else repr(value)  # never echo a password
        raise UsageError(f"{path}: want {KINDS[want]}, got {shown}")
    if want is dict:
        return {name: _table_entry(f"{path}.{name}", entry) for name, entry in value.items()}
    if want is float and not math.isfinite(value):
        raise UsageError(f"{path}: want a finite number, got {value!r}")
    if m["choices"] and value not in m["choices"]:
        raise UsageError(f"{path}: {value!r} is not one of {', '.join(m['choices'])}")
    if m["lo"] is not None and value < m["lo"] or m["hi"] is not None and value > m["hi"]:
        lo, hi = m["lo"], m["hi"]
        span = f"from {lo} to {hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
        raise UsageError(f"{path}: {value!r} is out of range (want {span})")
    if m["above"] is not None and not value > m["above"]:
        raise UsageError(f"{path}: {value!r} is out of range (want > {m['above']})")
    return value


def _table_entry(path: str, value: Any) -> Scalar:
    if isinstance(value, dict):
        raise UsageError(f"{path}: want a value, got a table")
    if not isinstance(value, (str, int, float, bool)):
        raise UsageError(f"{path}: want a string, a number or true or false, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{path}: want a finite number, got {value!r}")
    return value


def build(cls: type[Section], table: dict[str, Any], prefix: str = "") -> Section:
    """The section `cls` from a TOML table, every key checked; an unknown key is an error naming it."""
    unknown = sorted(set(table) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise UsageError(f"{prefix}{unknown[0]}: unknown key")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if f.name not in table:
            continue
        if is_section(f):
            if not isinstance(table[f.name], dict):
                raise UsageError(f"{path}: want a table ([{path}]), got {table[f.name]!r}")
            kwargs[f.name] = build(section_of(f), table[f.name], path + ".")
        else:
            if isinstance(table[f.name], dict) and not f.metadata.get("table"):
                raise UsageError(f"{path}: want a value, got a table")
            kwargs[f.name] = check_value(path, f, table[f.name])
    return cls(**kwargs)


def check_sections(node: Any) -> None:
    """Each section's own `check()` (checks that span its keys or look at files), the tree's top last."""
    for f in dataclasses.fields(node):
        if is_section(f):
            check_sections(getattr(node, f.name))
    check = getattr(node, "check", None)
    if check is not None:
        check()
