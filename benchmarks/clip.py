"""A clip through the built loop, timed, what it reported frame by frame, a clip's decoded frames, and YuNet's boxes
on them at full size: what the video, runtime, scene and stability benchmarks each measure on; and a clip written
whole or not at all, for the clips they make."""

from __future__ import annotations

import io
import itertools
import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from fer_edge.benchmarks.scene_metrics import Reported, reported_from_records
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text
from fer_edge.outputs.build import build_outputs
from fer_edge.pipeline.build import Pipeline
from fer_edge.pipeline.sink import Closing, Sink
from fer_edge.pipeline.stats import LoopStats
from fer_edge.records import FrameResult
from fer_edge.sources import open_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipRun:
    stats: LoopStats
    wall_s: float  # from the first read to the source closed, the events written
    still: bool  # a still or a folder of them: the loop detected on every frame

    def figures(self) -> dict:
        """Frames, loop fps, wall ms per frame and faces per frame."""
        n = self.stats.frames
        return {"frames": n, "fps": round(n / self.wall_s, 2), "ms_per_frame": round(self.wall_s / n * 1000, 3),
                "faces_per_frame": round(self.stats.faces / n, 3)}


def run_clip(pipeline: Pipeline, clip: str, *, events: TextIO | None = None, sinks: Sequence[Sink] = (),
             demo_frames: int = 1) -> ClipRun:
    """`pipeline` over `clip` (what `--source` takes) until it ends or `max_frames`, each frame to `sinks` after the
    outputs; the events are built and serialized as in a real run, into `events` when given, else dropped."""
    source = open_source(clip, demo_frames=demo_frames)
    still = source.still
    t0 = time.perf_counter()
    try:
        with build_outputs(pipeline.config, "api", labels=pipeline.labels, info=pipeline.info,
                           events_to=io.StringIO() if events is None else events) as outputs:
            stats = pipeline.run(source, [*outputs.sinks, *sinks])
    finally:
        source.close()
    wall = time.perf_counter() - t0
    if stats.frames == 0:
        raise FerEdgeError(f"{clip}: no frame could be read")
    return ClipRun(stats, wall, still)


def demo_clip(path: Path, frames: int, side: int | None = None) -> Path:
    """An MJPG .avi at 30 fps of the bundled demo photo (`side` pixels square, else its own size), `frames` long: a
    video, so the loop's detection interval applies as on a camera (a photo is detected on every frame)."""
    import cv2

    from fer_edge.sources import DEMO_IMAGE

    image = cv2.imread(str(DEMO_IMAGE))
    if side:
        image = cv2.resize(image, (side, side))
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


@contextmanager
def writing_video(path: Path, fps: float, size: tuple[int, int]) -> Iterator:
    """An OpenCV writer of MPEG-4 part 2 (every OpenCV build writes it) into a file beside `path` that becomes
    `path` only when the block ends without an error: a half-written clip is never taken for a cached one."""
    import cv2

    tmp = path.with_suffix(".tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise FerEdgeError(f"{tmp}: OpenCV cannot write MPEG-4 video here")
    try:
        yield writer
    finally:
        writer.release()
    tmp.replace(path)


def decoded_frames(clip: str) -> Iterator[np.ndarray]:
    """Every frame of a video file, BGR as OpenCV decodes it, without the loop."""
    import cv2

    cap = cv2.VideoCapture(clip)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


class Recorder(Closing):
    """A sink keeping each frame's face records as (id, box, detected), for scene_metrics.quality."""

    def __init__(self) -> None:
        self.frames: list[list[Reported]] = []

    def on_frame(self, result: FrameResult) -> None:
        self.frames.append(reported_from_records(result.faces))


def reference_boxes(clip: str, yunet_model: str, cache: Path | None = None, frames: int = 0) -> list[list[list[float]]]:
    """YuNet (score >= 0.7) at each frame's full size on every frame the loop would read from `clip` (a video file,
    a folder or photo, or `demo`; the first `frames`, 0: all), cached in `cache` when given: it is the slow part.
    A camera or stream is refused: a second pass would not see the same frames."""
    from fer_edge.detection import make_detector

    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())["boxes"]
    source = open_source(clip, demo_frames=frames or 1)
    try:
        if source.live:
            raise UsageError(f"{clip}: a live source has no second pass to score against YuNet; record a clip first")
        det = make_detector("yunet", options={"model": yunet_model})
        boxes = []
        reads = itertools.count() if not frames else range(frames)
        for _ in reads:
            frame = source.read()
            if frame is None:
                break
            boxes.append([[round(v, 1) for v in (d.box.x1, d.box.y1, d.box.x2, d.box.y2)] for d in det.detect(frame.image)])
            if len(boxes) % 50 == 0:
                log.info("reference: YuNet at full size, %d frames of %s", len(boxes), clip)
    finally:
        source.close()
    if cache is not None:
        atomic_write_text(cache, json.dumps({"model": Path(yunet_model).name, "clip": str(clip), "boxes": boxes}) + "\n")
    return boxes
