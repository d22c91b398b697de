"""Flag values every command parses the same way (comma lists), with the flag named in the error."""

from __future__ import annotations

from ..errors import UsageError


def csv_list(text: str) -> list[str]:
    """`a, b,,c` -> ['a', 'b', 'c']."""
    return [t.strip() for t in text.split(",") if t.strip()]


def int_list(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in csv_list(text))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: want comma-separated integers") from None
