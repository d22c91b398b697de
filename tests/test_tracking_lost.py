"""Faces the tracker loses between detections (issue 17): found again on a crop around the box (`regain`), coasting
on their velocity while hidden, handed their id back by motion (`handover`), and a box the detector keeps missing
stops being shown."""

from __future__ import annotations

import cv2
import numpy as np
from test_tracking import EVERY, FACE, FPS, _background, _face_patch, _frame, _iou

from fer_edge.detection.region import RegionFinder
from fer_edge.geometry import Box, Detection
from fer_edge.labels import EMOTIONS
from fer_edge.sources import DEMO_IMAGE
from fer_edge.tracking import Track, Tracker
from fer_edge.tracking.follow import template
from fer_edge.tracking.regain import regain

HEAD = (125, 35, 325, 235)  # the demo photo's head and some hair and shoulder (its face box is 173, 75, 277, 178)
SCALE = 0.6  # the head pasted at 120 px: its face 62 px wide


def _head() -> tuple[np.ndarray, Box]:
    """The astronaut's head, scaled, and its face box within it."""
    x1, y1, x2, y2 = HEAD
    image = cv2.imread(str(DEMO_IMAGE))[y1:y2, x1:x2]
    head = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    return head, Box((173 - x1) * SCALE, (75 - y1) * SCALE, (277 - x1) * SCALE, (178 - y1) * SCALE)


def _scene(head: np.ndarray, x: int, y: int, covered: bool = False) -> np.ndarray:
    out = _background().copy()
    out[y:y + head.shape[0], x:x + head.shape[1]] = 128 if covered else head
    return out


def _blink(finder: RegionFinder | None) -> list[list[tuple[int, float]]]:
    """A real face found once, walking 3 px a frame, covered on frame 6 (someone passing in front): the optical flow
    loses it there. Per frame, the (id, IoU with the face) of every box shown. No detection after frame 0."""
    head, face = _head()
    tracker = Tracker(EMOTIONS, finder=finder, finder_macs=31_000_000 if finder else 0)
    out = []
    for i in range(15):
        x, y = 100 + 3 * i, 150
        truth = Box(x + face.x1, y + face.y1, x + face.x2, y + face.y2)
        shown = tracker.step(_scene(head, x, y, i == 6), [Detection(truth, 0.9)] if i == 0 else None, i / FPS)
        out.append([(t.id, _iou(t.box, truth)) for t in shown])
    assert tracker.lost["flow"] + tracker.lost["likeness"] == 1  # lost once, on frame 6
    return out


def test_a_face_the_flow_loses_is_found_again_on_a_crop_around_its_box():
    shown = _blink(RegionFinder())
    assert shown[6] == []  # covered: nothing is found, nothing shown
    back = shown.index(next(s for s in shown[7:] if s))
    assert back <= 9  # looked for again at most 0.1 s later
    for s in shown[:6] + shown[back:]:
        assert len(s) == 1 and s[0][0] == 1 and s[0][1] > 0.8, s  # the same id, on the face


def test_without_the_finder_the_lost_face_waits_for_the_next_detection():
    assert [len(s) for s in _blink(None)] == [1] * 6 + [0] * 9


def _track(box: Box, image: np.ndarray, track_id: int = 1, visible: bool = True) -> Track:
    t = Track(track_id, box, 0.9, (), 0.0, box, confirmed=True, visible=visible)
    t.template = template(image, box)
    return t


def test_regain_takes_no_face_another_shown_track_follows_and_none_unlike_the_lost_one():
    head, face = _head()
    image = _scene(head, 200, 150)
    truth = Box(200 + face.x1, 150 + face.y1, 200 + face.x2, 150 + face.y2)
    near = Box(truth.x1 + 25, truth.y1 + 10, truth.x2 + 25, truth.y2 + 10)  # where the lost face's box coasted to
    lost = _track(near, image, 1, visible=False)
    lost.template = template(image, truth)  # it was this face
    finder = RegionFinder()
    det, again = regain(finder, image, lost, [lost])
    assert det is not None and _iou(det.box, truth) > 0.7 and again
    far = Box(truth.x1 + 45, truth.y1, truth.x2 + 45, truth.y2)  # 0.7 face widths off: a face there is someone else
    assert finder(image, far) is None and finder(image, near) is not None
    # the face there is another shown track's: the lost one is most likely behind it; stop looking
    assert regain(finder, image, lost, [lost, _track(truth, image, 2)]) == (None, False)
    # the lost face looked like a wall: the face found there is someone else
    lost.template = template(_background(5), near)
    assert regain(finder, image, lost, [lost]) == (None, True)


def _hidden_walk(vx: float, hide: range, stop_at: int | None, frames: int) -> list[list[int]]:
    """The synthetic face walking right at `vx` px a frame (stopping at frame `stop_at`), detected every EVERY frames
    while in view, out of view (a wall where it is) on the frames in `hide`: the ids shown at each detection."""
    bg, face = _background(), _face_patch()
    tracker = Tracker(EMOTIONS)
    ids = []
    for i in range(frames):
        x = 40 + vx * (i if stop_at is None else min(i, stop_at))
        seen = i not in hide
        dets = None if i % EVERY else ([Detection(Box(x, 200, x + FACE, 264), 0.9)] if seen else [])
        shown = tracker.step(_frame(bg, face, x if seen else None, 200), dets, i / FPS)
        if dets:
            ids.append([t.id for t in shown])
    return ids


