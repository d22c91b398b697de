"""The house's plan: a room (subpackage) per stage, each importing only the rooms below it, no import cycle, and
no module too long to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

EDGE = ROOT / "edge"
# The rooms from the bottom up, in the order data flows; a room may import its own modules and those below it.
# Top-level modules (errors, files, records, runtime, ...) are the ground floor every room stands on.
ROOMS = ("", "config", "sources", "detection", "classification", "tracking", "pipeline", "outputs", "service", "eval",
         "cli")
MAX_LINES = 350
PACKAGES = ("edge", "train", "convert", "benchmarks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(EDGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["fer_edge", *parts])


def room(module: str) -> str:
    """fer_edge.outputs.mqtt.hass -> outputs; fer_edge.errors -> "" (the ground floor)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS) else ""


def imports_of(path: Path, text: str | None = None) -> set[str]:
    """Every fer_edge module a file imports, at the top, inside functions or for type checking alike."""
    own = module_name(path)
    package = own.split(".") if path.name == "__init__.py" else own.split(".")[:-1]
    known = {module_name(p) for p in EDGE.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.ImportFrom):
            base = (package[: len(package) - node.level + 1] if node.level else [])
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:  # `from . import follow`: the module, when it is one
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("fer_edge") and m in known and m != own}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(EDGE.rglob("*.py"))}


def test_each_room_imports_only_the_rooms_below_it():
    upward = []
    for module, targets in graph().items():
        if module == "fer_edge":  # the package's face: `from fer_edge import Analyzer` reaches up on purpose
            continue
        for target in targets:
            if ROOMS.index(room(target)) > ROOMS.index(room(module)):
                upward.append(f"{module} -> {target}")
    assert sorted(upward) == []


def test_no_import_cycle():
    edges = graph()
    cycles, done, stack = [], set(), []

    def visit(m: str) -> None:
        if m in stack:
            cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            return
        if m in done:
            return
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            visit(t)
        stack.pop()
        done.add(m)

    for m in sorted(edges):
        visit(m)
    assert cycles == []


def test_no_module_is_over_350_lines():
    long = {f"{p.relative_to(ROOT)}" for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if len(p.read_text().splitlines()) > MAX_LINES}
    assert sorted(long) == []


def test_the_graph_sees_a_planted_upward_import():
    """The checker itself: an upward import planted in a detection module is found, its relative dots resolved."""
    planted = EDGE / "detection" / "lores.py"
    assert "fer_edge.geometry" in imports_of(planted)
    text = planted.read_text() + "\n\ndef late():\n    from ..pipeline import loop  # planted\n"
    assert "fer_edge.pipeline.loop" in imports_of(planted, text)
    assert room("fer_edge.pipeline.loop") == "pipeline" and room("fer_edge.errors") == ""
    assert ROOMS.index(room("fer_edge.pipeline.loop")) > ROOMS.index(room(module_name(planted)))
