"""Accuracy where the loop crops: FER+ faces pasted into real photos, found by the default detector, cropped and
classified as `fer-edge run` does, per face size, beside classifying the same 48x48 images directly.

    python -m fer_edge.benchmarks.crops --split PublicTest --margins 0,0.1,0.2,0.25,0.3,0.4,0.5   # choose
    python -m fer_edge.benchmarks.crops                                                            # report

Each face of the split with a 7-way FER+ majority is upscaled (or shrunk) from 48x48 to each face size and blended,
as the luma of a feathered square, over the face of a head cut from the shared photos (benchmarks/scene_clip.py's
head-and-shoulders cut-outs), several heads a frame at random places in a 640x480 frame cut from one of the shared
photos (whose own people stay, unscored). The frames go through the detector, `crop_faces` (the loop's square crop
with a margin) and the classifier that `build_pipeline` loads for the default config, and each face's record
through a fresh tracker, which says `uncertain` for a face smaller than `smoothing.min_face`. A pasted face is
found when a detection overlaps its square (IoU >= 0.3). Settings are chosen on PublicTest and reported on
PrivateTest. Writes results.json, report.md, crops.png and faces.csv (one row per pasted face).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fer_edge.benchmarks.crops_frames import Photo, compose, load_photos
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text

log = logging.getLogger(__name__)

SCHEMA = "fer-edge-crops/1"
SIZES = (24, 32, 40, 48, 64, 80, 96, 128, 160)  # pasted face side, frame pixels
MATCH_IOU = 0.3  # a detection this much over a pasted square finds it (the detector's box sits inside the square)
# the smallest face size from which on the loop's accuracy is within this of the same faces classified directly
# decides `smoothing.min_face`
MIN_FACE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Faces:
    """The split's faces that have a 7-way FER+ majority: 48x48 grey images, that majority, their CSV rows."""

    images: np.ndarray
    truth: np.ndarray
    rows: np.ndarray


def load_faces(data: Path, ferplus: Path, split: str, limit: int, seed: int) -> Faces:
    from fer_edge.eval.datasets import load_split
    from fer_edge.eval.ferplus import split_outcomes

    outcomes = split_outcomes(ferplus, data, split)
    images = load_split(data, split, (48, 48), 1).images[..., 0]
    rows = np.flatnonzero(outcomes >= 0)
    if limit and limit < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    return Faces(images[rows], outcomes[rows], rows)


def match(squares: np.ndarray, boxes: np.ndarray) -> list[int | None]:
    """For each pasted square, the detection that finds it (one-to-one, best IoU first, at least MATCH_IOU)."""
    from fer_edge.geometry import iou_matrix

    found: list[int | None] = [None] * len(squares)
    if not len(squares) or not len(boxes):
        return found
    ious = iou_matrix(squares, boxes)
    used: set[int] = set()
    for flat in np.argsort(-ious, axis=None):
        i, j = (int(v) for v in np.unravel_index(flat, ious.shape))
        if ious[i, j] < MATCH_IOU:
            break
        if found[i] is None and j not in used:
            found[i], used = j, used | {j}
    return found


def run(faces: Faces, photos: list[Photo], heads: list, pipeline, sizes: tuple[int, ...], margins: tuple[float, ...],
        frame_size: tuple[int, int], per_frame: int, seed: int) -> tuple[list[dict], int]:
    """Every face at every size through detector, crop, classifier and tracker: one row per pasted face, and the
    number of frames. The loop's own margin (the config's) gives the face as `fer-edge run` would report it (found,
    box, label, `shown`: the tracker's smoothed label); each other margin adds its label (`label@MARGIN`)."""
    from fer_edge.pipeline.loop import crop_faces

    rng = np.random.default_rng(seed)
    loop_margin, level_eyes = pipeline.config.detector.margin, pipeline.config.detector.level_eyes
    labels = pipeline.labels
    out: list[dict] = []
    frames = 0
    t0 = time.perf_counter()
    for side in sizes:
        order = rng.permutation(len(faces.truth))
        start = tries = failed = 0
        while start < len(order):
            tries += 1
            frame, squares = compose(photos[tries % len(photos)], heads,
                                     [faces.images[k] for k in order[start:start + per_frame]], side, frame_size, rng)
            if not squares:  # a photo whose own faces leave no room: another
                failed += 1
                if failed > 50:
                    raise FerEdgeError(f"no room for a {side} px face in a {frame_size[0]}x{frame_size[1]} frame")
                continue
            failed = 0
            picked = order[start:start + len(squares)]
            start += len(squares)
            frames += 1
            dets = pipeline.detector.detect(frame)
            found = match(np.array(squares), np.array([d.box.as_array() for d in dets]).reshape(-1, 4))
            hits = {id(dets[j]): i for i, j in enumerate(found) if j is not None}
            rows = [{"row": int(faces.rows[k]), "size": side, "x": int(sq[0]), "y": int(sq[1]),
                     "truth": labels[faces.truth[k]], "detected": False} for k, sq in zip(picked, squares)]
            mine = [dets[j] for j in found if j is not None]
            for margin in dict.fromkeys((loop_margin, *margins)):
                kept, crops = crop_faces(frame, mine, margin, level_eyes)  # as the loop: too small a crop is dropped
                if not crops:
                    continue
                probs = pipeline.classifier.classify(crops)
                for n, i in enumerate(kept):
                    rows[hits[id(mine[i])]][f"label@{margin:g}"] = labels[int(probs[n].argmax())]
                if margin == loop_margin:  # the records the loop would write, each face judged on this frame alone
                    tracker = pipeline.new_tracker()
                    shown = {t.box: t for t in tracker.step(frame, [mine[i] for i in kept], 0.0, still=True)}
                    reported = [(n, shown[mine[i].box]) for n, i in enumerate(kept) if mine[i].box in shown]
                    records = tracker.faces([t for _, t in reported], probs[[n for n, _ in reported]], time=0.0,
                                            frame=frames)
                    for (n, _), record in zip(reported, records):
                        det = mine[kept[n]]
                        rows[hits[id(det)]] |= {"detected": True, "box_side": round(max(det.box.width, det.box.height), 1),
                                                "label": record.label, "shown": record.smoothed_label}
            out += rows
            if frames % 100 == 0:
                log.info("%d px faces: %d/%d placed, %d frames, %.0f s", side, start, len(order), frames,
                         time.perf_counter() - t0)
    return out, frames


