"""What bench's workers measure on, made once per run in its temporary folder: the demo photo's face crop (every
latency figure), the labelled split with its FER+ majorities (accuracy), the loop's video, and YuNet's boxes on it
at full size (the loop rows' quality columns)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_edge.errors import FerEdgeError

if TYPE_CHECKING:
    from fer_edge.benchmarks.bench import BenchOptions

log = logging.getLogger(__name__)


def demo_face(tmp: Path) -> Path:
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


def prepare_data(opts: BenchOptions, tmp: Path) -> tuple[dict[str, str], int] | None:
    """The split once, as stored (FER2013: 48x48 grey; folders: 96x96 colour), and its FER+ majorities when
    asked; workers resize per model. Returns the files a worker task names, and the image count."""
    if not opts.data:
        return None
    from fer_edge.eval.datasets import load_split, log_counts

    source = Path(opts.data)
    size, channels = ((96, 96), 3) if source.is_dir() else ((48, 48), 1)
    data = load_split(source, opts.split, size, channels)
    outcomes = published = None
    if opts.ferplus:
        from fer_edge.eval.ferplus import majority_outcomes, paired_votes, published_outcomes

        votes = paired_votes(opts.ferplus, source, opts.split)  # pairs row for row with the CSV: checked there
        outcomes = majority_outcomes(votes.votes, votes.named)
        published = published_outcomes(votes.votes, votes.named)
    if opts.images and opts.images < len(data):
        data = data.subset(np.arange(opts.images))
    if len(data) == 0:
        raise FerEdgeError(f"{source}: no images in split {opts.split}")
    log_counts(data)
    files = {"data": str(tmp / "images.npy"), "label_ids": str(tmp / "label_ids.npy")}
    np.save(files["data"], data.images)
    np.save(files["label_ids"], data.label_ids)
    if outcomes is not None and published is not None:
        for key, ids in (("ferplus_ids", outcomes), ("ferplus_published_ids", published)):
            files[key] = str(tmp / f"{key}.npy")
            np.save(files[key], ids[:len(data)])
    return files, len(data)


def loop_source(spec: str, frames: int, tmp: Path) -> str:
    """What the loop rows run on: `demo` becomes a video of the demo photo (a photo is detected on every frame, a
    video by run's interval rule: what a camera gets), anything else is run as given."""
    if spec != "demo":
        return spec
    from fer_edge.benchmarks.clip import demo_clip

    return str(demo_clip(tmp / "demo.avi", frames or 60))


def yunet_reference(opts: BenchOptions, video: str, frames: int, tmp: Path) -> Path | None:
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
