"""One variant over one clip through the real loop (decode, detect, crop, classify, track, events): what a user
sees of it, scored against the clip's truth, its fps, and its MACs per frame, the detector's calls timed and counted
as they happen."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from fer_edge.benchmarks.scene_metrics import quality
from fer_edge.benchmarks.scene_truth import Clip
from fer_edge.benchmarks.scene_variants import Variant, variant_config
from fer_edge.errors import FerEdgeError


class _Timed:
    """A detector that times and counts its calls; the loop sees the same `detect`, `macs` and the rest."""

    def __init__(self, inner):
        self.inner, self.name, self.seconds, self.looks = inner, inner.name, [], []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def macs(self, width: int, height: int) -> int | None:
        return self.inner.macs(width, height)

    def detect(self, frame):
        t0 = time.perf_counter()
        out = self.inner.detect(frame)
        self.seconds.append(time.perf_counter() - t0)
        return out

    def search(self, frame, which, known=()):
        """A spread search's parts on one frame (room): one detection call, however many parts."""
        t0 = time.perf_counter()
        out = self.inner.search(frame, which, known)
        self.seconds.append(time.perf_counter() - t0)
        return out

    def look_close(self, frame, crop):
        """A spread search's close look at a small patch of motion (room's zoom)."""
        t0 = time.perf_counter()
        out = self.inner.look_close(frame, crop)
        self.looks.append(time.perf_counter() - t0)
        return out


def load_average() -> float | None:
    """The 1-minute load average (what else ran beside the timed loop), or None where /proc has none."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tracking_macs(pipeline) -> int:
    """MACs-equivalent the tracker says it spent since it was built (its `macs`: optical flow and second looks at
    tile-only boxes); 0 for a tracker that keeps no count."""
    return int(getattr(getattr(pipeline, "tracker", None), "macs", 0) or 0)


def loop_interval(options, macs: int | None) -> int:
    """The detection interval the loop settles on (pipeline.run_loop's rule on its first frame)."""
    from fer_edge.pipeline.loop import detect_interval

    every = max(1, options.detect_every)
    return detect_interval(macs, every, options.detect_budget_macs) if options.detect_budget_macs > 0 else every


def run_variant(clip: Clip, variant: Variant, base: dict[str, Any]) -> dict:
    """One pass of the real loop over the clip with the variant's config: its quality, speed and compute."""
    from fer_edge.benchmarks.clip import Recorder, run_clip
    from fer_edge.classification.cost import model_cost
    from fer_edge.config import config_from
    from fer_edge.pipeline.build import build_pipeline

    cfg = config_from(variant_config(base, variant))
    built = build_pipeline(cfg, max_frames=len(clip.truth))
    detector = _Timed(built.detector)
    pipeline = dataclasses.replace(built, detector=detector)
    recorder = Recorder()
    load_before = load_average()
    run = run_clip(pipeline, str(clip.video), sinks=[recorder])
    frames = run.stats.frames
    if frames != len(clip.truth):
        raise FerEdgeError(f"{clip.video}: the loop read {frames} frames, the truth has {len(clip.truth)}")
    macs = detector.macs(clip.width, clip.height)
    calls = detector.seconds
    # plus what the detector spent beyond its per-call cost (room's second looks at big tile boxes)
    spent = getattr(built.detector, "spent_macs", None)  # room counts its own passes: a spread search runs parts
    detector_macs = (None if macs is None else spent / frames if spent is not None
                     else (macs * len(calls) + getattr(built.detector, "looked_macs", 0)) / frames)
    tracker_macs = tracking_macs(pipeline) / frames
    per_face = model_cost(pipeline.model).macs
    records = sum(len(f) for f in recorder.frames)
    row = {"clip": clip.name, "variant": variant.name, "overrides": variant.values, "detector": cfg.detector.name,
           "detect_every": loop_interval(pipeline.options, macs), "detections": len(calls), **run.figures(),
           "detect_ms_per_call": round(sum(calls) / max(1, len(calls)) * 1000, 2), "macs_per_call": macs,
           "close_looks": len(detector.looks),
           "close_look_ms": round(sum(detector.looks) / max(1, len(detector.looks)) * 1000, 2),
           "detector_macs_per_frame": None if detector_macs is None else round(detector_macs),
           "tracking_macs_per_frame": round(tracker_macs),
           "macs_per_frame": None if detector_macs is None else round(detector_macs + tracker_macs),
           "classifier_macs_per_frame": round(per_face * records / frames),
           "load_avg": [load_before, load_average()]}
    row |= quality(clip.truth, recorder.frames)
    row["recall_of_yunet"] = None if clip.found is None else quality(clip.found, recorder.frames)["recall"]
    return row
