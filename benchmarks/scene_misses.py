"""Why a true face was not reported, and why a face got a second id: the scene benchmark's misses, by cause.

    python -m fer_edge.benchmarks.scene_misses --clips composed --frames 300 --variants default

Runs the real loop as `benchmarks.scene` does, watching the tracker (every track's state after each frame, why a
shown box was hidden, why a track ended) and the detector (its boxes on each detection frame). Each (frame, true
face) that no reported box matched is put in the first class that fits:

- `entering, waiting`: no detection has found the face yet and none ran since it came into view;
- `entering, detector missed`: no detection has found it yet, though one or more ran since it came into view (under a
  spread search, a part or a close look whose crop holds the face);
- `not confirmed`: found, but the second look (or `hits`) has not confirmed its track;
- `hidden: flow` / `hidden: likeness`: its track's carried box was hidden between detections;
- `hidden: missed`: its track was hidden because a detection missed the face (the detector's miss);
- `ended: carry` (not found for max_carry_s), `ended: off frame`, `ended: same face` (pruned as another track's),
  `ended: scene cut`;
- `box lag`: its track is shown but its box overlaps the face by less than the match IoU;
- `other`: shown and overlapping, yet the one-to-one match gave the box to another face.

Each class is also split by the face's width band. A true track's second and later ids are classed by what became
of the id before: `ended` (by its end cause), `alive` (the old track lived on when the new one was made: a handover
that failed, with the centre distance in face widths and the size ratio between the old box and the new detection).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fer_edge.benchmarks.scene_metrics import MATCH_IOU, TrueFrame, band_names, band_of, box_iou, pairs, quality
from fer_edge.benchmarks.scene_truth import Clip, clips_of, yunet_on_composed
from fer_edge.benchmarks.scene_variants import Variant, parse_size, parse_variants, variant_config
from fer_edge.detection.spread import Part
from fer_edge.detection.zoom import BIGGEST
from fer_edge.errors import FerEdgeError
from fer_edge.geometry import Box
from fer_edge.logs import log_to_stderr
from fer_edge.records import FrameResult
from fer_edge.tracking import Tracker


@dataclass(frozen=True)
class Seen:
    """One track after a frame's step."""

    box: tuple[float, float, float, float]
    visible: bool
    confirmed: bool
    detected: bool
    hidden_by: str | None  # why its box was last hidden (flow, likeness, missed)


class WatchedTracker(Tracker):
    """The loop's tracker, also noting why each box was hidden and why each track ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.why: dict[int, str] = {}  # track id -> why its box was last hidden
        self.ended: dict[int, str] = {}  # track id -> why it ended
        self.born: dict[int, tuple[float, float, float, float]] = {}  # track id -> its first box

    def new_frame(self, image):  # type: ignore[no-untyped-def]
        before = list(self.tracks)
        cut = super().new_frame(image)
        if cut:
            self.ended.update({t.id: "scene cut" for t in before})
        return cut

    def _carry(self, t, image, dt):  # type: ignore[no-untyped-def]
        before = dict(self.lost)
        super()._carry(t, image, dt)
        for k, v in self.lost.items():
            if v > before[k]:
                self.why[t.id] = k

    def _match(self, image, detections, now, still, searched=None):  # type: ignore[no-untyped-def]
        shown = {t.id for t in self.tracks if t.visible}
        super()._match(image, detections, now, still, searched)
        for t in self.tracks:
            self.born.setdefault(t.id, t.box.pixels)
            if t.id in shown and not t.visible:
                self.why[t.id] = "missed"

    def _prune(self, image, now):  # type: ignore[no-untyped-def]
        from fer_edge.geometry import on_frame

        before = list(self.tracks)
        super()._prune(image, now)
        kept = {t.id for t in self.tracks}
        h, w = image.shape[:2]
        for t in before:
            if t.id not in kept:
                self.ended[t.id] = ("carry" if now - t.hit_at > self.max_carry_s else
                                    "off frame" if not on_frame(t.box, w, h) else "same face")

    def snapshot(self) -> dict[int, Seen]:
        return {t.id: Seen(tuple(t.box.as_array().tolist()), t.visible, t.confirmed, t.detected,  # type: ignore[arg-type]
                           self.why.get(t.id)) for t in self.tracks}


def watch(clip: Clip, variant: Variant, base: dict[str, Any]) -> dict[str, Any]:
    """The loop over the clip with the tracker and detector watched: per frame the reported boxes, the tracks and the
    detector's boxes (None on frames it did not run)."""
    from fer_edge.benchmarks.clip import Recorder, run_clip
    from fer_edge.config import config_from
    from fer_edge.pipeline.build import build_pipeline

    cfg = config_from(variant_config(base, variant))
    built = build_pipeline(cfg, max_frames=len(clip.truth))
    old = built.tracker
    parts = {k: getattr(old, k) for k in ("checker", "check_macs", "finder", "finder_macs") if hasattr(old, k)}
    tracker = WatchedTracker(old.labels, **dataclasses.asdict(cfg.smoothing), **dataclasses.asdict(cfg.tracking),
                             **parts)
    detections: list[list[tuple[float, ...]] | None] = []
    looked: list[list[Any] | None] = []  # per frame, the parts a spread search ran (None: the whole frame or none)
    calls: list[tuple[list[tuple[float, ...]], list[Any] | None]] = []

    class Watched:
        def __init__(self, inner: Any) -> None:
            self.inner, self.name = inner, inner.name

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def macs(self, width: int, height: int) -> int | None:
            return self.inner.macs(width, height)

        def detect(self, frame: Any) -> Any:
            out = self.inner.detect(frame)
            calls.append(([tuple(d.box.as_array().tolist()) for d in out], None))
            return out

        def search(self, frame: Any, which: Any, known: Any = ()) -> Any:
            out = self.inner.search(frame, which, known)
            parts = self.inner.parts(frame.shape[1], frame.shape[0])
            calls.append(([tuple(d.box.as_array().tolist()) for d in out],
                          None if len(which) == len(parts) else [parts[i] for i in which]))
            return out

        def look_close(self, frame: Any, crop: Box) -> Any:
            out = self.inner.look_close(frame, crop)
            closes.append(([tuple(d.box.as_array().tolist()) for d in out], crop))
            return out

    snapshots: list[dict[int, Seen]] = []
    closes: list[tuple[list[tuple[float, ...]], Box]] = []  # this frame's close looks: their boxes and crops

    class Watching(Recorder):
        """The records, and beside them the detector's boxes and the tracks after each frame."""

        def on_frame(self, result: FrameResult) -> None:
            super().on_frame(result)
            boxes, parts = calls.pop() if calls else (None, None)
            if closes:  # a close look is a detection of the faces its crop holds whole (zoom.py)
                ran = boxes is not None
                boxes = (boxes or []) + [b for found, _ in closes for b in found]
                if parts is not None or not ran:
                    parts = (parts or []) + [Part((c.x1, c.y1, c.x2, c.y2), 0.0, c.width * BIGGEST, 0)
                                             for _, c in closes]
                closes.clear()
            detections.append(boxes)
            looked.append(parts)
            snapshots.append(tracker.snapshot())

    recorder = Watching()
    pipeline = dataclasses.replace(built, detector=Watched(built.detector), tracker=tracker)
    run_clip(pipeline, str(clip.video), sinks=[recorder])
    return {"reported": recorder.frames, "detections": detections, "looked": looked, "tracks": snapshots,
            "ended": tracker.ended,
            "born": tracker.born}


