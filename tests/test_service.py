"""`fer-edge service` as systemd runs it: a subprocess, NOTIFY_SOCKET on a datagram socket bound here, real HTTP.

Faults are real too: a video file that disappears and comes back, an undecodable image, /dev/full, a path that
cannot be created, a port someone else holds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import Service, assert_one_line_error, run_cli, write_demo_clip

from fer_edge.sources import DEMO_IMAGE

FACE_KEYS = {"type", "v", "time", "frame", "file", "face_id", "box", "detected", "detector_score", "label", "score", "probs",
             "smoothed_label", "smoothed_score"}


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_service_notifies_systemd_serves_http_and_stops_on_sigterm(tmp_path):
    config = tmp_path / "config.toml"
    events = tmp_path / "events.jsonl"
    config.write_text(f'[source]\ninput = "demo"\nfps = 20\n\n[outputs]\nevents = "{events}"\nstats_every_s = 1.0\n')
    with Service(tmp_path, "--config", str(config), abstract=True) as svc:
        ready = svc.wait_for("READY=1")  # once the model is loaded, before any frame
        assert "STATUS=waiting for camera: opening demo" in svc.messages[ready], svc.messages[ready]
        first = svc.wait_for("fps, 1 face", after=ready)  # STATUS says so as soon as frames flow
        assert re.search(r"STATUS=[\d.]+ fps, 1 face", svc.messages[first]), svc.messages[first]
        svc.wait_for("WATCHDOG=1", after=svc.wait_for("WATCHDOG=1") + 1)  # pinged again and again
        assert svc.get("/healthz")[0] == 200
        # 30 frames at 20 fps: past the first periodic stats record
        m = svc.poll_until(lambda: (m := svc.metrics())[("fer_edge_frames_total", ())] >= 30 and m)
        assert m[("fer_edge_faces_total", ())] >= 30 and m[("fer_edge_healthy", ())] == 1
        assert m[("fer_edge_labels_total", (("label", "happy"),))] >= 1
        assert m[("fer_edge_labels_total", (("label", "angry"),))] == 0  # every label is there from the start
        assert m[("fer_edge_source_reconnects_total", ())] == 0 and m[("fer_edge_frames_dropped_total", ())] == 0
        assert m[("fer_edge_stage_seconds", (("quantile", "0.5"), ("stage", "detect")))] > 0
        assert m[("fer_edge_stage_seconds_count", (("stage", "total"),))] >= 5
        status, ctype, body = svc.get("/events/latest")
        latest = json.loads(body)
        assert status == 200 and ctype == "application/json" and latest["healthy"] is True
        assert [(set(f), f["label"], f["face_id"]) for f in latest["faces"]] == [(FACE_KEYS, "happy", 1)]
        for path in ("/", "/frame.jpg", "/events"):  # nothing but the three endpoints; never an image
            status, ctype, _ = svc.get(path)
            assert status == 404 and ctype.startswith("text/plain")
        before = len(svc.messages)
        assert svc.stop() == 0, svc.stderr()
        assert svc.count("STOPPING=1", after=before) == 1 and svc.count("READY=1") == 1
    records = _records(events)
    faces = [r for r in records if r["type"] == "face"]
    stats = [r for r in records if r["type"] == "stats"]
    assert len(stats) >= 2 and records[-1]["type"] == "stats"  # periodic, and the last one at the end
    assert records[-1]["frames"] == len(faces) == records[-1]["faces"] >= m[("fer_edge_frames_total", ())]
    assert [f["frame"] for f in faces] == list(range(len(faces)))  # one photo, looped: a face in every frame
    assert "Traceback" not in svc.stderr()


def _clip(path: Path, frames: int = 12) -> Path:
    return write_demo_clip(path, frames, 256)


def test_lost_source_reconnects_with_watchdog_alive_and_health_503(tmp_path):
    """The process owns reconnecting: each attempt pings the watchdog (the loop is alive) while /healthz says 503."""
    clip = _clip(tmp_path / "clip.avi")
    away = tmp_path / "moved.avi"
    events = tmp_path / "events.jsonl"
    args = ("--source", str(clip), "--source-fps", "30", "--source-reconnect-min-s", "0.2",
            "--source-reconnect-max-s", "0.4", "--http-stale-after-s", "1", "--events", str(events))
    with Service(tmp_path, *args) as svc:
        svc.wait_for("READY=1")
        svc.wait_for("WATCHDOG=1")
        assert svc.get("/healthz")[0] == 200
        clip.rename(away)  # the camera is unplugged: the open capture ends its pass, reopening fails
        lost = svc.wait_for("STATUS=waiting for camera: source ")
        assert "no such file" in svc.messages[lost] and "reconnecting in" in svc.messages[lost]
        status, _, body = svc.poll_until(lambda: (r := svc.get("/healthz"))[0] == 503 and r, timeout=30)
        assert body.startswith("stale: no frame for")
        m = svc.metrics()
        assert m[("fer_edge_source_up", ())] == 0 and m[("fer_edge_source_errors_total", ())] >= 1
        assert m[("fer_edge_healthy", ())] == 0 and m[("fer_edge_frames_per_second", ())] == 0
        assert json.loads(svc.get("/events/latest")[2])["faces"] == []
        pinged = svc.wait_for("WATCHDOG=1", after=lost)  # no frame, yet the loop is alive: systemd leaves it be
        svc.wait_for("STATUS=waiting for camera: source ", after=pinged)  # each attempt says so
        assert svc.get("/healthz")[0] == 503
        away.rename(clip)  # plugged back in
        back = svc.wait_for("fps, 1 face", after=lost, timeout=60)
        assert svc.get("/healthz")[0] == 200
        m = svc.metrics()
        assert m[("fer_edge_source_reconnects_total", ())] == 1 and m[("fer_edge_source_up", ())] == 1
        assert svc.count("READY=1") == 1 and back > lost
        assert svc.stop() == 0, svc.stderr()
    assert re.search(r"source .*clip.avi: back after [\d.]+ s \(reconnect 1\)", svc.stderr())
    frames = [r["frame"] for r in _records(events) if r["type"] == "face"]
    assert len(frames) > 12 and frames == sorted(set(frames))  # numbering runs on across reopenings


def test_a_camera_missing_at_start_is_waited_for_not_restarted(tmp_path):
    """READY once the model is loaded, then STATUS and /healthz say it waits, and the watchdog keeps hearing from
    the loop: systemd neither times the start out nor restarts it. The default backoff (16 s at most) is held to
    the watchdog's ping interval (here 0.3 s)."""
    with Service(tmp_path, "--source", "/dev/video97", "--source-reconnect-min-s", "0.2", "--http-stale-after-s",
                 "1") as svc:
        ready = svc.wait_for("READY=1")
        assert "STATUS=waiting for camera" in svc.messages[ready]
        waiting = svc.wait_for("STATUS=waiting for camera: source /dev/video97", after=ready)
        svc.wait_for("WATCHDOG=1", after=svc.wait_for("WATCHDOG=1", after=waiting) + 1)  # again and again
        status, _, body = svc.get("/healthz")
        assert status == 503 and body.startswith("waiting for camera: source /dev/video97"), body
        m = svc.metrics()
        assert m[("fer_edge_source_up", ())] == 0 and m[("fer_edge_frames_total", ())] == 0
        before = len(svc.messages)
        assert svc.stop() == 0, svc.stderr()
        assert svc.count("STOPPING=1", after=before) == 1 and svc.count("READY=1") == 1
    assert "reopening the source at least every 0.3 s" in svc.stderr()
    assert "Traceback" not in svc.stderr()