def summarize(rows: list[dict], direct: dict[int, str], margins: tuple[float, ...], min_face: int) -> list[dict]:
    """Per face size: detection recall, the detector's box side, accuracy at each margin over the found faces,
    the same faces classified directly, and the share shown `uncertain` (and below the minimum size)."""
    out = []
    for side in sorted({r["size"] for r in rows}):
        at = [r for r in rows if r["size"] == side]
        hit = [r for r in at if r["detected"]]
        sides = np.array([r["box_side"] for r in hit]) if hit else np.zeros(0)
        row = {"size": side, "faces": len(at), "detected": len(hit), "recall": round(len(hit) / len(at), 4),
               "box_side_median": round(float(np.median(sides)), 1) if hit else None,
               "box_side_p10": round(float(np.percentile(sides, 10)), 1) if hit else None,
               "direct_all": round(float(np.mean([direct[r["row"]] == r["truth"] for r in at])), 4),
               "direct_found": round(float(np.mean([direct[r["row"]] == r["truth"] for r in hit])), 4) if hit else None,
               "accuracy": {f"{m:g}": round(float(np.mean([r.get(f"label@{m:g}") == r["truth"] for r in hit])), 4)
                            if hit else None for m in margins},
               "uncertain": round(float(np.mean([r["shown"] == "uncertain" for r in hit])), 4) if hit else None,
               "below_min_face": round(float(np.mean(sides < min_face)), 4) if hit else None}
        out.append(row)
    return out


def choose(table: list[dict], margins: tuple[float, ...]) -> dict:
    """The margin with the best accuracy over the found faces of 48 px and more (where the loop should match the
    direct figure), and the smallest size from which on every size is within MIN_FACE_TOLERANCE of the same faces
    classified directly; `min_face` is the 10th percentile of the detector's box side at that size (so nine in
    ten such faces are still labelled)."""
    big = [r for r in table if r["size"] >= 48 and r["detected"]]
    scores = {f"{m:g}": float(np.mean([r["accuracy"][f"{m:g}"] for r in big])) for m in margins} if big else {}
    margin = max(scores, key=lambda k: scores[k]) if scores else f"{margins[0]:g}"
    ok = [r["detected"] and r["direct_found"] - r["accuracy"][margin] <= MIN_FACE_TOLERANCE for r in table]
    first = next((i for i in range(len(table)) if all(ok[i:])), None)
    size_row = table[first] if first is not None else None
    return {"margin": float(margin), "margin_scores_48px_up": {k: round(v, 4) for k, v in scores.items()},
            "min_face_size": size_row["size"] if size_row else None,
            "min_face": int(size_row["box_side_p10"]) if size_row and size_row["box_side_p10"] else None,
            "rule": f"margin: best mean accuracy over sizes >= 48 px; min_face: the 10th percentile of the box side "
                    f"at the smallest size from which every size is within {MIN_FACE_TOLERANCE:.0%} of the same "
                    "faces classified directly"}


