"""One import namespace and packages that own their commands (issue 10, items 4 and 7).

The wheel installs `fer_edge` and nothing else at the top; the device package (`edge/`, installed as `fer_edge`)
never imports the desktop subpackages; the light install (`pip install fer-edge`, no extras) runs the loop and
answers `fer-edge train` and `convert` with one line naming the extra, exit 2. Built and installed for real:
`pip wheel` on this checkout, then a fresh venv with only the core dependencies.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

DESKTOP = ("train", "convert", "benchmarks")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, network) -> Path:
    """The wheel of this checkout (its build backend, setuptools, comes from the package index)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("fer_edge-*.whl")
    return path


@pytest.fixture(scope="module")
def light(wheel, tmp_path_factory) -> Path:
    """A venv with the wheel and its core dependencies only: what a Pi gets from `pip install fer-edge`."""
    venv = tmp_path_factory.mktemp("light") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


@pytest.mark.network
def test_the_wheels_only_top_level_name_is_fer_edge(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert z.read(top_level).decode().split() == ["fer_edge"]
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"fer_edge"}
    for module in ("fer_edge/cli/__init__.py", "fer_edge/train/cli.py", "fer_edge/convert/cli.py", "fer_edge/benchmarks/cli.py",
                   "fer_edge/detection/tiled.py", "fer_edge/models/cnn_fer2013_int8.tflite", "fer_edge/assets/preview.html",
                   "fer_edge/py.typed"):
        assert module in names, module


@pytest.mark.network
def test_the_wheel_ships_py_typed_so_type_checkers_read_the_api(light, tmp_path):
    """PEP 561: with `py.typed` installed, mypy checks a program's use of `Analyzer` against its hints (without it,
    mypy would call the package untyped and check nothing)."""
    (marker,) = (light / "lib").glob("python3*/site-packages/fer_edge/py.typed")
    assert marker.is_file()
    program = tmp_path / "user.py"
    program.write_text("from fer_edge import Analyzer\n\nlabels: int = Analyzer().labels\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--python-executable", str(light / "bin" / "python"),
                           "--no-incremental", str(program)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600)
    assert 'Incompatible types in assignment (expression has type "tuple[str, ...]"' in proc.stdout, proc.stdout


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import statement in a file; level 0 is absolute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
            found += [(node.level, f"{node.module or ''}.{alias.name}".strip(".")) for alias in node.names]
    return found


def test_the_device_package_imports_no_desktop_package_in_its_source():
    files = sorted((ROOT / "edge").rglob("*.py"))
    assert len(files) > 40
    bad = []
    for path in files:
        depth = len(path.relative_to(ROOT / "edge").parts) - 1  # edge/x.py: a level-1 import is fer_edge.<name>
        for level, module in _imports(path):
            top = module.split(".")[0]
            if level == 0 and (top in (*DESKTOP, "edge") or module.startswith(tuple(f"fer_edge.{d}" for d in DESKTOP))):
                bad.append(f"{path.relative_to(ROOT)}: {module}")
            if level == depth + 1 and top in DESKTOP:
                bad.append(f"{path.relative_to(ROOT)}: {'.' * level}{module}")
    assert bad == []


def test_the_device_package_never_loads_a_desktop_package():
    """A fresh interpreter imports every device module and runs the loop through the CLI: none of train, convert or
    benchmarks is loaded."""
    modules = [m.name for m in pkgutil.walk_packages([str(ROOT / "edge")], "fer_edge.")
               if not m.name.endswith("__main__")]  # every room's modules; `python -m fer_edge.cli` would run it
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "import fer_edge\n"
        "fer_edge.Analyzer\n"
        "from fer_edge.cli import main\n"
        "rc = main(['run', '--source', 'demo', '--frames', '2', '--events', ''])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('fer_edge.train', 'fer_edge.convert', "
        "'fer_edge.benchmarks')) or m.split('.')[0] in ('train', 'convert', 'benchmarks', 'edge'))\n"
        "print('RC', rc, 'LOADED', loaded)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT / "tests")
    assert "RC 0 LOADED []" in proc.stdout, proc.stdout + proc.stderr
    assert len(modules) > 40


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args", [("train", "--data", "fer2013.csv", "--out", "run"),
                                  ("convert", "model.keras", "--out", "out")])
@pytest.mark.network
def test_the_light_install_names_the_extra(light, tmp_path, args):
    proc = subprocess.run([str(light / "bin" / "fer-edge"), *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc)
    assert line.startswith(f"fer-edge {args[0]}: error:") and 'pip install "fer-edge[train]"' in line, line
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


@pytest.mark.network
def test_the_light_install_runs_the_loop_and_lists_every_command(light, tmp_path):
    proc = subprocess.run([str(light / "bin" / "fer-edge"), "run", "--source", "demo", "--frames", "2", "--events",
                           str(tmp_path / "ev.jsonl")], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"label": "happy"' in (tmp_path / "ev.jsonl").read_text().replace('":"', '": "')
    helptext = subprocess.run([str(light / "bin" / "fer-edge"), "--help"], capture_output=True, text=True,
                              timeout=60).stdout
    for command in ("run", "service", "evaluate", "train", "convert", "bench"):
        assert f"    {command} " in helptext, helptext
    bench = subprocess.run([str(light / "bin" / "fer-edge"), "bench", "--quick", "--runs", "3", "--warmup", "1",
                            "--video-frames", "2", "--out", str(tmp_path / "bench")], capture_output=True, text=True,
                           timeout=600, cwd=tmp_path)  # the bundled models found inside the installed package
    assert bench.returncode == 0, bench.stderr
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert sorted(Path(m["path"]).name for m in results["models"]) == ["cnn_fer2013_int8.tflite", "dscnn_ferplus_int8.tflite",
                                                                      "mobilenetv2_fer2013_int8.tflite"]
    probe = ("import importlib.util, sys; import fer_edge.cli; "
             "print([m for m in ('tensorflow', 'keras') if importlib.util.find_spec(m)])")
    found = subprocess.run([str(light / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == "[]", found.stdout + found.stderr  # the light install really is light


def test_a_plain_run_loads_only_what_it_uses():
    """No HTTP, MQTT or plots asked for: their libraries stay unloaded (memory on a Pi), the loop runs as ever."""
    code = ("import sys\n"
            "from fer_edge.cli import main\n"
            "rc = main(['run', '--source', 'demo', '--frames', '2', '--events', ''])\n"
            "print('RC', rc, sorted(m for m in ('prometheus_client', 'paho', 'matplotlib', 'tensorflow', 'keras') "
            "if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT / "tests")
    assert "RC 0 []" in proc.stdout, proc.stdout + proc.stderr

