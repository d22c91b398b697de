"""Live streams that misbehave, on real loopback sockets: a stream that stalls, a broken frame, a server that
accepts and never answers; and folders holding what is not a plain photo (a FIFO, an 8000x8000 JPEG).

The servers are a few lines of socket code each (benchmarks/loopback.py); every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT, Service, assert_one_line_error, run_cli

from fer_edge.benchmarks.loopback import MjpegServer, SilentServer
from fer_edge.sources import DEMO_IMAGE


@pytest.fixture
def serve():
    servers = []

    def start(server):
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return result


def test_stalled_stream_is_reported_down_then_reconnected_not_a_crash(tmp_path, serve):
    """30 frames, then the connection stays open and silent: source_up goes to 0 with /healthz, and the stall is
    a logged, counted reconnect (it used to be a SIGSEGV, a capture released under a thread blocked in read)."""
    server = serve(MjpegServer(frames=30, stall=True))
    args = ("--source", server.url, "--http-stale-after-s", "1", "--source-reconnect-min-s", "0.2", "--events", "")
    with Service(tmp_path, *args) as svc:
        svc.wait_for("READY=1")
        svc.poll_until(lambda: svc.metrics()[("fer_edge_frames_total", ())] >= 1, timeout=30)  # frames came
        svc.poll_until(lambda: svc.get("/healthz")[0] == 503, timeout=30)  # then the stream went quiet (not: none yet)
        m = svc.metrics()
        assert m[("fer_edge_source_up", ())] == 0 and m[("fer_edge_healthy", ())] == 0
        lost = svc.wait_for("STATUS=waiting for camera: source ", timeout=40)
        assert "stalled" in svc.messages[lost] and "reconnecting in" in svc.messages[lost]
        svc.poll_until(lambda: svc.metrics()[("fer_edge_source_reconnects_total", ())] >= 1, timeout=40)
        assert server.connections >= 2
        code = svc.stop(timeout=10)
    assert code == 0, (code, svc.stderr())
    log = svc.stderr()
    assert re.search(r"source http://\S+: no frame for \d+ s \(stalled\); reconnecting in", log), log
    assert float(re.search(r"back after ([\d.]+) s", log).group(1)) >= 9  # counted from the last frame
    assert "Traceback" not in log


def test_broken_mjpeg_frame_is_undecodable_not_a_lost_source(tmp_path, serve):
    server = serve(MjpegServer(frames=15, broken=(7,), forever=True))
    with Service(tmp_path, "--source", server.url, "--events", "") as svc:
        svc.wait_for("READY=1")
        m = svc.poll_until(lambda: (m := svc.metrics())[("fer_edge_frames_undecodable_total", ())] >= 2 and m,
                           timeout=40)
        assert m[("fer_edge_source_errors_total", ())] == 0 and m[("fer_edge_source_reconnects_total", ())] == 0
        assert m[("fer_edge_source_up", ())] == 1 and server.connections == 1
        code = svc.stop(timeout=10)
    assert code == 0, svc.stderr()
    assert "reconnecting" not in svc.stderr()


def test_sigterm_while_opening_a_stream_that_never_answers(tmp_path, serve):
    server = serve(SilentServer())
    with Service(tmp_path, "--source", server.url, "--events", "") as svc:
        svc.url  # noqa: B018 -- the start line is out: models loaded, the open comes next
        _wait(lambda: server.connections >= 1, 30, "the service connecting")
        time.sleep(0.5)
        code = svc.stop(timeout=5)
    assert code == 0, (code, svc.stderr())
    assert "reconnecting" not in svc.stderr() and "Traceback" not in svc.stderr()


def test_run_on_a_stream_that_stalls_says_why_it_stopped(tmp_path, serve):
    server = serve(MjpegServer(frames=30, stall=True))
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", "--source", server.url, "--events", str(events), timeout=90)
    assert proc.returncode != -signal.SIGSEGV, proc.stderr
    assert_one_line_error(proc, server.url, "no frame for 10 s (stalled)", code=1)
    assert _records(events)[-1]["type"] == "stats"


def test_run_on_a_stream_that_ends_says_so_and_exits_0(tmp_path, serve):
    server = serve(MjpegServer(frames=20, stall=False))
    proc = run_cli("run", "--source", server.url, "--events", str(tmp_path / "ev.jsonl"), timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert f"fer-edge run: source {server.url}: the stream ended" in proc.stderr


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
        code = svc.stop(timeout=5)
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
    # blazeface, not the default room: this is about memory, and room's tiles over a photo blown up 8x find texture
    proc = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "fer_edge.cli", "run", "--source",
                           str(folder), "--events", str(events), "--detector", "blazeface"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    returncode, peak_kb = map(int, proc.stdout.split())
    assert returncode == 0, proc.stderr
    assert peak_kb < 384 * 1024, f"peak resident memory {peak_kb / 1024:.0f} MB"
    faces = [r for r in _records(events) if r["type"] == "face"]
    assert [f["label"] for f in faces] == ["happy"]


def test_an_image_too_large_to_decode_reduced_is_skipped_and_counted(tmp_path):
    """A PNG has no reduced decode: one above the pixel bound (4200x4200, 53 MB as BGR) is skipped, not decoded."""
    from fer_edge.sources import open_source

    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a_huge.png").write_bytes(cv2.imencode(".png", np.zeros((4200, 4200), np.uint8))[1].tobytes())
    (folder / "b_good.jpg").write_bytes(DEMO_IMAGE.read_bytes())
    src = open_source(str(folder))
    assert src.read().image.shape == cv2.imread(str(DEMO_IMAGE)).shape
    assert src.read() is None and src.undecodable == 1
