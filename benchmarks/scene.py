"""Room-view benchmark: recall, extra boxes per frame, loop FPS and MACs per frame of each detector on a 1080p clip.

    python -m fer_edge.benchmarks.scene --yunet-model ../shared/models/face_detection_yunet_2023mar.onnx

The clip is composed from the shared photos with known face boxes (see
benchmarks/scene_clip.py) and cached under .cache/scene/. Each detector runs
in the real loop (decode, detect every Nth frame, crop, classify with the
default model, events) on the clip; the boxes the loop reports for each frame
are matched one-to-one to the true boxes at IoU >= 0.3. With --yunet-model,
YuNet at the full frame size is run too and each detector's recall is also
given against YuNet's boxes. Writes results.json, report.md and scene.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from fer_edge.benchmarks.machine import describe, short_name
from fer_edge.benchmarks.scene_clip import write_clip
from fer_edge.benchmarks.scene_metrics import MATCH_IOU, score
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text
from fer_edge.logs import log_to_stderr

log = logging.getLogger(__name__)
DEFAULT_DETECTORS = "room,blazeface-back,blazeface-full,blazeface-short,yunet,yunet:2,room:2"


def parse_detectors(text: str) -> list[tuple[str, int | None]]:
    """"room,yunet:2" -> [("room", None), ("yunet", 2)]: a detector and its --detect-every (None: the budget's)."""
    from fer_edge.argtypes import csv_list
    from fer_edge.detectors import DETECTORS

    out = []
    for item in csv_list(text):
        name, _, every = item.partition(":")
        if name not in DETECTORS:
            raise UsageError(f"--detectors: unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
        if every and (not every.isdigit() or int(every) < 1):
            raise UsageError(f"--detectors: {item!r}: the interval after ':' must be a whole number >= 1")
        out.append((name, int(every) if every else None))
    if not out:
        raise UsageError("--detectors: give at least one detector")
    return out


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit()) or int(w) < 64 or int(h) < 64:
        raise UsageError(f"--size: {text!r} is not WIDTHxHEIGHT (at least 64x64)")
    return int(w), int(h)


class _Timed:
    """A detector that times its calls; the loop sees the same `detect` and `macs`."""

    def __init__(self, inner):
        self.inner, self.name, self.seconds = inner, inner.name, []

    def macs(self, width: int, height: int) -> int | None:
        return self.inner.macs(width, height)

    def detect(self, frame):
        t0 = time.perf_counter()
        out = self.inner.detect(frame)
        self.seconds.append(time.perf_counter() - t0)
        return out


def _load() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def reference_boxes(video: Path, yunet_model: str, cache: Path) -> list[list[list[float]]]:
    """YuNet at the frame's full size on every frame (cached beside the clip: it is the slow part)."""
    from fer_edge.benchmarks.clip import decoded_frames
    from fer_edge.detectors import make_detector

    if cache.is_file():
        return json.loads(cache.read_text())["boxes"]
    det = make_detector("yunet", yunet_model=yunet_model)
    boxes = []
    for frame in decoded_frames(str(video)):
        boxes.append([[round(v, 1) for v in (d.box.x1, d.box.y1, d.box.x2, d.box.y2)] for d in det.detect(frame)])
        if len(boxes) % 50 == 0:
            log.info("reference: YuNet at full size, %d frames", len(boxes))
    atomic_write_text(cache, json.dumps({"model": Path(yunet_model).name, "boxes": boxes}) + "\n")
    return boxes


def run_detector(video: Path, name: str, every: int | None, model: str, size: tuple[int, int], threads: int,
                 yunet_model: str | None, min_score: float | None) -> dict:
    """One pass of the real loop over the clip: the boxes it reports per frame, its FPS and the detector's cost."""
    import dataclasses

    from fer_edge.benchmarks.clip import run_clip
    from fer_edge.build import build_pipeline
    from fer_edge.config import config_from
    from fer_edge.pipeline import DETECT_BUDGET_MACS, detect_interval

    cfg = config_from({"threads": threads, "detector.name": name, "detector.yunet_model": yunet_model or "",
                       "detector.min_score": min_score or 0.0, "model.path": model,
                       "outputs.stats_every_s": 1e9})
    built = build_pipeline(cfg)
    detector = _Timed(built.detector)
    macs = detector.macs(*size)
    interval = every or detect_interval(macs, 2, DETECT_BUDGET_MACS)
    pipeline = dataclasses.replace(built, detector=detector,
                                   options=dataclasses.replace(built.options, detect_every=interval,
                                                               detect_budget_macs=0.0))
    found: list[list[list[float]]] = []

    def observe(frame, records, stats):
        found.append([list(r.box) for r in records])
        if stats.frames % 100 == 0:
            log.info("%s every %d: %d frames", name, interval, stats.frames)

    load_before = _load()
    run = run_clip(pipeline, str(video), observer=observe)
    calls = detector.seconds
    return {"detector": name, "detect_every": interval, **run.figures(),
            "detect_ms_per_call": round(sum(calls) / max(1, len(calls)) * 1000, 2),
            "macs_per_call": macs, "macs_per_frame": None if macs is None else round(macs / interval),
            "load_avg": [load_before, _load()], "boxes": found}


def summarize(run: dict, truth: list, reference: list | None) -> dict:
    """A result row: the run's figures with its recall and extra boxes (boxes themselves left out)."""
    row = {k: v for k, v in run.items() if k != "boxes"}
    row.update(score(truth, run["boxes"]))
    if reference is not None:
        row["recall_vs_yunet"] = score(reference, run["boxes"])["recall"]
    return row


def _m(v) -> str:
    return "-" if v is None else f"{v / 1e6:,.0f}"


def render_markdown(results: dict) -> str:
    """The side-by-side table, one row per detector and interval."""
    clip, ref = results["clip"], results.get("reference")
    lines = [f"# Room-view scene benchmark: {results['machine_name']}", "",
             f"Clip: {clip['width']}x{clip['height']}, {clip['frames']} frames at {clip['fps']:g} fps, seed {clip['seed']}, "
             f"{clip['faces']} true faces ({clip['faces_per_frame']:.1f} a frame, {clip['min_face']:.0f}-"
             f"{clip['max_face']:.0f} px wide). Matching: one-to-one at IoU >= {results['match_iou']}. "
             f"Loop: one thread, classifier `{results['classifier']}`. Load average {results['load_avg']}.", ""]
    if ref:
        lines += [f"Reference: YuNet at full size finds {ref['recall']:.3f} of the true faces, "
                  f"{ref['extra_per_frame']:.2f} extra boxes a frame.", ""]
    head = "| detector | detect every | recall | recall <40 px | extra boxes / frame | loop fps | detect ms / call " \
           "| M MACs / call | M MACs / frame |"
    if ref:
        head += " recall vs YuNet |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results["rows"]:
        small = r["recall_by_width"].get("0-40px")
        cells = [r["detector"], str(r["detect_every"]), f"{r['recall']:.3f}", "-" if small is None else f"{small:.3f}",
                 f"{r['extra_per_frame']:.3f}", f"{r['fps']:.1f}", f"{r['detect_ms_per_call']:.1f}",
                 _m(r["macs_per_call"]), _m(r["macs_per_frame"])]
        if ref:
            cells.append(f"{r['recall_vs_yunet']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Re-run: `" + results["command"] + "`", ""]
    return "\n".join(lines)


def draw(results: dict, path: Path) -> bool:
    """Recall against MACs per frame, one point per row, labelled with its FPS."""
    from fer_edge.plots import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    rows = [r for r in results["rows"] if r["macs_per_frame"]]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        ax.scatter(r["macs_per_frame"] / 1e6, r["recall"])
        ax.annotate(f"{r['detector']}/{r['detect_every']} ({r['fps']:.0f} fps)", (r["macs_per_frame"] / 1e6, r["recall"]),
                    fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.axvline(100, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.margins(x=0.2)
    ax.set_xlabel("detector M MACs per frame (amortized over the interval)")
    ax.set_ylabel("recall of true faces")
    ax.set_title(f"Room view {results['clip']['width']}x{results['clip']['height']}: {results['machine_name']}", fontsize=9)
    ax.grid(alpha=0.3)
    save_png(fig, plt, path, {"source": "fer_edge.benchmarks.scene"})
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.scene", description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("FER_EDGE_SHARED", "../shared"),
                   help="the shared data folder (its data/scenes/ photos are composed into the clip)")
    p.add_argument("--frames", type=int, default=300, help="clip length (30 fps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="1920x1080", help="clip size WIDTHxHEIGHT (face sizes scale with the width)")
    p.add_argument("--cache", default=".cache/scene", help="where the clip and reference boxes go (from the current folder)")
    p.add_argument("--detectors", default=DEFAULT_DETECTORS,
                   help="comma list of NAME or NAME:N (detect every Nth frame; default: the loop's MAC budget)")
    p.add_argument("--yunet-model", default=None, help="YuNet ONNX: needed for yunet rows and the YuNet reference")
    p.add_argument("--model", default=None, help="classifier .tflite (default: the bundled default)")
    p.add_argument("--min-face-score", type=float, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="results folder (default: CACHE/results)")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.scene")
    try:
        if args.frames < 2:
            raise UsageError("--frames must be at least 2")
        size = parse_size(args.size)
        rows = parse_detectors(args.detectors)
        if not args.yunet_model:
            skipped = [n for n, _ in rows if n == "yunet"]
            rows = [(n, e) for n, e in rows if n != "yunet"]
            if skipped:
                log.info("no --yunet-model: the yunet rows and the YuNet reference are left out")
        command = "python -m fer_edge.benchmarks.scene " + " ".join(sys.argv[1:] if argv is None else argv)
        result = run(args, size, rows, command.strip())
    except FerEdgeError as exc:
        print(f"fer_edge.benchmarks.scene: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(render_markdown(result))
    return 0


def run(args, size: tuple[int, int], rows: list[tuple[str, int | None]], command: str) -> dict:
    """Compose (or reuse) the clip, score each detector in the loop, write the results folder."""
    from fer_edge.bundled import DEFAULT_MODEL

    scenes = Path(args.shared) / "data" / "scenes"
    cache = Path(args.cache)
    out = Path(args.out) if args.out else cache / "results"

    def progress(i: int, n: int) -> None:
        if i % 50 == 0 or i == n:
            log.info("composing the clip: %d/%d frames", i, n)

    video, truth_file = write_clip(scenes, cache, args.seed, args.frames, size, progress=progress)
    clip = json.loads(truth_file.read_text())
    truth = clip["boxes"]
    reference = None
    if args.yunet_model:
        reference = reference_boxes(video, args.yunet_model, truth_file.with_suffix(".yunet.json"))
        if len(reference) != len(truth):
            raise FerEdgeError(f"{video}: decoded {len(reference)} frames, the truth file has {len(truth)}")
    model = args.model or str(DEFAULT_MODEL)
    widths = [b[2] - b[0] for f in truth for b in f]
    results = {
        "v": 1, "machine": describe(), "load_avg": _load(), "threads": args.threads, "match_iou": MATCH_IOU,
        "classifier": Path(model).name,
        "command": command,
        "clip": {"file": video.name, "seed": args.seed, "frames": len(truth), "width": size[0], "height": size[1],
                 "fps": clip["fps"], "faces": len(widths), "faces_per_frame": len(widths) / len(truth),
                 "min_face": min(widths), "max_face": max(widths)},
        "rows": [],
    }
    results["machine_name"] = short_name(results["machine"])
    if reference is not None:
        results["reference"] = {"detector": "yunet at full size", **score(truth, reference)}
    for i, (name, every) in enumerate(rows, 1):
        log.info("[%d/%d] %s", i, len(rows), name if every is None else f"{name}, every {every}")
        r = run_detector(video, name, every, model, size, args.threads, args.yunet_model, args.min_face_score)
        results["rows"].append(summarize(r, truth, reference))
    out.mkdir(parents=True, exist_ok=True)
    if draw(results, out / "scene.png"):
        results["plot"] = "scene.png"
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_markdown(results) + ("\n![recall against MACs](scene.png)\n"
                                                                     if results.get("plot") else ""))
    log.info("wrote %s", out)
    return results


if __name__ == "__main__":
    sys.exit(main())
