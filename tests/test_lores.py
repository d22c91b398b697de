"""picamera2's lores stream: detect on the small grey image, crop from main; through a thin fake of the camera."""

from __future__ import annotations

import sys
import time
import types

import cv2
import numpy as np
import pytest

from fer_edge.detection.lores import lores_option, scale_detections
from fer_edge.errors import UsageError
from fer_edge.geometry import Box, Detection
from fer_edge.sources import DEMO_IMAGE
from fer_edge.sources.picamera import lores_size, y_plane


def test_lores_size_keeps_main_aspect():
    assert lores_size((640, 480)) == (320, 240)
    assert lores_size((1920, 1080)) == (320, 180)
    assert lores_size((200, 100)) == (200, 100)  # never larger than main


def test_lores_option():
    assert lores_option("auto", "blazeface", (1920, 1080)) == "auto"
    assert lores_option("auto", "room", (640, 480)) == "auto"  # room on a 640 px frame is back on the whole frame
    assert lores_option("auto", "room", (1920, 1080)) is None  # its tiles need main's pixels
    assert lores_option("off", "blazeface", (640, 480)) is None
    assert lores_option("400x300", "room", (1920, 1080)) == (400, 300)
    with pytest.raises(UsageError, match="--lores"):
        lores_option("tiny", "blazeface", (640, 480))


def test_y_plane_drops_chroma_rows_and_stride_padding():
    w, h, stride = 6, 4, 8
    yuv = np.arange(h * 3 // 2 * stride, dtype=np.uint8).reshape(h * 3 // 2, stride)
    y = y_plane(yuv, (w, h))
    assert y.shape == (4, 6) and y[1, 0] == stride and y[3, 5] == 3 * stride + 5


def test_scale_detections_to_main():
    d = Detection(Box(10, 20, 30, 40), 0.9, ((15.0, 25.0),))
    (s,) = scale_detections([d], 4.0, 4.5)
    assert s.box == Box(40, 90, 120, 180) and s.keypoints == ((60.0, 112.5),) and s.score == 0.9


def _yuv420(bgr: np.ndarray, stride: int) -> np.ndarray:
    """picamera2's YUV420 array for a BGR image: (h * 3 / 2, stride), Y plane first, rows padded to the stride."""
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # (h * 3 / 2, w)
    out = np.zeros((h * 3 // 2, stride), np.uint8)
    out[:, :w] = i420
    return out


class _LoresPicamera2:
    """Thin picamera2 stand-in with a lores stream: main is the demo photo on a wide canvas, lores its small copy."""

    instances: list = []

    def __init__(self):
        self.config, self.started, self.closed, self.single = None, False, False, []
        _LoresPicamera2.instances.append(self)

    def create_video_configuration(self, main, controls, lores=None):
        return {"main": main, "lores": lores, "controls": controls}

    def configure(self, config):
        self.config = config
        w, h = config["main"]["size"]
        canvas = np.full((h, w, 3), 90, np.uint8)
        face = cv2.imread(str(DEMO_IMAGE))
        fh, fw = face.shape[:2]
        canvas[h - fh:, w - fw:] = face  # the astronaut in the bottom-right corner of main
        self.main = np.dstack([canvas, np.zeros((h, w), np.uint8)])  # XRGB8888-like: 4 bytes a pixel
        lw, lh = config["lores"]["size"]
        self.lores = _yuv420(cv2.resize(canvas, (lw, lh), interpolation=cv2.INTER_AREA), stride=lw + 64)

    def start(self):
        self.started = True

    def capture_arrays(self, names):
        time.sleep(0.005)
        self.single.append(tuple(names))
        return [self.main if n == "main" else self.lores for n in names], {"SensorTimestamp": 0}

    def capture_array(self, name):
        raise AssertionError("main and lores must come from one request (capture_arrays)")

    def close(self):
        self.closed = True


def test_picamera_lores_detects_small_and_crops_main(monkeypatch):
    from fer_edge.config import config_from
    from fer_edge.pipeline.build import build_pipeline
    from fer_edge.pipeline.sink import CallbackSink
    from fer_edge.sources import open_source

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=_LoresPicamera2))
    src = open_source("picamera", width=1280, height=960, fps=30, lores="auto")
    cam = _LoresPicamera2.instances[-1]
    assert cam.config["lores"] == {"size": (320, 240), "format": "YUV420"}
    seen = []
    pipeline = build_pipeline(config_from({"detector.name": "blazeface", "detector.every": 1}), max_frames=2)
    detector = pipeline.detector
    real_detect = detector.detect
    detector.detect = lambda image: seen.append(image.shape) or real_detect(image)
    records = []
    try:
        pipeline.run(src, [CallbackSink(lambda result: records.append((result.frame, result.faces)))])
    finally:
        src.close()
    assert cam.started and cam.closed and set(cam.single) == {("main", "lores")}
    assert seen and all(s == (240, 320) for s in seen)  # the detector saw only the grey lores image
    frame, faces = records[-1]
    assert frame.image.shape == (960, 1280, 3) and frame.lores.shape == (240, 320)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    # the astronaut's face sits at (173, 75)-(277, 178) of the 512 px photo, placed at (768, 448) in main
    assert abs(x1 - (768 + 173)) < 25 and abs(y1 - (448 + 75)) < 25 and abs(x2 - (768 + 277)) < 25
    assert faces[0].label == "happy"  # classified on the crop from main


def test_the_api_stream_detects_on_lores_as_run_does(monkeypatch):
    """`Analyzer.stream("picamera")` goes through run's loop: the detector sees the small grey stream, the crops and
    boxes come from main."""
    from fer_edge import Analyzer

    class SmallFrames(_LoresPicamera2):  # the API opens the camera at 640x480: the demo photo made to fit
        def configure(self, config):
            w, h = config["main"]["size"]
            super().configure({**config, "main": {**config["main"], "size": (1280, 960)}})
            self.config = config
            self.main = np.ascontiguousarray(cv2.resize(self.main, (w, h), interpolation=cv2.INTER_AREA))

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=SmallFrames))
    analyzer = Analyzer(detector="blazeface")
    seen = []
    detector = analyzer._pipeline.detector
    real_detect = detector.detect
    detector.detect = lambda image: seen.append(image.shape) or real_detect(image)
    frames = list(analyzer.stream("picamera", max_frames=2, detect_every=1))
    cam = _LoresPicamera2.instances[-1]
    assert cam.closed and set(cam.single) == {("main", "lores")}
    lw, lh = cam.config["lores"]["size"]
    assert len(seen) == 2 and all(s == (lh, lw) for s in seen), seen  # never main's pixels
    face = frames[-1][0]  # the astronaut's face (174, 75, 277, 178) in the photo, halved into main's corner
    assert len(frames) == 2 and np.allclose(face.box, (384 + 87, 224 + 37, 384 + 139, 224 + 89), atol=6), face.box
