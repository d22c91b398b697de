"""Where events go when the output misbehaves: stdout closed or its reader gone, the file deleted, moved or
rotated onto a symlink, and `run`'s exit status when records were lost."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from conftest import ROOT, Service, assert_one_line_error, run_cli

from fer_edge.outputs.events import JsonlWriter


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _cli(*args: str, cwd, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "fer_edge.cli", *args], cwd=cwd, env=env, text=True, **kw)


def test_run_with_stdout_closed_is_an_error_and_writes_no_file_named_dash(tmp_path):
    proc = _cli("run", "--source", "demo", "--frames", "2", cwd=tmp_path, stderr=subprocess.PIPE,
                preexec_fn=lambda: os.close(1))
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 1 and "events -: stdout is closed" in err, err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_run_stops_quietly_when_the_reader_goes_away_and_never_says_writing_again(tmp_path):
    proc = _cli("run", "--source", "demo", "--frames", "500", cwd=tmp_path, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["type"] == "face"
    proc.stdout.close()  # like `| head -1`: the reader took what it wanted, so no error (exit 0)
    err = proc.communicate(timeout=120)[1]
    assert "stdout's reader closed the pipe after" in err, err
    assert "writing again" not in err and err.count("reader closed") == 1, err
    assert proc.returncode == 0 and "error" not in err and "warning" not in err, err
    frames = int(err.split("stopped at frame ")[1].split()[0])
    assert frames < 500, "the run went on with nobody reading"


def test_run_exits_non_zero_when_every_record_was_lost():
    proc = run_cli("run", "--source", "demo", "--frames", "3", "--events", "/dev/full", timeout=120)
    assert_one_line_error(proc, "events /dev/full", "5 of 5 records lost", code=1)  # a run record, 3 faces, stats


def test_a_deleted_or_moved_events_file_is_reopened_and_nothing_is_lost(tmp_path, capsys, log_lines):
    target = tmp_path / "events.jsonl"
    writer = JsonlWriter(target, keep_going=True)
    writer.write({"i": 0})
    writer.flush()
    target.unlink()  # someone cleans up
    writer.write({"i": 1})
    writer.flush()
    target.rename(tmp_path / "shipped.jsonl")  # a log shipper moves it away
    writer.write({"i": 2})
    writer.flush()
    writer.close()
    assert _lines(target) == [{"i": 2}] and _lines(tmp_path / "shipped.jsonl") == [{"i": 1}]
    assert (writer.written, writer.lost) == (3, 0)
    assert capsys.readouterr().err.count("the file was deleted or replaced; reopening it") == 2


def test_rotation_follows_a_symlink_and_never_replaces_a_fifo(tmp_path, capsys, log_lines):
    real, link = tmp_path / "real.jsonl", tmp_path / "events.jsonl"
    link.symlink_to(real.name)
    writer = JsonlWriter(link, max_bytes=200)
    for i in range(10):
        writer.write({"i": i, "pad": "x" * 40})
        writer.flush()
    assert link.is_symlink() and (tmp_path / "real.jsonl.1").is_file()
    assert not (tmp_path / "events.jsonl.1").exists()
    (tmp_path / "real.jsonl.1").unlink()
    os.mkfifo(tmp_path / "real.jsonl.1")
    for i in range(10, 20):
        writer.write({"i": i, "pad": "x" * 40})
        writer.flush()
    writer.close()
    assert stat.S_ISFIFO(os.lstat(tmp_path / "real.jsonl.1").st_mode)
    assert writer.lost == 0 and [r["i"] for r in _lines(real)][-1] == 19
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "rotation failed" in err[0] and "is a FIFO" in err[0], err


# --- events_max_mb: the file rotates to <file>.1 beyond the limit, through the commands --------------------------------

def _rotated(events) -> tuple[list[dict], list[dict]]:
    """(<file>.1's records, <file>'s records), each file within the limit plus the record that crossed it."""
    old, new = events.with_name(events.name + ".1"), events
    assert old.is_file() and new.is_file(), sorted(p.name for p in events.parent.iterdir())
    for path in (old, new):
        sizes = [len(line) + 1 for line in path.read_text().splitlines()]
        assert sum(sizes[:-1]) <= 2000, (path.name, sum(sizes))  # it rotated once past 2000 bytes, no later
    return _lines(old), _lines(new)


def test_run_rotates_its_events_at_events_max_mb(tmp_path):
    """`--outputs-events-max-mb 0.002` (2,000 bytes, about five face records): the file is renamed to events.jsonl.1
    and started afresh each time it passes the limit; the two files left hold the last records, in order, none lost
    at the seam, and the stats record counts every frame."""
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", "--source", "demo", "--frames", "40", "--events", str(events), "--outputs-events-max-mb",
                   "0.002")
    assert proc.returncode == 0, proc.stderr
    old, new = _rotated(events)
    frames = [r["frame"] for r in old + new if r["type"] == "face"]
    assert frames == list(range(frames[0], 40)) and frames[0] > 0  # consecutive across the seam; the first rotated out
    assert new[-1]["type"] == "stats" and new[-1]["frames"] == 40 and new[-1]["faces"] == 40
    unlimited = tmp_path / "unlimited.jsonl"
    assert run_cli("run", "--source", "demo", "--frames", "40", "--events", str(unlimited)).returncode == 0
    assert not unlimited.with_name("unlimited.jsonl.1").exists()  # the default, 64 MB, is far off
    assert len(_lines(unlimited)) == 42  # the run record, 40 faces, the stats


def test_the_service_rotates_its_events_at_the_config_s_events_max_mb(tmp_path):
    events = tmp_path / "events.jsonl"
    config = f'[source]\ninput = "demo"\nfps = 20\n\n[outputs]\nevents = "{events}"\nevents_max_mb = 0.002\n'
    with Service(tmp_path, config=config) as svc:
        svc.ready()
        svc.poll_until(lambda: svc.metrics()[("fer_edge_frames_total", ())] >= 30)
        assert svc.stop() == 0, svc.stderr()
    old, new = _rotated(events)
    frames = [r["frame"] for r in old + new if r["type"] == "face"]
    assert frames == list(range(frames[0], frames[-1] + 1)) and frames[0] > 0
    assert new[-1]["type"] == "stats" and new[-1]["frames"] == frames[-1] + 1
