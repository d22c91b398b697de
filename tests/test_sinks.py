"""The one output interface: a frame's result to every sink, sinks and writers closed once, one rule for an ended face."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest

from fer_edge.config import config_from
from fer_edge.pipeline.build import build_pipeline
from fer_edge.pipeline.loop import run_loop
from fer_edge.pipeline.sink import CallbackSink, NullSink
from fer_edge.pipeline.stats import LoopStats
from fer_edge.records import Frame, FrameResult
from fer_edge.sources import DEMO_IMAGE, open_source


def _result(index: int = 0, stats: LoopStats | None = None) -> FrameResult:
    return FrameResult(Frame(np.zeros((48, 64, 3), np.uint8), index, 0.0), (), (), True, stats or LoopStats())


def test_a_null_sink_drives_the_loop():
    pipeline = build_pipeline(config_from({"detector.name": "blazeface-short"}))
    with NullSink() as null:
        stats = run_loop(open_source("demo", demo_frames=3), pipeline.step(), [null])
    assert null.frames == stats.frames == 3 and stats.faces == 3
    null.close()  # again: nothing happens


def _leaving_clip(path, faces: int, blanks: int, fps: int = 30):
    """The demo photo for `faces` frames, then for `blanks` the same scene with the face covered: a face that leaves
    the view (and no scene cut, which would end every track at once)."""
    photo = cv2.resize(cv2.imread(str(DEMO_IMAGE)), (256, 256))
    gone = photo.copy()
    gone[20:110, 70:160] = 90  # the astronaut's face, (87, 37, 139, 89) at this size, under a grey patch
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (256, 256))
    for i in range(faces + blanks):
        writer.write(photo if i < faces else gone)
    writer.release()
    return path


def test_a_face_ends_once_when_the_tracker_drops_its_id_and_mqtt_and_latest_say_so(tmp_path):
    """The one rule for an ended face: not when it first misses a frame, but when the tracker drops its id
    (unfound for tracking.max_carry_s); MQTT's lifecycle and /events/latest both read it from the frame result."""
    from fer_edge.outputs.http.health import Health, Steady
    from fer_edge.tracking.lifecycle import FaceLifecycle

    clip = _leaving_clip(tmp_path / "leaving.avi", faces=8, blanks=60)  # 2 s without the face, at 30 fps
    pipeline = build_pipeline(config_from({"detector.name": "blazeface-short", "detector.every": 1,
                                           "tracking.max_carry_s": 1.0}))
    results: list[FrameResult] = []
    health = Health(Steady(None), None, pipeline.labels, 60.0, {})
    source = open_source(str(clip))
    try:
        run_loop(source, pipeline.step(), [CallbackSink(results.append), health])
    finally:
        source.close()
    seen = [r.frame.index for r in results if r.faces]
    ended = [(r.frame.index, r.ended) for r in results if r.ended]
    assert seen and seen[-1] < 8 and {f.face_id for r in results for f in r.faces} == {1}
    assert len(ended) == 1 and ended[0][1] == (1,), ended
    assert 1.0 <= (ended[0][0] - seen[-1]) / 30 <= 1.0 + 2 / 30  # when the tracker let it go, not at the first miss
    life = FaceLifecycle()
    events = [(r.frame.index, e["type"]) for r in results for e in life.on_frame(r.faces, r.ended)]
    assert [e for e in events if e[1] != "update"] == [(seen[0], "new"), (ended[0][0], "end")]
    assert [f["face_id"] for f in json.loads(health.latest_json())["ended"]] == [1]


def test_the_events_sink_writes_stats_on_its_timer_and_the_last_once_at_close():
    from fer_edge.outputs.events import EventsSink, JsonlWriter

    out, now = io.StringIO(), [0.0]
    stats = LoopStats()
    events = EventsSink(JsonlWriter(out), 10.0, clock=lambda: now[0])
    for i in range(25):
        now[0] = float(i)
        stats.add({"total": 0.01}, 0)
        events.on_frame(_result(i, stats))
    with events:
        pass  # leaving the block closes it
    events.close()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["frames"] for r in records] == [11, 21, 25] and all(r["type"] == "stats" for r in records)


def test_every_sink_and_writer_is_a_context_manager_whose_close_is_idempotent(tmp_path):
    from fer_edge.outputs.annotate import StillSink, VideoSink
    from fer_edge.outputs.events import JsonlWriter
    from fer_edge.outputs.http.health import Health, Steady
    from fer_edge.outputs.http.preview import Preview
    from fer_edge.outputs.http.server import HttpEndpoint
    from fer_edge.pipeline.progress import Progress, Summary

    video, still = tmp_path / "a.avi", tmp_path / "still.png"
    sinks = [JsonlWriter(tmp_path / "e.jsonl"), VideoSink(video), StillSink(still, False, False), Preview(),
             Health(Steady(None), None, ("happy",), 5.0, {}), Progress(3, io.StringIO()), Summary(), NullSink(),
             CallbackSink(lambda r: None), HttpEndpoint("127.0.0.1", 0)]
    for sink in sinks:
        with sink as entered:
            assert entered is sink
            if hasattr(sink, "on_frame"):
                sink.on_frame(_result())
        sink.close()  # a second close: nothing more happens, nothing fails
    assert cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT) == 1 and still.is_file()


def test_outputs_close_every_sink_and_raise_the_first_failure_after(tmp_path):
    from fer_edge.errors import FerEdgeError
    from fer_edge.outputs.build import Outputs

    closed = []

    class Failing(NullSink):
        def close(self):
            closed.append("failing")
            raise FerEdgeError("the annotated video was not written whole")

    class Closes(NullSink):
        def close(self):
            closed.append("closes")

    outputs = Outputs()
    outputs.add(Closes())
    outputs.add(Failing())
    with pytest.raises(FerEdgeError, match="not written whole"):
        outputs.close()
    assert closed == ["failing", "closes"]  # last added first, and the rest still closed
    outputs.close()
    assert closed == ["failing", "closes"]


def test_the_worked_example_in_docs_extending_adds_an_output_with_one_line(tmp_path, monkeypatch):
    """docs/extending.md's CSV sink, as printed there, written to by the loop through build_outputs' Outputs."""
    import re
    import sys
    import types

    from conftest import ROOT

    from fer_edge.outputs.build import build_outputs

    module, line = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "extending.md").read_text(), re.S)[:2]
    csvfaces = types.ModuleType("fer_edge.outputs.csvfaces")
    csvfaces.__package__ = "fer_edge.outputs"
    monkeypatch.setitem(sys.modules, csvfaces.__name__, csvfaces)
    exec(compile(module, "docs/extending.md", "exec"), csvfaces.__dict__)
    monkeypatch.chdir(tmp_path)
    pipeline = build_pipeline(config_from({"detector.name": "blazeface-short"}))
    source = open_source("demo", demo_frames=3)
    try:
        with build_outputs(pipeline.config, "api", labels=pipeline.labels, events_to=io.StringIO()) as outputs:
            exec(line.strip(), {"outputs": outputs, "CsvSink": csvfaces.CsvSink})  # the one line
            pipeline.run(source, outputs.sinks)
    finally:
        source.close()
    rows = [row.split(",") for row in (tmp_path / "faces.csv").read_text().splitlines()]
    assert [(r[0], r[1], r[2]) for r in rows] == [("0", "1", "happy"), ("1", "1", "happy"), ("2", "1", "happy")]
