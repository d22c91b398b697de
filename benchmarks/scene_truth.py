"""The clips the scene benchmark runs on, each with its truth: the composed clip's known boxes
(benchmarks/scene_clip.py), or on a real clip YuNet's boxes at full size on every frame, linked into tracks.

Composed clips, upscaled copies and YuNet's boxes are cached, so a second run measures the loop alone."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from fer_edge.benchmarks.scene_backdrops import HAMILTON
from fer_edge.benchmarks.scene_clip import write_clip
from fer_edge.benchmarks.scene_metrics import Reported, TrueFrame, found_by, link_tracks, quality, truth_from_json
from fer_edge.errors import FerEdgeError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """A clip and its truth: known boxes (composed) or YuNet's, linked into tracks."""

    name: str
    video: Path
    truth: list[TrueFrame]
    truth_from: str
    width: int
    height: int
    info: dict
    found: list[TrueFrame] | None = None  # composed: the known faces YuNet at full size finds, the rest ignored


def composed_clip(args, size: tuple[int, int], seed: int | None = None) -> Clip:
    """The composed street clip of `seed` (None: --seed), named `composed` for --seed and `composed-sN` for another
    seed: several seeds are several clips, so a figure is not one clip's luck."""
    scenes = Path(args.shared) / "data" / "scenes"
    fer = Path(args.shared) / "data" / "fer2013" / "fer2013.csv.gz"
    if not fer.is_file():
        raise UsageError(f"{fer}: no FER2013 CSV: the composed clip's people include its PrivateTest faces")

    def progress(i: int, n: int) -> None:
        if i % 50 == 0 or i == n:
            log.info("composing the clip: %d/%d frames", i, n)

    seed = args.seed if seed is None else seed
    video, truth_file = write_clip(scenes, Path(args.cache), seed, args.frames, size, fer, progress=progress)
    meta = json.loads(truth_file.read_text())
    truth = truth_from_json(meta["truth"])
    widths = [b[2] - b[0] for f in truth for _, b in f.faces]
    info = {"file": video.name, "seed": seed, "frames": len(truth), "width": size[0], "height": size[1],
            "fps": meta["fps"], "faces": len(widths), "faces_per_frame": round(len(widths) / len(truth), 2),
            "min_face": min(widths, default=0), "max_face": max(widths, default=0),
            "tracks": len({t for f in truth for t, _ in f.faces}), "segments": meta["segments"],
            "people": len(meta["people"])}
    name = "composed" if seed == args.seed else f"composed-s{seed}"
    return Clip(name, video, truth, "known boxes", size[0], size[1], info)


def upscaled(video: Path, size: tuple[int, int], out: Path) -> Path:
    """`video` resized to `size` (bicubic), written once (MPEG-4 part 2) and reused."""
    import cv2

    from fer_edge.benchmarks.clip import decoded_frames, writing_video

    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    cap.release()
    with writing_video(out, fps, size) as writer:
        for frame in decoded_frames(str(video)):
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
    return out


def real_clip(name: str, video: Path, yunet_model: str, cache: Path, frames: int) -> Clip:
    """A real clip with YuNet's boxes at its full size on each of its first `frames` frames as the truth."""
    import cv2

    from fer_edge.benchmarks.clip import reference_boxes

    if not video.is_file():
        raise UsageError(f"--clips: {video}: no such video file")
    cap = cv2.VideoCapture(str(video))
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    if not width:
        raise FerEdgeError(f"{video}: OpenCV cannot read this video")
    stamp = f"{video.stem}-{video.stat().st_size}-{frames}"
    boxes = reference_boxes(str(video), yunet_model, cache / f"{stamp}.yunet.json", frames)
    truth = link_tracks(boxes)
    n = sum(len(b) for b in boxes)
    info = {"file": str(video), "frames": len(truth), "width": width, "height": height, "fps": fps, "faces": n,
            "faces_per_frame": round(n / max(1, len(truth)), 2), "tracks": len({t for f in truth for t, _ in f.faces})}
    return Clip(name, video, truth, "YuNet at full size", width, height, info)


def clips_of(args, size: tuple[int, int]) -> list[Clip]:
    from fer_edge.config.argtypes import csv_list

    cache = Path(args.cache)
    out = []
    for item in csv_list(args.clips):
        if item == "composed" or item.startswith("composed:"):
            seed = item.partition(":")[2]
            if seed and not seed.isdigit():
                raise UsageError(f"--clips: {item!r}: want composed or composed:SEED (an integer)")
            out.append(composed_clip(args, size, int(seed) if seed else None))
            continue
        if not args.yunet_model:
            log.info("no --yunet-model: clip %s (scored against YuNet) is left out", item)
            continue
        hamilton = Path(args.shared) / "data" / "scenes" / HAMILTON
        if item == "hamilton":
            out.append(real_clip(item, hamilton, args.yunet_model, cache, args.frames))
        elif item == "hamilton-1080":
            video = upscaled(hamilton, (1920, 1080), cache / "hamilton-1920x1080.mp4")
            out.append(real_clip(item, video, args.yunet_model, cache, args.frames))
        else:
            out.append(real_clip(Path(item).name, Path(item), args.yunet_model, cache, args.frames))
    if not out:
        raise UsageError("--clips: nothing to measure (the real clips need --yunet-model)")
    return out


def yunet_on_composed(clip: Clip, yunet_model: str, cache: Path) -> tuple[Clip, dict]:
    """How YuNet at full size does on the composed clip's known faces, and the clip with the faces it finds as a
    second truth (recall "of YuNet's faces", the issue's measure on real footage)."""
    from fer_edge.benchmarks.clip import reference_boxes

    boxes = reference_boxes(str(clip.video), yunet_model, cache / f"{clip.video.stem}.yunet.json")
    reported = [[Reported(i * 1000 + j, tuple(b)) for j, b in enumerate(frame)] for i, frame in enumerate(boxes)]
    q = quality(clip.truth, reported)
    summary = {k: q[k] for k in ("recall", "recall_by_width", "no_face_per_frame", "no_face_share", "box_iou")}
    return replace(clip, found=found_by(clip.truth, boxes)), summary
