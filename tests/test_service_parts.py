"""The service's parts in-process, on real files and sockets: the events writer under faults, sd_notify, log lines
for journald, the reconnecting source and a camera read that a stop wakes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
from conftest import ROOT

from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.outputs.events import EventsSink, JsonlWriter
from fer_edge.service.sdnotify import Notifier
from fer_edge.sources import NullSource, open_source
from fer_edge.sources.reader import LatestFrames
from fer_edge.sources.reconnect import ReconnectingSource


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writer_on_a_full_disk_counts_and_logs_once(capsys, log_lines):
    writer = JsonlWriter("/dev/full", keep_going=True)
    for i in range(5):
        writer.write({"i": i})
        writer.write({"i": i, "second": True})
        writer.flush()
    writer.close()
    err = capsys.readouterr().err.splitlines()
    assert err == ["fer-edge: events /dev/full: write failed (No space left on device); dropping records and continuing"]
    assert (writer.errors, writer.lost) == (5, 10)


def test_writer_retries_a_path_it_could_not_open_and_says_when_it_writes_again(tmp_path, capsys, monkeypatch, log_lines):
    blocker = tmp_path / "state"
    blocker.write_text("a file where a folder should be")
    target = blocker / "events.jsonl"
    with pytest.raises(FerEdgeError, match="events.jsonl: cannot open events file"):
        JsonlWriter(target)  # `fer-edge run`: a clear error
    monkeypatch.setattr(JsonlWriter, "REOPEN_S", 0.0)
    writer = JsonlWriter(target, keep_going=True)  # the service: keeps going
    writer.write({"i": 0})
    writer.flush()
    blocker.unlink()  # someone fixes it
    writer.write({"i": 1})
    writer.flush()
    writer.close()
    assert _lines(target) == [{"i": 1}] and writer.lost == 1
    err = capsys.readouterr().err
    assert "cannot open (File exists)" in err and "writing again (1 records lost so far)" in err


def test_writer_rotates_and_keeps_every_line_whole(tmp_path):
    target = tmp_path / "events.jsonl"
    writer = JsonlWriter(target, max_bytes=2000)
    for i in range(200):
        writer.write({"i": i, "pad": "x" * 40})
        writer.flush()
    writer.close()
    current, older = _lines(target), _lines(tmp_path / "events.jsonl.1")
    assert current[-1]["i"] == 199 and older[-1]["i"] + 1 == current[0]["i"]  # nothing lost at the seam
    assert target.stat().st_size <= 2000 + 60 and len(older) > 10


def test_writer_cut_short_by_a_file_size_limit_leaves_no_half_line(tmp_path):
    """RLIMIT_FSIZE makes writes past 5000 bytes fail (EFBIG) part-way: the partial line is cut off again."""
    target = tmp_path / "events.jsonl"
    code = (
        "import resource, signal\n"
        "from fer_edge.outputs.events import JsonlWriter\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))\n"
        f"w = JsonlWriter({str(target)!r}, keep_going=True)\n"
        "for i in range(100):\n"
        "    w.write({'i': i, 'pad': 'y' * 70}); w.write({'i': i, 'pad': 'z' * 70}); w.flush()\n"
        "w.close()\n"
        "print(w.lost)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = target.read_text()
    assert text.endswith("\n") and len(text) <= 5000
    records = _lines(target)
    assert len(records) + int(proc.stdout) == 200 and "File too large" in proc.stderr


@pytest.mark.parametrize("abstract", [False, True])
def test_notifier_sends_datagrams_to_a_path_or_an_abstract_socket(tmp_path, abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"fer-edge-test-{uuid.uuid4().hex}"
        sock.bind("\0" + name)
        env = {"NOTIFY_SOCKET": "@" + name}
    else:
        sock.bind(str(tmp_path / "n.sock"))
        env = {"NOTIFY_SOCKET": str(tmp_path / "n.sock")}
    sock.settimeout(5)
    notifier = Notifier({**env, "WATCHDOG_USEC": "4000000"})
    notifier.send("READY=1", "STATUS=up")
    assert sock.recv(100) == b"READY=1\nSTATUS=up" and notifier.watchdog_s == 2.0
    notifier.close()
    sock.close()


def test_notifier_without_systemd_does_nothing_and_respects_watchdog_pid(capsys, log_lines):
    quiet = Notifier({})
    quiet.send("READY=1")
    assert not quiet.enabled and quiet.watchdog_s == 0
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_s == 0  # meant for another process
    gone = Notifier({"NOTIFY_SOCKET": "/nonexistent/notify"})
    gone.send("READY=1")
    gone.send("WATCHDOG=1")
    assert capsys.readouterr().err.count("systemd is not told") == 1


def test_log_lines_carry_their_priority_when_stderr_is_the_journal(tmp_path):
    """Under systemd (JOURNAL_STREAM names the stderr stream) a line starts with its syslog priority, which journald
    strips and keeps; elsewhere (a terminal, a file, JOURNAL_STREAM naming another stream) lines read as they are."""
    code = ("import logging; from fer_edge.logs import log_to_stderr; log_to_stderr('fer-edge service'); "
            "log = logging.getLogger('fer_edge.outputs.events'); log.info('started'); log.warning('disk full'); "
            "logging.getLogger('fer_edge.train.trainer').debug('not shown')")
    for under_systemd in (True, False):
        path = tmp_path / f"stderr-{under_systemd}"
        with path.open("w") as err:
            st = os.fstat(err.fileno())
            stream = f"{st.st_dev}:{st.st_ino}" if under_systemd else f"{st.st_dev}:{st.st_ino + 1}"
            subprocess.run([sys.executable, "-c", code], stderr=err, check=True, timeout=60, cwd=ROOT,
                           env={**os.environ, "JOURNAL_STREAM": stream})
        lines = path.read_text().splitlines()
        if under_systemd:
            assert lines == ["<6>fer-edge service: started", "<4>fer-edge service: disk full"], lines
        else:
            assert lines == ["fer-edge service: started", "fer-edge service: disk full"], lines


def test_reconnecting_source_backs_off_then_recovers_and_numbers_frames_on():
    stop = threading.Event()
    attempts, states = [], []

    def opener():
        attempts.append(time.monotonic())
        if len(attempts) in (2, 3, 4):  # the second, third and fourth openings fail
            raise FerEdgeError("camera gone")
        return open_source("demo")

    src = ReconnectingSource(opener, "demo", stop, min_wait_s=0.1, max_wait_s=0.3, on_state=states.append)
    frames = [src.read() for _ in range(3)]
    src.close()
    assert [f.index for f in frames] == [0, 1, 2]
    assert (src.errors, src.reconnects, src.up) == (3, 1, True)
    waits = [float(s.split("reconnecting in ")[1].split(" ")[0]) for s in states]
    assert waits == [0.1, 0.2, 0.3]  # doubling, capped at max_wait_s
    assert all(b - a >= w for a, b, w in zip(attempts[1:], attempts[2:], waits))
    assert all("camera gone" in s for s in states)


def test_reconnecting_source_paces_files_and_stops_promptly_while_waiting():
    stop = threading.Event()

    def opener():
        raise FerEdgeError("no camera")

    src = ReconnectingSource(lambda: open_source("demo"), "demo", stop, fps=20)
    t0 = time.monotonic()
    for _ in range(6):
        src.read()
    assert time.monotonic() - t0 >= 5 / 20  # six frames at 20 fps take at least five periods
    waiting = ReconnectingSource(opener, "cam", stop, min_wait_s=30, max_wait_s=30)
    threading.Timer(0.2, stop.set).start()
    got = []
    reader = threading.Thread(target=lambda: got.append(waiting.read()))
    reader.start()
    reader.join(timeout=10)  # the stop ends the 30 s backoff: a read that sat it out would still be waiting here
    assert not reader.is_alive() and got == [None]


def test_pacing_is_its_own_wait_stage_not_decode(tmp_path):
    """A file held to 5 fps waits about 200 ms a frame; `decode` is the read alone, the pacing goes to `wait`."""
    from conftest import write_demo_clip

    from fer_edge.config import config_from
    from fer_edge.outputs.http.health import Health
    from fer_edge.pipeline.build import build_pipeline

    clip = write_demo_clip(tmp_path / "clip.avi", 10, 160)
    src = ReconnectingSource(lambda: open_source(str(clip)), str(clip), threading.Event(), fps=5)
    out = tmp_path / "events.jsonl"
    writer = JsonlWriter(out)
    monitor = Health(src, writer, ("happy",), 5.0, {})
    monitor.SNAPSHOT_EVERY_S = 0.0
    with EventsSink(writer, 10.0) as events:
        build_pipeline(config_from({}), max_frames=6).run(src, [events, monitor])
    latency = _lines(out)[-1]["latency_ms"]
    # 5 fps: about 200 ms a frame is spent waiting for the pace, which is not decoding (a fraction of that)
    assert latency["wait"]["p50"] > 100 and latency["decode"]["p50"] < latency["wait"]["p50"] / 4, latency
    assert latency["total"]["mean"] >= latency["wait"]["mean"] + latency["decode"]["mean"]
    from prometheus_client.parser import text_string_to_metric_families

    p50 = {s.labels["stage"]: s.value for f in text_string_to_metric_families(monitor.metrics_text())
           for s in f.samples if s.name == "fer_edge_stage_seconds" and s.labels.get("quantile") == "0.5"}
    assert p50["wait"] > 0.1 and p50["decode"] < p50["wait"] / 4, p50  # /metrics says the same


def test_reconnecting_source_does_not_retry_a_wrong_setting():
    def opener():
        raise UsageError("clip.xyz: unknown source type")

    with pytest.raises(UsageError, match="unknown source type"):
        ReconnectingSource(opener, "clip.xyz", threading.Event()).read()


def test_reconnecting_source_skips_frames_that_are_not_images():
    images = [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((8, 8, 3), np.uint8)]

    src = ReconnectingSource(lambda: NullSource(images), "broken", threading.Event())
    assert src.read().image.shape == (8, 8, 3) and src.undecodable == 2


def test_a_stop_wakes_a_read_waiting_on_a_stalled_camera():
    stalled = threading.Event()

    def grab():  # the camera seam: a driver that never returns a frame until released
        stalled.wait()
        return None

    reader = LatestFrames(grab, 2)
    threading.Timer(0.2, reader.wake).start()
    assert reader.get(timeout=30) is None and not reader.stalled  # woken, not given up on after the 30 s stall
    stalled.set()
    reader.stop()


@pytest.mark.shared
def test_a_looping_folder_is_detected_on_every_frame_through_the_reconnecting_source(shared, tmp_path):
    """Consecutive photos are unrelated: boxes must never be carried from one to the next (--detect-every)."""
    from fer_edge.config import config_from
    from fer_edge.pipeline.build import build_pipeline

    for name in ("fr_obama.jpg", "fr_two_people.jpg"):
        (tmp_path / name).write_bytes((shared / "data" / "scenes" / name).read_bytes())
    stop = threading.Event()
    src = ReconnectingSource(lambda: open_source(str(tmp_path)), str(tmp_path), stop)
    out = tmp_path / "events.jsonl"
    with EventsSink(JsonlWriter(out), 10.0) as events:
        build_pipeline(config_from({"detector.every": 2}), max_frames=4).run(src, [events])
    assert src.still
    faces = [r for r in map(json.loads, out.read_text().splitlines()) if r["type"] == "face"]
    assert all(f["detected"] for f in faces)
    assert [sum(f["frame"] == i for f in faces) for i in range(4)] == [1, 2, 1, 2]


def test_metric_value_reads_a_sample_with_the_prometheus_parser():
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

    from fer_edge.outputs.http.health import metric_value

    registry = CollectorRegistry()
    Counter("fer_edge_frames", "frames", registry=registry).inc(275)
    Gauge("fer_edge_labels", "by label", ["label"], registry=registry).labels("happy").set(3)
    text = generate_latest(registry).decode()
    assert metric_value(text, "fer_edge_frames_total") == 275.0  # printed as 275.0: a regex for \d+ would misread it
    assert metric_value(text, "fer_edge_labels") is None  # only unlabelled samples
    assert metric_value(text, "fer_edge_missing_total") is None
