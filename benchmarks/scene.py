"""Real-footage benchmark: what a user sees of the loop (faces found, boxes on no face, boxes that lag, ids that
churn) and what it costs, per config variant, on a composed 1080p street clip with known faces and on real clips
scored against YuNet.

    taskset -c 1 python -m fer_edge.benchmarks.scene --yunet-model ../shared/models/face_detection_yunet_2023mar.onnx

Clips (`--clips`, comma list):
- `composed`: real pictures and real faces walking (benchmarks/scene_clip.py), every true box known; seeded and
  cached under .cache/scene/;
- `hamilton`: the shared Hamilton clip (640x360, 275 frames, cuts), and `hamilton-1080`: the same upscaled to
  1920x1080; any other item is a video file of your own. These are scored against YuNet at the clip's full size on
  every frame (its boxes linked into tracks), so they need --yunet-model; the boxes are cached beside the clip.

Variants (`--variants`): `NAME` or `NAME=KEY=VALUE[,KEY=VALUE...]`, each a config on top of the defaults (the config
keys of `fer-edge run --print-config`, e.g. `detector.every=2`, `detector.name=yunet`), so trackers and detectors are
compared side by side in the same real loop (decode, detect on the interval the config gives, crop, classify with the
default model, track, events). Measures per row: scene_metrics.quality, loop fps on one thread (pin the process with
`taskset -c 1`), and MACs per frame: the detector's per call times the calls made, plus what the detector and the
tracker report they spent beyond that (their `looked_macs` and `macs` counters, when they have one), over the
frames. Writes results.json, report.md and scene.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from fer_edge.benchmarks.entry import command_line, failed
from fer_edge.benchmarks.machine import describe, short_name
from fer_edge.benchmarks.scene_measure import load_average, run_variant
from fer_edge.benchmarks.scene_metrics import MATCH_IOU
from fer_edge.benchmarks.scene_report import draw, render_markdown
from fer_edge.benchmarks.scene_truth import clips_of, yunet_on_composed
from fer_edge.benchmarks.scene_variants import Variant, parse_detectors, parse_size, parse_variants, variant_config
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text
from fer_edge.logs import log_to_stderr

log = logging.getLogger(__name__)
DEFAULT_VARIANTS = ("default", "detect-every-2=detector.every=2")
DEFAULT_CLIPS = "composed,hamilton,hamilton-1080"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.scene", description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("FER_EDGE_SHARED", "../shared"),
                   help="the shared data folder (its photos, Hamilton clip and FER2013 faces make the composed clip)")
    p.add_argument("--frames", type=int, default=300, help="composed clip length (30 fps); real clips stop there too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="1920x1080", help="composed clip size WIDTHxHEIGHT (the view scales with the width)")
    p.add_argument("--cache", default=".cache/scene", help="where clips and reference boxes go (from the current folder)")
    p.add_argument("--clips", default=DEFAULT_CLIPS, help="comma list: composed (composed:SEED: another "
                   "seed's clip), hamilton, hamilton-1080 or video files")
    p.add_argument("--variants", nargs="+", default=None,
                   help=f"NAME or NAME=KEY=VALUE[,KEY=VALUE] config variants (default: {' '.join(DEFAULT_VARIANTS)})")
    p.add_argument("--detectors", default=None,
                   help="comma list of NAME or NAME:N (detect every Nth frame; default: the loop's MAC budget), added "
                        "as variants")
    p.add_argument("--yunet-model", default=None, help="YuNet ONNX: the reference of the real clips and yunet variants")
    p.add_argument("--model", default=None, help="classifier .tflite (default: the bundled default)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="results folder (default: CACHE/results)")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.scene")
    try:
        if args.frames < 2:
            raise UsageError("--frames must be at least 2")
        size = parse_size(args.size)
        variants = parse_variants(args.variants) if args.variants else []
        variants += parse_detectors(args.detectors) if args.detectors else []
        variants = variants or parse_variants(list(DEFAULT_VARIANTS))
        if not args.yunet_model:
            skipped = [v.name for v in variants if v.values.get("detector.name") == "yunet"]
            variants = [v for v in variants if v.name not in skipped]
            if skipped:
                log.info("no --yunet-model: the yunet variants are left out (%s)", ", ".join(skipped))
        command = command_line("fer_edge.benchmarks.scene", argv)
        result = run(args, size, variants, command)
    except FerEdgeError as exc:
        return failed("fer_edge.benchmarks.scene", exc)
    print(render_markdown(result))
    return 0


def run(args, size: tuple[int, int], variants: list[Variant], command: str) -> dict:
    """Compose or reuse the clips, run every variant on each, write the results folder."""
    from fer_edge.bundled import DEFAULT_MODEL
    from fer_edge.config import config_from

    model = args.model or str(DEFAULT_MODEL)
    base = {"threads": args.threads, "model.path": model, "outputs.stats_every_s": 1e9,
            "yunet_model": args.yunet_model or ""}
    for v in variants:  # every variant's config is checked before anything is composed or run
        try:
            config_from(variant_config(base, v))
        except UsageError as exc:
            raise UsageError(f"--variants {v.name}: {exc}") from None
    out = Path(args.out) if args.out else Path(args.cache) / "results"
    clips = clips_of(args, size)
    results: dict[str, Any] = {
        "v": 2, "machine": describe(), "load_avg": load_average(), "threads": args.threads,
        "cpus": len(os.sched_getaffinity(0)), "match_iou": MATCH_IOU, "classifier": Path(model).name, "command": command,
        "variants": {v.name: v.values for v in variants},
        "clips": {c.name: {"truth_from": c.truth_from, "info": c.info} for c in clips}, "rows": []}
    results["machine_name"] = short_name(results["machine"])
    for i, c in enumerate(clips):
        if c.name.startswith("composed") and args.yunet_model:
            clips[i], results["clips"][c.name]["yunet"] = yunet_on_composed(c, args.yunet_model, Path(args.cache))
    total = len(clips) * len(variants)
    for i, (c, v) in enumerate(((c, v) for c in clips for v in variants), 1):
        log.info("[%d/%d] %s on %s", i, total, v.name, c.name)
        results["rows"].append(run_variant(c, v, base))
    out.mkdir(parents=True, exist_ok=True)
    if draw(results, out / "scene.png"):
        results["plot"] = "scene.png"
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_markdown(results)
                      + ("\n![recall against boxes on no face and against fps](scene.png)\n" if results.get("plot") else ""))
    log.info("wrote %s", out)
    return results


if __name__ == "__main__":
    sys.exit(main())
