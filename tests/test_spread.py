"""The spread search (edge/detection/spread.py): `room`'s search a part at a time, within the same MAC budget, the
parts where something new moved first; the tracker counts a miss only where a part looked."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from fer_edge.detection import make_detector
from fer_edge.detection.motion import CELL, cells, changed, explain
from fer_edge.detection.spread import Part, SpreadSearch
from fer_edge.geometry import Box, Detection
from fer_edge.labels import EMOTIONS
from fer_edge.tracking import Tracker
from fer_edge.tracking.tracker import PART_MISSES

W, H = 1920, 1080
MACS = 189_000_000


def _grid() -> list[Part]:
    """Nine parts, 3x3 over a 1080p frame, each a BlazeFace pass."""
    return [Part((x * 640.0, y * 360.0, x * 640.0 + 640, y * 360.0 + 360), 0.0, 200.0, MACS)
            for y in range(3) for x in range(3)]


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(40, 200, (27, 48, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)


def test_a_spread_search_spends_the_budget_a_part_at_a_time_and_reaches_every_part():
    spread = SpreadSearch(_grid(), MACS / 2)  # one pass every second frame
    still = _scene()
    last = {i: 0 for i in range(9)}
    runs = []
    for f in range(1, 73):
        chosen = spread.plan(still, [])
        assert len(chosen) <= 1
        runs += chosen
        for i in chosen:
            assert f - last[i] <= spread.max_age
            last[i] = f
    assert len(runs) == 36  # 72 frames at half a pass a frame
    assert sorted(set(runs)) == list(range(9))
    assert spread.plan(still, [], everything=True) == list(range(9))  # a first frame or a scene cut: all of it


def test_a_newcomer_is_searched_before_the_parts_whose_turn_came_first():
    """Something moves into the bottom-right part, which was searched a frame ago: it is searched next, before
    the parts that have waited longer; the same motion under a followed face (its body) is no newcomer."""
    background = _scene()
    for shown, first in (([], True), ([Box(1700, 700, 1740, 750)], False)):
        spread = SpreadSearch(_grid(), MACS / 2)
        spread.plan(background, [], everything=True)
        for _ in range(20):  # everything searched once more, the bottom-right part last
            spread.plan(background, [])
        spread.age = [9, 8, 7, 6, 5, 4, 3, 2, 1]
        walker = background.copy()
        cv2.rectangle(walker, (1700, 800), (1740, 850), (250, 250, 250), -1)  # a 40 px head, new here
        picks = [i for _ in range(2) for i in spread.plan(walker, shown)]
        assert (picks[:1] == [8]) is first, picks


def test_changed_cells_and_what_a_followed_face_explains():
    a = np.zeros((H, W), np.uint8)
    b = a.copy()
    b[400:440, 960:1000] = 200  # a 40 px head appears
    mask = changed(cells(a), cells(b))
    assert mask.sum() == (40 // CELL) ** 2
    assert not changed(None, cells(b)).any()
    assert explain(mask, [Box(960, 400, 1000, 440)]).sum() == 0  # the face's own box
    assert explain(mask, [Box(960, 300, 1000, 340)]).sum() == 0  # the head above: this is its body
    assert explain(mask, [Box(960, 500, 1000, 540)]).sum() == mask.sum()  # a face below explains nothing above it


def test_a_part_covers_the_faces_it_would_find_whole():
    tile = Part((0, 0, 640, 640), 0.0, 160.0, MACS)
    assert tile.covers(Box(100, 100, 160, 170))
    assert not tile.covers(Box(600, 100, 680, 180))  # cut by the tile's edge: another tile's to find
    assert not tile.covers(Box(100, 100, 300, 300))  # too big for a tile: the whole-frame pass's
    assert Part((0, 0, 1920, 1080), 160.0, np.inf, MACS).covers(Box(100, 100, 300, 300))


def test_a_partial_search_misses_only_the_faces_it_looked_at():
    tracker = Tracker(EMOTIONS, follow="velocity")  # a still frame: the boxes stay put, and look like their faces
    frame = _scene()
    left, right = Box(100, 100, 160, 160), Box(1500, 100, 1560, 160)
    tracker.step(frame, [Detection(left, 0.9), Detection(right, 0.9)], 0.0)
    assert [t.visible for t in tracker.tracks] == [True, True]
    t = 0.0
    for n in range(1, PART_MISSES + 3):  # both faces gone from the detector's view; only the top-right part looks
        t += 1 / 30
        tracker.step(frame, [], t, searched=[_grid()[2]])
        by_id = {tr.id: tr for tr in tracker.tracks}
        assert by_id[1].visible and by_id[1].missed == 0  # never looked for: no miss
        assert by_id[2].missed == n
        assert by_id[2].visible is (n <= PART_MISSES)  # a part's miss or two is forgiven, not more

@pytest.mark.shared
def test_room_in_parts_finds_what_room_finds_at_once(shared):
    photo = cv2.imread(str(shared / "data" / "scenes" / "fr_obama_and_biden.jpg"))  # 2000x1428: tiled
    room = make_detector("room")
    h, w = photo.shape[:2]
    parts = room.parts(w, h)
    assert len(parts) == 1 + len(room.grid(w, h)) and room.macs(w, h) == sum(p.macs for p in parts)
    whole = room.detect(photo)
    assert len(whole) == 3
    before = room.passes
    assert [d.box for d in room.search(photo, range(len(parts)))] == [d.box for d in whole]
    assert room.passes - before == len(parts)
    for d in whole:
        covering = [i for i, p in enumerate(parts) if p.covers(d.box)]
        assert covering, d.box
        found = room.search(photo, covering[:1])
        assert any(max(abs(a - b) for a, b in zip(f.box.as_array(), d.box.as_array())) < 0.25 * d.box.width
                   for f in found), (d.box, covering)


@pytest.mark.shared
@pytest.mark.parametrize("search", ["spread", "whole"])
def test_the_loop_spreads_rooms_search_over_frames_within_the_budget(shared, search):
    """On a 1080p video `room` runs all nine passes on the first frame, then (spread) one pass every second frame or
    so where `whole` runs all nine on every 18th: the same MACs a frame (second looks included), without the spike;
    both keep the faces."""
    from fer_edge import Analyzer

    photo = cv2.resize(cv2.imread(str(shared / "data" / "scenes" / "fr_obama_and_biden.jpg")), (W, H))
    analyzer = Analyzer(detector_options={"search": search})
    room = analyzer._pipeline.detector
    frames = [np.roll(photo, 2 * i, axis=1) for i in range(37)]
    passes, spent, found = [], [], []
    for faces in analyzer.stream(frames):
        passes.append(room.passes)
        spent.append(room.spent_macs)
        found.append(len(faces))
    steps = np.diff([0] + passes)
    assert steps[0] == 9
    rate = room.macs(W, H) / 18  # the interval's MACs a frame: every 18th frame, by the 100 M budget
    if search == "spread":  # after the first frame's whole search, 36 frames at that rate: passes and second looks
        assert steps[1:].max() == 1 and steps[1:].sum() <= 18
        first, one = 9 * room.back.spec.macs, room.back.spec.macs  # the first frame's looks come out of the rate
        assert first + 36 * rate - 2 * one <= spent[-1] <= first + 36 * rate + one
    else:  # all nine on every 18th frame: 94.5 M a frame
        assert sorted(set(steps[1:])) == [0, 9] and sum(steps[1:]) == 18
    assert found[0] == 3 and min(found) >= 2, found


@pytest.mark.parametrize("budget, every", [(100, 18), (400, 5)])
def test_the_detector_budget_sets_how_fast_room_s_parts_come_round(budget, every, caplog):
    """`detector.budget_mmacs` (`--detect-budget`; the API's `detect_budget_mmacs`): at 1080p `room` spends its
    whole search (1,701 M MACs) over ceil(1701 / budget) frames, a part at a time: two rounds of nine parts take 36
    frames at the default 100 M, 10 at 400 M (two parts on some frames)."""
    from fer_edge import Analyzer

    caplog.set_level(logging.INFO, logger="fer_edge")
    analyzer = Analyzer(detect_budget_mmacs=budget)
    room = analyzer._pipeline.detector
    frames = [np.roll(_scene(), 2 * i, axis=1) for i in range(1 + 2 * every)]
    passes = []
    for _ in analyzer.stream(frames):
        passes.append(room.passes)
    steps = np.diff([0] + passes)
    rate = room.macs(W, H) / every  # the first frame's nine passes come out of it too (as in the test above)
    assert steps[0] == 9 and steps[1:].max() == (1 if budget == 100 else 2), steps
    assert 2 * every * rate - 2 * MACS <= room.spent_macs <= 9 * MACS + 2 * every * rate + MACS
    assert 2 * 9 - 9 - 2 <= steps[1:].sum() <= 2 * 9, steps
    said = " ".join(r.getMessage() for r in caplog.records if "searching 1920x1080" in r.getMessage())
    rate, nth = ("one every 2 frames", "18th") if budget == 100 else ("1.8 a frame", "5th")
    assert f"in 9 parts, {rate} where" in said and f"search=whole: all of it every {nth} frame" in said, said


def test_a_kiosk_frame_is_searched_whole_every_second_frame():
    """640x480 fits one tile at the tiles' scale: `room` is `back` there, searched whole on every 2nd frame, as before
    the spread search (the kiosk target: no worse than before)."""
    from fer_edge import Analyzer

    analyzer = Analyzer()
    room = analyzer._pipeline.detector
    assert room.spread and len(room.parts(640, 480)) == 1
    frames = [np.roll(_scene()[:480, :640], 3 * i, axis=1) for i in range(8)]
    passes = []
    for _ in analyzer.stream(frames):
        passes.append(room.passes)
    assert np.diff([0] + passes).tolist() == [1, 0] * 4


def test_detections_frames_apart_barely_move_a_track_s_velocity():
    """A spread search finds a face every few frames; its box jitters by a few pixels from one find to the next. A
    still face found every 2nd frame with 3 px of jitter keeps a speed near 0, not the 45 px/s the jitter reads as
    over 1/15 s; found 0.6 s apart, a walker's speed is taken at the full weight."""
    from fer_edge.tracking.tracker import VELOCITY_WEIGHT

    tracker = Tracker(EMOTIONS, follow="velocity")
    frame = _scene()
    for i in range(0, 40, 2):
        x = 500 + (3 if (i // 2) % 2 else 0)
        tracker.step(frame, [Detection(Box(x, 300, x + 60, 360), 0.9)], i / 30)
        if i:
            tracker.step(frame, None, (i + 1) / 30)
    vx = tracker.tracks[0].velocity[0]
    assert abs(vx) < 6, vx  # at full weight it swings by 15 px/s
    walker = Tracker(EMOTIONS, follow="velocity")
    for n, x in enumerate((100, 160, 220)):  # 100 px/s, found every 0.6 s
        walker.step(frame, [Detection(Box(x, 300, x + 60, 360), 0.9)], 0.6 * n)
    assert walker.tracks[0].velocity[0] == pytest.approx(100, rel=1e-6) and VELOCITY_WEIGHT < 1


def test_a_camera_that_comes_back_at_another_size_is_searched_for_that_size():
    """A spread search sized for 1080p, then 640x480 frames (a camera reconnected at another mode): the search is
    sized again, and the small frames are searched whole on every 2nd frame, one pass each."""
    from fer_edge import Analyzer

    analyzer = Analyzer()
    room = analyzer._pipeline.detector
    big, small = _scene(), _scene(1)[:480, :640]
    passes = []
    for _ in analyzer.stream([big] * 4 + [small] * 6):
        passes.append(room.passes)
    steps = np.diff([0] + passes).tolist()
    assert steps[0] == 9 and max(steps[1:4]) <= 1  # 1080p: all nine, then a part at a time
    assert steps[4:] == [1, 0, 1, 0, 1, 0]  # 640x480: one tile's worth, every 2nd frame from its first
