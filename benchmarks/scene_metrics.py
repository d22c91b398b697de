"""What a user sees of a tracked clip, scored against known faces: pure functions over per-frame boxes.

The truth of a frame is its faces to find (a track id and a box each) and its `ignore` regions (a face partly
hidden, too small, or a face in the background picture: finding one is no hit, and a box on one is no false box).
The loop's report of a frame is its face records as (id, box, detected). From these:

- recall, overall and per face-width band: true faces matched one-to-one by a reported box at IoU >= 0.3;
- boxes on no face: reported boxes matched to no true face and lying on no ignore region, per frame, and as a share
  of all reported records (each box is a record that goes to JSONL, MQTT and Home Assistant). A second box on a face
  that already has one counts as on no face: matching is one-to-one;
- box IoU ("box lag"): each reported id belongs to the true track it matched most often; every record of that id,
  carried or detected, is scored by its IoU with that track's box in the same frame (0 when the track is not in
  view: a box left where a face was). Ids that never matched a face are the false boxes above, not part of this
  mean. Given overall and separately for detected and carried records;
- ids per true face track (over the tracks found at least once) and id switches (a track's matched id differing
  from its previous matched id, as CLEAR-MOT counts them); and the other way round, ids that matched two or more
  true tracks (one id handed from a person to another: what a tracker that merges too eagerly gets wrong).

`link_tracks` turns a detector's per-frame boxes (YuNet's on a real clip) into tracks, so a real clip scored
against a reference gets the same measures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fer_edge.geometry import iou_matrix

MATCH_IOU = 0.3  # loose on purpose: detectors draw the face box a little differently (YuNet's is taller)
ON_IGNORE = 0.5  # a box with at least this share of its area inside an ignore region lies on that region
SIZE_BANDS = ((0, 40), (40, 80), (80, 10_000))  # face box width, px: recall is also given per band

Box4 = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrueFrame:
    """One frame's truth: faces to find as (track id, box), and regions where a box is neither hit nor false."""

    faces: tuple[tuple[int, Box4], ...] = ()
    ignore: tuple[tuple[int, Box4], ...] = ()  # track id -1: no track (a face in the background picture)

    def box_of(self, track: int) -> Box4 | None:
        """The track's box in this frame, found or partly hidden; None when it is not in view."""
        for t, b in (*self.faces, *self.ignore):
            if t == track and t >= 0:
                return b
        return None


@dataclass(frozen=True)
class Reported:
    """One face record of the loop: its track id, box and whether the detector ran on that frame."""

    id: int
    box: Box4
    detected: bool = True


@dataclass
class _Tally:
    faces: int = 0
    hits: int = 0
    boxes: int = 0
    false: int = 0
    band_all: list[int] = field(default_factory=lambda: [0] * len(SIZE_BANDS))
    band_hit: list[int] = field(default_factory=lambda: [0] * len(SIZE_BANDS))


def pairs(reference: Sequence[Sequence[float]], found: Sequence[Sequence[float]], iou: float = MATCH_IOU
          ) -> list[tuple[int, int]]:
    """One-to-one (reference index, found index) matches at IoU >= `iou`, greedy from the highest IoU."""
    if not len(reference) or not len(found):
        return []
    m = iou_matrix(np.asarray(reference, np.float32), np.asarray(found, np.float32))
    candidates = sorted(((m[i, j], i, j) for i, j in zip(*np.nonzero(m >= iou))), reverse=True)
    used_r, used_f, out = set(), set(), []
    for _, i, j in candidates:
        if i not in used_r and j not in used_f:
            used_r.add(i)
            used_f.add(j)
            out.append((int(i), int(j)))
    return out


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    return float(iou_matrix(np.asarray([a], np.float32), np.asarray([b], np.float32))[0, 0])


