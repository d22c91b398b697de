"""`fer-edge run` end to end on real photos and the real clip, and its bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT, assert_drawn, assert_one_line_error, run_cli, video_frames

from fer_edge.detection import make_detector

PHOTOS = {"skimage_astronaut.png": 1, "fr_obama.jpg": 1, "fr_biden.jpg": 1, "fr_two_people.jpg": 2,
          "fr_obama_and_biden.jpg": 3}


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_demo_source_one_frame_labels_the_astronaut_happy():
    proc = run_cli("run", "--source", "demo", "--frames", "1")
    assert proc.returncode == 0, proc.stderr
    records = _records(proc.stdout)
    faces = [r for r in records if r["type"] == "face"]
    assert len(faces) == 1 and faces[0]["label"] == "happy", faces
    assert abs(sum(faces[0]["probs"].values()) - 1) < 0.03
    assert records[-1]["type"] == "stats" and records[-1]["frames"] == 1


@pytest.mark.shared
@pytest.mark.parametrize("name,count", PHOTOS.items())
def test_default_and_yunet_detectors_find_every_face(shared, name, count):
    frame = cv2.imread(str(shared / "data" / "scenes" / name))
    assert len(make_detector().detect(frame)) == count
    yunet = make_detector("yunet", options={"model": str(shared / "models" / "face_detection_yunet_2023mar.onnx")})
    assert len(yunet.detect(frame)) == count


@pytest.mark.shared
def test_clip_end_to_end_with_stable_ids_and_stats(shared, tmp_path):
    events = tmp_path / "events.jsonl"
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    proc = run_cli("run", "--source", str(clip), "--events", str(events), "--annotate", str(tmp_path / "out.mp4"))
    assert proc.returncode == 0, proc.stderr
    records = _records(events.read_text())
    faces = [r for r in records if r["type"] == "face"]
    stats = [r for r in records if r["type"] == "stats"]
    assert stats and stats[-1]["frames"] == 275 and stats[-1]["faces"] == len(faces)
    assert {"decode", "detect", "crop", "classify", "total"} <= set(stats[-1]["latency_ms"])
    # The figures below were measured with this command at the FER+ default (2026-12, once a shown box a detection
    # misses is hidden at once and lost faces are looked for again): 449 faces in 275 frames (1.63 a frame), 11 ids,
    # 253 pairs of consecutive frames with faces of which 249 share an id, 220 carried boxes of which 64% moved, the
    # largest step 30 px. Each bound sits 10% from its figure (a whole face or id for the small
    # counts), so a loop that finds fewer faces, loses ids or stops moving carried boxes fails here.
    assert 1.47 <= len(faces) / 275 <= 1.80, len(faces) / 275  # 1.63 +-10%
    by_frame: dict[int, set[int]] = {}
    for f in faces:
        by_frame.setdefault(f["frame"], set()).add(f["face_id"])
    kept = [bool(by_frame[i] & by_frame[i + 1]) for i in range(274) if by_frame.get(i) and by_frame.get(i + 1)]
    assert len(kept) >= 228 and sum(kept) / len(kept) >= 0.97, (len(kept), sum(kept))  # ids carry over: 249 of 253
    assert len({f["face_id"] for f in faces}) <= 13  # 11: a new id for a face already seen is a tracking regression
    # the default detects on even frames (detected: true); on odd ones the tracker carries the boxes along their
    # faces (labels are fresh), except after a scene cut, where faces are detected afresh and no id carries over
    assert 137 <= stats[-1]["detected"] <= 141
    cuts = {f["frame"] for f in faces if f["detected"] and f["frame"] % 2}
    assert len(cuts) <= 3 and all(not by_frame[i] & by_frame.get(i - 1, set()) for i in cuts), cuts
    boxes = {(f["frame"], f["face_id"]): f["box"] for f in faces}
    carried = [(f["box"], boxes[f["frame"] - 1, f["face_id"]]) for f in faces
               if not f["detected"] and (f["frame"] - 1, f["face_id"]) in boxes]
    steps = [max(abs(a - b) for a, b in zip(box, before)) for box, before in carried]
    assert len(carried) >= 198 and max(steps) < 40  # a carried box moves with its face, a frame's worth at a time
    assert sum(s > 0 for s in steps) >= 0.58 * len(steps)  # and does move (64%): it is not the last detection's box
    raw, annotated = video_frames(clip), video_frames(tmp_path / "out.mp4")
    assert len(raw) == len(annotated) == 275
    for i in by_frame:  # every face of every frame drawn where the events say
        assert_drawn(raw[i], annotated[i], [f for f in faces if f["frame"] == i])


@pytest.mark.shared
def test_stills_are_detected_on_every_frame_whatever_the_interval(shared, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("fr_obama.jpg", "fr_two_people.jpg", "fr_obama_and_biden.jpg"):
        (folder / name).write_bytes((shared / "data" / "scenes" / name).read_bytes())
    proc = run_cli("run", "--source", str(folder), "--detect-every", "5")
    assert proc.returncode == 0, proc.stderr
    faces = [r for r in _records(proc.stdout) if r["type"] == "face"]
    assert all(f["detected"] for f in faces)
    assert [sum(f["frame"] == i for f in faces) for i in range(3)] == [1, 3, 2]  # sorted by name


def test_default_run_writes_only_events(tmp_path):
    """Privacy by default: a run without --annotate/--show leaves nothing but the events file."""
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "HOME": str(tmp_path / "home")}
    (tmp_path / "tmp").mkdir()
    (tmp_path / "home").mkdir()
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", "demo", "--frames", "3",
                           "--events", str(events)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["events.jsonl"], written
    assert proc.stdout == ""
    assert len([r for r in _records(events.read_text()) if r["type"] == "face"]) == 3


def test_frame_without_face_gives_no_face_event(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((360, 640, 3), 90, np.uint8))
    proc = run_cli("run", "--source", str(blank))
    assert proc.returncode == 0, proc.stderr
    records = _records(proc.stdout)
    assert [r["type"] for r in records] == ["stats"] and records[0]["frames"] == 1


def test_bad_sources(tmp_path):
    assert_one_line_error(run_cli("run", "--source", "7"), "7: cannot open camera")
    assert_one_line_error(run_cli("run", "--source", str(tmp_path / "missing.mp4")), "missing.mp4: no such file")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_one_line_error(run_cli("run", "--source", str(empty)), "empty.mp4: empty file")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    assert_one_line_error(run_cli("run", "--source", str(junk)), "junk.mp4: cannot open video source")


def test_bad_models_and_detector(tmp_path):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"TFL3" + os.urandom(2000))
    assert_one_line_error(run_cli("run", "--source", "demo", "--model", str(corrupt)), "corrupt.tflite")
    assert_one_line_error(run_cli("run", "--source", "demo", "--detector", "mtcnn"), "unknown detector 'mtcnn'",
                          code=2)
    assert_one_line_error(run_cli("run", "--source", "demo", "--detect-every", "0"), "--detect-every >= 1", code=2)
    assert_one_line_error(run_cli("run", "--source", "demo", "--detect-budget", "0.5"), "--detect-budget", code=2)
    assert_one_line_error(run_cli("run", "--source", "demo", "--detector", "yunet"), "detector.options.model: needed",
                          code=2)
    assert_one_line_error(run_cli("run", "--source", "demo", "--detector-options", "modle=y.onnx"),
                          "detector.options.modle: not an option of the room detector", code=2)


@pytest.mark.tf
def test_model_whose_input_is_not_an_image(tmp_path, tf_available):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((10,)), tf.keras.layers.Dense(7, activation="softmax")])
    path = tmp_path / "vector.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", "demo", "--model", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert_one_line_error(proc, "vector.tflite", "is not an image")


@pytest.mark.shared
def test_http_stream_source_on_loopback(shared, tmp_path):
    """A URL source read through OpenCV's FFmpeg backend from a local HTTP server (loopback only)."""
    import functools
    import http.server
    import threading

    cap = cv2.VideoCapture(str(shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"))
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for _ in range(60):  # MJPEG in AVI streams without seeking (the mp4's index sits at its end)
        writer.write(cap.read()[1])
    writer.release()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        proc = run_cli("run", "--source", url, "--events", str(tmp_path / "ev.jsonl"), timeout=120)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    records = _records((tmp_path / "ev.jsonl").read_text())
    stats = records[-1]
    # a live source: when the loop falls behind, the oldest frames are dropped, and every frame is accounted for
    assert stats["type"] == "stats" and stats["frames"] >= 1 and stats["frames"] + stats["dropped"] == 60
    assert any(r["type"] == "face" for r in records)


# --- haar: OpenCV's cascade, the fallback the README lists (no download, poor recall) ------------------------------

@pytest.mark.shared
def test_haar_finds_the_faces_of_the_shared_photos_and_its_share_of_the_clip(shared):
    """Each face the default detector finds on the single and two-person photos, and two of the three on
    fr_obama_and_biden.jpg (which gets false boxes too); on the clip 0.74 faces a frame (the README's table), +-10%."""
    from fer_edge.benchmarks.scene_metrics import iou_matrix

    haar, default = make_detector("haar"), make_detector()
    assert haar.name == "haar" and haar.macs(640, 360) is None  # not a network: no MACs figure
    for name, want in [*((n, c) for n, c in PHOTOS.items() if n != "fr_obama_and_biden.jpg"), ("fr_obama_and_biden.jpg", 2)]:
        frame = cv2.imread(str(shared / "data" / "scenes" / name))
        truth = np.array([d.box.as_list() for d in default.detect(frame)], np.float32)
        found = np.array([d.box.as_list() for d in haar.detect(frame)], np.float32)
        assert len(found) and (iou_matrix(truth, found).max(axis=1) > 0.4).sum() >= want, name
    cap = cv2.VideoCapture(str(shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"))
    counts = []
    while (got := cap.read())[0]:
        counts.append(len(haar.detect(got[1])))
    assert len(counts) == 275 and 0.67 <= np.mean(counts) <= 0.82, np.mean(counts)  # measured 0.742 (2026-12)


def test_run_with_the_haar_detector(tmp_path):
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", "--source", "demo", "--frames", "2", "--detector", "haar", "--events", str(events))
    assert proc.returncode == 0, proc.stderr
    records = _records(events.read_text())
    assert records[0]["config"]["detector.name"] == "haar"
    faces = [r for r in records if r["type"] == "face"]
    assert [f["label"] for f in faces] == ["happy", "happy"] and all(f["detected"] for f in faces)


# --- --show: a window where there is a display and OpenCV can open one; a clear error where not -----------------------

def test_show_without_a_display_or_a_gui_opencv_is_a_one_line_error(tmp_path):
    """Here OpenCV is the headless build: with no display the error says so; with one (DISPLAY set) it names the
    OpenCV build to install instead. Either way it exits 2, nothing is drawn and no window is tried twice."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for extra, says in (({}, "--show needs a display (no DISPLAY or WAYLAND_DISPLAY set)"),
                        ({"DISPLAY": ":99"}, "--show needs OpenCV with GUI support")):
        proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", "demo", "--show",
                               "--events", str(tmp_path / "events.jsonl")], capture_output=True, text=True, timeout=120,
                              cwd=ROOT, env=env | extra)
        assert_one_line_error(proc, says, code=2)  # a flag this machine cannot honour: a usage error
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "events.jsonl").exists()  # refused before the run: no events file is started
