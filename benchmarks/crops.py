"""Accuracy where the loop crops: FER+ faces pasted into real photos, found by the default detector, cropped and
classified as `fer-edge run` does, per face size, beside classifying the same 48x48 images directly.

    python -m fer_edge.benchmarks.crops --split PublicTest --margins 0,0.1,0.2,0.25,0.3,0.4,0.5   # choose
    python -m fer_edge.benchmarks.crops                                                            # report

Each face of the split with a 7-way FER+ majority is upscaled (or shrunk) from 48x48 to each face size and blended,
as the luma of a feathered square, over the face of a head cut from the shared photos (benchmarks/scene_people.py's
head-and-shoulders cut-outs), several heads a frame at random places in a 640x480 frame cut from one of the shared
photos (whose own people stay, unscored). The frames go through the detector, `crop_faces` (the loop's square crop
with a margin) and the classifier that `build_pipeline` loads for the default config, and each face's record
through a fresh tracker, which says `uncertain` for a face smaller than `smoothing.min_face`. A pasted face is
found when a detection overlaps its square (IoU >= 0.3). Settings are chosen on PublicTest and reported on
PrivateTest. Writes results.json, report.md, crops.png and faces.csv (one row per pasted face).

The frames are made in crops_frames.py, run through the loop's parts in crops_loop.py and reported in crops_report.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from fer_edge.benchmarks.crops_frames import load_photos
from fer_edge.benchmarks.crops_loop import MATCH_IOU, load_faces, match, run
from fer_edge.benchmarks.crops_report import choose, draw, render_markdown, summarize, write_faces
from fer_edge.benchmarks.entry import command_line, failed
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text

__all__ = ["SCHEMA", "SIZES", "main", "match", "measure", "parse_floats", "parse_sizes", "render_markdown"]

log = logging.getLogger(__name__)

SCHEMA = "fer-edge-crops/1"
SIZES = (24, 32, 40, 48, 64, 80, 96, 128, 160)  # pasted face side, frame pixels


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    from fer_edge.config.argtypes import csv_list

    try:
        values = tuple(float(v) for v in csv_list(text))
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not a comma list of numbers") from None
    if not values or any(not 0 <= v <= 2 for v in values):
        raise UsageError(f"{flag} {text!r}: want numbers from 0 to 2")
    return values


def parse_sizes(text: str) -> tuple[int, ...]:
    from fer_edge.config.argtypes import csv_list

    items = csv_list(text)
    if not items or not all(v.isdigit() and 8 <= int(v) <= 400 for v in items):
        raise UsageError(f"--sizes {text!r}: want a comma list of whole pixel sizes from 8 to 400")
    return tuple(sorted({int(v) for v in items}))


def main(argv: list[str] | None = None) -> int:
    from fer_edge.logs import log_to_stderr

    shared = Path(os.environ.get("FER_EDGE_SHARED", "../shared"))
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.crops", description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(shared / "data/fer2013/fer2013.csv.gz"), help="FER2013 CSV (Kaggle's order)")
    p.add_argument("--ferplus", default=str(shared / "data/ferplus/fer2013new.csv"), help="FER+ fer2013new.csv")
    p.add_argument("--scenes", default=str(shared / "data/scenes"), help="the shared photos the frames are cut from")
    p.add_argument("--split", default="PrivateTest", help="PublicTest to choose settings, PrivateTest to report")
    p.add_argument("--faces", type=int, default=0, help="a random sample of this many faces (0: all of the split)")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="pasted face sizes, px")
    p.add_argument("--margins", default=None, help="crop margins to compare (default: the config's detector.margin)")
    p.add_argument("--min-face", type=int, default=None, help="smoothing.min_face (default: the config's)")
    p.add_argument("--frame", default="640x480", help="frame WIDTHxHEIGHT (the camera default)")
    p.add_argument("--per-frame", type=int, default=6, help="faces pasted into one frame at most")
    p.add_argument("--model", default=None, help="classifier .tflite (default: the bundled default)")
    p.add_argument("--detector", default=None, help="detector (default: the config's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="results folder (default: .cache/crops/<split>)")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.crops")
    try:
        command = command_line("fer_edge.benchmarks.crops", argv)
        results = measure(args, command)
    except FerEdgeError as exc:
        return failed("fer_edge.benchmarks.crops", exc)
    print(render_markdown(results))
    return 0


def measure(args: argparse.Namespace, command: str) -> dict:
    """Build the loop's parts from the config, paste, detect, crop, classify; write the results folder."""
    from fer_edge.benchmarks.crops_frames import make_cutouts
    from fer_edge.benchmarks.machine import describe, short_name
    from fer_edge.benchmarks.scene_variants import parse_size
    from fer_edge.config import config_from
    from fer_edge.eval.datasets import canonical_split
    from fer_edge.files import ensure_folder
    from fer_edge.pipeline.build import build_pipeline

    split = canonical_split(args.split)
    sizes = parse_sizes(args.sizes)
    frame = parse_size(args.frame)
    if args.faces < 0 or args.per_frame < 1:
        raise UsageError("--faces must be >= 0 and --per-frame >= 1")
    if max(sizes) * 1.4 > min(frame):
        raise UsageError(f"--sizes: {max(sizes)} px faces do not fit a {args.frame} frame")
    keys = {"threads": args.threads, "model.path": args.model or ""}
    keys |= {"detector.name": args.detector} if args.detector else {}
    keys |= {"smoothing.min_face": args.min_face} if args.min_face is not None else {}
    cfg = config_from(keys)
    margins = parse_floats(args.margins, "--margins") if args.margins else (cfg.detector.margin,)
    out = ensure_folder(args.out or f".cache/crops/{split}", "--out")
    pipeline = build_pipeline(cfg)
    faces = load_faces(Path(args.data), Path(args.ferplus), split, args.faces, args.seed)
    photos = load_photos(Path(args.scenes))
    log.info("%d %s faces x %d sizes, detector %s, classifier %s", len(faces.truth), split, len(sizes),
             cfg.detector.name, pipeline.model.name)
    t0 = time.perf_counter()
    said = pipeline.classifier.predict_dataset(faces.images[..., None]).argmax(1)  # the 48x48 images, batched
    labels = pipeline.labels
    direct = {int(r): labels[int(p)] for r, p in zip(faces.rows, said)}
    rows, frames = run(faces, photos, make_cutouts(Path(args.scenes)), pipeline, sizes, margins, frame, args.per_frame, args.seed)
    neutral = faces.truth == labels.index("neutral")
    scored = faces.published >= 0  # the faces the published rule gives a label
    results = {
        "schema": SCHEMA, "created": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
        "machine": describe(),
        "settings": {"split": split, "faces": len(faces.truth), "sizes": list(sizes), "margins": list(margins),
                     "min_face": cfg.smoothing.min_face, "frame": list(frame), "per_frame": args.per_frame,
                     "detector": cfg.detector.name, "model": pipeline.model.name, "seed": args.seed,
                     "match_iou": MATCH_IOU, "data": Path(args.data).name, "ferplus": Path(args.ferplus).name},
        "frames": frames,
        "direct": {"accuracy": round(float((said == faces.truth).mean()), 4),
                   "neutral_recall": round(float((said[neutral] == faces.truth[neutral]).mean()), 4)
                   if neutral.any() else None,
                   "published_faces": int(scored.sum()),
                   "published_accuracy": round(float((said[scored] == faces.published[scored]).mean()), 4)
                   if scored.any() else None},
        "sizes": summarize(rows, direct, margins, cfg.smoothing.min_face),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    results["machine_name"] = short_name(results["machine"])
    if len(margins) > 1 and split != "PrivateTest":  # settings are chosen on PublicTest, never on the reported split
        results["choice"] = choose(results["sizes"], margins)
    write_faces(rows, tuple(dict.fromkeys((cfg.detector.margin, *margins))), out / "faces.csv")
    if draw(results, out / "crops.png"):
        results["plot"] = "crops.png"
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_markdown(results))
    log.info("wrote %s (%.0f s)", out, results["seconds"])
    return results


if __name__ == "__main__":
    sys.exit(main())