def classify(truth: list[TrueFrame], run: dict[str, Any]) -> dict[str, Any]:
    """Every missed (frame, true face) by cause and width band; every extra id by what became of the one before."""
    reported, detections, tracks = run["reported"], run["detections"], run["tracks"]
    first_seen: dict[int, int] = {}  # true track -> first frame it is a face to find
    found_by: dict[int, tuple[int, tuple[float, ...]]] = {}  # true track -> (frame, detector box) last found
    holder: dict[int, int] = {}  # true track -> the tracker's track id that got its last detection
    misses: Counter[tuple[str, int]] = Counter()
    faces_by_band: Counter[int] = Counter()
    for f, (frame, recs) in enumerate(zip(truth, reported)):
        boxes = [tuple(b) for _, b in frame.faces]
        dets = detections[f]
        if dets is not None:
            for i, j in pairs(boxes, dets, MATCH_IOU):
                track = frame.faces[i][0]
                found_by[track] = (f, dets[j])
                hit = [k for k, s in tracks[f].items() if s.detected and _same(s.box, dets[j])]
                if hit:
                    holder[track] = hit[0]
        hits = {i for i, _ in pairs(boxes, [r.box for r in recs], MATCH_IOU)}
        for i, (track, box) in enumerate(frame.faces):
            first_seen.setdefault(track, f)
            band = band_of(box[2] - box[0])
            faces_by_band[band] += 1
            if i not in hits:
                cause = _cause(f, track, box, first_seen, found_by, holder, detections, run.get("looked"), tracks,
                               run["ended"])
                misses[(cause, band)] += 1
    return {"misses": misses, "faces_by_band": faces_by_band, "ids": _extra_ids(truth, reported, tracks, run)}


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(abs(x - y) < 0.5 for x, y in zip(a, b))


def _cause(f, track, box, first_seen, found_by, holder, detections, looked, tracks, ended  # type: ignore[no-untyped-def]
           ) -> str:
    if track not in found_by:
        ran = any(detections[g] is not None and (not looked or looked[g] is None
                                                 or any(p.covers(Box(*box)) for p in looked[g]))
                  for g in range(first_seen[track], f + 1))
        return "entering, detector missed" if ran else "entering, waiting"
    tid = holder.get(track)
    if tid is None:
        return "other"
    seen = tracks[f].get(tid)
    if seen is None:
        return f"ended: {ended.get(tid, '?')}"
    if not seen.confirmed:
        return "not confirmed"
    if not seen.visible:
        return f"hidden: {seen.hidden_by or '?'}"
    if box_iou(seen.box, box) < MATCH_IOU:
        return "box lag"
    return "other"


