"""The benchmarks whose figures the README publishes run as documented, on a tiny setting, and write what the README
reads from them: `python -m fer_edge.benchmarks.runtime` (loop fps, faces per frame, stages alone, cold start) and
`python -m fer_edge.benchmarks.sigterm` (SIGTERM to exit in each state where a stop could hang). Their numbers are
measured, not asserted: this checks the figures are there, of the right kind and consistent with each other."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, write_demo_clip

MACHINE_KEYS = {"board", "cpu", "arch", "cores", "governor", "temperature_c", "throttled", "os", "python", "runtime",
                "packages", "delegate"}
SIGTERM_STATES = {"running (demo, 15 fps)", "reconnect backoff (30 s)", "opening a silent stream",
                  "stream stalled, reader blocked in read", "events to a FIFO with no reader",
                  "watched folder replaced by a file", "MQTT broker frozen (no PUBACK)"}


def _benchmark(module: str, *args: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"fer_edge.benchmarks.{module}", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_runtime_benchmark_on_a_short_clip(tmp_path):
    """30 frames of the demo photo (one face in each): every figure of the README's "Measured" table is there."""
    clip = write_demo_clip(tmp_path / "clip.avi", 30, 320)
    out = tmp_path / "runtime.json"
    proc = _benchmark("runtime", "--clip", str(clip), "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result  # printed and written alike
    assert MACHINE_KEYS <= result["machine"].keys() and result["machine"]["cores"] >= 1
    assert (result["clip"], result["detector"], result["threads"], result["detect_every"]) == ("clip.avi", "room", 1, 2)
    assert result["model"] == "dscnn_ferplus_int8.tflite"
    stages = result["stages_alone_ms"]
    assert {"decode", "detect", "crop", "classify", "sum", "faces_per_frame"} == stages.keys()
    assert stages["faces_per_frame"] == 1.0 and all(stages[k] > 0 for k in ("decode", "detect", "classify"))
    assert stages["sum"] == pytest.approx(sum(stages[k] for k in ("decode", "detect", "crop", "classify")), abs=0.003)
    for key in ("loop", "loop_detect_every_frame"):  # the default interval, then detecting on every frame
        loop = result[key]
        assert loop["frames"] == 30 and loop["faces_per_frame"] == 1.0, (key, loop)
        assert abs(loop["fps"] * loop["ms_per_frame"] - 1000) < 5, (key, loop)  # one figure two ways
    assert isinstance(result["loop"]["overhead_pct"], float)
    assert result["cold_start"]["wall_s"] > 0 and result["cold_start"]["peak_rss_mb"] > 30
    assert "peer" not in result  # the `fer` package only with --peer


def test_sigterm_benchmark_once_in_every_state():
    """--repeat 1: each state the README's table lists is reached and stopped, exit code 0 in every one. The
    benchmark's own exit status says whether every stop took under 2 s, which a loaded machine may not meet: that
    is its figure to report, so either status is accepted here as long as it matches the figures."""
    proc = _benchmark("sigterm", "--repeat", "1", timeout=580)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    assert set(results) == SIGTERM_STATES, set(results) ^ SIGTERM_STATES
    for name, r in results.items():
        assert set(r) == {"median_s", "max_s", "exit_codes"} and r["exit_codes"] == [0], (name, r)
        assert 0 < r["median_s"] == r["max_s"] < 60, (name, r)  # one run: its time is both
    assert proc.returncode == (0 if all(r["max_s"] < 2.0 for r in results.values()) else 1)
    assert "Traceback" not in proc.stderr
