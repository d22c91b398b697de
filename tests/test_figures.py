"""The loop's figures say what they measure: detection latency over detected frames only, two named frame rates."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from fer_edge.pipeline.stats import LoopStats


def test_detect_latency_counts_only_frames_that_ran_the_detector():
    stats = LoopStats()
    for i in range(10):
        detected = i % 2 == 0
        stats.add({"decode": 0.001, "detect": 0.020 if detected else 0.0, "crop": 0.001, "total": 0.022}, 1, detected)
    assert (stats.frames, stats.detected, stats.count("detect"), stats.count("crop")) == (10, 5, 5, 10)
    assert stats.detected_share() == 0.5
    assert stats.latency()["detect"]["p50"] == pytest.approx(20.0)  # not 10: the skipped frames are not in it
    assert stats.total_s["detect"] == pytest.approx(0.1)
    assert stats.fps_mean() > 0 and stats.fps_now > 0
    one = LoopStats()
    one.add({"total": 0.01}, 0)
    assert one.fps_now > 0  # a rate from the first frame on, not 0.0 until a second one comes


@pytest.mark.shared
def test_stats_record_names_its_rates_and_the_detected_share(shared, tmp_path):
    events = tmp_path / "e.jsonl"
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    proc = run_cli("run", "--source", str(clip), "--frames", "10", "--detect-every", "2", "--events", str(events))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in events.read_text().splitlines()]
    stats = records[-1]
    assert stats["type"] == "stats" and all(r["v"] == 2 for r in records)
    assert (stats["frames"], stats["detected"], stats["detected_share"]) == (10, 5, 0.5)
    assert {"fps_now", "fps_mean"} <= set(stats) and not {"fps", "fps_avg"} & set(stats)
    assert sum(r["detected"] for r in records if r["type"] == "face") > 0


def test_metrics_count_detect_over_detected_frames():
    from fer_edge.outputs.http.health import Health, Steady
    from fer_edge.records import Frame, FrameResult

    health = Health(Steady(None), None, ("happy",), 5.0, {}, clock=lambda: 1.0)
    health.SNAPSHOT_EVERY_S = 0.0
    from prometheus_client.parser import text_string_to_metric_families

    # before the first frame every stage is there, with nothing counted yet (a scraper sees the series from the start)
    before = {(s.name, s.labels.get("stage")): s.value for f in text_string_to_metric_families(health.metrics_text())
              for s in f.samples if s.name.startswith("fer_edge_stage_seconds")}
    assert before[("fer_edge_stage_seconds_count", "detect")] == 0 and before[("fer_edge_stage_seconds_sum", "total")] == 0
    assert ("fer_edge_stage_seconds", "detect") not in before  # no quantile of nothing
    stats = LoopStats()
    for i in range(4):
        stats.add({"detect": 0.01, "total": 0.02}, 0, i % 2 == 0)
        health.on_frame(FrameResult(Frame(None, i, 0.0), (), (), i % 2 == 0, stats))
    m = {(s.name, s.labels.get("stage")): s.value for f in text_string_to_metric_families(health.metrics_text())
         for s in f.samples}
    assert m[("fer_edge_stage_seconds_count", "detect")] == 2 and m[("fer_edge_stage_seconds_count", "total")] == 4
    assert m[("fer_edge_frames_detected_total", None)] == 2 and m[("fer_edge_frames_total", None)] == 4
    assert m[("fer_edge_stage_seconds_sum", "detect")] == pytest.approx(0.02)  # sum / count: one detection's cost
    assert m[("fer_edge_stage_seconds", "detect")] == pytest.approx(0.01)  # both quantiles: detected frames only
