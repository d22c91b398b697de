"""The Python API (`from fer_edge import Analyzer`) on the shared photos and clip, as a program would embed it."""

from __future__ import annotations

import dataclasses
import pydoc
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT

from fer_edge import Analyzer, Face
from fer_edge.errors import FerEdgeError
from fer_edge.sources import DEMO_IMAGE


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.mark.shared
@pytest.mark.parametrize("name,count", [("skimage_astronaut.png", 1), ("fr_obama.jpg", 1), ("fr_biden.jpg", 1),
                                        ("fr_two_people.jpg", 2), ("fr_obama_and_biden.jpg", 3)])
def test_analyze_finds_every_face_of_the_shared_photos(shared, analyzer, name, count):
    image = cv2.imread(str(shared / "data" / "scenes" / name))
    faces = analyzer.analyze(image)
    assert len(faces) == count
    h, w = image.shape[:2]
    for face in faces:
        assert isinstance(face, Face) and face.face_id is None and face.smoothed_label is None
        x1, y1, x2, y2 = face.box
        assert all(isinstance(v, int) for v in face.box) and 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert set(face.probs) == set(analyzer.labels) and abs(sum(face.probs.values()) - 1) < 0.02
        assert face.label == max(face.probs, key=face.probs.get) and face.score == face.probs[face.label]
    if name == "skimage_astronaut.png":
        assert faces[0].label == "happy" and faces[0].score > 0.8


def test_records_are_frozen_and_the_image_forms_are_checked(analyzer):
    image = cv2.imread(str(DEMO_IMAGE))
    face = analyzer.analyze(image)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        face.label = "sad"
    assert hash(face) == hash(dataclasses.replace(face))
    grey = analyzer.analyze(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert len(grey) == 1 and np.abs(np.subtract(grey[0].box, face.box)).max() <= 3
    assert analyzer.analyze(np.full((240, 320, 3), 90, np.uint8)) == []
    with pytest.raises(TypeError, match="image: want a numpy array"):
        analyzer.analyze(str(DEMO_IMAGE))
    with pytest.raises(ValueError, match="image: want a uint8 array"):
        analyzer.analyze(image.astype(np.float32))


@pytest.mark.shared
def test_keyword_arguments_and_their_errors(shared):
    other = Analyzer(model=ROOT / "edge" / "models" / "mobilenetv2_fer2013_int8.tflite", detector="blazeface-short",
                     threads=2)
    assert "mobilenetv2_fer2013_int8.tflite" in repr(other) and "blazeface-short" in repr(other)
    assert [f.label for f in other.analyze(cv2.imread(str(DEMO_IMAGE)))] == ["happy"]
    yunet = Analyzer(detector="yunet", detector_options={"model": shared / "models" / "face_detection_yunet_2023mar.onnx"})
    assert len(yunet.analyze(cv2.imread(str(shared / "data" / "scenes" / "fr_obama_and_biden.jpg")))) == 3
    with pytest.raises(FerEdgeError, match="unknown detector 'mtcnn'"):
        Analyzer(detector="mtcnn")
    with pytest.raises(FerEdgeError, match="missing.tflite"):
        Analyzer(model="missing.tflite")
    with pytest.raises(ValueError, match="threads"):
        Analyzer(threads=0)
    with pytest.raises(TypeError):
        Analyzer("positional.tflite")  # keyword arguments only: model=, detector=, threads=


@pytest.mark.shared
def test_stream_over_the_clip_yields_track_ids(shared, analyzer):
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    frames = list(analyzer.stream(clip, max_frames=8))
    assert len(frames) == 8
    assert [f.frame for faces in frames for f in faces] == sorted(f.frame for faces in frames for f in faces)
    ids = [[f.face_id for f in faces] for faces in frames]
    assert all(faces for faces in frames) and all(isinstance(i, int) for row in ids for i in row)
    assert all(len(set(row)) == len(row) for row in ids)  # one id per face within a frame
    assert set(ids[0]) <= set(ids[-1]) or set(ids[-1]) <= set(ids[0])  # the same people keep their ids
    for faces in frames:
        for f in faces:
            assert f.smoothed_label in (*analyzer.labels, "uncertain") and 0 <= f.smoothed_score <= 1


def test_stream_over_images_in_memory_and_early_exit(analyzer):
    image = cv2.imread(str(DEMO_IMAGE))
    frames = list(analyzer.stream([image, image, image]))
    assert [[(f.frame, f.face_id, f.label) for f in faces] for faces in frames] == [
        [(0, 1, "happy")], [(1, 1, "happy")], [(2, 1, "happy")]]
    mirrored = np.ascontiguousarray(image[:, ::-1])  # a new scene: the face elsewhere
    frames = list(analyzer.stream([image, image, mirrored, mirrored], detect_every=5))
    assert [[f.face_id for f in faces] for faces in frames] == [[1], [1], [2], [2]]  # the cut ended track 1, as in run
    width = image.shape[1]
    x1, y1, x2, y2 = frames[0][0].box
    expected = (width - x2, y1, width - x1, y2)  # detected afresh on the new scene, not the old box carried over
    assert all(abs(a - b) <= 4 for a, b in zip(frames[2][0].box, expected)), (frames[2][0].box, expected)
    stream = analyzer.stream("demo", max_frames=50)
    assert next(stream)[0].face_id == 1
    stream.close()  # closes the source
    with pytest.raises(ValueError, match="detect_every"):
        analyzer.stream("demo", detect_every=0)
    with pytest.raises(TypeError, match="source"):
        analyzer.stream(3.5)


def test_help_shows_the_docstrings():
    text = pydoc.render_doc(Analyzer, renderer=pydoc.plaintext)
    for fragment in ("BGR images", "analyze(self, image", "stream(self, source", "track id", "detect_every"):
        assert fragment in text, fragment
    assert "x2 and y2 exclusive" in pydoc.render_doc(Face, renderer=pydoc.plaintext)


def test_readme_example_runs_without_tensorflow(tmp_path):
    """The README's Python API example, as written there, in a fresh interpreter: no TensorFlow is imported."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = example + ("\nbad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
                      "print('LOADED', bad)\n")
    script = tmp_path / "example.py"
    script.write_text("import sys\n" + code)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "happy" in proc.stdout and "LOADED []" in proc.stdout, proc.stdout


def _cli_boxes(source, tmp_path, *flags: str) -> dict[int, list[tuple[int, tuple[int, ...]]]]:
    """{frame: [(face_id, box)]} of `fer-edge run --source SOURCE` with its defaults."""
    import json

    from conftest import run_cli

    events = tmp_path / "events.jsonl"
    proc = run_cli("run", "--source", str(source), "--events", str(events), *flags)
    assert proc.returncode == 0, proc.stderr
    out: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    for r in map(json.loads, events.read_text().splitlines()):
        if r["type"] == "face":
            out.setdefault(r["frame"], []).append((r["face_id"], tuple(r["box"])))
    return out


@pytest.mark.shared
def test_api_and_cli_give_the_same_boxes_on_a_photo_and_the_clip(shared, analyzer, tmp_path):
    """`Analyzer()` is `fer-edge run`'s defaults: the room detector, its second look at tile-only boxes, the MAC
    budget's detection interval and the tracker carrying boxes between detections."""
    photo = shared / "data" / "scenes" / "fr_obama_and_biden.jpg"  # 2000x1428: room tiles it
    cli = _cli_boxes(photo, tmp_path)
    assert [box for _, box in cli[0]] == [f.box for f in analyzer.analyze(cv2.imread(str(photo)))] and len(cli[0]) == 3
    # the clip as it is (640x360: detection every 2nd frame) and scaled to 1080p (tiles, every 18th frame)
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    big = tmp_path / "hamilton_1080p.mp4"
    cap = cv2.VideoCapture(str(clip))
    writer = cv2.VideoWriter(str(big), cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS), (1920, 1080))
    for _ in range(40):
        writer.write(cv2.resize(cap.read()[1], (1920, 1080), interpolation=cv2.INTER_LINEAR))
    writer.release()
    cap.release()
    for source, frames in ((clip, 60), (big, 40)):
        cli = _cli_boxes(source, tmp_path, "--frames", str(frames))
        api = {n: [(f.face_id, f.box) for f in faces]
               for n, faces in enumerate(analyzer.stream(source, max_frames=frames)) if faces}
        assert api == cli and len(api) >= frames // 2, (source.name, len(api))


