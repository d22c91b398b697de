"""Classifier latency per face: warm up, repeat, report percentiles (the seed of `fer-edge bench`).

    python -m benchmarks.latency edge/models/cnn_int8.tflite [more.tflite ...] --threads 1 --runs 500
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from edge.classifier import TFLiteClassifier
from edge.errors import FerEdgeError
from edge.runtime import runtime_name


def measure(model: str, threads: int = 1, warmup: int = 30, runs: int = 500, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    clf = TFLiteClassifier(model, threads=threads)
    load_s = time.perf_counter() - t0
    faces = np.random.default_rng(seed).integers(0, 256, (runs, *clf.input.size, clf.input.channels), dtype=np.uint8)
    for i in range(warmup):
        clf.predict(faces[i % runs][None])
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        clf.predict(faces[i][None])
        times[i] = time.perf_counter() - start
    ms = times * 1000
    return {"model": model, "threads": threads, "runtime": runtime_name(), "load_ms": round(load_s * 1000, 1),
            "runs": runs, "min_ms": round(float(ms.min()), 4), "mean_ms": round(float(ms.mean()), 4),
            **{f"p{q}_ms": round(float(np.percentile(ms, q)), 4) for q in (50, 90, 99)},
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--warmup", type=int, default=30)
    args = p.parse_args(argv)
    try:
        for model in args.models:
            print(json.dumps(measure(model, args.threads, args.warmup, args.runs)))
    except FerEdgeError as exc:
        print(f"benchmarks.latency: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
