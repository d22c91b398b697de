"""`fer-edge run` on a long file as a person runs it: a progress line on a terminal (none in a pipe), `--summary`,
`video_time` on a clip's events, `| head -2` ending quietly, and the detection-interval line only where it applies."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli, write_demo_clip

from fer_edge.pipeline.progress import clock_text, progress_text


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """60 frames of the demo face at 30 fps, 224 px square, so its box (about 46 px) is over the minimum face size
    (MJPG: each frame's timestamp is index / 30)."""
    return write_demo_clip(tmp_path_factory.mktemp("clip") / "clip.avi", 60, 224)


def _run_on_pty(*args: str) -> tuple[int, str]:
    """`fer-edge ARGS` with stderr on a pseudo-terminal (as in a terminal window); what the terminal got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "fer_edge.cli", *args], stdout=subprocess.DEVNULL, stderr=slave,
                            cwd=ROOT, env=_env())
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def test_progress_text_counts_frames_rate_and_time_left():
    assert progress_text(120, 275, 50.0) == "frame 120/275 (44%), 50.0 fps, ETA 0:03"
    assert progress_text(275, 275, 50.0) == "frame 275/275 (100%), 50.0 fps"
    assert progress_text(1, 100_000, 10.0).endswith("ETA 2:46:40")


def test_progress_line_on_a_terminal_and_none_in_a_pipe(clip):
    code, screen = _run_on_pty("run", "--source", str(clip), "--events", os.devnull)
    assert code == 0, screen
    assert "\rframe 60/60 (100%)" in screen, screen
    assert "ETA" in screen and "fps" in screen
    assert screen.rstrip("\r\n").count("\r") >= 2  # redrawn in place, then erased before the last log line
    assert "\r\x1b[K" in screen and "60 frames," in screen.split("\r\x1b[K")[-1]
    piped = run_cli("run", "--source", str(clip), "--events", os.devnull)
    assert piped.returncode == 0, piped.stderr
    assert "frame 60/60" not in piped.stderr and "\r" not in piped.stderr


def test_events_of_a_clip_carry_the_position_in_the_file(clip):
    proc = run_cli("run", "--source", str(clip), "--detect-every", "1")
    assert proc.returncode == 0, proc.stderr
    faces = [r for r in _records(proc.stdout) if r["type"] == "face"]
    assert len(faces) == 60
    assert all(f["video_time"] == pytest.approx(f["frame"] / 30, abs=0.002) for f in faces)
    photo = [r for r in _records(run_cli("run", "--source", "demo").stdout) if r["type"] == "face"]
    assert photo and "video_time" not in photo[0]


@pytest.mark.shared
def test_video_time_follows_the_clips_own_timestamps(shared):
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    proc = run_cli("run", "--source", str(clip), "--frames", "90")
    faces = [r for r in _records(proc.stdout) if r["type"] == "face"]
    assert faces and all(f["video_time"] == pytest.approx(f["frame"] / 29.97, abs=0.002) for f in faces)
    assert max(f["video_time"] for f in faces) > 2.9


def test_summary_table_agrees_with_the_events(clip, tmp_path):
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", "--source", str(clip), "--events", str(events), "--summary")
    assert proc.returncode == 0, proc.stderr
    faces = [r for r in _records(events.read_text()) if r["type"] == "face"]
    ids = {f["face_id"] for f in faces}
    lines = proc.stdout.splitlines()
    assert lines[0] == f"60 frames, {len(faces)} faces ({len(faces) / 60:.2f} a frame), {len(ids)} face ids", lines
    rows = [r for r in map(str.split, lines[1:]) if r and r[0].isdigit()]
    assert {int(r[0]) for r in rows} == ids
    for row in rows:
        mine = [f for f in faces if f["face_id"] == int(row[0])]
        assert int(row[1]) == len(mine) and row[2] == f"{mine[0]['frame']}-{mine[-1]['frame']}"
        assert row[3] == f"{clock_text(mine[0]['video_time'], True)}-{clock_text(mine[-1]['video_time'], True)}"
    assert "happy" in proc.stdout
    to_stdout = run_cli("run", "--source", str(clip), "--frames", "5", "--summary")  # events on stdout: table on stderr
    assert "5 frames," in to_stdout.stderr and all(line.startswith("{") for line in to_stdout.stdout.splitlines())


def test_a_reader_that_closes_the_pipe_ends_the_run_quietly_with_whole_lines(tmp_path):
    cmd = (f"{sys.executable} -m fer_edge.cli run --source demo --frames 500 2>{tmp_path}/stderr.txt | head -2; "
           "echo rc=${PIPESTATUS[0]}")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300)
    head, status = proc.stdout.splitlines()[:2], proc.stdout.splitlines()[2:]
    assert [json.loads(line)["type"] for line in head] == ["face", "face"]
    assert status == ["rc=0"], proc.stdout
    err = (tmp_path / "stderr.txt").read_text()
    assert "error" not in err and "Traceback" not in err and "Broken pipe" not in err and "warning" not in err, err
    frames = int(err.split("stopped at frame ")[1].split()[0])
    assert frames < 500, "the run went on with nobody reading"


def test_the_interval_line_is_for_videos_not_photos(clip, tmp_path):
    video = run_cli("run", "--source", str(clip), "--events", os.devnull)
    assert "looking for faces on every 2nd frame (every 0.067 s at 30 fps) and following them in between" in video.stderr
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((ROOT / "edge" / "assets" / "demo_astronaut.jpg").read_bytes())
    for source in ("demo", str(folder)):
        proc = run_cli("run", "--source", source, "--events", os.devnull)
        assert proc.returncode == 0 and "looking for faces" not in proc.stderr, proc.stderr