@pytest.mark.parametrize("kwargs,fragment", [
    ({"detector": None}, "detector: unknown detector None"),
    ({"detector": "mtcnn"}, "detector: unknown detector 'mtcnn'"),
    ({"margin": "0.5"}, "margin: want a number, got '0.5'"),
    ({"margin": float("inf")}, "margin: want a finite number"),
    ({"margin": -0.1}, "margin: -0.1 is out of range"),
    ({"threads": True}, "threads: want an integer, got True"),
    ({"threads": 0}, "threads: 0 is out of range"),
    ({"accelerator": "gpu"}, "accelerator: 'gpu' is not one of none, edgetpu"),
    ({"min_face_score": 2}, "min_face_score: 2.0 is out of range"),
    ({"level_eyes": "yes"}, "level_eyes: want true or false"),
    ({"model": ""}, "model: want a path"),
    ({"detector": "yunet"}, "detector.options.model: needed for detector.name = \"yunet\""),
    ({"detector_options": ["model"]}, "detector_options: want a dict of option names to values"),
    ({"detector_options": {"size": 3}}, "detector.options.size: not an option of the room detector"),
    ({"detect_budget_mmacs": 0}, "detect_budget_mmacs: 0.0 is out of range"),
], ids=lambda v: repr(v) if isinstance(v, dict) else None)
def test_bad_arguments_raise_the_documented_value_error_naming_them(kwargs, fragment):
    """Each was an AttributeError, a TypeError from a comparison, a UsageError, or accepted (inf, True)."""
    with pytest.raises(ValueError) as caught:
        Analyzer(**kwargs)
    assert fragment in str(caught.value) and isinstance(caught.value, FerEdgeError)


def test_stream_refuses_an_empty_source(analyzer):
    for source in ("", "  "):
        with pytest.raises(ValueError, match="source: empty"):
            analyzer.stream(source)
    with pytest.raises(TypeError, match="source"):
        analyzer.stream(True)
