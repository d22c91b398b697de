"""Stable labels (issue 12, item 6): smoothing that holds a steady face, follows a real change, and ends every
track at a scene cut; pure sequences through the tracker, then the figures on the test clip."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from fer_edge.geometry import Box, Detection
from fer_edge.labels import EMOTIONS
from fer_edge.records import FaceRecord
from fer_edge.tracking import UNCERTAIN, Tracker, cut_between, thumbnail

BOX = Box(100, 100, 200, 200)


def _p(label: str, score: float) -> np.ndarray:
    p = np.full(7, (1 - score) / 6, np.float32)
    p[EMOTIONS.index(label)] = score
    return p


BLANK = np.zeros((360, 640, 3), np.uint8)


def _labels(tracker: Tracker, seq: list[np.ndarray]) -> list[str]:
    """The smoothed label of one face found on every frame, as the probabilities `seq` come."""
    out = []
    for p in seq:
        (record,) = tracker.faces(tracker.step(BLANK, [Detection(BOX, 0.9)], 0.0), p[None], time=0.0, frame=0)
        out.append(record.smoothed_label)
    return out


def test_a_steady_face_whose_scores_wobble_keeps_its_label():
    seq = [_p("happy", 0.45 if i % 2 else 0.33) for i in range(60)]  # the model's scores on a steady smile
    shown = _labels(Tracker(EMOTIONS), seq)
    assert set(shown) == {"happy"}, shown


def test_a_clear_but_modest_laugh_reads_happy():
    """The bundled model gives laughing faces in a wide shot 0.35-0.5: that is happy, not uncertain."""
    assert _labels(Tracker(EMOTIONS), [_p("happy", 0.38)] * 10)[-1] == "happy"


@pytest.mark.parametrize("score", [0.5, 0.8])
def test_neutral_turning_to_a_laugh_shows_happy_within_a_third_of_a_second_at_15_fps(score):
    tracker = Tracker(EMOTIONS)
    assert _labels(tracker, [_p("neutral", score)] * 30)[-1] == "neutral"
    after = _labels(tracker, [_p("happy", score)] * 15)
    assert "happy" in after[:5], after  # 5 frames: 0.17 s at 30 fps, 0.33 s at 15, 0.5 s at 10
    assert after[after.index("happy"):] == ["happy"] * (15 - after.index("happy"))


def test_a_single_odd_frame_does_not_flip_the_label():
    tracker = Tracker(EMOTIONS)
    _labels(tracker, [_p("neutral", 0.6)] * 10)
    assert _labels(tracker, [_p("surprise", 0.9)] + [_p("neutral", 0.6)] * 5) == ["neutral"] * 6


def test_a_face_with_no_clear_expression_is_uncertain_and_scored_by_the_tracker():
    tracker = Tracker(EMOTIONS)
    (track,) = tracker.step(BLANK, [Detection(BOX, 0.9)], 0.0)
    tracker.faces([track], np.full((1, 7), 1 / 7, np.float32), time=0.0, frame=0)
    assert track.label == UNCERTAIN and track.score == pytest.approx(1 / 7)


def test_the_tracker_s_records_are_frozen_and_carry_the_smoothed_label_and_score():
    from fer_edge.outputs.events import face_json

    tracker, face = Tracker(EMOTIONS), Detection(Box(100.4, 99.6, 200.2, 200.5), 0.91, ())
    image = np.zeros((360, 640, 3), np.uint8)
    cv2.circle(image, (150, 150), 40, (200, 200, 200), -1)  # something for the carried box to look like
    for frame in range(3):
        shown = tracker.step(image, [face], frame / 30)
        (record,) = tracker.faces(shown, _p("happy", 0.8)[None], time=10.0 + frame, frame=frame)
    assert isinstance(record, FaceRecord) and record.face_id == 1 and record.box == (100, 100, 200, 200)
    assert (record.smoothed_label, record.smoothed_score) == ("happy", pytest.approx(0.8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.smoothed_label = "sad"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.probs = ()
    assert not hasattr(record, "__dict__")  # slots: no attribute can be added either
    # one sad frame: this frame's label is sad, the track's smoothed label holds (hysteresis) with its moving average
    shown = tracker.step(image, None, 3 / 30)  # carried, not detected
    (record,) = tracker.faces(shown, _p("sad", 0.9)[None], time=13.0, frame=3)
    assert (record.label, record.score) == ("sad", pytest.approx(0.9)) and record.detected is False
    assert record.smoothed_label == "happy" and record.smoothed_score == pytest.approx(0.7 * 0.8 + 0.3 * 0.1 / 6)
    event = face_json(record)
    assert (event["label"], event["smoothed_label"], event["smoothed_score"]) == ("sad", "happy", 0.565)


def _scene(seed: int) -> np.ndarray:
    """A picture of large light and dark patches, different for each seed."""

    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (640, 360), interpolation=cv2.INTER_CUBIC)


def test_scene_cut_is_found_and_exposure_or_small_moves_are_not():
    a, b = _scene(1), _scene(2)
    brighter = np.clip(a.astype(int) + 40, 0, 255).astype(np.uint8)
    moved = np.roll(a, 4, axis=1)
    assert cut_between(thumbnail(a), thumbnail(b), 18.0)
    assert not cut_between(thumbnail(a), thumbnail(brighter), 18.0)
    assert not cut_between(thumbnail(a), thumbnail(moved), 18.0)
    assert not cut_between(thumbnail(a), thumbnail(b), 0.0)  # 0 turns it off


class _SameBox:
    name = "fixed"

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return [Detection(BOX, 0.9, ())]


class _Happy:
    labels = EMOTIONS

    def classify(self, faces):
        return np.stack([_p("happy", 0.8)] * len(faces))


def test_a_track_does_not_survive_a_scene_cut_and_the_cut_is_detected_afresh():
    from fer_edge.config import config_from
    from fer_edge.outputs.events import EventsSink, JsonlWriter
    from fer_edge.pipeline.build import build_pipeline
    from fer_edge.sources import NullSource

    out, detector = io.StringIO(), _SameBox()
    cfg = config_from({"detector.every": 10})
    two_scenes = NullSource([_scene(1)] * 3 + [_scene(2)] * 3, fps=30.0)  # the same face box in all six
    with EventsSink(JsonlWriter(out), 1e9) as events:
        build_pipeline(cfg, detector=detector, classifier=_Happy()).run(two_scenes, [events])
    faces = [r for r in map(json.loads, out.getvalue().splitlines()) if r["type"] == "face"]
    assert [r["face_id"] for r in faces] == [1, 1, 1, 2, 2, 2]
    assert [r["detected"] for r in faces] == [True, False, False, True, False, False]
    assert detector.calls == 2


def test_run_takes_the_service_smoothing_flags_with_the_same_defaults():
    from fer_edge.cli import build_parser

    subs = build_parser()._subparsers._group_actions[0].choices

    def flags(name: str) -> dict[str, str]:
        return {a.dest: (tuple(a.option_strings), a.help) for a in subs[name]._actions
                if a.dest.startswith(("smoothing.", "tracking."))}

    assert flags("run") == flags("service") and len(flags("run")) == 5 + 6


def test_run_smoothing_flags_take_effect_and_are_checked():
    proc = run_cli("run", "--source", "demo", "--frames", "1", "--smoothing-min-score", "1")
    assert proc.returncode == 0, proc.stderr
    face = json.loads(proc.stdout.splitlines()[0])
    assert face["label"] == "happy" and face["smoothed_label"] == UNCERTAIN
    assert_one_line_error(run_cli("run", "--source", "demo", "--smoothing-alpha", "0"),
                          "smoothing.alpha (--smoothing-alpha)", "out of range", code=2)
    assert_one_line_error(run_cli("run", "--source", "demo", "--smoothing-scene-cut", "nan"),
                          "--smoothing-scene-cut", code=2)


@pytest.mark.shared
def test_labels_on_the_test_clip_meet_the_targets(shared):
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    proc = subprocess.run([sys.executable, "-m", "fer_edge.benchmarks.stability", "--clip", str(clip)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    # measured with this command at the distilled FER+ default of 2026-12-07 (crop margin 0, switch margin 0.25, min
    # face 37): 28 of 449 face records uncertain (6.2%; 1.8% with no minimum face size), 11 label changes (2.4 per 100
    # face-frames), at most 8 for one face. The plain default before it: 4.5% (none without the minimum), 7 and 7.
    # Bounds: the share 15% above its figure, the changes two more than measured (one change is 0.22 per 100 here, so
    # 15% of 11 would allow only one)
    assert 404 <= figures["face_records"] <= 494, figures  # 449 +-10%, as in test_run's end-to-end run
    assert figures["uncertain_share"] <= 0.071 and figures["label_changes"] <= 13, figures
    assert figures["most_changes_one_face"] <= 10, figures
    assert figures["scene_cuts"] == 3, figures  # the clip has three cuts, and no track crosses one