def test_a_hidden_face_coasts_on_its_velocity_and_keeps_its_id_where_it_comes_back():
    """9 px a frame, out of view from frame 20 to 50 (1 s): found again at frame 54, 4.8 face widths from where it
    was last seen, where its velocity says it went; beyond the widest handover gate, so only coasting keeps the id."""
    assert _hidden_walk(9, range(20, 51), None, 55) == [[1], [1], [1]]


def test_a_face_back_off_its_coasted_path_is_handed_its_id_by_motion():
    """6 px a frame, out of view from frame 20 to 35, back at frame 36 where it stopped: 1.5 face widths behind its
    coasted box (no overlap, beyond the one-width centre rule), within the gate its time out of sight opened."""
    assert _hidden_walk(6, range(20, 36), 20, 37) == [[1], [1], [1]]


def test_a_shown_box_is_hidden_once_a_detection_misses_it():
    """A still scene: the box still looks like the face, but the detector no longer finds one there."""
    bg, face = _background(), _face_patch()
    image = _frame(bg, face, 200, 200)
    tracker = Tracker(EMOTIONS)
    shown = [len(tracker.step(image, [Detection(Box(200, 200, 264, 264), 0.9)] if i == 0 else [], i / FPS))
             for i in range(3)]
    assert shown == [1, 0, 0]
    assert [t.id for t in tracker.tracks] == [1]  # the id waits (max_carry_s)


def test_a_hidden_face_keeps_its_size_while_it_coasts():
    """Found growing (1.5x in 0.6 s, someone walking up), then out of view for a second: its box moves on, but does
    not grow on a guess (a second of that rate would make it 2x)."""
    bg = _background()
    tracker = Tracker(EMOTIONS)
    tracker.step(bg, [Detection(Box(100, 100, 140, 140), 0.9)], 0.0)
    tracker.step(bg, [Detection(Box(120, 95, 180, 155), 0.9)], 0.6)
    (t,) = tracker.tracks
    assert t.velocity[2] > 0.6  # log-size per second
    flat = np.full_like(bg, 128)
    for i in range(1, 31):
        tracker.step(flat, None, 0.6 + i / FPS)  # nothing to follow: the flow or the likeness hides it at once
    assert not t.visible and t.box.x1 > 130  # it coasted right
    assert abs(t.box.width - 60) < 60 * 0.2  # near its size when last seen, not 2x


def test_a_hidden_face_behind_a_shown_one_keeps_its_id():
    """Two tracks on one place: a duplicate if both are shown (the younger ends), a face behind another if one is
    hidden (both stay, the hidden one until max_carry_s)."""
    bg, face = _background(), _face_patch()
    image = _frame(bg, face, 100, 100)
    for hidden, ids in ((False, [1]), (True, [1, 2])):
        tracker = Tracker(EMOTIONS, follow="none", min_likeness=0)  # boxes stay put, and shown
        tracker.step(image, [Detection(Box(100, 100, 164, 164), 0.9), Detection(Box(300, 100, 364, 164), 0.9)], 0.0)
        back = tracker.tracks[1]
        back.box, back.visible, back.velocity = Box(104, 100, 168, 164), not hidden, (0.0, 0.0, 0.0)
        tracker.step(image, None, 1 / FPS)
        assert [t.id for t in tracker.tracks] == ids


def test_a_box_only_a_tile_found_takes_a_hidden_face_s_id_only_if_it_is_a_face():
    """A face out of sight, then a box only a tile found within the handover gate: on a wall (the second look says no
    face) it does not take the face's id and nothing is shown; on the face, moved there, it does and is shown."""
    from test_tracking import _demo

    from fer_edge.detection.tiled import SecondLook

    image, face = _demo()
    wall = np.ascontiguousarray(np.tile(_background(3)[:160, :160], (4, 4, 1)))[:image.shape[0], :image.shape[1]]
    shift = round(1.3 * face.width)  # beyond the one-width centre rule, within the gate after 0.3 s out of sight
    moved = Box(face.x1 + shift, face.y1, face.x2 + shift, face.y2)
    for frame, verdict in ((wall, []), (np.roll(image, shift, axis=1), [1])):
        look = SecondLook()
        tracker = Tracker(EMOTIONS, checker=look, check_macs=look.macs)
        assert [t.id for t in tracker.step(image, [Detection(face, 0.9)], 0.0)] == [1]
        for i in range(1, 9):  # out of sight: the flow on the wall keeps no likeness to the face
            assert tracker.step(wall, None, i / FPS) == []
        shown = tracker.step(frame, [Detection(moved, 0.6, tile_only=True)], 9 / FPS)
        assert [t.id for t in shown] == verdict
        assert tracker.checks >= 1
