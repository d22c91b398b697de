"""What a new user sees first (issue 12): stderr without library noise, annotated photos, events that say where
they came from and which run, reports that never overwrite each other, and the small flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from conftest import ROOT, assert_one_line_error

from edge.sources import DEMO_IMAGE


def cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`fer-edge ARGS` as a user runs it: no test-only environment (run_cli sets TF_CPP_MIN_LOG_LEVEL)."""
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- stderr: quiet by default, --verbose to see the libraries' own lines -------------------------------------------

def test_run_stderr_has_no_library_noise_unless_verbose():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "OPENCV"))}
    quiet = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--source", "demo", "--frames", "1"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.splitlines() == [quiet.stderr.splitlines()[-1]], quiet.stderr  # the summary line only
    assert "XNNPACK" not in quiet.stderr and "WARN" not in quiet.stderr
    from edge.runtime import runtime_name

    for where in (["--verbose", "run"], ["run", "--verbose"]):  # before or after the subcommand
        loud = subprocess.run([sys.executable, "-m", "edge.cli", *where, "--source", "demo", "--frames", "1"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
        assert loud.returncode == 0, loud.stderr
        if runtime_name() == "ai-edge-litert":  # the runtime that prints it
            assert "XNNPACK" in loud.stderr, loud.stderr


def test_ffmpeg_lines_stay_off_a_bad_video_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16)  # a header and then nothing it can read
    proc = cli("run", "--source", str(junk))
    assert_one_line_error(proc, "junk.mp4: cannot open video source", code=1)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # no "moov atom not found" from FFmpeg


def test_native_stderr_passes_real_errors_on():
    """Only the known informational lines are dropped: anything else written to fd 2 in the block still shows."""
    code = ("import os; from edge.quiet import native_stderr\n"
            "with native_stderr():\n"
            "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
            "    os.write(2, b'ERROR: something real\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.stderr == "ERROR: something real\n"


@pytest.mark.tf
def test_convert_stderr_has_no_tensorflow_noise(tmp_path, tf_available):
    model = tmp_path / "tiny.keras"
    build = ("import keras\n"
             "i = keras.Input((48, 48, 1)); x = keras.layers.Conv2D(4, 3)(i)\n"
             "x = keras.layers.GlobalAveragePooling2D()(x); o = keras.layers.Dense(7, activation='softmax')(x)\n"
             f"keras.Model(i, o).save({str(model)!r})\n")
    subprocess.run([sys.executable, "-c", build], capture_output=True, timeout=300, check=True)
    calib = tmp_path / "calib"
    calib.mkdir()
    cv2.imwrite(str(calib / "a.png"), cv2.imread(str(DEMO_IMAGE)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "convert", str(model), "--calib", str(calib),
                           "--out", str(tmp_path / "out"), "--variants", "int8"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    for noise in ("oneDNN", "absl", "fully_quantize", "XNNPACK", "UserWarning", "I0000"):
        assert noise not in proc.stderr, proc.stderr


def test_version():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("fer-edge ") and proc.stdout.split()[1][0].isdigit()