def share_inside(box: Sequence[float], region: Sequence[float]) -> float:
    """The share of `box`'s area that lies inside `region`."""
    w = min(box[2], region[2]) - max(box[0], region[0])
    h = min(box[3], region[3]) - max(box[1], region[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(0.0, w) * max(0.0, h) / area if area > 0 else 0.0


def band_of(width: float) -> int:
    return next(k for k, (lo, hi) in enumerate(SIZE_BANDS) if lo <= width < hi)


def band_names() -> list[str]:
    return [f"{lo}-{hi}px" if hi < 10_000 else f">={lo}px" for lo, hi in SIZE_BANDS]


def _on_ignore(box: Box4, ignore: tuple[tuple[int, Box4], ...], iou: float) -> bool:
    return any(share_inside(box, region) >= ON_IGNORE or box_iou(box, region) >= iou for _, region in ignore)


def quality(truth: Sequence[TrueFrame], reported: Sequence[Sequence[Reported]], iou: float = MATCH_IOU) -> dict:
    """Every measure in the module docstring, over a clip (one truth and one report list per frame)."""
    if len(truth) != len(reported):
        raise ValueError(f"{len(truth)} truth frames but {len(reported)} reported ones")
    tally = _Tally()
    votes: Counter[tuple[int, int]] = Counter()  # (reported id, track) -> frames matched
    matched_ids: dict[int, list[int]] = defaultdict(list)  # track -> its matched id, frame after frame
    for frame, recs in zip(truth, reported):
        boxes = [r.box for r in recs]
        hit = pairs([b for _, b in frame.faces], boxes, iou)
        taken = {j for _, j in hit}
        tally.faces += len(frame.faces)
        tally.hits += len(hit)
        tally.boxes += len(recs)
        tally.false += sum(1 for j, r in enumerate(recs) if j not in taken and not _on_ignore(r.box, frame.ignore, iou))
        found = {i for i, _ in hit}
        for i, (_, b) in enumerate(frame.faces):
            k = band_of(b[2] - b[0])
            tally.band_all[k] += 1
            tally.band_hit[k] += i in found
        for i, j in sorted(hit):
            track = frame.faces[i][0]
            votes[(recs[j].id, track)] += 1
            matched_ids[track].append(recs[j].id)
    owner: dict[int, int] = {}  # reported id -> the track it matched most often (the first such on a tie)
    for (rid, track), _ in sorted(votes.items(), key=lambda kv: -kv[1]):
        owner.setdefault(rid, track)
    ious: dict[bool, list[float]] = {True: [], False: []}
    for frame, recs in zip(truth, reported):
        for r in recs:
            if r.id in owner:
                true_box = frame.box_of(owner[r.id])
                ious[r.detected].append(0.0 if true_box is None else box_iou(r.box, true_box))
    all_ious = ious[True] + ious[False]
    ids = [len(set(v)) for v in matched_ids.values()]
    tracks = {t for f in truth for t, _ in f.faces}
    return {
        "frames": len(truth), "faces": tally.faces, "found": tally.hits, "recall": _ratio(tally.hits, tally.faces),
        "recall_by_width": {name: _ratio(h, a) if a else None
                            for name, h, a in zip(band_names(), tally.band_hit, tally.band_all)},
        "faces_by_width": dict(zip(band_names(), tally.band_all)),
        "boxes": tally.boxes, "boxes_on_no_face": tally.false,
        "no_face_per_frame": _ratio(tally.false, len(truth)),
        "no_face_share": _ratio(tally.false, tally.boxes) if tally.boxes else 0.0,
        "box_iou": _mean(all_ious), "box_iou_detected": _mean(ious[True]), "box_iou_carried": _mean(ious[False]),
        "records_scored": {"detected": len(ious[True]), "carried": len(ious[False])},
        "tracks": len(tracks), "tracks_found": len(ids), "ids_per_track": _mean(ids),
        "id_switches": sum(sum(a != b for a, b in zip(seq, seq[1:])) for seq in matched_ids.values()),
        "ids": len({r.id for recs in reported for r in recs}),
        "ids_on_two_tracks": sum(1 for n in Counter(rid for rid, _ in votes).values() if n > 1),
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def link_tracks(boxes: Sequence[Sequence[Sequence[float]]], iou: float = MATCH_IOU, max_gap: int = 5) -> list[TrueFrame]:
    """A reference detector's boxes per frame as tracks: each box joins the track whose last box (seen at most
    `max_gap` frames before) overlaps it most at IoU >= `iou`, one to one, else starts a track."""
    live: dict[int, tuple[int, Sequence[float]]] = {}  # track -> (last frame, last box)
    out, next_id = [], 0
    for t, frame in enumerate(boxes):
        live = {k: v for k, v in live.items() if t - v[0] - 1 <= max_gap}
        keys = list(live)
        match = dict(pairs(frame, [live[k][1] for k in keys], iou)) if keys else {}
        faces = []
        for i, b in enumerate(frame):
            if i in match:
                track = keys[match[i]]
            else:
                track, next_id = next_id, next_id + 1
            live[track] = (t, b)
            faces.append((track, tuple(float(v) for v in b[:4])))
        out.append(TrueFrame(tuple(faces)))  # type: ignore[arg-type]
    return out


def found_by(truth: Sequence[TrueFrame], boxes: Sequence[Sequence[Sequence[float]]], iou: float = MATCH_IOU
             ) -> list[TrueFrame]:
    """The truth with only the faces a reference detector found (matched one to one at `iou`) left to find: the
    others become ignore regions. Recall against it is recall "of the reference's faces"."""
    out = []
    for frame, found in zip(truth, boxes, strict=True):
        hit = {i for i, _ in pairs([b for _, b in frame.faces], found, iou)}
        out.append(TrueFrame(tuple(f for i, f in enumerate(frame.faces) if i in hit),
                             frame.ignore + tuple(f for i, f in enumerate(frame.faces) if i not in hit)))
    return out


def truth_from_json(frames: Sequence[dict]) -> list[TrueFrame]:
    """The composed clip's truth file frames ({"faces": [[track, x1, y1, x2, y2], ...], "ignore": [...]})."""
    def entries(rows: Sequence[Sequence[float]]) -> tuple[tuple[int, Box4], ...]:
        return tuple((int(r[0]), (float(r[1]), float(r[2]), float(r[3]), float(r[4]))) for r in rows)

    return [TrueFrame(entries(f["faces"]), entries(f.get("ignore", ()))) for f in frames]


def reported_from_records(records: Sequence) -> list[Reported]:
    """The loop's FaceRecords of one frame as scored here."""
    return [Reported(r.face_id, tuple(float(v) for v in r.box), r.detected) for r in records]  # type: ignore[misc]
