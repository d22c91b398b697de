"""The crop benchmark's faces through the loop's own parts: the split's faces with a FER+ majority, pasted into
frames (benchmarks/crops_frames.py), found by the detector, cropped by `crop_faces` at each margin, classified, and
judged by a fresh tracker as `fer-edge run` would report them; a row per pasted face."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.benchmarks.crops_frames import Photo, compose
from fer_edge.errors import FerEdgeError

log = logging.getLogger(__name__)

MATCH_IOU = 0.3  # a detection this much over a pasted square finds it (the detector's box sits inside the square)


@dataclass(frozen=True)
class Faces:
    """The split's faces that have a 7-way FER+ majority: 48x48 grey images, that majority, their CSV rows, and the
    outcome by the published rule (`eval.ferplus.published_outcomes`: negative where that rule scores no label)."""

    images: np.ndarray
    truth: np.ndarray
    rows: np.ndarray
    published: np.ndarray


def load_faces(data: Path, ferplus: Path, split: str, limit: int, seed: int) -> Faces:
    from fer_edge.eval.datasets import load_split
    from fer_edge.eval.ferplus import majority_outcomes, paired_votes, published_outcomes

    votes = paired_votes(ferplus, data, split)
    outcomes = majority_outcomes(votes.votes, votes.named)
    published = published_outcomes(votes.votes, votes.named)
    images = load_split(data, split, (48, 48), 1).images[..., 0]
    rows = np.flatnonzero(outcomes >= 0)
    if limit and limit < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    return Faces(images[rows], outcomes[rows], rows, published[rows])


def match(squares: np.ndarray, boxes: np.ndarray) -> list[int | None]:
    """For each pasted square, the detection that finds it (one-to-one, best IoU first, at least MATCH_IOU)."""
    from fer_edge.geometry import iou_matrix

    found: list[int | None] = [None] * len(squares)
    if not len(squares) or not len(boxes):
        return found
    ious = iou_matrix(squares, boxes)
    used: set[int] = set()
    for flat in np.argsort(-ious, axis=None):
        i, j = (int(v) for v in np.unravel_index(flat, ious.shape))
        if ious[i, j] < MATCH_IOU:
            break
        if found[i] is None and j not in used:
            found[i], used = j, used | {j}
    return found


def run(faces: Faces, photos: list[Photo], heads: list, pipeline, sizes: tuple[int, ...], margins: tuple[float, ...],
        frame_size: tuple[int, int], per_frame: int, seed: int) -> tuple[list[dict], int]:
    """Every face at every size through detector, crop, classifier and tracker: one row per pasted face, and the
    number of frames. The loop's own margin (the config's) gives the face as `fer-edge run` would report it (found,
    box, label, `shown`: the tracker's smoothed label); each other margin adds its label (`label@MARGIN`)."""
    from fer_edge.pipeline.loop import crop_faces

    rng = np.random.default_rng(seed)
    loop_margin, level_eyes = pipeline.config.detector.margin, pipeline.config.detector.level_eyes
    labels = pipeline.labels
    out: list[dict] = []
    frames = 0
    t0 = time.perf_counter()
    for side in sizes:
        order = rng.permutation(len(faces.truth))
        start = tries = failed = 0
        while start < len(order):
            tries += 1
            frame, squares = compose(photos[tries % len(photos)], heads,
                                     [faces.images[k] for k in order[start:start + per_frame]], side, frame_size, rng)
            if not squares:  # a photo whose own faces leave no room: another
                failed += 1
                if failed > 50:
                    raise FerEdgeError(f"no room for a {side} px face in a {frame_size[0]}x{frame_size[1]} frame")
                continue
            failed = 0
            picked = order[start:start + len(squares)]
            start += len(squares)
            frames += 1
            dets = pipeline.detector.detect(frame)
            found = match(np.array(squares), np.array([d.box.as_array() for d in dets]).reshape(-1, 4))
            hits = {id(dets[j]): i for i, j in enumerate(found) if j is not None}
            rows = [{"row": int(faces.rows[k]), "size": side, "x": int(sq[0]), "y": int(sq[1]),
                     "truth": labels[faces.truth[k]], "detected": False,
                     "published": labels[faces.published[k]] if faces.published[k] >= 0 else ""}
                    for k, sq in zip(picked, squares)]
            mine = [dets[j] for j in found if j is not None]
            for margin in dict.fromkeys((loop_margin, *margins)):
                kept, crops = crop_faces(frame, mine, margin, level_eyes)  # as the loop: too small a crop is dropped
                if not crops:
                    continue
                probs = pipeline.classifier.classify(crops)
                for n, i in enumerate(kept):
                    rows[hits[id(mine[i])]][f"label@{margin:g}"] = labels[int(probs[n].argmax())]
                if margin == loop_margin:  # the records the loop would write, each face judged on this frame alone
                    tracker = pipeline.new_tracker()
                    shown = {t.box: t for t in tracker.step(frame, [mine[i] for i in kept], 0.0, still=True)}
                    reported = [(n, shown[mine[i].box]) for n, i in enumerate(kept) if mine[i].box in shown]
                    records = tracker.faces([t for _, t in reported], probs[[n for n, _ in reported]], time=0.0,
                                            frame=frames)
                    for (n, _), record in zip(reported, records):
                        det = mine[kept[n]]
                        rows[hits[id(det)]] |= {"detected": True, "box_side": round(max(det.box.width, det.box.height), 1),
                                                "label": record.label, "shown": record.smoothed_label}
            out += rows
            if frames % 100 == 0:
                log.info("%d px faces: %d/%d placed, %d frames, %.0f s", side, start, len(order), frames,
                         time.perf_counter() - t0)
    return out, frames
