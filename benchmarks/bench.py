"""`fer-edge bench`: on the device itself, which model and settings to deploy.

Each measurement runs in a fresh worker process (benchmarks/worker.py): load
time and peak memory are the model's own, and a model that fails or crashes
the runtime is reported as failed while the rest are measured. results.json is
rewritten after every measurement, so an interrupted run keeps what it had.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fer_edge.benchmarks import report
from fer_edge.benchmarks.machine import describe
from fer_edge.bundled import MODELS_DIR
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text, ensure_folder

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...] = ()
    keras: tuple[str, ...] = ()
    keras_normalize: str = "none"
    data: str | None = None
    ferplus: str | None = None  # FER+ votes paired with `data`'s rows: both label sets are scored
    split: str = "PrivateTest"
    images: int = 0  # 0: the whole split
    video: str = "demo"
    video_frames: int = 0  # 0: the whole clip (demo: 60)
    detectors: tuple[str, ...] = ("blazeface",)
    yunet_model: str | None = None
    threads: tuple[int, ...] = (1,)
    runs: int = 300
    warmup: int = 30
    out: str = "bench"
    quick: bool = False
    emulated: bool = False
    command: tuple[str, ...] = field(default_factory=tuple)


def find_models(specs: tuple[str, ...]) -> list[Path]:
    """Files as given; folders contribute their *.tflite (not recursive: the detectors sit in a subfolder)."""
    found: list[Path] = []
    for spec in specs or (str(MODELS_DIR),):
        path = Path(spec)
        if path.is_dir():
            models = sorted(path.glob("*.tflite"))
            if not models:
                raise UsageError(f"{path}: no .tflite model in this folder")
            found += models
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such model file or folder")
    return list(dict.fromkeys(found))


def _demo_face(tmp: Path) -> Path:
    """A real face crop (the bundled demo photo's), the input every latency figure is measured on."""
    from fer_edge.detection import make_detector
    from fer_edge.eval.datasets import imread
    from fer_edge.pipeline.loop import LoopOptions, crop_face
    from fer_edge.sources import DEMO_IMAGE

    image = imread(DEMO_IMAGE)
    dets = make_detector().detect(image)
    if not dets:
        raise FerEdgeError(f"{DEMO_IMAGE}: no face found in the demo photo")
    path = tmp / "face.npy"
    np.save(path, np.ascontiguousarray(crop_face(image, dets[0], LoopOptions().margin, False)))
    return path


def _prepare_data(opts: BenchOptions, tmp: Path) -> tuple[dict[str, str], int] | None:
    """The split once, as stored (FER2013: 48x48 grey; folders: 96x96 colour), and its FER+ majorities when
    asked; workers resize per model. Returns the files a worker task names, and the image count."""
    if not opts.data:
        return None
    from fer_edge.eval.datasets import load_split, log_counts

    source = Path(opts.data)
    size, channels = ((96, 96), 3) if source.is_dir() else ((48, 48), 1)
    data = load_split(source, opts.split, size, channels)
    outcomes = None
    if opts.ferplus:
        from fer_edge.eval.ferplus import split_outcomes

        outcomes = split_outcomes(opts.ferplus, source, opts.split)  # pairs row for row with the CSV: checked there
    if opts.images and opts.images < len(data):
        data = data.subset(np.arange(opts.images))
    if len(data) == 0:
        raise FerEdgeError(f"{source}: no images in split {opts.split}")
    log_counts(data)
    files = {"data": str(tmp / "images.npy"), "label_ids": str(tmp / "label_ids.npy")}
    np.save(files["data"], data.images)
    np.save(files["label_ids"], data.label_ids)
    if outcomes is not None:
        files["ferplus_ids"] = str(tmp / "ferplus_ids.npy")
        np.save(files["ferplus_ids"], outcomes[:len(data)])
    return files, len(data)


def run_worker(task: dict, timeout: float = 3600) -> dict:
    env = dict(os.environ)  # the worker is this installed package's own module
    if task["kind"] == "keras":
        env |= {"TF_NUM_INTRAOP_THREADS": str(task["threads"]), "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        proc = subprocess.run([sys.executable, "-m", "fer_edge.benchmarks.worker", json.dumps(task)], capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    if proc.returncode < 0:
        return {"ok": False, "error": f"the worker crashed (signal {-proc.returncode})"}
    tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return {"ok": False, "error": (tail[-1] if tail else f"worker exit {proc.returncode}")[:300]}


class Progress:
    """`[#####...............] 4/12 25% what (elapsed 0:14, eta 0:42)` logged, one line a step (journald and CI
    logs keep it readable); the estimate from the mean time of the steps done so far."""

    def __init__(self, total: int):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def step(self, what: str) -> None:
        elapsed = time.perf_counter() - self.t0
        eta = "" if not self.done else f", eta {_clock(elapsed / self.done * (self.total - self.done))}"
        filled = round(20 * self.done / self.total)
        log.info(f"[{'#' * filled}{'.' * (20 - filled)}] {self.done + 1}/{self.total} {self.done / self.total:.0%} {what} "
                 f"(elapsed {_clock(elapsed)}{eta})")
        self.done += 1

    def finish(self) -> None:
        log.info(f"[{'#' * 20}] {self.total}/{self.total} 100% done in {_clock(time.perf_counter() - self.t0)}")


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _loop_source(spec: str, frames: int, tmp: Path) -> str:
    """What the loop rows run on: `demo` becomes a video of the demo photo (a photo is detected on every frame, a
    video by run's interval rule: what a camera gets), anything else is run as given."""
    if spec != "demo":
        return spec
    from fer_edge.benchmarks.clip import demo_clip

    return str(demo_clip(tmp / "demo.avi", frames or 60))


def _model_entry(path: Path, kind: str) -> dict:
    from fer_edge.classification.sidecar import read_sidecar

    entry = {"name": path.stem + (" (keras)" if kind == "keras" else ""), "path": str(path), "kind": kind,
             "size_bytes": path.stat().st_size if path.is_file() else None, "status": "ok", "threads": {}}
    if kind == "keras":
        return entry | {"variant": "keras float32", "macs": None, "params": None}  # counted for .tflite files only
    try:
        side = read_sidecar(path) or {}
    except FerEdgeError as exc:
        side = {}
        entry["sidecar_error"] = str(exc)
    entry["variant"] = side.get("variant")
    entry |= _cost(path, side)
    acc = side.get("accuracy") or {}
    if acc.get("tflite") is not None:
        entry["sidecar_accuracy"] = {"accuracy": acc["tflite"], "split": acc.get("split"),
                                     "data": (acc.get("fer2013") or {}).get("data") or acc.get("data")}
        plus = acc.get("ferplus") or {}
        if isinstance(plus, dict) and plus.get("accuracy") is not None:
            entry["sidecar_accuracy"] |= {"ferplus_accuracy": plus["accuracy"],
                                          "ferplus_neutral_recall": (plus.get("recall") or {}).get("neutral")}
    return entry


def _cost(path: Path, side: dict) -> dict:
    """MACs and parameters counted from the file; the sidecar's when the file can't be read here (an Edge TPU
    model), else None: a model that can't be counted is still measured."""
    from fer_edge.classification.cost import model_cost

    try:
        cost = model_cost(path)
        return {"macs": cost.macs, "params": cost.params}
    except FerEdgeError:
        return {"macs": side.get("macs"), "params": side.get("params")}


def _loop_cost(model: dict, result: dict) -> dict:
    """MACs per frame of a loop row: detector MACs (the loop's detector on the clip's frame size: `room`'s tiles and
    YuNet's full frame counted as `run` counts them) / detect-every + classifier MACs x faces per frame."""
    from fer_edge.classification.cost import loop_macs_per_frame

    if not result.get("ok"):
        return {}
    det = result.get("detector_macs")
    per_frame = loop_macs_per_frame(det, result["detect_every"], model.get("macs"), result["faces_per_frame"])
    return {"detector_macs": det, "classifier_macs": model.get("macs"),
            "macs_per_frame": None if per_frame is None else round(per_frame)}


def _edgetpu_rows(models: list[dict]) -> str:
    """Models compiled for the Edge TPU (`*_edgetpu.tflite`, edgetpu_compiler's name) are measured on it when the
    delegate loads (the detector stays on the CPU), and skipped, saying why, when it does not. Returns what was found."""
    from fer_edge.runtime import edgetpu_delegate

    tpu = [m for m in models if m["kind"] == "tflite" and Path(m["path"]).stem.endswith("_edgetpu")]
    try:
        edgetpu_delegate()
        found = "found: libedgetpu loaded its delegate"
    except FerEdgeError as exc:
        found = f"not found ({exc})"
    for m in tpu:
        if found.startswith("found"):
            m["accelerator"] = "edgetpu"
        else:
            m["status"], m["error"] = "skipped", f"no Edge TPU: {found}"
    return found


def thread_warnings(threads: tuple[int, ...], cores: int | None) -> list[str]:
    """More threads than cores share them: such a latency measures contention, not the model."""
    over = [t for t in threads if cores and t > cores]
    if not over:
        return []
    return [f"--threads {','.join(map(str, over))}: more than the {cores} cores of this machine; those threads share "
            "cores, so their latencies measure contention, not the model"]


def run_bench(opts: BenchOptions) -> dict:
    from fer_edge.eval.datasets import canonical_split

    canonical_split(opts.split)  # a usage error before anything is measured
    if opts.ferplus and (not opts.data or Path(opts.data).is_dir()):
        raise UsageError("--ferplus needs --data, the FER2013 CSV whose rows the FER+ file follows")
    if opts.ferplus and not Path(opts.ferplus).is_file():
        raise UsageError(f"--ferplus {opts.ferplus}: no such file")
    if any(t < 1 for t in opts.threads):
        raise UsageError("--threads: every count must be at least 1")
    if opts.runs < 1 or opts.warmup < 0:
        raise UsageError("--runs must be at least 1 and --warmup at least 0")
    paths = find_models(opts.models)
    keras_paths = [Path(k) for k in opts.keras]
    for k in keras_paths:
        if not k.exists():
            raise UsageError(f"{k}: no such Keras model")
    out = ensure_folder(opts.out, "--out")
    machine = describe()
    machine["warnings"] += thread_warnings(opts.threads, machine.get("cores"))
    for warning in machine["warnings"]:
        log.warning(f"warning: {warning}")
    results = {"schema": report.SCHEMA, "created": datetime.now(UTC).isoformat(timespec="seconds"),
               "command": list(opts.command) or ["fer-edge", "bench"], "machine": machine,
               "emulated": opts.emulated or machine.get("emulated", False), "settings": {}, "models": [], "video": []}
    models = [_model_entry(p, "tflite") for p in paths] + [_model_entry(p, "keras") for p in keras_paths]
    results["models"] = models
    machine["edgetpu"] = _edgetpu_rows(models)
    with tempfile.TemporaryDirectory(prefix="fer-edge-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log.info("preparing: the demo face and the labelled split")
        face = _demo_face(tmp)
        data = _prepare_data(opts, tmp)
        frames = opts.video_frames or (60 if opts.video == "demo" else 0)
        video = _loop_source(opts.video, frames, tmp)
        results["settings"] = {"data": opts.data, "ferplus": opts.ferplus if data else None,
                               "split": opts.split if data else None, "images": data[1] if data else None,
                               "threads": list(opts.threads), "runs": opts.runs, "warmup": opts.warmup, "video": opts.video,
                               "video_frames": frames or None, "detectors": list(opts.detectors), "quick": opts.quick}
        tasks = []
        for m in models:
            if m["status"] != "ok":  # an Edge TPU model without an Edge TPU
                continue
            for i, threads in enumerate(opts.threads if m["kind"] == "tflite" else opts.threads[:1]):
                task = {"kind": "classifier" if m["kind"] == "tflite" else "keras", "model": m["path"], "threads": threads,
                        "runs": opts.runs, "warmup": opts.warmup, "face": str(face), "normalize": opts.keras_normalize,
                        "accelerator": m.get("accelerator", "none")}
                if data and i == 0:
                    task |= data[0]
                tasks.append((m, task))
        video_models = [m for m in models if m["kind"] == "tflite"]
        reference = _reference(opts, video, frames, tmp) if opts.detectors and video_models else None
        results["settings"]["quality_reference"] = "YuNet at full size" if reference else None
        progress = Progress(len(tasks) + len(opts.detectors) * len(video_models) * len(opts.threads))
        for m, task in tasks:
            progress.step(f"{m['name']} ×{task['threads']}: latency" + (" and accuracy" if "data" in task else ""))
            result = run_worker(task)
            _record_model(m, task["threads"], result)
            _save(results, out)
        for detector in opts.detectors:
            for m in video_models:
                if m["status"] != "ok":
                    continue
                for threads in opts.threads:
                    progress.step(f"{detector} + {m['name']} ×{threads}: the loop on {opts.video}")
                    task = {"kind": "video", "detector": detector, "model": m["path"], "threads": threads,
                            "source": video, "frames": frames, "yunet_model": opts.yunet_model,
                            "accelerator": m.get("accelerator", "none"), "reference": reference and str(reference)}
                    r = run_worker(task)
                    entry = {"detector": detector, "model": m["name"], "threads": threads, "source": opts.video,
                             "accelerator": m.get("accelerator", "none")}
                    entry |= {k: v for k, v in r.items() if k != "ok"} | {"status": "ok" if r.get("ok") else "failed"}
                    entry |= _loop_cost(m, r)
                    results["video"].append(entry)
                    _save(results, out)
        progress.finish()
    for m in models:
        if m["status"] == "ok" and m.get("accuracy") is None and m.get("sidecar_accuracy"):
            side = m["sidecar_accuracy"]
            m |= {"accuracy": side["accuracy"], "accuracy_source": "sidecar",
                  **{k: side[k] for k in ("ferplus_accuracy", "ferplus_neutral_recall") if k in side}}
    points = report.draw_pareto(results, out / "pareto.png")
    results["plot"] = {"file": "pareto.png", "points": points} if points else None
    loop_points = report.draw_loop(results, out / "loop.png")
    results["loop_plot"] = {"file": "loop.png", "points": loop_points} if loop_points else None
    _save(results, out)
    report.write_csv(results, out / "results.csv")
    note = None
    if not points and report.plot_points(results):
        note = "No `pareto.png`: matplotlib is not installed (`pip install \"fer-edge[plot]\"`)."
    atomic_write_text(out / "report.md", report.render_markdown(results, "pareto.png" if points else None, note,
                                                                "loop.png" if loop_points else None))
    return results


def _reference(opts: BenchOptions, video: str, frames: int, tmp: Path) -> Path | None:
    """With --yunet-model, YuNet's boxes at full size on every frame of the loop's video: the loop rows are then
    scored as the scene benchmark scores its clips (recall, boxes on no face, box IoU, ids)."""
    from fer_edge.benchmarks.clip import reference_boxes

    if not opts.yunet_model:
        return None
    log.info(f"reference: YuNet at full size on every frame of {opts.video}")
    try:
        reference_boxes(video, opts.yunet_model, tmp / "reference.json", frames)
    except FerEdgeError as exc:  # a camera (no second pass) or an unreadable clip: the loop rows are still measured
        log.warning(f"warning: no quality columns: {exc}")
        return None
    return tmp / "reference.json"


def _record_model(m: dict, threads: int, r: dict) -> None:
    if not r.get("ok"):
        m["threads"][str(threads)] = {"status": "failed", "error": r.get("error")}
        if all(t.get("status") == "failed" for t in m["threads"].values()):
            m["status"], m["error"] = "failed", r.get("error")
        return
    m["status"] = "ok"
    m.pop("error", None)
    for key in ("input", "dtype"):
        m[key] = r[key]
    if "accuracy" in r:
        m |= {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "images": r["images"], "accuracy_source": "measured",
              "accuracy_seconds": r["accuracy_seconds"]}
        m |= {k: r[k] for k in ("ferplus_accuracy", "ferplus_neutral_recall", "ferplus_images") if k in r}
    m["threads"][str(threads)] = {"status": "ok", **{k: r[k] for k in
                                  ("load_ms", "latency_ms", "runs", "baseline_rss_mb", "peak_rss_mb", "tensorflow_loaded")}}


def _save(results: dict, out: Path) -> None:
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")


def summary(results: dict) -> str:
    from fer_edge.classification.cost import format_macs

    rows = report.model_rows(results)
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [f"{'model':<34}{'threads':>8}{'MACs':>9}{'accuracy':>10}{'FER+':>8}{'neutral':>9}{'p50 ms':>9}{'p99 ms':>9}"]

    def pct(v, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    for r in ok:
        lines.append(f"{r['model']:<34}{r['threads']:>8}{format_macs(r.get('macs')):>9}{pct(r['accuracy'], '.2%'):>10}"
                     f"{pct(r.get('ferplus_accuracy'), '.1%'):>8}{pct(r.get('ferplus_neutral_recall'), '.1%'):>9}"
                     f"{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}")
    for v in results["video"]:
        if v["status"] == "ok":
            lp, q = v.get("loop_ms") or {}, v.get("quality")
            lines.append(f"loop {v['detector']} + {v['model']} ×{v['threads']}: {v['fps']:.1f} fps (detect every "
                         f"{v['detect_every']}, run's rule), p50/p95/p99 {lp.get('p50')}/{lp.get('p95')}/{lp.get('p99')} ms, "
                         f"{v['faces_per_frame']:.2f} faces/frame, {format_macs(v.get('macs_per_frame'))} MACs/frame, "
                         f"peak RSS {v.get('peak_rss_mb')} MB"
                         + (f"; recall {q['recall']:.3f} of YuNet's faces, {q['no_face_per_frame']:.2f} boxes on no face "
                            f"a frame, {q['ids_per_track'] or 0:.2f} ids per track" if q else ""))
    failed = [r for r in rows if r["status"] != "ok"] + [v for v in results["video"] if v["status"] != "ok"]
    for f in failed:
        lines.append(f"{f['status'].upper()} {f.get('model')}: {f.get('error')}")
    return "\n".join(lines)
