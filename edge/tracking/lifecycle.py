"""Per-face lifecycle events (Frigate's new/update/end) and the scene state, built from the loop's face records.

Pure functions of the records, so they are tested without a broker. A message carries a summary of the face made
from a whitelist of fields (ids, times, the smoothed label and score, the box in pixels, label time shares): never
a pixel, never the per-frame probabilities. `update` is sent when the smoothed label changes, or else at most every
`update_every_s`; `end` when the tracker drops the face (the frame result's `ended`, edge/records.py), so a face costs
a handful of messages, not one per frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..records import FaceRecord
from .smoothing import UNCERTAIN

NO_FACE = "none"  # the dominant expression when nobody is in view
# The only keys of a face summary; a test checks every published payload against this set.
FACE_KEYS = ("face_id", "label", "score", "box", "frame", "frame_time", "start_time", "end_time", "duration", "frames",
             "label_shares")


def _time(r: FaceRecord) -> float:
    """A record's time as the events file gives it (ms), so durations and shares agree with the JSONL."""
    return round(r.time, 3)


@dataclass
class _Life:
    face_id: int
    start: float
    last: float
    frame: int
    label: str
    score: float
    box: tuple[int, int, int, int]
    frames: int = 1
    seconds: dict[str, float] = field(default_factory=dict)  # time each smoothed label was held
    published: dict[str, Any] | None = None  # the last summary sent (the next message's `before`)
    published_at: float = 0.0

    def see(self, r: FaceRecord) -> None:
        now = _time(r)
        self.seconds[self.label] = self.seconds.get(self.label, 0.0) + max(0.0, now - self.last)
        self.last, self.frame, self.frames = now, r.frame, self.frames + 1
        self.label, self.score, self.box = r.smoothed_label, r.smoothed_score, r.box

    def summary(self, ended: bool = False) -> dict[str, Any]:
        duration = self.last - self.start
        if duration > 0:
            shares = {k: round(v / duration, 3) for k, v in sorted(self.seconds.items()) if v > 0}
        else:
            shares = {self.label: 1.0}
        return {"face_id": self.face_id, "label": self.label, "score": round(float(self.score), 4),
                "box": [int(v) for v in self.box], "frame": int(self.frame), "frame_time": round(self.last, 3),
                "start_time": round(self.start, 3), "end_time": round(self.last, 3) if ended else None,
                "duration": round(duration, 3), "frames": self.frames, "label_shares": shares}


class FaceLifecycle:
    """Feed it every processed frame's records and the ids that ended on it; it returns the events to send.

    A face's label time shares give each smoothed label the time from the frame it was shown in to the face's next
    frame, over the face's whole life (first to last frame seen).
    """

    def __init__(self, update_every_s: float = 5.0) -> None:
        self.update_every_s = update_every_s
        self._lives: dict[int, _Life] = {}

    def on_frame(self, records: Sequence[FaceRecord], ended: Iterable[int] = ()) -> list[dict[str, Any]]:
        out = []
        for r in records:
            now = _time(r)
            life = self._lives.get(r.face_id)
            if life is None:
                life = _Life(r.face_id, now, now, r.frame, r.smoothed_label, r.smoothed_score, r.box)
                self._lives[life.face_id] = life
                out.append(self._event("new", life, now))
                continue
            life.see(r)
            changed = life.published is not None and life.label != life.published["label"]
            due = self.update_every_s > 0 and now - life.published_at >= self.update_every_s
            if changed or due:
                out.append(self._event("update", life, now))
        for face_id in ended:
            if face_id in self._lives:
                out.append(self._end(face_id))
        return out

    def close(self) -> list[dict[str, Any]]:
        """`end` for every face still tracked (the source ended or the process stops)."""
        return [self._end(k) for k in list(self._lives)]

    def _event(self, kind: str, life: _Life, now: float) -> dict[str, Any]:
        after = life.summary(ended=kind == "end")
        before = life.published if life.published is not None else after
        life.published, life.published_at = after, now
        return {"type": kind, "before": before, "after": after}

    def _end(self, face_id: int) -> dict[str, Any]:
        life = self._lives.pop(face_id)
        return self._event("end", life, life.last)


def scene_state(records: Sequence[FaceRecord], time_s: float) -> dict[str, Any]:
    """The retained `state`: how many faces are in view and the dominant smoothed expression.

    Dominant: the label most faces show (ties: the higher summed score), `uncertain` when every face is, `none`
    when there is no face.
    """
    counts: dict[str, int] = {}
    scores: dict[str, float] = {}
    for r in records:
        label = r.smoothed_label
        counts[label] = counts.get(label, 0) + 1
        scores[label] = scores.get(label, 0.0) + r.smoothed_score
    sure = [k for k in counts if k != UNCERTAIN]
    if sure:
        dominant = max(sure, key=lambda k: (counts[k], scores[k]))
    else:
        dominant = UNCERTAIN if counts else NO_FACE
    return {"time": round(time_s, 3), "faces": len(records), "dominant": dominant, "labels": dict(sorted(counts.items()))}
