"""Proof on a Pi's software: benchmarks/pi_emulation.sh in an emulated Debian bookworm arm64 rootfs.

The emulation test takes minutes and needs root, so it runs only with
FER_EDGE_PI_EMULATION=1 (CI sets it). Then it never skips: a machine that cannot
emulate arm64 (no binfmt_misc, not root) fails with the script's one-line reason.
The checker's own tests below are plain and fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from fer_edge.benchmarks import pi_emulation_check as check

SCRIPT = ROOT / "benchmarks" / "pi_emulation.sh"

EMULATION = os.environ.get("FER_EDGE_PI_EMULATION") == "1"
REQUIRE_BENCH = os.environ.get("FER_EDGE_PI_REQUIRE_BENCH") == "1"


@pytest.mark.emulation
@pytest.mark.network  # the host builds the wheel and pip fetches the arm64 wheels from the package index
@pytest.mark.skipif(not EMULATION, reason="minutes, as root: set FER_EDGE_PI_EMULATION=1 (CI does)")
def test_light_install_runs_on_emulated_pi_bookworm_arm64():
    cpus = os.environ.get("FER_EDGE_PI_CPUS", "cortex-a72 cortex-a76").split()
    # The project's wheel is built by this interpreter (it has pip), as in CI's venv.
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=2400,
                          env={**os.environ, "PYTHON": sys.executable}, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    print(out)  # pytest -rA or -s shows the proof: uname -m, Python version, wheels, results, timings
    failures = [line for line in out.splitlines() if line.startswith("pi-emulation: FAIL")]
    assert proc.returncode == 0, "\n".join(failures or ["(no FAIL line)"]) + "\n--- output tail:\n" + out[-6000:]
    assert "pi-emulation: inside: uname -m = aarch64" in out, out
    assert re.search(r"^pi-emulation: inside: Python 3\.11\.\d+ ", out, re.M), out
    assert re.search(r"^pi-emulation: installed: .*numpy .*aarch64.*opencv-python-headless .*aarch64.*ai-edge-litert .*aarch64",
                     out, re.M), out
    assert out.count("pi-emulation: run: ok: 5 frames, 5 faces, all labelled happy") == len(cpus), out
    for command in ("train", "convert"):  # the light install names the extra they need, exit 2
        assert re.search(rf'^pi-emulation: extras: fer-edge {command}: exit 2: .*pip install "fer-edge\[train\]"', out, re.M), out
    if REQUIRE_BENCH:
        assert "pi-emulation: bench: ok:" in out, out
    else:
        assert "pi-emulation: bench: ok:" in out or "pi-emulation: bench: not available in this build" in out, out
    assert "meaningless as Pi speed" in out, out
    assert "pi-emulation: PASS" in out, out


def _face(frame: int, label: str = "happy") -> dict:
    return {"type": "face", "v": 1, "frame": frame, "face_id": 1, "label": label, "score": 0.94}


def _write_events(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_checker_accepts_five_happy_frames(tmp_path, capsys):
    events = tmp_path / "ev.jsonl"
    _write_events(events, [*(_face(i) for i in range(5)), {"type": "stats", "frames": 5, "fps": 0.2}])
    assert check.main(["run", str(events)]) == 0
    assert "run: ok: 5 frames, 5 faces, all labelled happy" in capsys.readouterr().out


@pytest.mark.parametrize("records,reason", [
    ([*(_face(i) for i in range(5)), {"type": "stats", "frames": 4}], "frames=5"),
    ([*(_face(i) for i in range(4)), {"type": "stats", "frames": 5}], "a face in each of frames"),
    ([*(_face(i, "angry") for i in range(5)), {"type": "stats", "frames": 5}], "every face labelled happy"),
])
def test_checker_rejects_wrong_run_results(tmp_path, capsys, records, reason):
    events = tmp_path / "ev.jsonl"
    _write_events(events, records)
    assert check.main(["run", str(events)]) == 1
    assert reason in capsys.readouterr().out


def test_checker_bench_results_json(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"schema": 1, "machine": {"arch": "aarch64"},
                                                       "models": [{"status": "ok"}]}))
    assert check.main(["bench", str(tmp_path)]) == 0
    assert "bench: ok: results.json" in capsys.readouterr().out
    (tmp_path / "results.json").write_text(json.dumps({"schema": 1, "machine": {"arch": "aarch64"},
                                                       "models": [{"name": "m", "status": "failed", "error": "boom"}]}))
    assert check.main(["bench", str(tmp_path)]) == 1
    assert "failed measurements: m: boom" in capsys.readouterr().out
    (tmp_path / "results.json").write_text(json.dumps({"schema": 1, "machine": {"arch": "x86_64"},
                                                       "models": [{"status": "ok"}]}))
    assert check.main(["bench", str(tmp_path)]) == 1
    (tmp_path / "results.json").write_text(json.dumps({"schema": 1, "machine": {}, "models": []}))
    assert check.main(["bench", str(tmp_path)]) == 1
    (tmp_path / "results.json").write_text(json.dumps({"machine": {}, "models": [{}]}))
    assert check.main(["bench", str(tmp_path)]) == 1
    assert "no 'schema' key" in capsys.readouterr().out
