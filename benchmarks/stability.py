"""How steady the labels are on a video: the share of face records shown `uncertain` and how often a face's
smoothed label changes, per 100 face-frames (issue 12's targets: at most 25% and at most 4).

    python -m fer_edge.benchmarks.stability --clip ../shared/data/scenes/fr_short_hamilton_clip.mp4
    python -m fer_edge.benchmarks.stability --clip clip.mp4 --smoothing-alpha 0.4 --smoothing-min-score 0.4   # other settings

Runs the real loop (default detector and model, `--detect-every 2`) with `fer-edge run`'s smoothing flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
from collections import Counter
from pathlib import Path

from fer_edge.benchmarks.clip import run_clip
from fer_edge.benchmarks.entry import failed
from fer_edge.bundled import DEFAULT_MODEL
from fer_edge.config import add_section_arguments, load_config, overrides_from
from fer_edge.detection import DEFAULT_DETECTOR
from fer_edge.errors import FerEdgeError
from fer_edge.files import atomic_write_text
from fer_edge.pipeline.build import Pipeline, build_pipeline
from fer_edge.pipeline.loop import DEFAULT_DETECT_EVERY
from fer_edge.tracking import UNCERTAIN


def stability(records: list[dict]) -> dict:
    """Figures over face records in frame order: a change is a face's smoothed label differing from its last one."""
    last: dict[int, str] = {}
    per_face: Counter = Counter()
    uncertain = 0
    for r in records:
        uncertain += r["smoothed_label"] == UNCERTAIN
        if r["face_id"] in last and last[r["face_id"]] != r["smoothed_label"]:
            per_face[r["face_id"]] += 1
        last[r["face_id"]] = r["smoothed_label"]
    n = len(records)
    changes = sum(per_face.values())
    return {"face_records": n, "faces": len(last), "uncertain_share": round(uncertain / n, 3) if n else 0.0,
            "label_changes": changes, "changes_per_100": round(100 * changes / n, 2) if n else 0.0,
            "most_changes_one_face": max(per_face.values(), default=0)}


def records_on_clip(clip: str, pipeline: Pipeline) -> list[dict]:
    out = io.StringIO()
    run_clip(pipeline, clip, events=out)
    return [r for r in map(json.loads, out.getvalue().splitlines()) if r["type"] == "face"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.stability", description=__doc__.splitlines()[0])
    p.add_argument("--clip", required=True, help="a video file")
    p.add_argument("--detector", default=DEFAULT_DETECTOR)
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--out", default=None, help="also write the figures here (JSON)")
    add_section_arguments(p, "smoothing.")
    args = p.parse_args(argv)
    try:
        overrides = {**overrides_from(args), "detector.name": args.detector, "model.path": args.model,
                     "detector.every": str(DEFAULT_DETECT_EVERY), "outputs.stats_every_s": "1e9"}
        cfg = load_config(None, overrides)  # the smoothing checked as the service checks it
        smoothing, pipeline = cfg.smoothing, build_pipeline(cfg)
        tracker = pipeline.tracker
        figures = stability(records_on_clip(args.clip, pipeline))
        result = {"clip": Path(args.clip).name, "detector": args.detector, "model": Path(args.model).name,
                  "smoothing": dataclasses.asdict(smoothing), "scene_cuts": tracker.cuts, **figures}
        text = json.dumps(result, indent=2)
        if args.out:
            atomic_write_text(args.out, text + "\n")
    except FerEdgeError as exc:
        return failed("fer_edge.benchmarks.stability", exc)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