def _extra_ids(truth, reported, tracks, run) -> Counter[str]:  # type: ignore[no-untyped-def]
    """For each true track's id after its first: why the one before stopped."""
    seq: dict[int, list[tuple[int, int]]] = defaultdict(list)  # true track -> (frame, reported id)
    for f, (frame, recs) in enumerate(zip(truth, reported)):
        for i, j in pairs([b for _, b in frame.faces], [r.box for r in recs], MATCH_IOU):
            seq[frame.faces[i][0]].append((f, recs[j].id))
    out: Counter[str] = Counter()
    for hist in seq.values():
        seen_ids: list[int] = []
        for _, rid in hist:
            if rid in seen_ids:
                continue
            if seen_ids:
                prev = seen_ids[-1]
                born = min(g for g in range(len(tracks)) if rid in tracks[g])
                if prev in tracks[born]:
                    old, new = tracks[born][prev].box, run["born"].get(rid)
                    out[f"alive: {_handover(old, new)}"] += 1
                else:
                    out[f"ended: {run['ended'].get(prev, '?')}"] += 1
            seen_ids.append(rid)
    return out


def _handover(old: tuple[float, ...], new: tuple[float, ...] | None) -> str:
    """The old track's box against the new track's first: centre distance in widths and size ratio, bucketed."""
    if new is None:
        return "?"
    wo, wn = old[2] - old[0], new[2] - new[0]
    dist = (((old[0] + old[2]) - (new[0] + new[2])) ** 2 + ((old[1] + old[3]) - (new[1] + new[3])) ** 2) ** 0.5 / 2
    d = dist / max(wo, wn, 1e-3)
    r = max(wo, wn) / max(min(wo, wn), 1e-3)
    return f"dist {'<1' if d < 1 else '1-2' if d < 2 else '>=2'} widths, size x{'<2' if r < 2 else '>=2'}"


def render(name: str, clip: str, result: dict[str, Any], q: dict[str, Any]) -> str:
    bands = band_names()
    misses, by_band = result["misses"], result["faces_by_band"]
    total = sum(by_band.values())
    causes = sorted({c for c, _ in misses}, key=lambda c: -sum(v for (k, _), v in misses.items() if k == c))
    lines = [f"## {clip}, {name}: recall {q['recall']:.3f}, ids per track {q['ids_per_track']:.2f}, ids on two "
             f"or more tracks {q['ids_on_two_tracks']}, boxes on no face a frame {q['no_face_per_frame']:.2f}", "",
             f"{total} (frame, true face) pairs; missed {sum(misses.values())}. Share of all true faces:", "",
             "| cause | all | " + " | ".join(bands) + " |", "|---|---|" + "---|" * len(bands)]
    for c in causes:
        cells = [f"{sum(v for (k, _), v in misses.items() if k == c) / total:.3f}"]
        cells += [f"{misses[(c, b)] / by_band[b]:.3f}" if by_band[b] else "-" for b in range(len(bands))]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines.append("| **faces** | " + f"{total} | " + " | ".join(str(by_band[b]) for b in range(len(bands))) + " |")
    lines += ["", "Extra ids (a true track's 2nd, 3rd... id), by what became of the id before:", ""]
    lines += [f"- {k}: {v}" for k, v in result["ids"].most_common()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.scene_misses", description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("FER_EDGE_SHARED", "../shared"))
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--cache", default=".cache/scene")
    p.add_argument("--clips", default="composed")
    p.add_argument("--variants", nargs="+", default=["default"])
    p.add_argument("--yunet-model", default=None)
    p.add_argument("--json", default=None, help="also write the counts here")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.scene_misses")
    try:
        from fer_edge.bundled import DEFAULT_MODEL

        base = {"threads": 1, "model.path": str(DEFAULT_MODEL), "outputs.stats_every_s": 1e9,
                "yunet_model": args.yunet_model or ""}
        variants = parse_variants(args.variants)
        out: dict[str, Any] = {}
        for clip in clips_of(args, parse_size(args.size)):
            if clip.name.startswith("composed") and args.yunet_model:
                clip = yunet_on_composed(clip, args.yunet_model, Path(args.cache))[0]
            for v in variants:
                run = watch(clip, v, base)
                for name, truth in (("", clip.truth), (", of YuNet's faces", clip.found)):
                    if truth is None:
                        continue
                    q = quality(truth, run["reported"])
                    result = classify(truth, run)
                    print(render(v.name + name, clip.name, result, q), flush=True)
                    out[f"{clip.name}/{v.name}{name}"] = {
                        "recall": q["recall"], "ids_per_track": q["ids_per_track"],
                        "misses": {f"{c}|{b}": n for (c, b), n in result["misses"].items()},
                        "faces_by_band": dict(result["faces_by_band"]), "ids": dict(result["ids"])}
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    except FerEdgeError as exc:
        print(f"fer_edge.benchmarks.scene_misses: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
