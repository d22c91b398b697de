"""The BlazeFace decoder, written here, checked against real photos for each vendored variant."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_edge.detection.blazeface import VARIANTS, BlazeFaceDetector, anchor_centres, decode, letterbox
from fer_edge.geometry import iou_matrix, weighted_nms

PHOTOS = {"skimage_astronaut.png": 1, "fr_obama.jpg": 1, "fr_biden.jpg": 1, "fr_two_people.jpg": 2,
          "fr_obama_and_biden.jpg": 3}


@pytest.mark.parametrize("variant,count", [("short", 896), ("full", 2304), ("back", 896)])
def test_anchor_layout(variant, count):
    spec = VARIANTS[variant]
    anchors = anchor_centres(spec.size, spec.strides, spec.anchors_per_cell)
    assert anchors.shape == (count, 2)
    assert anchors.min() > 0 and anchors.max() < 1
    first_cell = 0.5 / (spec.size // spec.strides[0])
    np.testing.assert_allclose(anchors[0], [first_cell, first_cell])


def test_decode_is_relative_to_anchor_in_input_pixels():
    raw = np.zeros((1, 16), np.float32)
    raw[0, :4] = [12.8, -12.8, 32.0, 64.0]   # +0.1, -0.1 of a 128 input; w 0.25, h 0.5
    raw[0, 4:6] = [6.4, 0.0]
    boxes, kps, scores = decode(raw, np.array([0.0]), np.array([[0.5, 0.5]], np.float32), 128)
    np.testing.assert_allclose(boxes[0], [0.6 - 0.125, 0.4 - 0.25, 0.6 + 0.125, 0.4 + 0.25], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [0.55, 0.5], atol=1e-6)
    assert scores[0] == pytest.approx(0.5)


def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    out = weighted_nms(boxes, scores, kps, 0.3)
    assert len(out) == 2 and out[0][1] == pytest.approx(0.9)
    np.testing.assert_allclose(out[0][0], [0.4, 0.4, 10.4, 10.4], atol=1e-5)  # 0.9/0.6 weighted mean
    assert iou_matrix(out[1][0][None], boxes[2:3])[0, 0] == pytest.approx(1.0)


def test_a_box_of_no_area_is_its_own_cluster_not_a_nan():
    """Sub-threshold candidates (tiled.py's hints) include boxes the regressors give no area: each stays a cluster of
    one, so no cluster divides by a weight of nothing."""
    boxes = np.array([[5, 5, 5, 9], [0, 0, 10, 10]], np.float32)  # the first has no width
    kps = np.zeros((2, 6, 2), np.float32)
    with np.errstate(all="raise"):
        out = weighted_nms(boxes, np.array([0.9, 0.3], np.float32), kps, 0.3)
    assert len(out) == 2 and all(np.isfinite(b).all() and np.isfinite(k).all() for b, _, k in out)


@pytest.mark.shared
def test_the_boxes_under_the_threshold_leave_the_faces_as_they_are(shared):
    """`detect_below` gives `detect`'s faces unchanged, and beside them the candidates scoring from `least` up to the
    threshold that lie on no face: a tile of a room view with faces of 8-20 px in it (what tiled.py's hints are)."""
    photo = cv2.imread(str(shared / "data" / "scenes" / "fr_obama_and_biden.jpg"))
    room = cv2.resize(photo, (1920, 1080))
    room[700:760, 900:960] = cv2.resize(photo[443:627, 757:941], (60, 60), interpolation=cv2.INTER_AREA)
    tile = cv2.resize(room, (768, 432), interpolation=cv2.INTER_AREA)[176:432, 256:512]  # 0.4 scale, as the tiles
    back = BlazeFaceDetector("back")
    faces = back.detect(tile)
    same, below = back.detect_below(tile, 0.2)
    assert [d.box for d in same] == [d.box for d in faces] and faces
    assert below and all(0.2 <= d.score <= back.min_score for d in below)
    over = iou_matrix(np.array([d.box.as_array() for d in below]), np.array([d.box.as_array() for d in faces]))
    assert over.max() < back.iou_threshold
    assert back.detect_below(tile, None) == (faces, [])


def test_letterbox_keeps_aspect_and_centres():
    img = np.full((100, 200, 3), 255, np.uint8)
    square, scale, pad_x, pad_y = letterbox(img, 128)
    assert square.shape == (128, 128, 3) and scale == pytest.approx(0.64)
    assert pad_x == 0 and pad_y == 32
    assert square[0, 64].sum() == 0 and square[64, 64].sum() == 255 * 3


@pytest.mark.shared
@pytest.mark.parametrize("name,count", PHOTOS.items())
def test_back_model_finds_every_face(shared, name, count):
    frame = cv2.imread(str(shared / "data" / "scenes" / name))
    dets = BlazeFaceDetector("back").detect(frame)
    assert len(dets) == count, [(d.score, d.box.as_list()) for d in dets]
    h, w = frame.shape[:2]
    for d in dets:
        assert 0 <= d.box.x1 < d.box.x2 <= w and 0 <= d.box.y1 < d.box.y2 <= h
        assert d.box.width > 40 and 0.6 < d.box.width / d.box.height < 1.6
        (rx, ry), (lx, _) = d.keypoints[0], d.keypoints[1]
        assert d.box.x1 < rx < lx < d.box.x2 and d.box.y1 < ry < d.box.y2  # eyes inside, right eye on the left


@pytest.mark.shared
@pytest.mark.parametrize("variant", ["short", "full"])
@pytest.mark.parametrize("name", ["skimage_astronaut.png", "fr_obama.jpg", "fr_biden.jpg", "fr_two_people.jpg"])
def test_near_and_full_range_models_on_portraits(shared, variant, name):
    frame = cv2.imread(str(shared / "data" / "scenes" / name))
    dets = BlazeFaceDetector(variant).detect(frame)
    assert len(dets) == PHOTOS[name]
    reference = BlazeFaceDetector("back").detect(frame)
    ious = iou_matrix(np.array([d.box.as_array() for d in dets]), np.array([d.box.as_array() for d in reference]))
    assert (ious.max(axis=1) > 0.6).all()  # the variants agree on where the faces are


def test_blank_frame_has_no_face():
    assert BlazeFaceDetector("back").detect(np.zeros((360, 640, 3), np.uint8)) == []
