"""`fer-edge service --check-config` catches what would fail the start, without a camera: a file that is not the
classifier, a bad sidecar, a missing Edge TPU library, an unknown source type, an unresolvable http.host, a model
the service user cannot read. Each is one line naming the key, exit 2, at the check and at the start alike."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from fer_edge.bundled import DEFAULT_MODEL, MODELS_DIR


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text(text)
    return run_cli("service", "--config", str(config), "--check-config", timeout=120)


def _with_sidecar(tmp_path: Path, sidecar: str) -> Path:
    model = tmp_path / "model.tflite"
    shutil.copy(DEFAULT_MODEL, model)
    model.with_suffix(".json").write_text(sidecar)
    return model


@pytest.mark.parametrize("make,fragments", [
    (lambda d: (d / "junk.tflite").write_text("not a model\n" * 40) and d / "junk.tflite",
     ("model.path", "junk.tflite", "not a valid TFLite model")),
    (lambda d: MODELS_DIR / "blazeface" / "face_detection_short_range.tflite",
     ("model.path", "face_detection_short_range.tflite", "one input and one output")),
    (lambda d: _with_sidecar(d, "{\"labels\": [\"happy\", "), ("model.path", "model.json", "unreadable model sidecar")),
    (lambda d: _with_sidecar(d, "{\"labels\": 7}"), ("model.path", "model.json", "not a list of distinct names")),
    (lambda d: _with_sidecar(d, "{\"labels\": [\"a\", \"b\", \"c\"]}"), ("model.path", "7 outputs but 3 labels")),
])
def test_a_model_that_would_fail_the_start_fails_the_check(tmp_path, make, fragments):
    model = make(tmp_path)
    assert_one_line_error(_check(tmp_path, f'[model]\npath = "{model}"\n'), *fragments, code=2)


def test_edgetpu_without_its_library_fails_the_check(tmp_path):
    try:
        ctypes.CDLL("libedgetpu.so.1")
        pytest.skip("libedgetpu is installed here")
    except OSError:
        pass
    assert_one_line_error(_check(tmp_path, '[model]\naccelerator = "edgetpu"\n'), "model.accelerator",
                          "libedgetpu.so.1", code=2)


@pytest.mark.parametrize("value,fragment", [
    ("{d}/notes.txt", "notes.txt: unknown source type"),
    ("{d}/clip.xyz", "clip.xyz: unknown source type"),
    ("ftp://user:secret@cam/stream", "ftp:// is not a stream"),
])
def test_an_unknown_source_type_fails_the_check(tmp_path, value, fragment):
    (tmp_path / "notes.txt").write_text("hello")
    proc = _check(tmp_path, f'[source]\ninput = "{value.format(d=tmp_path)}"\n')
    assert_one_line_error(proc, "source.input", fragment, code=2)
    assert "secret" not in proc.stderr


@pytest.mark.network
def test_an_unresolvable_http_host_fails_the_check(tmp_path, network):  # a DNS lookup of a name that does not exist
    assert_one_line_error(_check(tmp_path, '[http]\nhost = "no-such-host.invalid"\n'), "http.host",
                          "no-such-host.invalid", code=2)


def test_known_sources_and_hosts_pass(tmp_path):
    for value in ("demo", "0", "/dev/video7", "rtsp://cam/stream", str(tmp_path), str(tmp_path / "later.mp4")):
        proc = _check(tmp_path, f'[source]\ninput = "{value}"\n[http]\nhost = "localhost"\n')
        assert proc.returncode == 0 and "config OK" in proc.stdout, (value, proc.stderr)


def test_a_bad_model_stops_the_start_with_exit_2(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_text("not a model\n" * 40)
    proc = run_cli("service", "--source", "demo", "--http-port", "0", "--model", str(junk), "--events", "",
                   timeout=120)
    assert_one_line_error(proc, "model.path", "not a valid TFLite model", code=2)


@pytest.fixture
def open_folder():
    """A folder another user can read (pytest's own tmp folders are 0700 under root's)."""
    folder = Path(tempfile.mkdtemp(prefix="fer-edge-check-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_a_model_the_service_user_cannot_read_fails_the_check_as_that_user(open_folder):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the check as another user")
    model = open_folder / "secret.tflite"
    shutil.copy(DEFAULT_MODEL, model)
    config = open_folder / "config.toml"
    config.write_text(f'[model]\npath = "{model}"\n')
    config.chmod(0o644)

    def as_nobody() -> subprocess.CompletedProcess:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "fer_edge.cli",
               "service", "--config", str(config), "--check-config"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)

    model.chmod(0o600)  # root's alone
    assert run_cli("service", "--config", str(config), "--check-config").returncode == 0  # root can read it
    assert_one_line_error(as_nobody(), "model.path", "secret.tflite", "not readable by this user", code=2)
    model.chmod(0o644)
    proc = as_nobody()
    assert proc.returncode == 0 and "config OK" in proc.stdout, proc.stderr
