"""Every config key as a flag of `fer-edge run` and `fer-edge service`, with the same name and default: the short
name where the key has one (`--margin`), and always the key path's spelling (`--detector-margin`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UsageError
from .keys import Key, check_value, default_of, flag_for, key_type, long_flag
from .load import DEFAULT_PATH
from .schema import iter_keys


def flags_of(path: str, f: Key) -> list[str]:
    return list(dict.fromkeys((flag_for(path, f), long_flag(path))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --check-config and one flag per key (dest: the key path)."""
    parser.add_argument("--config", default=None, help=f"TOML config file (e.g. {DEFAULT_PATH}); "
                                                      "without it, the defaults and the flags below")
    parser.add_argument("--check-config", action="store_true", help="validate the config and exit (0: valid, 2: not)")
    add_section_arguments(parser, "")


def add_section_arguments(parser: argparse._ActionsContainer, section: str, skip: tuple[str, ...] = ()) -> None:
    """One flag per key under `section` ("": all) but those in `skip` (key paths or sections ending in ".")."""
    for path, f in iter_keys():
        if path.startswith(section) and not any(path == s or s.endswith(".") and path.startswith(s) for s in skip):
            add_key_argument(parser, path, f)


def add_key_argument(parser: argparse._ActionsContainer, path: str, f: Key) -> None:
    """`--flag VALUE` (and its long spelling) for one key; a true-or-false key may be given bare (`--level-eyes`)."""
    want, default = key_type(f), default_of(f)
    shown = '""' if default == "" else ("none" if default == {} else default)
    bare: dict[str, Any] = {"nargs": "?", "const": "true"} if want is bool else {}
    metavar = "NAME=VALUE,..." if want is dict else want.__name__.upper()
    parser.add_argument(*flags_of(path, f), dest=path, default=None, metavar=metavar,
                        help=f"{path}: {f.metadata['help']} (default: {shown})".replace("%", "%%"), **bare)


def check_flag(key: str, flag: str, value: Any) -> Any:
    """A command-line value of another command (`run --margin`) checked against the config key's type and limits,
    so the ranges OpenCV and LiteRT would reject later are refused at parse time in one line naming the flag."""
    f = dict(iter_keys())[key]
    try:
        return check_value(key, f, value)
    except UsageError as exc:
        raise UsageError(f"{flag}:{str(exc).partition(':')[2]}") from None


def overrides_from(args: argparse.Namespace) -> dict[str, str]:
    return {path: getattr(args, path) for path, _ in iter_keys() if getattr(args, path, None) is not None}
