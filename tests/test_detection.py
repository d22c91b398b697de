"""The detector registry: a new detector is a class with its options and one entry in `DETECTORS` (faked at that
seam, as Frigate's tests swap its detector registry); the config's `detector.options` reach it checked."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pytest

from fer_edge.config import config_from
from fer_edge.detection import DETECTORS, check_detector, detector_files, make_detector
from fer_edge.detection.base import option
from fer_edge.errors import UsageError
from fer_edge.geometry import Box, Detection
from fer_edge.outputs.events import EventsSink, JsonlWriter
from fer_edge.pipeline.build import build_pipeline
from fer_edge.pipeline.check import check_loaders
from fer_edge.sources import NullSource


@dataclass(frozen=True)
class CornerOptions:
    side: int = option(24, "the side of the one box it finds, in pixels")


class CornerDetector:
    """Finds one face, always in the top-left corner: a detector small enough to read in a test."""

    name = "corner"
    Options = CornerOptions

    def __init__(self, side: int) -> None:
        self.side = side

    @classmethod
    def load(cls, name: str, options: CornerOptions, threads: int, min_score: float | None) -> CornerDetector:
        return cls(options.side)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return [Detection(Box(0.0, 0.0, float(self.side), float(self.side)), 0.9)]

    def macs(self, width: int, height: int) -> int | None:
        return None


def test_a_new_detector_is_one_class_and_its_entry(monkeypatch):
    monkeypatch.setitem(DETECTORS, "corner", CornerDetector)
    cfg = config_from({"detector.name": "corner", "detector.options": {"side": "40"}, "detector.every": 1})
    check_loaders(cfg)  # what the service checks at start knows the new name and its option
    pipeline = build_pipeline(cfg)
    assert isinstance(pipeline.detector, CornerDetector) and pipeline.detector.side == 40  # "40" read as its int
    out = io.StringIO()
    with NullSource([np.full((120, 160, 3), 128, np.uint8)] * 3, fps=10.0) as source:
        with EventsSink(JsonlWriter(out), 1e9) as events:
            stats = pipeline.run(source, [events])
    faces = [r for r in map(json.loads, out.getvalue().splitlines()) if r.get("type") == "face"]
    assert stats.frames == 3 and [f["frame"] for f in faces] == [0, 1, 2]
    assert all(f["box"] == [0, 0, 40, 40] and f["face_id"] == 1 for f in faces)


@pytest.mark.parametrize("name,options,message", [
    ("mtcnn", {}, "detector.name: unknown detector 'mtcnn': use one of blazeface"),
    ("room", {"model": "x.onnx"},
     "detector.options.model: not an option of the room detector (it takes search, zoom, check_score)"),
    ("room", {"search": "everywhere"}, "detector.options.search: 'everywhere' is not one of spread, whole"),
    ("room", {"zoom": "maybe"}, "detector.options.zoom: want true or false, got 'maybe'"),
    ("yunet", {}, "detector.options.model: needed for detector.name = \"yunet\""),
    ("yunet", {"model": 3}, "detector.options.model: want a string, got 3"),
    ("yunet", {"model": "y.onnx", "size": 1}, "detector.options.size: not an option of the yunet detector (it takes model)"),
])
def test_a_bad_name_or_option_is_one_error_naming_its_key(name, options, message):
    with pytest.raises(UsageError) as err:
        check_detector(name, options)
    assert str(err.value).startswith(message), str(err.value)
    with pytest.raises(UsageError):
        make_detector(name, options=options)


def test_options_that_name_files_are_what_check_config_reads():
    assert detector_files("yunet", {"model": "/etc/fer-edge/yunet.onnx"}) == {
        "detector.options.model": "/etc/fer-edge/yunet.onnx"}
    assert detector_files("room") == {}
