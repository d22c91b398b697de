"""The tracker: boxes carried between detections, new faces confirmed before they are reported, one id per
person, and each face's labels smoothed with hysteresis.

Between detections each box follows its face (`follow`: sparse optical flow, a constant-velocity model, or not at
all) and stops being shown when its content no longer looks like the face the detector last saw. A detection is
matched to a track by overlap with the track's carried box or, failing that, by centre distance: two people's
faces are at least a face apart, so a detection within one face width of a track's centre is that face. A track
missed by detections keeps its id for `max_carry_s`. A new face is reported only once it is confirmed
(`confirm`): boxes that only a tile of the `room` detector found get a second look on a crop around them.

The [smoothing] and [tracking] defaults live with the config (edge/config/tuning.py), which says how they were
chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config.tuning import (
    ALPHA,
    CONFIRM,
    CONFIRM_DEFAULT,
    FOLLOW,
    FOLLOW_DEFAULT,
    IOU_THRESHOLD,
    MAX_CARRY_S,
    MIN_FACE,
    MIN_LIKENESS,
    MIN_SCORE,
    REGAIN,
    SCENE_CUT,
    SWITCH_MARGIN,
)
from ..detection.spread import Part
from ..geometry import Box, Detection, iou_matrix, on_frame
from ..records import FaceRecord
from . import follow as moves
from .follow import Patch
from .match import MATCH_DISTANCE, MATCH_SIZE, apart, match_pairs
from .regain import REGAIN_PER_FRAME, REGAIN_S, REGAIN_STEP_S, Finder
from .scenecut import cut_between, thumbnail
from .smoothing import UNCERTAIN, moving_average, smooth_label

# A shown box that a detection missed stays shown only while it clearly still looks like its face (the detector
# misses about one face in ten it found before); below this, the face has most likely turned away or gone.
MISSED_LIKENESS = 0.5
# ... and through at most this many detections in a row that missed it (its id waits max_carry_s either way). 0: a
# missed face is hidden at once. A face on a still scene looks like itself whatever the detector says: on the test clip
# at 640x360 a box between two audience faces stayed shown 1.4 s, missed by 20 detections; forgiving one miss there
# gives 0.02 more recall for 0.05 more boxes on no face a frame, and changes nothing at 1080p (scene benchmark).
MAX_MISSED_SHOWN = 0
# A spread search (detection/spread.py) looks at a face every few frames: a face it misses this many times in a row
PART_MISSES = 1  # stays shown (the whole search's one miss came every 0.6 s at 1080p; this every 0.1-0.3 s)
SAME_FACE = 0.5  # two tracks whose boxes overlap this much follow one face: the younger one ends
RECHECK_S = 2.0  # a box that failed the second look is looked at again after this long, or once it has moved
VELOCITY_WEIGHT = 0.5  # weight of the newest measurement in a track's velocity; less for detections this close in
VELOCITY_SPAN_S = 0.3  # time (a spread search's, frames apart): there the detector's box jitter is most of the shift


# A second look at a box: True when a face is there (edge/detection/tiled.py's `SecondLook`).
Checker = Callable[[np.ndarray, Box], bool]


@dataclass
class Track:
    id: int
    box: Box  # where the face is now: the last detection's box, carried since
    det_score: float  # the detector's score at the last detection
    keypoints: tuple[tuple[float, float], ...]  # the last detection's keypoints, carried with the box
    hit_at: float  # time of the last detection that found this face (seconds)
    hit_box: Box  # the box that detection gave
    probs: np.ndarray | None = None  # exponential moving average of the class probabilities (float32)
    label: str = UNCERTAIN  # the smoothed label shown to users
    score: float = 0.0  # the smoothed probability of `label` (of the top class while `uncertain`)
    hits: int = 0  # detections that found this face
    confirmed: bool = False  # reported as a face (records, MQTT `new`) only once True
    visible: bool = True  # the carried box still holds the face; False: hidden until a detection finds it again
    detected: bool = True  # found by this frame's detection (False: carried)
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)  # centre px/s (x, y) and log-size per second
    likeness: float = 1.0  # how much the box's content looks like the face at the last detection (1: the same)
    template: np.ndarray | None = field(default=None, repr=False)  # the face's grey template at the last detection
    patch: Patch | None = field(default=None, repr=False)  # this frame's grey region around it, for the next flow
    checked: tuple[float, Box] | None = None  # when and where the last second look said "no face"
    missed: int = 0  # detections in a row that did not find this face
    regain_until: float = -1.0  # lost by the flow: looked for near its box until this time (seconds) ...
    regain_next: float = 0.0  # ... next at this time
    seen_at: float = 0.0  # the last time its box was shown (seconds)

    def detection(self) -> Detection:
        """The face as the loop crops it: the carried box, with the keypoints moved along."""
        return Detection(self.box, self.det_score, self.keypoints)


class Tracker:
    """Tracks faces over frames: `step` with each frame (and its detections, on the frames that ran the detector)
    gives the faces to report; `faces` smooths their labels and makes the records.

    The keyword arguments are the config's [smoothing] and [tracking] keys, so `Tracker(labels,
    **asdict(cfg.smoothing), **asdict(cfg.tracking), checker=...)` builds it. `checker` takes the second look at
    boxes that only a tile found (None: such boxes are confirmed as any other).
    """

    def __init__(self, labels: tuple[str, ...], *, alpha: float = ALPHA, min_score: float = MIN_SCORE,
                 switch_margin: float = SWITCH_MARGIN, scene_cut: float = SCENE_CUT, follow: str = FOLLOW_DEFAULT,
                 confirm: str = CONFIRM_DEFAULT, max_carry_s: float = MAX_CARRY_S, iou_threshold: float = IOU_THRESHOLD,
                 min_likeness: float = MIN_LIKENESS, checker: Checker | None = None, check_macs: int = 0,
                 min_face: int = MIN_FACE, regain: bool = REGAIN, finder: Finder | None = None,
                 finder_macs: int = 0) -> None:
        if follow not in FOLLOW:
            raise ValueError(f"follow: {follow!r} is not one of {', '.join(FOLLOW)}")
        if confirm not in CONFIRM:
            raise ValueError(f"confirm: {confirm!r} is not one of {', '.join(CONFIRM)}")
        self.labels = labels
        self.alpha, self.min_score, self.switch_margin, self.scene_cut = alpha, min_score, switch_margin, scene_cut
        self.follow, self.confirm, self.max_carry_s = follow, confirm, max_carry_s
        self.iou_threshold, self.min_likeness = iou_threshold, min_likeness
        self.checker, self.check_macs = checker, check_macs
        self.finder, self.finder_macs = (finder, finder_macs) if regain and follow != "none" else (None, 0)
        self.regained, self._looks_left = 0, 0  # lost faces found again near their box; regain looks left this frame
        self.min_face = min_face
        self.tracks: list[Track] = []
        self.cuts = 0
        self.checks = 0  # second looks taken
        self.lost = {"flow": 0, "likeness": 0, "missed": 0}  # carried boxes hidden, by cause
        self.macs = 0  # MACs-equivalent spent on following and second looks since the start (docs/run.md, "Tracking")
        self._f = moves
        self._next_id = 1
        self._thumb: np.ndarray | None = None
        self._now: float | None = None

    def new_frame(self, image: np.ndarray) -> bool:
        """Call before `step` with each frame: on a scene cut every track ends (True: detect faces afresh)."""
        if self.scene_cut <= 0:
            return False
        thumb = thumbnail(image)
        cut = cut_between(self._thumb, thumb, self.scene_cut)
        self._thumb = thumb
        if cut:
            self.cuts += 1
            self.tracks = []
        return cut

    def step(self, image: np.ndarray, detections: Sequence[Detection] | None, now: float,
             still: bool = False, searched: Sequence[Part] | None = None) -> list[Track]:
        """Move every track to this frame, match this frame's `detections` (None: the detector did not run) and
        return the tracks to report: confirmed, and still looking like their face. `now` is the frame's time in
        seconds (a video's own clock, so a file gives the same answer however fast it is read). A `still` is a
        picture of its own: no box is carried into it (a face found where one was in the last keeps its id).
        `searched`: the parts of the frame the detections come from (None: all of it); a track outside them was
        not looked for, so not finding it is no miss.
        """
        dt = 0.0 if self._now is None or still else max(0.0, now - self._now)
        self._now = now
        self._looks_left = REGAIN_PER_FRAME
        for t in self.tracks:
            if still:  # another picture: nothing is carried into it, but a face found at the same place keeps its id
                t.detected = t.visible = False
            else:
                self._carry(t, image, dt)
        if detections is not None:
            self._match(image, detections, now, still, searched)
        self._prune(image, now)
        if self.follow == "flow" and not still:
            self._grab(image, dt)
        return [t for t in self.tracks if t.confirmed and t.visible]

    def faces(self, tracks: Sequence[Track], probs: np.ndarray, *, time: float, frame: int,
              file: str | None = None, video_time: float | None = None) -> list[FaceRecord]:
        """Records for `tracks` (what `step` gave, less any the loop could not crop), same order, after smoothing
        each one's labels with this frame's `probs` (N, classes)."""
        out = []
        for t, p in zip(tracks, probs):
            self._smooth(t, p)
            out.append(FaceRecord(face_id=t.id, box=t.box.pixels, detector_score=float(t.det_score),
                                  probs=tuple(p.tolist()), labels=self.labels, smoothed_label=t.label,
                                  smoothed_score=t.score, detected=t.detected, time=time, frame=frame, file=file,
                                  video_time=video_time))
        return out

    # -- between detections
    def _carry(self, t: Track, image: np.ndarray, dt: float) -> None:
        """Move `t` to this frame by its `follow` means; hide it when the flow is lost or the face is no longer
        under its box."""
        f = self._f
        t.detected = False
        shown = t.visible
        vx, vy, vs = t.velocity
        shift = (vx * dt, vy * dt)
        before = t.box
        now: np.ndarray | None = None  # the face's template in this frame
        if self.follow == "flow" and t.visible:
            followed = f.follow_flow(t.patch, image, t.box, shift) if t.patch is not None else None
            self.macs += f.FLOW_MACS if t.patch is not None else 0
            if followed is None:
                if t.visible:
                    self.lost["flow"] += 1
                t.visible = False  # lost: it coasts on its velocity, hidden, until a detection finds it again
                t.box = f.moved_box(t.box, shift, math.exp(vs * dt))
            else:
                t.box, patch = followed
                now = f.template(patch.grey, f.patch_box(t.box, patch))  # the flow's grey region: no second resize
                if dt > 0:  # the flow's own measure of the velocity, blended with the detections'
                    (bx, by), (ax, ay) = before.center, t.box.center
                    w = VELOCITY_WEIGHT
                    ds = math.log(max(t.box.width, 1e-3) / max(before.width, 1e-3)) / dt
                    t.velocity = ((1 - w) * vx + w * (ax - bx) / dt, (1 - w) * vy + w * (ay - by) / dt,
                                  (1 - w) * vs + w * ds)
        elif self.follow != "none":  # a hidden face coasts on its velocity (the flow would follow what hides it), its
            t.box = f.moved_box(t.box, shift, math.exp(vs * dt) if t.visible else 1.0)  # size kept: a guess compounds
        if t.keypoints and t.box != before:
            t.keypoints = f.moved_points(t.keypoints, before, t.box)
        if t.visible:
            t.likeness = f.likeness(t.template, now if now is not None else f.template(image, t.box))
            if t.likeness < self.min_likeness:
                self.lost["likeness"] += 1
                t.visible = False
        if t.visible and self._now is not None:
            t.seen_at = self._now
        if shown and not t.visible and self._now is not None:
            t.regain_until, t.regain_next = self._now + REGAIN_S, self._now
        if (not t.visible and t.confirmed and self.finder is not None and self._looks_left > 0 and self._now is not None
                and t.regain_next <= self._now <= t.regain_until):
            t.regain_next = self._now + REGAIN_STEP_S - 1e-6
            self._regain(t, image)

    def _regain(self, t: Track, image: np.ndarray) -> None:
        """Look for the face `t` just lost on a crop around its box; found, it is `t`'s as a detection would be."""
        assert self.finder is not None and self._now is not None
        from .regain import regain

        self._looks_left -= 1
        self.macs += self.finder_macs
        det, again = regain(self.finder, image, t, self.tracks)
        if not again:
            t.regain_until = -1.0
        if det is not None:
            self.regained += 1
            self._hit(t, det, image, self._now, False)
            t.missed = MAX_MISSED_SHOWN  # not the detector's own find: shown on only if the next detection agrees

    def _grab(self, image: np.ndarray, dt: float) -> None:
        """Each track's grey region of this frame, where the next frame's flow step will look for its face."""
        f = self._f
        h, w = image.shape[:2]
        for t in self.tracks:
            shift = (t.velocity[0] * dt, t.velocity[1] * dt)
            t.patch = f.grab(image, f.flow_region(t.box, shift, w, h), f.flow_scale(t.box)) if t.visible else None

    # -- on a detection
    def _match(self, image: np.ndarray, detections: Sequence[Detection], now: float, still: bool,
               searched: Sequence[Part] | None = None) -> None:
        from .handover import handover_pairs

        pairs = match_pairs([d.box for d in detections], [t.box for t in self.tracks], self.iou_threshold)
        if not still:  # a box only a tile found takes a hidden face's id only if the second look says face
            pairs += handover_pairs([d.box for d in detections], self.tracks, pairs, now, MATCH_DISTANCE, MATCH_SIZE,
                                    lambda i: self.confirm != "check" or self._looks_like_a_face(image, detections[i]))
        matched = {i for i, _ in pairs}
        found = {j for _, j in pairs}
        for j, t in enumerate(self.tracks):
            if j not in found and searched is not None and not any(p.covers(t.box) for p in searched):
                continue  # not looked for on this frame
            t.missed = 0 if j in found else t.missed + 1
            patient = searched is not None and t.missed <= PART_MISSES
            if j not in found and t.visible and (t.likeness < MISSED_LIKENESS or (t.missed > MAX_MISSED_SHOWN
                                                                                  and not patient)):
                self.lost["missed"] += 1
                t.visible = False
        for i, j in pairs:
            self._hit(self.tracks[j], detections[i], image, now, still)
        for i, det in enumerate(detections):
            if i not in matched:
                track = Track(self._next_id, det.box, float(det.score), det.keypoints, now, det.box)
                self._next_id += 1
                self.tracks.append(track)
                self._hit(track, det, image, now, still)

    def _hit(self, t: Track, det: Detection, image: np.ndarray, now: float, still: bool) -> None:
        if t.hits and now > t.hit_at:  # the velocity from this detection and the last one that found the face
            (ax, ay), (bx, by) = det.box.center, t.hit_box.center
            span = now - t.hit_at
            measured = ((ax - bx) / span, (ay - by) / span,
                        math.log(max(det.box.width, 1e-3) / max(t.hit_box.width, 1e-3)) / span)
            w = (VELOCITY_WEIGHT if t.hits > 1 else 1.0) * min(1.0, span / VELOCITY_SPAN_S)
            (vx, vy, vs), (mx, my, ms) = t.velocity, measured
            t.velocity = ((1 - w) * vx + w * mx, (1 - w) * vy + w * my, (1 - w) * vs + w * ms)
        t.box, t.hit_box, t.hit_at, t.seen_at = det.box, det.box, now, now
        t.det_score, t.keypoints = float(det.score), det.keypoints
        t.hits += 1
        t.visible = t.detected = True
        t.template, t.likeness = self._f.template(image, det.box), 1.0
        if not t.confirmed:
            t.confirmed = self._confirmed(t, det, image, now, still)

    def _confirmed(self, t: Track, det: Detection, image: np.ndarray, now: float, still: bool) -> bool:
        """Whether this detection confirms the new face `t`: at once under `none`; at its second detection under
        `hits` (a still, which has no second, is looked at twice instead); under `check`, at once unless only a
        tile found it, in which case a second look on a crop around it decides."""
        if self.confirm == "none":
            return True
        if self.confirm == "hits" and not still:
            return t.hits >= 2
        if t.checked is not None and not still and det.tile_only and self.checker is not None:
            at, where = t.checked
            if now - at < RECHECK_S and apart(where, det.box) < 0.5:
                return False  # the same pixels give the same answer: a wall is not looked at on every detection
        if self._looks_like_a_face(image, det):
            return True
        t.checked = (now, det.box)
        return False

    def _looks_like_a_face(self, image: np.ndarray, det: Detection) -> bool:
        """The second look at a box only a tile found (True for any other, or without a checker)."""
        if not det.tile_only or self.checker is None:
            return True
        self.checks += 1
        self.macs += self.check_macs
        return self.checker(image, det.box)

    # -- ends
    def _prune(self, image: np.ndarray, now: float) -> None:
        """End the tracks not found for `max_carry_s`, carried off the frame, or following a face another shown track
        follows (a confirmed one stays, then the one found on this frame, then the one found more often)."""
        h, w = image.shape[:2]
        live = [t for t in self.tracks if now - t.hit_at <= self.max_carry_s and on_frame(t.box, w, h)]
        live.sort(key=lambda t: (not t.confirmed, not t.detected, -t.hits, t.id))
        if len(live) > 1:
            boxes = np.array([t.box.as_array() for t in live])
            shown = np.array([t.visible for t in live])  # a hidden face overlapping a shown one may be behind it
            overlap = (iou_matrix(boxes, boxes) > SAME_FACE) & shown[:, None] & shown[None, :]
            keep = np.ones(len(live), bool)
            for i in range(1, len(live)):
                keep[i] = not (overlap[i, :i] & keep[:i]).any()
            live = [t for t, k in zip(live, keep) if k]
        self.tracks = sorted(live, key=lambda t: t.id)

    # -- labels
    def _smooth(self, t: Track, probs: np.ndarray) -> None:
        t.probs = moving_average(t.probs, probs, self.alpha)
        t.label = smooth_label(t.label, t.probs, self.labels, self.min_score, self.switch_margin)
        if max(t.box.width, t.box.height) < self.min_face:
            t.label = UNCERTAIN  # probabilities still averaged: the label returns once the face is big enough
        shown = self.labels.index(t.label) if t.label in self.labels else int(t.probs.argmax())
        t.score = float(t.probs[shown])
