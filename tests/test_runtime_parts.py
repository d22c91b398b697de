"""Loop parts at their seams: tracking and smoothing, crops, the drop-oldest queue, picamera2 behind a thin fake."""

from __future__ import annotations

import sys
import threading
import time
import types

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from edge.geometry import Box, Detection, square_crop_box
from edge.labels import EMOTIONS
from edge.pipeline import crop_face
from edge.sources import _LatestFrames
from edge.tracking import UNCERTAIN, Tracker, smooth_label


def _p(label: str, score: float) -> np.ndarray:
    p = np.full(7, (1 - score) / 6, np.float32)
    p[EMOTIONS.index(label)] = score
    return p


def test_tracker_keeps_ids_and_starts_new_ones():
    t = Tracker(EMOTIONS)
    a, b = Box(0, 0, 100, 100), Box(300, 0, 400, 100)
    first = t.update([a, b], np.stack([_p("happy", 0.9), _p("sad", 0.9)]))
    second = t.update([Box(305, 2, 405, 102), Box(4, 1, 104, 101)], np.stack([_p("sad", 0.9), _p("happy", 0.9)]))
    assert [tr.id for tr in second] == [first[1].id, first[0].id]
    third = t.update([Box(600, 0, 700, 100)], np.stack([_p("fear", 0.9)]))
    assert third[0].id not in {first[0].id, first[1].id}


def test_tracks_expire_after_missed_frames():
    t = Tracker(EMOTIONS, max_missed=2)
    tr = t.update([Box(0, 0, 50, 50)], np.stack([_p("happy", 0.9)]))[0]
    for _ in range(3):
        t.update([], np.zeros((0, 7), np.float32))
    assert t.tracks == []
    assert t.update([Box(0, 0, 50, 50)], np.stack([_p("happy", 0.9)]))[0].id != tr.id


def test_smoothing_hysteresis_and_uncertain():
    t = Tracker(EMOTIONS, alpha=0.5, min_score=0.4, switch_margin=0.1)
    box = Box(0, 0, 50, 50)
    assert t.update([box], np.stack([_p("happy", 0.9)]))[0].label == "happy"
    # one frame of "sad" does not flip the label
    assert t.update([box], np.stack([_p("sad", 0.9)]))[0].label == "happy"
    labels = [t.update([box], np.stack([_p("sad", 0.9)]))[0].label for _ in range(3)]
    assert labels[-1] == "sad"
    assert smooth_label("happy", _p("happy", 0.2), EMOTIONS, 0.4, 0.1) == UNCERTAIN


def test_square_crop_clipped_at_edges_and_levelled():
    box = Box(-10, 20, 40, 80)  # partly outside the frame
    x1, y1, x2, y2 = square_crop_box(box, 0.2, 100, 90)
    assert (x1, y1) == (0, 14) and x2 <= 100 and y2 == 86
    img = np.zeros((200, 200, 3), np.uint8)
    img[90:110, 60:140] = 255  # a horizontal bar
    tilted = Detection(Box(50, 50, 150, 150), 0.9, ((60.0, 80.0), (140.0, 120.0)))  # eyes on a 26.6 degree slope
    level = crop_face(img, tilted, 0.0, level_eyes=True)
    plain = crop_face(img, tilted, 0.0, level_eyes=False)
    assert level.shape[:2] == plain.shape[:2] == (100, 100)
    assert not np.array_equal(level, plain)


def test_live_queue_drops_oldest_and_counts():
    counter = iter(range(10_000))

    def grab():
        time.sleep(0.001)
        return np.full((4, 4, 3), next(counter) % 255, np.uint8)

    q = _LatestFrames(grab, size=2)
    try:
        got = []
        for _ in range(5):
            time.sleep(0.05)  # a slow loop
            got.append(q.get().index)
        assert q.dropped > 20
        assert got == sorted(got) and got[-1] - got[0] > 20  # current frames, not a backlog
    finally:
        q.stop()


class _FakePicamera2:
    """Thin stand-in for picamera2.Picamera2 at the hardware seam (no libcamera here)."""

    instances: list = []

    def __init__(self):
        self.started = self.closed = False
        self.config = None
        _FakePicamera2.instances.append(self)

    def create_video_configuration(self, main, controls):
        return {"main": main, "controls": controls}

    def configure(self, config):
        self.config = config

    def start(self):
        self.started = True

    def capture_array(self, stream):
        w, h = self.config["main"]["size"]
        time.sleep(0.005)
        return np.zeros((h, w, 4), np.uint8)

    def close(self):
        self.closed = True


def test_picamera_source_through_a_fake(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=_FakePicamera2))
    from edge.sources import open_source

    src = open_source("picamera", width=320, height=240, fps=30)
    frame = src.read()
    src.close()
    cam = _FakePicamera2.instances[-1]
    assert frame.image.shape == (240, 320, 3) and cam.started and cam.closed
    assert cam.config["controls"] == {"FrameRate": 30}


def test_picamera_absent_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails, as off a Pi
    assert_one_line_error(run_cli("run", "--source", "picamera"), "picamera2 is not available")


def test_edgetpu_absent_is_a_clear_error():
    proc = run_cli("run", "--source", "demo", "--accelerator", "edgetpu")
    assert_one_line_error(proc, "no Edge TPU available", "libedgetpu")


def test_stop_event_ends_the_loop():
    from edge.events import JsonlWriter
    from edge.pipeline import run_loop
    from edge.sources import ImageSource

    class Endless(ImageSource):
        def read(self):
            from edge.sources import Frame

            return Frame(np.zeros((64, 64, 3), np.uint8), 0, time.time())

    class NoFaces:
        name = "none"

        def detect(self, frame):
            return []

    class Clf:
        labels = EMOTIONS

        def classify(self, faces):
            raise AssertionError("no faces, no classification")

    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    import io

    out = io.StringIO()
    stats = run_loop(Endless([], "endless"), NoFaces(), Clf(), JsonlWriter(out), stop=stop)
    assert stats.frames > 10 and '"type":"stats"' in out.getvalue()


@pytest.mark.parametrize("spec", ["/dev/video9"])
def test_missing_camera_device(spec):
    assert_one_line_error(run_cli("run", "--source", spec), spec)
