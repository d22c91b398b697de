"""The config as TOML (`fer-edge run --print-config`), which `load_config` and the service read back."""

from __future__ import annotations

import json
import re
from typing import Any

from ..redact import redact
from .schema import Config, iter_keys

SECRETS = ("mqtt.password", "http.token")


def to_toml(cfg: Config) -> str:
    """The config as TOML that `load_config` reads back; a secret is left out, with a comment saying so."""
    lines: list[str] = []
    section = None
    for path, _ in iter_keys():
        *parents, name = path.split(".")
        value: Any = cfg
        for part in path.split("."):
            value = getattr(value, part)
        head = ".".join(parents) or None
        if head != section:
            lines += ["", f"[{head}]"]
            section = head
        if path in SECRETS and value:
            lines.append(f"# {name}: set, not shown (put it in {name}_file)")
            continue
        if isinstance(value, str) and redact(value) != value:  # a stream URL with a password or a token in it
            lines.append(f"# {name}: holds credentials, not shown: {redact(value)} (write the real one here)")
            continue
        lines.append(f"{name} = {toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML basic-string escapes
    if isinstance(value, dict):  # an inline table; a name that is not a bare key is quoted
        return "{" + ", ".join(f"{n if re.fullmatch(r'[A-Za-z0-9_-]+', n) else json.dumps(n)} = {toml_value(v)}"
                               for n, v in value.items()) + "}"
    return repr(value)
