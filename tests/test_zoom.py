"""Close looks (edge/detection/zoom.py): a small patch of motion no followed face explains is looked at on a full-size
crop, for faces too small for `room`'s tiles, paid from the spread search's budget."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_edge.detection.motion import CELL
from fer_edge.detection.spread import Part, SpreadSearch
from fer_edge.detection.zoom import (
    BACK,
    COOL,
    HINT_FRAMES,
    LEAST_CROP,
    MOST_CROP,
    MOST_PX,
    ZoomPlaces,
    crop_for,
    hint_crop,
    patches,
)
from fer_edge.geometry import Box

MACS, LOOK = 189_000_000, 31_000_000


def test_patches_are_the_connected_changes_most_changed_first():
    mask = np.zeros((135, 240), bool)
    mask[20:26, 30:36] = True  # 36 cells: a head's worth
    mask[20:26:2, 31] = False  # a gap of one cell stays one patch
    mask[100, 200] = True  # one cell of noise
    found = patches(mask)
    assert [n for n, _ in found] == [33, 1]
    assert found[0][1] == (30 * CELL, 20 * CELL, 36 * CELL, 26 * CELL)
    assert found[1][1] == (200 * CELL, 100 * CELL, 201 * CELL, 101 * CELL)
    assert patches(np.zeros((4, 4), bool)) == []


def test_a_patch_is_looked_at_in_a_square_at_its_top():
    crop = crop_for((100.0, 200.0, 200.0, 400.0))  # 100 px wide, 200 tall: a head and shoulders
    assert crop.width == crop.height == 100
    assert crop.center[0] == 150 and crop.y1 < 200 < crop.y2 < 300  # the top of the patch, where the head is
    assert crop_for((0.0, 0.0, 16.0, 16.0)).width == LEAST_CROP
    assert crop_for((0.0, 0.0, 400.0, 400.0)).width == MOST_CROP


def _offer(places: ZoomPlaces, now: np.ndarray, free: np.ndarray) -> list[Box]:
    """One frame's cells seen, and the crops worth a look on it."""
    places.see(now, free)
    return places.places()


def _cells(x: int, y: int, size: int = 4) -> np.ndarray:
    """A grid of cells (135 x 240, a 1080p frame) of grey 100 with a bright square `size` cells a side at (x, y)."""
    grid = np.full((135, 240), 100, np.float32)
    grid[y:y + size, x:x + size] = 200
    return grid


def _flicker(size: int, f: int) -> np.ndarray:
    """A square `size` cells a side whose every cell changes from one frame to the next (a screen, a flag)."""
    grid = _cells(50, 40, size)
    grid[40:40 + size, 50:50 + size] += 40 * (f % 2)
    return grid


def test_small_unexplained_motion_is_offered_once_then_left_alone_for_a_while():
    places = ZoomPlaces()
    free = np.ones((135, 240), bool)
    offered = [_offer(places, _cells(50 + f, 40), free) for f in range(BACK)]
    assert offered == [[]] * BACK  # no history yet: nothing to compare with
    crops = _offer(places, _cells(50 + BACK, 40), free)
    assert len(crops) == 1
    c = crops[0]
    assert c.x1 <= (50 + BACK) * CELL and c.x2 >= (50 + BACK + 4) * CELL and c.y1 <= 40 * CELL <= c.y2
    places.looked(c)
    for f in range(COOL - 1):  # someone moving on the spot: its place is left alone ...
        assert _offer(places, _cells(50 + BACK + 2 * (f % 2), 40), free) == []
    assert _offer(places, _cells(50 + BACK + 2, 40), free)  # ... for COOL frames, then offered again
    # motion a followed face explains (its body) is no one new
    explained = np.ones((135, 240), bool)
    explained[30:60, 40:80] = False
    fresh = ZoomPlaces()
    assert all(_offer(fresh, _cells(50 + f, 40), explained) == [] for f in range(BACK + 3))
    # a patch wider than MOST_PX is someone the tiles see big enough
    wide = MOST_PX // CELL + 2
    big = ZoomPlaces()
    assert all(_offer(big, _flicker(wide, f), free) == [] for f in range(BACK + 3))
    small = ZoomPlaces()
    assert any(_offer(small, _flicker(4, f), free) for f in range(BACK + 3))  # the same, head-sized, is looked at


def test_a_hint_is_looked_at_before_motion_and_waits_a_few_frames_for_a_look():
    """A box a tile scored just under its threshold is offered first, on a square centred on it (three of its widths,
    within the crop sizes), even with no motion at all; it waits HINT_FRAMES frames for a look, and once looked at
    its place is left alone like any other."""
    hint = Box(1000.0, 500.0, 1030.0, 530.0)
    crop = hint_crop(hint)
    assert crop.center == hint.center and crop.width == crop.height == 90
    assert hint_crop(Box(0.0, 0.0, 10.0, 10.0)).width == LEAST_CROP
    assert hint_crop(Box(0.0, 0.0, 100.0, 100.0)).width == MOST_CROP
    free = np.ones((135, 240), bool)
    places = ZoomPlaces()
    places.see(_cells(50, 40), free)
    places.hint([hint])
    assert places.places() == [crop]  # a still frame, no history: only the hint
    for f in range(1, HINT_FRAMES):  # a head moving elsewhere: once there is history, its patch comes after the hint
        offered = _offer(places, _cells(50 + f, 40), free)
        assert offered[0] == crop and len(offered) == (2 if f >= BACK else 1), (f, offered)
    assert crop not in _offer(places, _cells(50 + HINT_FRAMES, 40), free)  # not looked at in time: gone
    fresh = ZoomPlaces()
    fresh.see(_cells(50, 40), free)
    fresh.hint([hint])
    fresh.looked(crop)
    fresh.hint([hint])  # the same place found again: left alone for COOL frames
    assert fresh.places() == []


