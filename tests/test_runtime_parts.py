"""Loop parts at their seams: tracking and smoothing, crops, the drop-oldest queue, picamera2 behind a thin fake."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, cli_env, run_cli

from fer_edge.geometry import Box, Detection, square_crop_box
from fer_edge.labels import EMOTIONS
from fer_edge.pipeline.loop import crop_face
from fer_edge.sources.reader import LatestFrames
from fer_edge.tracking import UNCERTAIN, Tracker, smooth_label


def _p(label: str, score: float) -> np.ndarray:
    p = np.full(7, (1 - score) / 6, np.float32)
    p[EMOTIONS.index(label)] = score
    return p


BLANK = np.zeros((480, 640, 3), np.uint8)


def _step(t: Tracker, boxes: list[Box], probs: np.ndarray, now: float = 0.0) -> list:
    """Detections of `boxes` on a blank frame, the faces shown and smoothed with `probs`, in `boxes`' order."""
    shown = t.step(BLANK, [Detection(b, 0.9) for b in boxes], now)
    order = [next(k for k, tr in enumerate(shown) if tr.box == b) for b in boxes]
    t.faces([shown[k] for k in order], probs, time=now, frame=0)
    return [shown[k] for k in order]


def test_tracker_keeps_ids_and_starts_new_ones():
    t = Tracker(EMOTIONS)
    a, b = Box(0, 0, 100, 100), Box(300, 0, 400, 100)
    first = _step(t, [a, b], np.stack([_p("happy", 0.9), _p("sad", 0.9)]))
    second = _step(t, [Box(305, 2, 405, 102), Box(4, 1, 104, 101)], np.stack([_p("sad", 0.9), _p("happy", 0.9)]), 0.1)
    assert [tr.id for tr in second] == [first[1].id, first[0].id]
    third = _step(t, [Box(520, 0, 620, 100)], np.stack([_p("fear", 0.9)]), 0.2)
    assert third[0].id not in {first[0].id, first[1].id}


def test_tracks_end_after_max_carry_s_unfound():
    t = Tracker(EMOTIONS, max_carry_s=0.2)
    tr = _step(t, [Box(0, 0, 50, 50)], np.stack([_p("happy", 0.9)]))[0]
    for k in range(1, 4):
        t.step(BLANK, [], k * 0.1)
    assert t.tracks == []
    assert _step(t, [Box(0, 0, 50, 50)], np.stack([_p("happy", 0.9)]), 0.4)[0].id != tr.id


def test_smoothing_hysteresis_and_uncertain():
    t = Tracker(EMOTIONS, alpha=0.5, min_score=0.4, switch_margin=0.1)
    box = Box(0, 0, 50, 50)
    assert _step(t, [box], np.stack([_p("happy", 0.9)]))[0].label == "happy"
    # one frame of "sad" does not flip the label
    assert _step(t, [box], np.stack([_p("sad", 0.9)]))[0].label == "happy"
    labels = [_step(t, [box], np.stack([_p("sad", 0.9)]))[0].label for _ in range(3)]
    assert labels[-1] == "sad"
    assert smooth_label("happy", _p("happy", 0.2), EMOTIONS, 0.4, 0.1) == UNCERTAIN


def test_square_crop_clipped_at_edges_and_levelled():
    box = Box(-10, 20, 40, 80)  # partly outside the frame
    x1, y1, x2, y2 = square_crop_box(box, 0.2, 100, 90)
    assert (x1, y1) == (0, 14) and x2 <= 100 and y2 == 86
    import cv2

    img = np.zeros((200, 200, 3), np.uint8)
    cv2.line(img, (60, 80), (140, 120), (255, 255, 255), 3)  # a bar through the eyes, 26.6 degrees down to the right
    tilted = Detection(Box(50, 50, 150, 150), 0.9, ((60.0, 80.0), (140.0, 120.0)))
    level = crop_face(img, tilted, 0.0, level_eyes=True)
    plain = crop_face(img, tilted, 0.0, level_eyes=False)
    assert level.shape[:2] == plain.shape[:2] == (100, 100)

    def slope(crop: np.ndarray) -> float:
        ys, xs = np.nonzero(crop[..., 0] > 128)
        return float(np.polyfit(xs, ys, 1)[0])

    assert slope(plain) == pytest.approx(0.5, abs=0.05)  # the eye line as the detector saw it
    assert abs(slope(level)) < 0.05  # levelled: rotating the wrong way would make it steeper (about 1.33)