def test_undecodable_frames_are_skipped_and_counted_and_sigint_stops(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(DEMO_IMAGE, folder / "a_good.jpg")
    (folder / "b_broken.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(3000))
    with Service(tmp_path, "--source", str(folder), "--source-fps", "20", "--events", "") as svc:
        svc.wait_for("READY=1")
        m = svc.poll_until(lambda: (m := svc.metrics())[("fer_edge_frames_undecodable_total", ())] >= 3 and m)
        assert m[("fer_edge_frames_total", ())] >= 2 and m[("fer_edge_source_errors_total", ())] == 0
        assert svc.get("/healthz")[0] == 200
        assert svc.stop(signal.SIGINT) == 0, svc.stderr()
    stopped = re.search(r"stopped: \d+ frames, \d+ faces, 0 reconnects, (\d+) undecodable", svc.stderr())
    assert stopped and int(stopped.group(1)) >= 3, svc.stderr()  # [3-9]\d* read 11 as too few


@pytest.mark.parametrize("target,line", [
    ("/dev/full", "events /dev/full: write failed (No space left on device); dropping records and continuing"),
    ("/dev/null/sub/events.jsonl", "events /dev/null/sub/events.jsonl: cannot open (Not a directory); "
                                   "dropping records, retrying every 30 s and continuing"),
])
def test_events_disk_full_or_unwritable_logs_once_and_keeps_running(tmp_path, target, line):
    with Service(tmp_path, "--source", "demo", "--source-fps", "20", "--events", target) as svc:
        svc.wait_for("READY=1")
        m = svc.poll_until(lambda: (m := svc.metrics())[("fer_edge_events_lost_total", ())] >= 5 and m)
        assert m[("fer_edge_events_write_errors_total", ())] >= 1 and m[("fer_edge_frames_total", ())] >= 5
        svc.wait_for("event records lost", after=svc.wait_for("WATCHDOG=1"))  # STATUS says so; the loop goes on
        assert svc.get("/healthz")[0] == 200
        assert svc.stop() == 0, svc.stderr()
    logged = [x for x in svc.stderr().splitlines() if x.startswith("fer-edge service: events ")]
    assert logged == [f"fer-edge service: {line}"], logged


def test_taken_port_is_a_clear_error_at_start():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        proc = run_cli("service", "--source", "demo", "--http-port", str(port), timeout=120)
    finally:
        holder.close()
    assert_one_line_error(proc, f"http.port {port}", "already in use", code=1)


def test_every_sink_sees_every_frame_after_the_stats_count_it():
    """Each sink (the service's watchdog, health, MQTT) gets each processed frame's result once, in turn."""
    from fer_edge.config import config_from
    from fer_edge.pipeline.build import build_pipeline
    from fer_edge.pipeline.sink import CallbackSink, NullSink
    from fer_edge.sources import open_source

    seen = []
    pipeline = build_pipeline(config_from({"detector.name": "blazeface-short"}))
    null = NullSink()
    stats = pipeline.run(open_source("demo", demo_frames=3), [
        null, CallbackSink(lambda r: seen.append((r.frame.index, len(r.faces), r.stats.frames, null.frames)))])
    assert seen == [(0, 1, 1, 1), (1, 1, 2, 2), (2, 1, 3, 3)] and stats.frames == 3
    assert np.isclose(sum(stats.total_s.values()), 2 * stats.total_s["total"])  # the stages add up to the total
