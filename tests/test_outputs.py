"""What a new user sees first (issue 12): stderr without library noise, annotated photos, events that say where
they came from and which run, reports that never overwrite each other, and the small flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, Service, assert_drawn, assert_one_line_error, face_record, video_frames, write_demo_clip, write_fer_csv

from fer_edge.bundled import DEFAULT_MODEL
from fer_edge.sources import DEMO_IMAGE


def cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`fer-edge ARGS` as a user runs it: no test-only environment (run_cli sets TF_CPP_MIN_LOG_LEVEL)."""
    return subprocess.run([sys.executable, "-m", "fer_edge.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- stderr: quiet by default, --verbose to see the libraries' own lines -------------------------------------------

def test_run_stderr_has_no_library_noise_unless_verbose():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "OPENCV"))}
    quiet = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", "demo", "--frames", "1"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stderr.splitlines()  # fer-edge's own log lines only (the detection interval), the summary last
    assert all(line.startswith("fer-edge run: ") for line in lines) and " frames, " in lines[-1], quiet.stderr
    assert "XNNPACK" not in quiet.stderr and "WARN" not in quiet.stderr
    from fer_edge.runtime import runtime_name

    for where in (["--verbose", "run"], ["run", "--verbose"]):  # before or after the subcommand
        loud = subprocess.run([sys.executable, "-m", "fer_edge.cli", *where, "--source", "demo", "--frames", "1"],
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
    code = ("import os; from fer_edge.quiet import native_stderr\n"
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
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "convert", str(model), "--calib", str(calib),
                           "--out", str(tmp_path / "out"), "--variants", "int8"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    for noise in ("oneDNN", "absl", "fully_quantize", "XNNPACK", "UserWarning", "I0000"):
        assert noise not in proc.stderr, proc.stderr


def test_version():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("fer-edge ") and proc.stdout.split()[1][0].isdigit()


# --- --annotate: photos give photos, videos give a video, a failed write is an error --------------------------------

def _photo_folder(tmp_path: Path) -> Path:
    """Two photos of different sizes and formats (one face each): a folder OpenCV's video writer could not hold."""
    folder = tmp_path / "photos"
    folder.mkdir()
    demo = cv2.imread(str(DEMO_IMAGE))
    cv2.imwrite(str(folder / "a_big.jpg"), demo)
    cv2.imwrite(str(folder / "b_small.png"), cv2.resize(demo, (320, 320)))
    return folder


def _clip(path: Path, frames: int = 30) -> Path:
    return write_demo_clip(path, frames, 320)


def test_annotate_a_photo_writes_an_image(tmp_path):
    out = tmp_path / "ann.jpg"
    proc = cli("run", "--source", str(DEMO_IMAGE), "--annotate", str(out))
    assert proc.returncode == 0, proc.stderr
    image = cv2.imread(str(out))  # an MPEG-4 stream under a .jpg name reads as None
    assert image is not None
    assert_drawn(cv2.imread(str(DEMO_IMAGE)), image, [r for r in _records(proc.stdout) if r["type"] == "face"])


def test_annotate_a_folder_writes_one_image_per_photo_named_after_it(tmp_path):
    folder = _photo_folder(tmp_path)
    out = tmp_path / "annotated"
    proc = cli("run", "--source", str(folder), "--annotate", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a_big.jpg", "b_small.png"]
    faces = [r for r in _records(proc.stdout) if r["type"] == "face"]
    assert [(f["frame"], f["file"]) for f in faces] == [(0, "a_big.jpg"), (1, "b_small.png")]  # which photo
    for face in faces:  # each copy is its own photo with its own face drawn on it
        assert_drawn(cv2.imread(str(folder / face["file"])), cv2.imread(str(out / face["file"])), [face])


def test_annotate_refuses_what_it_cannot_write_well(tmp_path):
    folder = _photo_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert_one_line_error(cli("run", "--source", str(folder), "--annotate", str(folder)), "the source itself", code=2)
    assert_one_line_error(cli("run", "--source", str(folder), "--annotate", str(tmp_path / "x.jpg")),
                          "--annotate", "name a folder", code=2)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the photos are untouched
    clip = _clip(tmp_path / "clip.avi", frames=4)
    assert_one_line_error(cli("run", "--source", str(clip), "--annotate", str(tmp_path / "v.jpg")),
                          "--annotate", "name a video file", code=2)
    blocker = tmp_path / "file"
    blocker.write_text("")
    # a place that cannot be written: refused before the run (exit 2), not after it (issue 20)
    assert_one_line_error(cli("run", "--source", str(DEMO_IMAGE), "--annotate", str(blocker / "ann.jpg")), "ann.jpg",
                          code=2)
    assert_one_line_error(cli("run", "--source", str(clip), "--annotate", str(blocker / "v.mp4")), "v.mp4", code=2)


def test_annotated_video_cut_short_by_a_full_disk_is_an_error(tmp_path):
    import resource

    clip = _clip(tmp_path / "clip.avi")
    out = tmp_path / "out.mp4"
    ok = cli("run", "--source", str(clip), "--annotate", str(out))
    assert ok.returncode == 0, ok.stderr
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    faces = [r for r in _records(ok.stdout) if r["type"] == "face"]
    raw, annotated = video_frames(clip), video_frames(out)
    assert len(faces) == len(annotated) == 30
    for face in faces:  # every frame of the video is its source frame with that frame's face drawn on it
        assert_drawn(raw[face["frame"]], annotated[face["frame"]], [face])
    limit = out.stat().st_size // 2  # the disk fills half way through (RLIMIT_FSIZE: writes fail with EFBIG)
    out.unlink()
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", str(clip), "--annotate", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert_one_line_error(proc, "out.mp4", "not written whole", code=1)


# --- annotations readable at 1080p and on dark scenes --------------------------------------------------------------

def _face(label: str, box=(800, 400, 1100, 700), face_id: int = 3):
    return face_record(face_id, label, box=box, score=0.41, probs=(1.0,))


def test_annotation_scales_with_the_frame_and_sits_on_a_filled_label():
    from fer_edge.outputs.annotate import COLOURS, draw, luma

    assert all(luma(c) >= 100 for c in COLOURS.values()), COLOURS  # none vanishes on a dark scene
    for label in ("uncertain", "fear"):
        dark = draw(np.zeros((1080, 1920, 3), np.uint8), [_face(label)])
        colour = np.array(COLOURS[label], np.uint8)
        filled = np.all(dark[:400] == colour, axis=2)  # above the box: the label's background
        rows = np.flatnonzero(filled.any(axis=1))
        assert rows.size and rows.max() - rows.min() + 1 >= 0.025 * 1080, rows  # about 3% of the height, not 12 px
        edge = np.all(dark[550, 780:830] == colour, axis=1)  # the box's left side, half way down
        assert edge.sum() >= 3  # thicker than 2 px at 1080p
    bright = draw(np.full((1080, 1920, 3), 255, np.uint8), [_face("neutral")])
    assert (bright[550, 780:830].max(axis=1) < 60).any()  # a dark outline: a light box still shows on white
    small = draw(np.zeros((360, 640, 3), np.uint8), [_face("happy", (100, 100, 200, 200))])
    assert np.all(small[150, 95:105] == np.array(COLOURS["happy"], np.uint8), axis=1).sum() >= 2


def test_labels_of_a_crowded_frame_never_overlap_and_are_drawn():
    """Sixteen faces packed edge to edge (a class photo): every label finds its own place, moved inside or below the
    box when the place above is taken, and the picture holds each box's colour and each label's fill."""
    from fer_edge.outputs.annotate import COLOURS, MIN_SCALE, draw, layout, overlaps

    names = list(COLOURS)
    faces = [_face(names[(r * 4 + c) % len(names)], (40 + c * 75, 20 + r * 75, 105 + c * 75, 85 + r * 75), r * 4 + c + 1)
             for r in range(4) for c in range(4)]
    faces.append(_face("happy", (300, 300, 320, 320), 99))  # a small face: the font keeps its readable minimum
    frame = np.zeros((360, 640, 3), np.uint8)
    labels = layout(frame.shape, faces)
    placed = [lab for lab in labels if lab is not None]
    assert len(placed) >= 14, [lab and lab.text for lab in labels]
    for i, a in enumerate(placed):
        assert 0 <= a.rect[0] < a.rect[2] <= 640 and 0 <= a.rect[1] < a.rect[3] <= 360
        assert not any(overlaps(a.rect, b.rect) for b in placed[i + 1:]), (a, placed)
    assert any(lab.rect[1] >= faces[k].box[1] for k, lab in enumerate(labels) if lab)  # moved inside or below a box
    assert labels[-1] is not None and labels[-1].scale == MIN_SCALE
    out = draw(frame, faces)
    for f in faces:  # the box's colour all along its left side, where no label covers it
        x1, y1, x2, y2 = f.box
        free = [y for y in range(y1, y2) if not any(lab.rect[0] <= x1 < lab.rect[2] and lab.rect[1] <= y < lab.rect[3]
                                                      for lab in placed)]
        assert len(free) >= 10 and all(tuple(out[y, x1]) == COLOURS[f.smoothed_label] for y in free), f.face_id
    for lab in placed:
        assert tuple(out[lab.rect[1], lab.rect[0]]) == lab.colour  # each label's own fill, uncovered by another


# --- events: which photo, and which run ---------------------------------------------------------------------------

def test_events_file_is_started_afresh_with_a_run_record_or_appended_to(tmp_path):
    events = tmp_path / "events.jsonl"
    for _ in range(2):
        proc = cli("run", "--source", "demo", "--frames", "2", "--events", str(events))
        assert proc.returncode == 0, proc.stderr
    records = _records(events.read_text())
    assert [r["type"] for r in records] == ["run", "face", "face", "stats"]  # the second run replaced the first
    run = records[0]
    assert run["command"] == "run" and run["config"]["source"] == "demo" and run["config"]["frames"] == 2
    assert run["config"]["model"].endswith(DEFAULT_MODEL.name) and run["time"] <= records[1]["time"]
    proc = cli("run", "--source", "demo", "--frames", "1", "--events", str(events), "--append")
    assert proc.returncode == 0, proc.stderr
    records = _records(events.read_text())
    assert [r["type"] for r in records] == ["run", "face", "face", "stats", "run", "face", "stats"]
    assert records[4]["config"]["append"] is True and records[4]["time"] > records[0]["time"]


def test_a_stream_password_never_reaches_the_run_record():
    from fer_edge.cli import build_parser
    from fer_edge.cli.run import _run_config

    args = build_parser().parse_args(["run", "--source", "rtsp://admin:hunter2@cam/stream"])
    config = _run_config(args, DEFAULT_MODEL)
    assert "hunter2" not in json.dumps(config) and config["source"] == "rtsp://admin:***@cam/stream"


# --- the service: faces in view now, and SIGHUP ---------------------------------------------------------------------

def _health(clock):
    from fer_edge.outputs.http.health import Health, Steady

    return Health(Steady(None), None, ("happy", "sad"), 5.0, {"model": "m", "detector": "d"}, clock=clock)


def _frame_records(*ids: int) -> list:
    return [_face("happy", (0, 0, 10, 10), i) for i in ids]


def _sample(monitor, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return next(s.value for f in text_string_to_metric_families(monitor.metrics_text()) for s in f.samples
                if s.name == name)


def test_latest_lists_the_faces_in_view_now_and_the_ended_ones_apart():
    """`ended` holds the faces whose track ended (the frame result's `ended`, MQTT's `end`), not those merely
    missing from a frame."""
    from types import SimpleNamespace

    from fer_edge.records import Frame, FrameResult

    now = [100.0]
    health = _health(lambda: now[0])
    stats = SimpleNamespace(frames=1, faces=0, fps_now=10.0, detected=1, latency=lambda: {}, total_s={})
    steps = [((1, 2, 3, 4, 5), ()), ((1, 2, 3, 4, 5), ()), ((6, 7), (1, 2, 3, 4, 5)), ((6,), ())]  # 7 hidden, kept
    for step, (ids, ended) in enumerate(steps):  # a crowd passes, two remain
        now[0] = 100.0 + 0.1 * step
        health.on_frame(FrameResult(Frame(None, step, 0.0), tuple(_frame_records(*ids)), ended, True, stats))
    latest = json.loads(health.latest_json())
    assert [f["face_id"] for f in latest["faces"]] == [6]
    assert [f["face_id"] for f in latest["ended"]] == [1, 2, 3, 4, 5] and latest["ended"][0]["gone_s"] >= 0
    assert _sample(health, "fer_edge_faces_in_view") == 1
    health.on_frame(FrameResult(Frame(None, 4, 0.0), tuple(_frame_records(6)), (7,), True, stats))
    assert [f["face_id"] for f in json.loads(health.latest_json())["ended"]] == [1, 2, 3, 4, 5, 7]
    now[0] += 10  # frames stop: nothing is known to be in view, and the ended ones are too old to list
    latest = json.loads(health.latest_json())
    assert latest["faces"] == [] and latest["ended"] == [] and latest["healthy"] is False
    assert _sample(health, "fer_edge_faces_in_view") == 0


@pytest.mark.shared
def test_service_latest_shows_one_photo_s_faces_while_a_folder_loops(shared, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("fr_obama.jpg", "fr_obama_and_biden.jpg"):  # 1 face, then 3: never 4 in view at once
        (folder / name).write_bytes((shared / "data" / "scenes" / name).read_bytes())
    with Service(tmp_path, "--source", str(folder), "--source-fps", "10", "--events", "") as svc:
        svc.wait_for("READY=1")
        svc.poll_until(lambda: (m := svc.metrics())[("fer_edge_frames_total", ())] >= 6 and m)  # each photo, twice
        seen = []
        for _ in range(10):
            latest = json.loads(svc.get("/events/latest")[2])
            seen.append(len(latest["faces"]))
            assert {f.get("file") for f in latest["faces"]} <= {"fr_obama.jpg", "fr_obama_and_biden.jpg"}
        assert set(seen) <= {1, 3}, seen
        assert svc.metrics()[("fer_edge_faces_in_view", ())] in (1, 3)
        assert svc.stop() == 0, svc.stderr()


def test_service_sighup_stops_cleanly_and_says_so(tmp_path):
    import signal

    events = tmp_path / "events.jsonl"
    with Service(tmp_path, "--source", "demo", "--source-fps", "20", "--events", str(events)) as svc:
        svc.wait_for("READY=1")
        # READY=1 comes with the first frame read; a stats record needs one processed (a start that stops before
        # that appends nothing), so the hang-up waits for the demo face's first record
        svc.poll_until(lambda: events.is_file() and '"type":"face"' in events.read_text())
        before = len(svc.messages)
        assert svc.stop(signal.SIGHUP) == 0, svc.stderr()
        assert svc.count("STOPPING=1", after=before) == 1
    log = svc.stderr()
    assert "SIGHUP: stopping (the config is read only at start" in log and "stopped: " in log, log
    assert json.loads(events.read_text().splitlines()[-1])["type"] == "stats"  # the final stats record, flushed


# --- evaluate: a report beside its model, never into the package ---------------------------------------------------

def test_evaluate_reports_go_beside_the_model_and_never_into_the_package(tmp_path):
    import shutil

    rng = np.random.default_rng(0)
    data = write_fer_csv(tmp_path / "fer.csv", [(i % 7, rng.integers(0, 256, (48, 48)), "PrivateTest") for i in range(14)])
    models = tmp_path / "converted"
    models.mkdir()
    for suffix in (".tflite", ".json"):
        shutil.copy(DEFAULT_MODEL.with_suffix(suffix), models / f"{DEFAULT_MODEL.stem}{suffix}")  # same name as the bundled one
    work = tmp_path / "work"
    work.mkdir()
    package = sorted(p.name for p in DEFAULT_MODEL.parent.iterdir())
    proc = cli("evaluate", str(models / DEFAULT_MODEL.name), "--data", str(data), "--split", "test", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (models / f"{DEFAULT_MODEL.stem}_PrivateTest.json").is_file() and not list(work.iterdir())
    proc = cli("evaluate", "--data", str(data), cwd=work)  # the bundled model: into the working directory
    assert proc.returncode == 0, proc.stderr
    assert (work / f"{DEFAULT_MODEL.stem}_PrivateTest.json").is_file()
    assert json.loads((models / f"{DEFAULT_MODEL.stem}_PrivateTest.json").read_text())["model"] != \
        json.loads((work / f"{DEFAULT_MODEL.stem}_PrivateTest.json").read_text())["model"]  # neither overwrote the other
    assert sorted(p.name for p in DEFAULT_MODEL.parent.iterdir()) == package


# --- the small ones ------------------------------------------------------------------------------------------------

def test_run_help_shows_defaults_and_bad_values_name_their_option():
    proc = cli("run", "--help")
    assert proc.returncode == 0 and "(default: 0.0)" in proc.stdout and "(default: room)" in proc.stdout
    assert "(default: None)" not in proc.stdout  # nothing to show is not shown
    for value in ("-1", "nan", "inf", "1e6"):
        assert_one_line_error(cli("run", "--source", "demo", "--margin", value), "--margin", code=2)
    assert_one_line_error(cli("run", "--source", "demo", "--frames", "-2"), "--frames -2", code=2)


def test_blazeface_detector_defaults_to_the_documented_back_variant():
    from fer_edge.detection.blazeface import BlazeFaceDetector

    assert BlazeFaceDetector().name == "blazeface-back"


def test_load_split_gives_the_csv_at_the_size_and_channels_asked(tmp_path):
    from fer_edge.eval.datasets import load_split

    rng = np.random.default_rng(1)
    csv = write_fer_csv(tmp_path / "fer.csv", [(i % 7, rng.integers(0, 256, (48, 48)), "PrivateTest") for i in range(3)])
    assert load_split(csv, "PrivateTest").images.shape == (3, 48, 48, 1)
    assert load_split(csv, "PrivateTest", (96, 96)).images.shape == (3, 96, 96, 1)
    assert load_split(csv, "PrivateTest", (64, 64), 3).images.shape == (3, 64, 64, 3)


def test_bench_compare_warns_when_the_results_measured_different_sources(tmp_path):
    from fer_edge.benchmarks.report import SCHEMA

    def result(video: str, data: str | None) -> dict:
        return {"schema": SCHEMA, "created": "now", "machine": {"cores": 2}, "models": [], "video": [],
                "settings": {"threads": [1], "video": video, "data": data, "split": "PrivateTest", "images": 100}}

    same_a, same_b = tmp_path / "a.json", tmp_path / "b.json"
    same_a.write_text(json.dumps(result("/home/pi/clip.mp4", "/data/fer2013.csv")))
    same_b.write_text(json.dumps(result("/work/clip.mp4", "../shared/fer2013.csv")))  # the same files elsewhere
    proc = cli("bench", "--compare", str(same_a), str(same_b))
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
    other = tmp_path / "c.json"
    other.write_text(json.dumps(result("demo", None)))
    proc = cli("bench", "--compare", str(same_a), str(other))
    assert proc.returncode == 0, proc.stderr
    assert "warning: A and B measured different sources (video A clip.mp4, B demo)" in proc.stderr, proc.stderr
    assert "(data A fer2013.csv, B none)" in proc.stderr


def test_bench_warns_when_threads_exceed_the_cores(tmp_path):
    over = (os.cpu_count() or 1) + 1
    proc = cli("bench", "--quick", "--threads", str(over), "--runs", "2", "--warmup", "0", "--video-frames", "2",
               "--out", str(tmp_path / "bench"))
    assert proc.returncode == 0, proc.stderr
    assert f"warning: --threads {over}: more than the {over - 1} cores" in proc.stderr, proc.stderr
    assert f"--threads {over}: more than" in (tmp_path / "bench" / "report.md").read_text()


def test_soak_with_fewer_frames_than_warmup_reports_instead_of_crashing(tmp_path):
    clip = _clip(tmp_path / "clip.avi", frames=10)
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, "-m", "fer_edge.benchmarks.soak", "--source", str(clip), "--frames", "3",
                           "--warmup", "2000", "--every", "0.2", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "--warmup 2000 is more than --frames 3" in proc.stderr
    result = json.loads(out.read_text())
    assert result["frames"] >= 3 and result["exit_code"] == 0 and result["rss_mb_warm"] > 0
