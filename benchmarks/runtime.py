"""The runtime's targets, measured: loop FPS and faces per frame on a clip (optionally side by side with the
`fer` package), the loop's overhead over its stages timed alone, and a cold start's wall time and peak memory.

    python -m fer_edge.benchmarks.runtime --clip ../shared/data/scenes/fr_short_hamilton_clip.mp4 --peer --out runtime.json

`--peer` imports the `fer` package (and so TensorFlow) lazily; nothing else here does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fer_edge.benchmarks.clip import decoded_frames, run_clip
from fer_edge.benchmarks.entry import failed
from fer_edge.benchmarks.machine import describe
from fer_edge.bundled import DEFAULT_MODEL
from fer_edge.config import DetectorConfig, config_from
from fer_edge.detection import DEFAULT_DETECTOR
from fer_edge.errors import FerEdgeError
from fer_edge.files import atomic_write_text
from fer_edge.logs import log_to_stderr
from fer_edge.pipeline.build import Pipeline, build_pipeline
from fer_edge.pipeline.loop import DEFAULT_DETECT_EVERY, crop_face

log = logging.getLogger(__name__)


def _decode_all(clip: str) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    frames = list(decoded_frames(clip))
    if not frames:
        raise FerEdgeError(f"{clip}: no frames decoded")
    return frames, time.perf_counter() - t0


def stages_alone(frames: list[np.ndarray], decode_s: float, detector, classifier, margin: float,
                 detect_every: int = 1) -> dict:
    """Each stage over the whole clip on its own: decode, detect, crop, classify (ms per frame).

    With `detect_every` N the detector runs on every Nth frame and its boxes stand for the frames between, as
    in the loop."""
    t0 = time.perf_counter()
    detected = [detector.detect(f) for f in frames[::detect_every]]
    t1 = time.perf_counter()
    dets = [detected[i // detect_every] for i in range(len(frames))]
    crops = [[crop_face(f, d, margin, False) for d in ds] for f, ds in zip(frames, dets)]
    t2 = time.perf_counter()
    for c in crops:
        if c:
            classifier.classify(c)
    t3 = time.perf_counter()
    n = len(frames)
    ms = {"decode": decode_s / n * 1000, "detect": (t1 - t0) / n * 1000, "crop": (t2 - t1) / n * 1000,
          "classify": (t3 - t2) / n * 1000}
    return {k: round(v, 3) for k, v in ms.items()} | {"sum": round(sum(ms.values()), 3),
                                                        "faces_per_frame": round(sum(map(len, dets)) / n, 3)}


def loop_on_clip(clip: str, pipeline: Pipeline, detect_every: int) -> dict:
    """The whole loop over the clip, detecting on every `detect_every`-th frame, with a fresh tracker."""
    pipeline = dataclasses.replace(pipeline, tracker=pipeline.new_tracker(),
                                   options=dataclasses.replace(pipeline.options, detect_every=detect_every))
    return run_clip(pipeline, clip).figures()


def peer_on_clip(frames: list[np.ndarray], decode_s: float) -> dict:
    """The `fer` package's FER(mtcnn=False).detect_emotions (Haar + its Keras model) on the same frames."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from fer.fer import FER  # noqa: PLC0415 - opt-in, imports TensorFlow

    peer = FER(mtcnn=False)
    peer.detect_emotions(frames[0])  # warm-up
    t0 = time.perf_counter()
    faces = sum(len(peer.detect_emotions(f)) for f in frames)
    wall = time.perf_counter() - t0 + decode_s
    return {"frames": len(frames), "fps": round(len(frames) / wall, 2), "ms_per_frame": round(wall / len(frames) * 1000, 3),
            "faces_per_frame": round(faces / len(frames), 3)}


_COLD = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "r = subprocess.run(sys.argv[1:], capture_output=True); "
         "print(r.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def cold_start(cmd: list[str], repeats: int = 3) -> dict:
    """Wall time and peak RSS of a fresh process (best of `repeats`)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _COLD, *cmd], capture_output=True, text=True, check=True).stdout
        code, wall, rss_kb = out.split()
        if code != "0":
            raise FerEdgeError(f"cold start failed: {' '.join(cmd)}")
        runs.append((float(wall), int(rss_kb) / 1024))
    return {"wall_s": round(min(r[0] for r in runs), 3), "peak_rss_mb": round(min(r[1] for r in runs), 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.runtime", description=__doc__.splitlines()[0])
    p.add_argument("--clip", required=True)
    p.add_argument("--detector", default=DEFAULT_DETECTOR)
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--margin", type=float, default=DetectorConfig().margin)
    p.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, help="as fer-edge run's option")
    p.add_argument("--peer", action="store_true", help="also time the fer package (needs it and TensorFlow)")
    p.add_argument("--out", default=None, help="results JSON")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.runtime")
    try:
        pipeline = build_pipeline(config_from({"detector.name": args.detector, "model.path": args.model,
                                               "detector.margin": args.margin, "detector.every": args.detect_every,
                                               "outputs.stats_every_s": 1e9}))
        detector, classifier = pipeline.detector, pipeline.classifier
        log.info("[1/4] decoding the clip")
        frames, decode_s = _decode_all(args.clip)
        log.info("[2/4] stages alone")
        alone = stages_alone(frames, decode_s, detector, classifier, args.margin, args.detect_every)
        log.info("[3/4] the loop")
        loop = loop_on_clip(args.clip, pipeline, args.detect_every)
        loop["overhead_pct"] = round((loop["ms_per_frame"] / alone["sum"] - 1) * 100, 1)
        every_frame = loop_on_clip(args.clip, pipeline, 1) if args.detect_every > 1 else loop
        result = {"machine": describe(), "clip": Path(args.clip).name,
                  "detector": args.detector, "model": Path(args.model).name, "threads": 1,
                  "detect_every": args.detect_every, "stages_alone_ms": alone, "loop": loop,
                  "loop_detect_every_frame": every_frame}
        log.info("[4/4] cold start")
        result["cold_start"] = cold_start([sys.executable, "-m", "fer_edge.cli", "run", "--source", "demo", "--frames", "1",
                                           "--events", "/dev/null"])
        if args.peer:
            log.info("[peer] fer package on the same frames")
            result["peer_fer"] = peer_on_clip(frames, decode_s)
            result["vs_peer"] = {"fps_ratio": round(loop["fps"] / result["peer_fer"]["fps"], 2),
                                 "fps_ratio_detect_every_frame": round(every_frame["fps"] / result["peer_fer"]["fps"], 2),
                                 "faces_per_frame_ratio": round(loop["faces_per_frame"] /
                                                                max(result["peer_fer"]["faces_per_frame"], 1e-9), 2)}
    except FerEdgeError as exc:
        return failed("fer_edge.benchmarks.runtime", exc)
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