def render_markdown(results: dict) -> str:
    s = results["settings"]
    d = results["direct"]
    margins = [f"{m:g}" for m in s["margins"]]
    lines = [f"# Accuracy where the loop crops: {results['machine_name']}", "",
             f"{results['created']} · `{results['command']}`", "",
             f"{s['split']}: {s['faces']} faces with a 7-way FER+ majority, each blended at every size over the face "
             f"of a head cut from the shared photos, in {s['frame'][0]}x{s['frame'][1]} frames cut from them "
             f"({s['per_frame']} a frame at most, {results['frames']} frames); detector `{s['detector']}`, "
             f"classifier `{s['model']}`, crop margin "
             f"{', '.join(margins)}, `smoothing.min_face` {s['min_face']} px. Found: a detection at IoU >= "
             f"{s['match_iou']} with the pasted square. Classified directly (48x48): **{d['accuracy']:.2%}** FER+ "
             f"majority accuracy, neutral recall {d['neutral_recall']:.1%}.", "",
             "| face px | faces | found | box px (median) | " + " | ".join(f"accuracy, margin {m}" for m in margins)
             + " | directly, same faces | uncertain | below min_face |",
             "|---|---|---|---|" + "---|" * len(margins) + "---|---|---|"]
    for r in results["sizes"]:
        def pct(v, spec=".1%"):
            return "-" if v is None else format(v, spec)
        lines.append(f"| {r['size']} | {r['faces']} | {pct(r['recall'])} | {r['box_side_median'] or '-'} | "
                     + " | ".join(pct(r["accuracy"][m]) for m in margins)
                     + f" | {pct(r['direct_found'])} | {pct(r['uncertain'])} | {pct(r['below_min_face'])} |")
    c = results.get("choice")
    if c:
        lines += ["", f"Choice ({c['rule']}): margin **{c['margin']:g}**, min_face **{c['min_face']} px** "
                      f"(faces pasted at {c['min_face_size']} px)." if c["min_face"] else
                  f"Choice: margin **{c['margin']:g}**; no size qualifies for min_face."]
    if results.get("plot"):
        lines += ["", f"![accuracy and recall by face size]({results['plot']})"]
    return "\n".join(lines) + "\n"


def draw(results: dict, path: Path) -> bool:
    """Accuracy by face size (each margin, and the same faces directly) and detection recall, log size axis."""
    from fer_edge.eval.plots import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    table = results["sizes"]
    x = [r["size"] for r in table]
    fig, (acc, rec) = plt.subplots(1, 2, figsize=(12, 4.4))
    for m in results["settings"]["margins"]:
        y = [None if r["accuracy"][f"{m:g}"] is None else r["accuracy"][f"{m:g}"] * 100 for r in table]
        acc.plot(x, y, marker="o", label=f"through the loop, margin {m:g}")
    acc.plot(x, [None if r["direct_found"] is None else r["direct_found"] * 100 for r in table], "k--",
             label="same faces, 48x48 directly")
    acc.axhline(results["direct"]["accuracy"] * 100, color="grey", lw=0.8, ls=":", label="all faces directly")
    rec.plot(x, [r["recall"] * 100 for r in table], marker="o", color="tab:green", label="found by the detector")
    rec.plot(x, [None if r["uncertain"] is None else r["uncertain"] * 100 for r in table], marker="s",
             color="tab:orange", label="shown uncertain (share of those found)")
    c = results.get("choice") or {}
    for ax, what in ((acc, "FER+ majority accuracy (%)"), (rec, "share of faces (%)")):
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.minorticks_off()
        ax.set_xlabel("pasted face side (px)")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if c.get("min_face_size"):
            ax.axvline(c["min_face_size"], color="tab:red", lw=0.8, ls="--")
        ax.legend(fontsize=8)
    s = results["settings"]
    fig.suptitle(f"{s['split']}, {s['faces']} faces, {s['detector']} + {s['model']}: {results['machine_name']}",
                 fontsize=10)
    save_png(fig, plt, path, {"source": "fer_edge.benchmarks.crops"})
    return True


def write_faces(rows: list[dict], margins: tuple[float, ...], path: Path) -> None:
    fields = ["row", "size", "x", "y", "truth", "detected", "box_side", "label", "shown",
              *(f"label@{m:g}" for m in margins)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


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
        command = "python -m fer_edge.benchmarks.crops " + " ".join(sys.argv[1:] if argv is None else argv)
        results = measure(args, command.strip())
    except FerEdgeError as exc:
        print(f"fer_edge.benchmarks.crops: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(render_markdown(results))
    return 0


def measure(args: argparse.Namespace, command: str) -> dict:
    """Build the loop's parts from the config, paste, detect, crop, classify; write the results folder."""
    from fer_edge.benchmarks.crops_frames import make_cutouts
    from fer_edge.benchmarks.machine import describe, short_name
    from fer_edge.benchmarks.scene import parse_size
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
                   if neutral.any() else None},
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
