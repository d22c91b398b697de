"""The room view: box matching by hand, the tiled `room` detector's pieces, the composed clip and its benchmark."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fer_edge.benchmarks.scene_metrics import pairs, score
from fer_edge.detectors import DEFAULT_DETECTOR, make_detector
from fer_edge.detectors.tiled import merge, tile_grid, tile_starts
from fer_edge.geometry import Box, Detection, iou_matrix
from fer_edge.pipeline import DETECT_BUDGET_MACS, detect_interval


def test_matching_is_one_to_one_at_iou_03():
    ref = [[0, 0, 100, 100], [200, 0, 300, 100]]
    found = [[10, 10, 110, 110], [5, 5, 105, 105], [500, 500, 520, 520]]  # two on the first face, one stray
    assert sorted(pairs(ref, found)) == [(0, 1)]  # IoU 0.82 beats 0.68; the second face has no match
    s = score([ref, ref], [found, []])
    assert (s["faces"], s["found"], s["recall"]) == (4, 1, 0.25)
    assert s["extra_per_frame"] == 1.0  # 2 unmatched boxes in frame 0, none in frame 1
    assert s["recall_by_width"] == {"0-40px": None, "40-80px": None, ">=80px": 0.25}
    assert pairs([[0, 0, 100, 100]], [[60, 0, 160, 100]]) == []  # IoU 0.25: not the same face


def test_tiles_cover_the_frame_with_overlap():
    assert tile_starts(200, 256, 64) == [0]
    starts = tile_starts(768, 256, 64)
    assert starts[0] == 0 and starts[-1] == 768 - 256 and len(starts) == 4
    assert all(b - a <= 256 - 64 for a, b in zip(starts, starts[1:]))
    grid = tile_grid(768, 432, 256, 64)  # 1920x1080 at the room detector's 0.4
    assert len(grid) == 8 and all(w == h == 256 for _, _, w, h in grid)


def test_merge_prefers_whole_boxes_and_drops_duplicates():
    whole = Detection(Box(100, 100, 140, 140), 0.6)
    cut = Detection(Box(110, 100, 140, 140), 0.9)  # the same face, cut by a tile edge: lies inside `whole`
    other = Detection(Box(300, 300, 330, 330), 0.5)
    assert merge([cut, whole, other], [True, False, False]) == [whole, other]


def test_detect_interval_keeps_the_budget():
    assert detect_interval(189_000_000, 2, DETECT_BUDGET_MACS) == 2
    assert detect_interval(1_701_000_000, 2, DETECT_BUDGET_MACS) == 18
    assert detect_interval(None, 2, DETECT_BUDGET_MACS) == 2
    assert detect_interval(1_701_000_000, 3, 0) == 3  # no budget: as asked


def test_room_detector_cost_follows_the_frame_size():
    room = make_detector("room")
    assert room.macs(640, 360) == 189_000_000  # fits one tile: the whole-frame pass only, as `back`
    assert room.macs(1920, 1080) == 9 * 189_000_000
    assert detect_interval(room.macs(1920, 1080), 2, DETECT_BUDGET_MACS) * DETECT_BUDGET_MACS >= room.macs(1920, 1080)


@pytest.mark.shared
def test_known_face_boxes_match_the_photos(shared):
    from fer_edge.benchmarks.scene_clip import FACES

    back = make_detector("blazeface-back")
    for name, box in FACES:
        found = [d.box.as_array() for d in back.detect(cv2.imread(str(shared / "data" / "scenes" / name)))]
        assert iou_matrix(np.array([box], np.float32), np.array(found)).max() > 0.9, name


@pytest.mark.shared
def test_default_detector_finds_small_faces_in_a_composed_room(shared):
    from fer_edge.benchmarks.scene_clip import compose, draw_room, make_cutouts, plan_tracks

    cutouts = make_cutouts(shared / "data" / "scenes")
    tracks = plan_tracks(seed=3, frames=10)
    frame, truth = compose(cutouts, tracks, draw_room(3, (1920, 1080)), 5)
    assert len(truth) >= 4 and min(b[2] - b[0] for b in truth) < 40  # a room view: several faces, some small
    found = [d.box.as_list() for d in make_detector(DEFAULT_DETECTOR).detect(frame)]
    s = score([truth], [found])
    assert s["recall"] >= 0.9 and s["extra_per_frame"] == 0, (truth, found)
    assert score([truth], [[d.box.as_list() for d in make_detector("blazeface-back").detect(frame)]])["recall"] < 0.7


@pytest.mark.shared
def test_scene_benchmark_on_a_short_clip(shared, tmp_path):
    from fer_edge.benchmarks.scene import main

    out = tmp_path / "results"
    code = main(["--shared", str(shared), "--frames", "12", "--cache", str(tmp_path / "cache"), "--out", str(out),
                 "--detectors", "room:1,blazeface-back:3", "--yunet-model",
                 str(shared / "models" / "face_detection_yunet_2023mar.onnx")])
    assert code == 0
    truth = json.loads(next((tmp_path / "cache").glob("scene-*.json")).read_text())
    assert len(truth["boxes"]) == 12 and all(4 <= len(f) <= 8 for f in truth["boxes"])
    assert truth["width"] == 1920 and truth["height"] == 1080
    results = json.loads((out / "results.json").read_text())
    assert {"machine", "clip", "reference", "rows", "match_iou", "load_avg", "command"} <= results.keys()
    assert results["reference"]["recall"] >= 0.9  # YuNet at full size finds the known boxes
    room, back = results["rows"]
    for row in (room, back):
        assert {"detector", "detect_every", "frames", "fps", "recall", "extra_per_frame", "recall_by_width",
                "macs_per_call", "macs_per_frame", "recall_vs_yunet", "detect_ms_per_call"} <= row.keys()
        assert row["frames"] == 12
    # detecting on every frame: faces popping in and out of this short clip cost nothing
    # back misses the small faces (the tracker carries the few it found, once, through this short clip)
    assert room["recall"] >= 0.9 and room["extra_per_frame"] <= 0.2 and back["recall"] <= room["recall"] - 0.3
    assert (room["detect_every"], room["macs_per_frame"]) == (1, 9 * 189_000_000)
    assert (back["detect_every"], back["macs_per_frame"]) == (3, 63_000_000)
    report = (out / "report.md").read_text()
    assert "| room | 1 |" in report and "Re-run:" in report


def test_scene_benchmark_bad_arguments_exit_2(capsys):
    from fer_edge.benchmarks.scene import main

    assert main(["--detectors", "mtcnn"]) == 2
    assert "unknown detector 'mtcnn'" in capsys.readouterr().err
    assert main(["--size", "big"]) == 2
    assert main(["--detectors", "room:0"]) == 2