def test_live_queue_drops_oldest_and_counts():
    """A camera that delivers 30 frames while the loop takes none: the queue of 2 keeps the newest two and counts the
    28 it dropped; the loop then gets those two, oldest first, and the next frame the camera delivers (counts, no
    clock: the camera waits for a go before each batch)."""
    go, batch_done, sent = threading.Semaphore(0), threading.Event(), [0]

    def grab():
        if sent[0] in (30, 31):
            batch_done.set()
            go.acquire()  # held until the test lets the next frame through
        sent[0] += 1
        return np.full((4, 4, 3), sent[0] % 255, np.uint8)

    q = LatestFrames(grab, size=2)
    try:
        assert batch_done.wait(30)
        assert q.dropped == 28
        assert [q.get(timeout=5).index, q.get(timeout=5).index] == [28, 29]  # the newest, not a backlog
        go.release()
        assert q.get(timeout=5).index == 30 and q.dropped == 28  # room again: nothing more dropped
    finally:
        go.release()
        q.stop()


def test_picamera_source_through_a_stand_in_package(tmp_path):
    """The real command in a fresh interpreter, with a stand-in `picamera2` on its path as apt's is on a Pi."""
    log = tmp_path / "calls.jsonl"
    env = cli_env(tmp_path, stand_ins=True) | {"FAKE_PICAMERA2_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", "picamera", "--frames", "3",
                           "--width", "640", "--height", "480", "--fps", "30"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    stats = [json.loads(line) for line in proc.stdout.splitlines()][-1]
    assert stats["type"] == "stats" and stats["frames"] == 3, proc.stdout
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["call"] for c in calls] == ["init", "configure", "start", "close"]
    assert calls[1]["size"] == [640, 480] and calls[1]["controls"] == {"FrameRate": 30.0}
    assert calls[1]["lores"] == [320, 240, "YUV420"]  # the detector's stream, taken in the same request


def test_picamera_absent_is_a_clear_error(tmp_path):
    env = cli_env(tmp_path, block=("picamera2",))  # absent even on a Pi that has it
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", "picamera"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)
    assert_one_line_error(proc, "picamera2 is not available")


def test_edgetpu_absent_is_a_clear_error():
    proc = run_cli("run", "--source", "demo", "--accelerator", "edgetpu")
    assert_one_line_error(proc, "no Edge TPU available", "libedgetpu")


def test_stop_event_ends_the_loop():
    from fer_edge.config import config_from
    from fer_edge.outputs.events import EventsSink, JsonlWriter
    from fer_edge.pipeline.build import build_pipeline
    from fer_edge.sources import NullSource

    stop = threading.Event()

    class StopsAt12(NullSource):
        """Sets the stop event once it has given 12 frames (and holds 50, so that a loop that ignores the stop ends
        too, with 50 frames)."""

        def read(self):
            frame = super().read()
            if frame is not None and frame.index == 11:
                stop.set()
            return frame

    class NoFaces:
        name = "none"

        def detect(self, frame):
            return []

        def macs(self, width, height):
            return None  # not a network: the detect interval stays the config's

    class Clf:
        labels = EMOTIONS

        def classify(self, faces):
            raise AssertionError("no faces, no classification")

    import io

    out = io.StringIO()
    pipeline = build_pipeline(config_from({}), detector=NoFaces(), classifier=Clf())
    with EventsSink(JsonlWriter(out), 10.0) as events:
        stats = pipeline.run(StopsAt12([np.zeros((64, 64, 3), np.uint8)] * 50), [events], stop=stop)
    assert stats.frames == 12 and '"type":"stats"' in out.getvalue()  # no frame read after the stop


@pytest.mark.parametrize("spec", ["/dev/video9"])
def test_missing_camera_device(spec):
    assert_one_line_error(run_cli("run", "--source", spec), spec)
