"""Folders holding what is not a plain photo: a FIFO, an 8000x8000 JPEG, a PNG too large to decode.

Real subprocesses; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, run_cli
from test_service import Service

from edge.sources import DEMO_IMAGE


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _stopped_within(svc: Service, seconds: float) -> tuple[int, float]:
    t0 = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    try:
        code = svc.proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no exit {seconds} s after SIGTERM; {svc.stderr()}")
    return code, time.monotonic() - t0


def test_folder_with_a_fifo_reads_only_regular_files(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(DEMO_IMAGE.read_bytes())
    os.mkfifo(folder / "b.jpg")  # nobody ever writes: opening it to read would wait forever
    proc = run_cli("run", "--source", str(folder), "--events", str(tmp_path / "ev.jsonl"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert _records(tmp_path / "ev.jsonl")[-1]["frames"] == 1
    assert_one_line_error(run_cli("run", "--source", str(folder / "b.jpg"), timeout=60), "b.jpg",
                          "not a regular file")


def test_service_on_a_folder_with_a_fifo_stops_on_sigterm(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(DEMO_IMAGE.read_bytes())
    with Service(tmp_path, "--source", str(folder), "--source-fps", "20", "--events", "") as svc:
        svc.wait_for("READY=1")
        os.mkfifo(folder / "b.jpg")  # appears while the folder loops: the next reopening lists it
        svc.poll_until(lambda: svc.metrics()[("fer_edge_frames_total", ())] >= 5)
        code, _ = _stopped_within(svc, 5)
    assert code == 0, svc.stderr()


def test_a_huge_jpeg_in_a_folder_is_decoded_reduced_within_the_units_memory(tmp_path):
    """8000x8000 decodes to 192 MB of BGR (458 MB peak before); the unit allows MemoryMax=384M."""
    folder = tmp_path / "frames"
    folder.mkdir()
    big = cv2.resize(cv2.imread(str(DEMO_IMAGE)), (8000, 8000), interpolation=cv2.INTER_NEAREST)
    (folder / "big.jpg").write_bytes(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    del big
    events = tmp_path / "ev.jsonl"
    code = ("import resource, subprocess, sys\n"  # a parent of its own: RUSAGE_CHILDREN is then this child alone
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    proc = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "edge.cli", "run", "--source",
                           str(folder), "--events", str(events)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    returncode, peak_kb = map(int, proc.stdout.split())
    assert returncode == 0, proc.stderr
    assert peak_kb < 384 * 1024, f"peak resident memory {peak_kb / 1024:.0f} MB"
    faces = [r for r in _records(events) if r["type"] == "face"]
    assert [f["label"] for f in faces] == ["happy"]


def test_an_image_too_large_to_decode_reduced_is_skipped_and_counted(tmp_path):
    """A PNG has no reduced decode: one above the pixel bound (4200x4200, 53 MB as BGR) is skipped, not decoded."""
    from edge.sources import open_source

    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a_huge.png").write_bytes(cv2.imencode(".png", np.zeros((4200, 4200), np.uint8))[1].tobytes())
    (folder / "b_good.jpg").write_bytes(DEMO_IMAGE.read_bytes())
    src = open_source(str(folder))
    assert src.read().image.shape == cv2.imread(str(DEMO_IMAGE)).shape
    assert src.read() is None and src.unreadable == 1
