"""`fer-edge bench`: on the device itself, which model and settings to deploy.

Each measurement runs in a fresh worker process (benchmarks/worker.py): load
time and peak memory are the model's own, and a model that fails or crashes
the runtime is reported as failed while the rest are measured. results.json is
rewritten after every measurement, so an interrupted run keeps what it had.
What the workers measure on is made in bench_inputs.py; each model's entry is
kept in bench_models.py; the outputs are written by report.py.
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

from fer_edge.benchmarks import report
from fer_edge.benchmarks.bench_inputs import demo_face, loop_source, prepare_data, yunet_reference
from fer_edge.benchmarks.bench_models import edgetpu_rows, find_models, loop_cost, model_entry, record_model
from fer_edge.benchmarks.machine import describe
from fer_edge.benchmarks.report_rows import FERPLUS_KEYS
from fer_edge.benchmarks.tables import fmt
from fer_edge.errors import UsageError
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
    models = [model_entry(p, "tflite") for p in paths] + [model_entry(p, "keras") for p in keras_paths]
    results["models"] = models
    machine["edgetpu"] = edgetpu_rows(models)
    with tempfile.TemporaryDirectory(prefix="fer-edge-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log.info("preparing: the demo face and the labelled split")
        face = demo_face(tmp)
        data = prepare_data(opts, tmp)
        frames = opts.video_frames or (60 if opts.video == "demo" else 0)
        video = loop_source(opts.video, frames, tmp)
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
        reference = yunet_reference(opts, video, frames, tmp) if opts.detectors and video_models else None
        results["settings"]["quality_reference"] = "YuNet at full size" if reference else None
        progress = Progress(len(tasks) + len(opts.detectors) * len(video_models) * len(opts.threads))
        for m, task in tasks:
            progress.step(f"{m['name']} ×{task['threads']}: latency" + (" and accuracy" if "data" in task else ""))
            result = run_worker(task)
            record_model(m, task["threads"], result)
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
                    entry |= loop_cost(m, r)
                    results["video"].append(entry)
                    _save(results, out)
        progress.finish()
    for m in models:
        if m["status"] == "ok" and m.get("accuracy") is None and m.get("sidecar_accuracy"):
            side = m["sidecar_accuracy"]
            m |= {"accuracy": side["accuracy"], "accuracy_source": "sidecar",
                  **{k: side[k] for k in FERPLUS_KEYS if k in side}}
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


def _save(results: dict, out: Path) -> None:
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")


def summary(results: dict) -> str:
    from fer_edge.classification.cost import format_macs

    rows = report.model_rows(results)
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [f"{'model':<34}{'threads':>8}{'MACs':>9}{'accuracy':>10}{'FER+':>8}{'FER+ pub':>9}{'neutral':>9}{'p50 ms':>9}"
             f"{'p99 ms':>9}"]

    for r in ok:
        lines.append(f"{r['model']:<34}{r['threads']:>8}{format_macs(r.get('macs')):>9}{fmt(r['accuracy'], '.2%'):>10}"
                     f"{fmt(r.get('ferplus_accuracy'), '.1%'):>8}{fmt(r.get('ferplus_published_accuracy'), '.1%'):>9}"
                     f"{fmt(r.get('ferplus_neutral_recall'), '.1%'):>9}"
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