def test_a_hint_waits_for_a_frame_that_can_pay_for_its_look():
    """On a still frame a hint is the only reason for a look; one the budget cannot pay for now is looked at on the
    next frame that can, from the same budget."""
    spread = SpreadSearch(_grid(), MACS / 2, LOOK)
    frame = _frame(100)
    spread.plan(frame, [], everything=True)
    hint = Box(700.0, 500.0, 720.0, 520.0)
    looks = []
    for f in range(1, 8):
        spread.plan(frame, [])
        if f == 1:
            spread.credit = LOOK - 1  # this frame cannot pay for a look
        looks.append(spread.close_looks([hint] if f == 1 else []))
    assert looks[0] == [] and looks[1] == [hint_crop(hint)] and not any(looks[2:])
    plain = SpreadSearch(_grid(), MACS / 2)  # no look cost: no looks, hints or not
    plain.plan(frame, [], everything=True)
    plain.plan(frame, [])
    assert plain.close_looks([hint]) == []


def _grid() -> list[Part]:
    return [Part((x * 640.0, y * 360.0, x * 640.0 + 640, y * 360.0 + 360), 0.0, 200.0, MACS)
            for y in range(3) for x in range(3)]


def _frame(x: int) -> np.ndarray:
    """A 1080p frame of still texture with a small bright head-sized square at (x, 500)."""
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(60, 120, (27, 48, 3), dtype=np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    image[500:540, x:x + 32] = 230
    return image


def test_close_looks_come_out_of_the_spread_budget():
    """One look a frame at most, each paid from the parts' credit: over 60 frames the passes and looks together
    spend no more than the budget (one pass of slack); with no look cost there are no looks."""
    spread = SpreadSearch(_grid(), MACS / 2, LOOK)
    spread.plan(_frame(100), [], everything=True)
    passes = looks = 0
    for f in range(1, 61):
        passes += len(spread.plan(_frame(100 + 6 * f), []))
        crops = spread.close_looks()
        assert len(crops) <= 1
        looks += len(crops)
    assert looks >= 5  # the square moves on past each look's place
    assert passes * MACS + looks * LOOK <= 60 * MACS / 2 + MACS
    assert passes < 30  # the looks took some of the parts' turns
    plain = SpreadSearch(_grid(), MACS / 2)
    plain.plan(_frame(100), [], everything=True)
    for f in range(1, 20):
        plain.plan(_frame(100 + 6 * f), [])
        assert plain.close_looks() == []


def _walker(shared, face: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A real backdrop at 1080p, and a real head and shoulders scaled to a `face`-px face, with its face's offset."""
    scenes = shared / "data" / "scenes"
    backdrop = cv2.resize(cv2.imread(str(scenes / "fr_obama_and_biden.jpg")), (1920, 1080))
    photo = cv2.imread(str(scenes / "fr_two_people.jpg"))
    x1, y1, x2, y2 = 235, 75, 389, 230  # a face box in that photo (benchmarks/scene_people.py)
    w = x2 - x1
    top = max(0, int(y1 - 0.75 * w))
    head = photo[top:int(y2 + 1.9 * w), int(x1 - 0.8 * w):int(x2 + 0.8 * w)]
    k = face / w
    return backdrop, cv2.resize(head, None, fx=k, fy=k, interpolation=cv2.INTER_AREA), (y1 - top) * k


@pytest.mark.shared
@pytest.mark.parametrize("zoom", [True, False])
def test_a_small_face_walking_in_is_found_by_a_close_look(shared, zoom):
    """A 24 px face walks into a still 1080p room: a close look finds it as it comes in, it is reported, and the
    passes and looks spend no more than the budget. With `zoom` off, no look is taken."""
    from fer_edge import Analyzer

    backdrop, head, dy = _walker(shared, 24)
    frames, truth = [], []
    for f in range(24):
        frame = backdrop.copy()
        if f >= 4:  # still for four frames, then the walker comes in from the left, 8 px a frame
            x = 40 + 8 * (f - 4)
            frame[700:700 + head.shape[0], x:x + head.shape[1]] = head
            side = (head.shape[1] - 24) / 2  # the head is cut symmetric about the face
            truth.append((f, Box(x + side, 700 + dy, x + side + 24, 700 + dy + 24)))
        frames.append(frame)
    analyzer = Analyzer(detector_options={"zoom": zoom})
    room = analyzer._pipeline.detector
    found: list[Box] = []
    look = room.look_close

    def spy(image, crop):
        out = look(image, crop)
        found.extend(d.box for d in out)
        return out

    room.look_close = spy
    reported = [[r.box for r in faces] for faces in analyzer.stream(frames)]
    near = {f: b for f, b in truth}

    def on(box: tuple[float, ...], f: int) -> bool:
        return abs(box[0] - near[f].x1) < 12 and abs(box[1] - near[f].y1) < 12

    rate = room.macs(1920, 1080) / 18
    assert room.spent_macs <= 9 * room.back.spec.macs + 23 * rate + room.back.spec.macs
    if not zoom:
        assert room.closer == 0 and found == []
        return
    assert room.closer >= 1 and any(abs(b.width - 24) < 8 for b in found), found
    first = next(f for f in range(4, 24) if any(on(b, f) for b in reported[f]))
    assert first <= 8, first  # found within a few frames of coming in


def test_no_close_look_while_much_of_the_frame_changes():
    """A camera pan or a light switched on changes edges everywhere: more than BUSY of the frame changed and no
    followed face explains it, so no patch is looked at, not even a head-sized one; a still camera's head is."""
    from fer_edge.detection.zoom import BUSY

    rng = np.random.default_rng(1)
    specks = rng.random((135, 240)) < 2 * BUSY  # cells all over the frame
    free = np.ones((135, 240), bool)
    for busy in (True, False):
        places = ZoomPlaces()
        offered = []
        for f in range(BACK + 3):
            grid = _cells(50 + 2 * f, 40)
            if busy:
                grid[specks] += 40 * (f % 2)
            offered.append(_offer(places, grid, free))
        assert any(offered) is not busy, (busy, offered)


def _still_room(shared, face: int, photo: str = "skimage_astronaut.png",
                box: tuple[int, int, int, int] = (173, 75, 277, 178)) -> tuple[np.ndarray, Box]:
    """A real 1080p backdrop with a real head and shoulders pasted still in it, its face `face` px wide; and the face's
    box. `box`: the face's box in `photo` (benchmarks/scene_people.py)."""
    scenes = shared / "data" / "scenes"
    room = cv2.resize(cv2.imread(str(scenes / "fr_obama_and_biden.jpg")), (1920, 1080))
    x1, y1, x2, y2 = box
    w = x2 - x1
    top, left = max(0, int(y1 - 0.75 * w)), max(0, int(x1 - 0.8 * w))
    k = face / w
    head = cv2.resize(cv2.imread(str(scenes / photo))[top:int(y2 + 1.9 * w), left:int(x2 + 0.8 * w)], None, fx=k,
                      fy=k, interpolation=cv2.INTER_AREA)
    room[700:700 + head.shape[0], 900:900 + head.shape[1]] = head
    fx, fy = 900 + (x1 - left) * k, 700 + (y1 - top) * k
    return room, Box(fx, fy, fx + face, fy + face)


@pytest.mark.shared
@pytest.mark.parametrize("hints", [True, False])
def test_a_small_face_standing_still_is_found_through_a_hint(shared, hints, monkeypatch):
    """A 20 px face standing still in a 1080p room: the tiles score it under their threshold and nothing moves, so
    only a close look at the hint its tile gave finds it; it is reported within two rounds of the search. With the
    hint's floor at the threshold (no hints), it is never found."""
    from fer_edge import Analyzer
    from fer_edge.detection import tiled
    from fer_edge.detection.blazeface import VARIANTS

    if not hints:
        monkeypatch.setattr(tiled, "HINT_SCORE", VARIANTS["back"].min_score)  # nothing scores between
    room, face = _still_room(shared, 20)
    analyzer = Analyzer()
    first = None
    for f, faces in enumerate(analyzer.stream([room] * 80)):
        if any(abs(r.box[0] - face.x1) < 8 and abs(r.box[1] - face.y1) < 8 for r in faces):
            first = f
            break
    if hints:
        assert first is not None and analyzer._pipeline.detector.closer >= 1
    else:
        assert first is None


@pytest.mark.shared
def test_a_face_one_tile_finds_is_no_hint_from_another(shared):
    """Tiles overlap: a small face one tile finds may score just under the threshold in its neighbour. That is the
    face already found, not a place for a close look; a face no tile finds (the 20 px one of the test above) is."""
    from fer_edge.detection.tiled import TiledBlazeFace

    room, face = _still_room(shared, 20, "fr_two_people.jpg", (235, 75, 389, 230))
    def near(b: Box) -> bool:
        return abs(b.x1 - face.x1) < 8 and abs(b.y1 - face.y1) < 8

    tiled = TiledBlazeFace(spread=True, zoom=True)
    tiles = range(1, 1 + len(tiled.grid(1920, 1080)))
    assert any(near(d.box) for d in tiled.search(room, tiles))
    assert not any(near(b) for b in tiled.hints)
    still, face = _still_room(shared, 20)
    assert not any(near(d.box) for d in tiled.search(still, tiles))
    assert any(near(b) for b in tiled.hints)
