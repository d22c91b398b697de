"""Commands and loaders other packages register by entry point (pyproject.toml): this package never imports them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

COMMANDS = "fer_edge.commands"  # entry points: name -> a module's register(subparsers) (pyproject.toml)


def entry_points(group: str) -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=group)}


def plugin(group: str, name: str, what: str) -> Any:
    """The object another package registers under `group` (by entry point: this package never imports it)."""
    ep = entry_points(group).get(name)
    if ep is None:
        raise UsageError(f"{what} needs fer-edge's {name} support, which this install lacks: reinstall fer-edge")
    return ep.load()
