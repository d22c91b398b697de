"""The config from a TOML file (the service's), command-line overrides, or a dict of key paths (the benchmarks,
the API, tests): every key checked, then every section's own checks; an error names the file or the flag."""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import read_regular
from .keys import Key, build, check_sections, flag_for, key_type
from .schema import Config, iter_keys

DEFAULT_PATH = "/etc/fer-edge/config.toml"
# Keys only a service uses: `fer-edge run` neither reconnects nor serves HTTP unless an --http-* flag asks (docs/service.md).
SERVICE_ONLY = ("source.reconnect_min_s", "source.reconnect_max_s", "http.enabled")
TRUE_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def parse_text(path: str, f: Key, text: str) -> Any:
    """A command-line string as the key's type; a table key's as `name=value,name=value` (values stay text)."""
    want = key_type(f)
    try:
        if want is dict:
            pairs = [item.partition("=") for item in text.split(",") if item.strip()]
            if any(not sep or not name.strip() for name, sep, _ in pairs):
                raise ValueError(text)
            return {name.strip(): value.strip() for name, _, value in pairs}
        if want is bool:
            return TRUE_WORDS[text.strip().lower()]
        return want(text)
    except (KeyError, ValueError):
        kind = {bool: "true or false", int: "an integer", float: "a number", dict: "NAME=VALUE[,NAME=VALUE...]"}[want]
        raise UsageError(f"{path} ({flag_for(path, f)}): want {kind}, got {text!r}") from None


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_regular(p).decode("utf-8-sig"))  # a BOM, as Windows editors write it
    except FileNotFoundError:
        raise UsageError(f"{p}: no such config file") from None
    except OSError as exc:
        raise UsageError(f"{p}: cannot read config ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: cannot read config ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: not valid TOML ({exc})") from None


def load_config(path: str | Path | None, overrides: dict[str, str] | None = None, *,
                check: Callable[[Config], None] | None = None) -> Config:
    """The file (or the defaults when `path` is None) with command-line `overrides` ({key path: text}) on top.

    `check`, when given, runs after the config's own checks and its errors are worded as theirs: the service
    passes the loaders' checks (edge/pipeline/check.py), so a detector, source or model that would fail the start
    fails here. `fer-edge run` leaves those to the code that opens them (exit 1 for a bad model file).
    """
    table = _read_toml(Path(path)) if path is not None else {}
    fields = dict(iter_keys())
    for key, text in (overrides or {}).items():
        *sections, name = key.split(".")
        node = table
        for s in sections:
            node = node.setdefault(s, {})
        if isinstance(node, dict):  # else build says the section is not a table
            value = parse_text(key, fields[key], text)
            given = node.get(name)
            node[name] = {**given, **value} if isinstance(given, dict) and isinstance(value, dict) else value
    try:
        cfg = build(Config, table)
        check_sections(cfg)
        if check is not None:
            check(cfg)
    except UsageError as exc:
        key, _, reason = str(exc).partition(":")
        given = next((k for k in overrides or {} if key == k or key.startswith(k + ".")), None)
        if given is not None:  # a flag's value: named as the key with its flag (a table's entry, with the table's)
            raise UsageError(f"{key} ({flag_for(given, fields[given])}):{reason}") from None
        raise UsageError(f"{path}: {exc}" if path is not None else str(exc)) from None
    return cfg


def config_from(values: dict[str, Any]) -> Config:
    """The defaults with `values` ({key path: value}) on top, each checked as a file's: for code that builds a loop
    without a file or flags (the benchmarks, the API, tests). Names and files are left to the loaders."""
    table: dict[str, Any] = {}
    for key, value in values.items():
        *sections, name = key.split(".")
        node = table
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    cfg = build(Config, table)
    check_sections(cfg)
    return cfg


def check_events_now(target: str) -> None:
    """What `--check-config` says of `outputs.events` as it is now, which the service would only log and retry: a
    folder, or a path whose folder cannot be made or written (nothing is created by the check)."""
    if target in ("", "-"):
        return
    path = Path(target)
    if path.is_dir():
        raise UsageError(f"outputs.events: {target}: is a folder")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the service makes the missing folders below the nearest one that exists
    if not folder.is_dir():
        raise UsageError(f"outputs.events: {target}: {folder} is not a folder")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"outputs.events: {target}: not writable by this user")
        return
    try:  # a probe, not os.access alone, which says yes to root on a read-only mount
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"outputs.events: {target}: cannot write in {folder} ({exc.strerror or exc})") from None
