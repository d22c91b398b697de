"""The capture, detect, classify loop. It sees only Protocols: a source, a detector, a classifier, sinks."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, cast

import cv2
import numpy as np

from ..detection import FaceDetector
from ..detection.lores import detect_frame, detect_image
from ..detection.spread import Spreading, SpreadSearch
from ..detection.tiled import with_close
from ..geometry import MARGIN, Detection, eye_angle, square_crop_box
from ..records import FaceRecord, Frame, FrameResult
from ..sources import FrameSource
from ..tracking import Tracker
from .sink import Sink
from .stats import LoopStats

DEFAULT_DETECT_EVERY = 2  # detection is 70% of a frame; faces move little in 1/30 s (docs/run.md, "How often ...")
MIN_CROP = 8  # pixels: a smaller crop (a box at the very edge) says nothing about an expression

log = logging.getLogger(__name__)


class Classifier(Protocol):
    @property
    def labels(self) -> tuple[str, ...]:
        """The classes, in the order of `classify`'s columns."""
        ...

    def classify(self, faces: list[np.ndarray]) -> np.ndarray:
        """Face crops (BGR or grey, any size) -> (N, classes) float probabilities."""
        ...


@dataclass(frozen=True)
class LoopOptions:
    margin: float = MARGIN  # crop side grows by this fraction around the detector's box
    level_eyes: bool = False  # rotate each crop so the eye keypoints are level
    max_frames: int = 0  # 0: until the source ends or a stop is asked
    # Detect faces on every Nth frame of a video or camera; between detections the tracker carries each box along
    # its face and only the classifier runs (DeepStream's `interval`, MediaPipe's detect-then-track). Stills are
    # always detected.
    detect_every: int = DEFAULT_DETECT_EVERY
    # When > 0, the interval is raised on the first frame until the detector's MACs per frame, amortized, fit in it.
    detect_budget_macs: float = 0.0


def detect_interval(macs: int | None, every: int, budget: float) -> int:
    """Detect on every Nth frame: at least `every`, more when one detection costs over `budget` MACs a frame."""
    if budget <= 0 or not macs:
        return max(1, every)
    return max(1, every, math.ceil(macs / budget))


def _nth(n: int) -> str:
    return "frame" if n == 1 else f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')} frame"


def interval_text(every: int, fps: float | None, detector: str, macs: int | None, size: tuple[int, int],
                  budget: float) -> str:
    """The detection interval in a user's words: how often faces are searched for, how long that is, and why."""
    when = f" (every {every / fps:.2g} s at {fps:.0f} fps)" if fps and every > 1 else ""
    what = f"looking for faces on every {_nth(every)}{when}" + (" and following them in between" if every > 1 else "")
    why = (f"one search by {detector} on {size[0]}x{size[1]} costs {macs / 1e6:,.0f} M MACs, "
           f"{macs / every / 1e6:,.0f} M a frame against a budget of {budget / 1e6:,.0f} M" if macs is not None
           else f"the cost of a search by {detector} is not counted")
    return f"{what}: {why} (--detect-every N sets the interval)"


def spread_text(spread: SpreadSearch, fps: float | None, detector: str, size: tuple[int, int], every: int) -> str:
    """A spread search in a user's words; `every`, the interval the same budget gives the search all at once."""
    at = f" ({spread.max_age / fps:.2g} s at {fps:.0f} fps)" if fps else ""
    per = spread.parts[0].macs / spread.budget  # frames a part's MACs take
    rate = f"one every {per:.2g} frames" if per >= 1 else f"{1 / per:.2g} a frame"
    return (f"searching {size[0]}x{size[1]} for faces by {detector} in {len(spread.parts)} parts, {rate} "
            f"where something moved first, every part at least every "
            f"{spread.max_age} frames{at}, "
            f"{'looking closely at faces a tile was unsure of and small patches of motion, ' if spread.close_macs else ''}"
            f"and following faces in between: {spread.budget / 1e6:,.0f} M MACs a frame "
            f"(--detector-options search=whole: all of it every {_nth(every)}; --detect-every N sets the rate)")


def crop_face(image: np.ndarray, det: Detection, margin: float, level_eyes: bool) -> np.ndarray:
    """Square crop with a margin, clipped at the frame edge; optionally levelled by the eyes."""
    h, w = image.shape[:2]
    if level_eyes and len(det.keypoints) >= 2:
        angle = eye_angle(det.keypoints)
        cx, cy = det.box.center
        side = int(round(max(det.box.width, det.box.height) * (1 + margin)))
        m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        m[:, 2] += np.array([side / 2 - cx, side / 2 - cy])
        return cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    x1, y1, x2, y2 = square_crop_box(det.box, margin, w, h)
    return image[y1:y2, x1:x2]


def crop_faces(image: np.ndarray, dets: list[Detection], margin: float, level_eyes: bool
               ) -> tuple[list[int], list[np.ndarray]]:
    """The indices of the detections whose crop is at least MIN_CROP pixels a side, and those crops."""
    crops = [crop_face(image, d, margin, level_eyes) for d in dets]
    keep = [i for i, c in enumerate(crops) if c.size and min(c.shape[:2]) >= MIN_CROP]
    return keep, [crops[i] for i in keep]


def media_time(frame: Frame, fps: float | None) -> float:
    """The tracker's clock for a frame: a video file's own (frame number over its rate), so the answer does not
    depend on how fast the file is read; a camera's or stream's capture time."""
    return frame.index / fps if fps else frame.timestamp


class Step(NamedTuple):
    """What one frame gave: its face records, the faces that ended, whether the detector ran, the stages' seconds."""

    records: list[FaceRecord]
    ended: tuple[int, ...]
    detected: bool
    stages: dict[str, float]


class FrameStep:
    """One frame through the scene-cut check, the detector (on every Nth frame), the tracker and the classifier:
    what `run_loop` and the Python API (`Analyzer`) both call, so they give the same faces."""

    def __init__(self, detector: FaceDetector, classifier: Classifier, tracker: Tracker, opts: LoopOptions) -> None:
        self.detector, self.classifier, self.tracker, self.opts = detector, classifier, tracker, opts
        self.every = max(1, opts.detect_every)
        self.frames = 0
        self._sized = False  # the interval is set on the first frame of a video or camera, by the MAC budget
        self._spread: SpreadSearch | None = None  # a search in parts, for a detector that offers one (`room`)
        self._shape: tuple[int, ...] = ()  # the frame's shape when the search was sized
        self._labels = tuple(classifier.labels)
        self._reported: set[int] = set()  # ids with a record since their track began, until it ends

    def __call__(self, frame: Frame, still: bool, clock: float, started: float | None = None, paused: bool = False,
                 fps: float | None = None) -> Step:
        """This frame's face records, the ids that ended, whether the detector ran, and the stages' seconds: detect,
        crop, classify, and track (the rest: scene cut, tracker, records), adding up to the time since `started` (a
        perf_counter value; default now). `clock` is the frame's time for the tracker (`media_time`). While
        `paused` (detection switched off over MQTT) no face is looked for: the tracks end as their faces would
        leave."""
        t0 = time.perf_counter() if started is None else started
        if not still and (not self._sized or (self._spread is not None and frame.image.shape != self._shape)):
            self._sized = True  # stills are always detected; a camera that comes back at another size is sized again
            self._size(frame, fps)
        cut = self.tracker.new_frame(frame.image)  # a scene cut ends every track; boxes from before it are stale
        searched, which, shown, hints = None, [], [], []
        if self._spread is not None and not still and not paused:
            shown = [t.box for t in self.tracker.tracks if t.visible and t.confirmed]
            which = self._spread.plan(frame.image, shown, everything=self.frames == 0 or cut)
            detected = bool(which)
            if len(which) < len(self._spread.parts):
                searched = [self._spread.parts[i] for i in which]
        else:
            detected = not paused and (self.frames % self.every == 0 or still or cut)
        t1 = time.perf_counter()
        if self._spread is not None and detected and not still:
            spreading = cast(Spreading, self.detector)
            looked = spreading.looked_macs
            dets: list[Detection] | None = spreading.search(frame.image, which, shown)
            self._spread.charge(spreading.looked_macs - looked)  # second looks come out of the same budget
            hints = spreading.hints  # small boxes it scored under its threshold: a close look first goes there
        else:
            dets = detect_frame(self.detector, frame) if detected else ([] if paused else None)  # lores if any
        if self._spread is not None and not still and not paused:
            for crop in self._spread.close_looks(hints):  # hints and small patches of motion, seen at full size
                found = cast(Spreading, self.detector).look_close(frame.image, crop)
                if found:
                    dets, detected = with_close(dets or [], found), True
        t2 = time.perf_counter()
        tracks = self.tracker.step(frame.image, dets, clock, still, searched)
        t3 = time.perf_counter()
        keep, crops = crop_faces(frame.image, [t.detection() for t in tracks], self.opts.margin, self.opts.level_eyes)
        t4 = time.perf_counter()
        probs = self.classifier.classify(crops) if crops else np.zeros((0, len(self._labels)), np.float32)
        t5 = time.perf_counter()
        records = self.tracker.faces([tracks[i] for i in keep], probs, time=frame.timestamp, frame=frame.index,
                                     file=frame.file, video_time=frame.video_time)
        self.frames += 1
        stages = {"detect": t2 - t1, "crop": t4 - t3, "classify": t5 - t4}
        return Step(records, self._ended(records), detected,
                    {**stages, "track": time.perf_counter() - t0 - sum(stages.values())})

    def _size(self, frame: Frame, fps: float | None) -> None:
        """On a video's first frame: the detection interval by the MAC budget, and a spread search where the detector
        offers one (`room` tiling main; not on a lores stream), spending the interval's MACs a frame."""
        h, w = detect_image(frame).shape[:2]
        self._shape, self._spread, self.every = frame.image.shape, None, max(1, self.opts.detect_every)
        spreads = getattr(self.detector, "spread", False) and frame.lores is None
        if self.opts.detect_budget_macs <= 0 and not spreads:
            return  # a fixed interval, and no search in parts: nothing to size
        macs = self.detector.macs(w, h)
        if self.opts.detect_budget_macs > 0:
            self.every = detect_interval(macs, self.every, self.opts.detect_budget_macs)
        if spreads and macs and self.every > 1:
            parts = cast(Spreading, self.detector).parts(w, h)
            if len(parts) > 1:  # the interval's passes a frame, spent a part at a time: the same MACs, and looks
                self._spread = SpreadSearch(parts, macs / self.every,  # at big boxes and close looks come out of them
                                            cast(Spreading, self.detector).close_macs)
                log.info(spread_text(self._spread, fps, self.detector.name, (w, h), self.every))
                return
        if self.opts.detect_budget_macs > 0:
            log.info(interval_text(self.every, fps, self.detector.name, macs, (w, h), self.opts.detect_budget_macs))

    def _ended(self, records: Sequence[FaceRecord]) -> tuple[int, ...]:
        """The one rule for "a face ended": it had a record, and the tracker no longer holds its id. A face hidden
        for a frame or two (still tracked, no record) has not ended; one never reported (unconfirmed) never ends."""
        live = {t.id for t in self.tracker.tracks}
        ended = tuple(sorted(self._reported - live))
        self._reported = (self._reported & live) | {r.face_id for r in records}
        return ended


def frame_results(source: FrameSource, step: FrameStep, stats: LoopStats, stop: threading.Event,
                  detecting: Callable[[], bool] | None = None) -> Iterator[FrameResult]:
    """Each processed frame's result, until the source ends, the step's `max_frames` is reached or `stop` is set;
    `stats` counts them. The time the caller takes with a result (the outputs) is the frame's `events` stage."""
    while not stop.is_set():
        t0 = time.perf_counter()
        frame = source.read()
        if frame is None:
            return
        # asked per frame: a reconnecting source may hold a camera now and a folder of photos later
        clock = media_time(frame, None if source.live else source.fps)
        paused = detecting is not None and not detecting()
        t1 = time.perf_counter()
        step_ = step(frame, source.still, clock, started=t1, paused=paused, fps=source.fps)
        t2 = t1 + sum(step_.stages.values())  # the step's end: its stages add up to it
        if stats.frames == 0:
            stats.detect_every = 1 if source.still else step.every
        wait = min(frame.waited_s, t1 - t0)  # pacing or a camera's pace: the source idle, not decoding
        stats.add({"wait": wait, "decode": t1 - t0 - wait, **step_.stages}, len(step_.records), step_.detected)
        yield FrameResult(frame, tuple(step_.records), step_.ended, step_.detected, stats, source.dropped,
                          source.undecodable)
        t3 = time.perf_counter()
        stats.time("events", t3 - t2)
        stats.time("total", t3 - t0)
        if step.opts.max_frames and stats.frames >= step.opts.max_frames:
            return


def run_loop(source: FrameSource, step: FrameStep, sinks: Sequence[Sink] = (), *, stop: threading.Event | None = None,
             detecting: Callable[[], bool] | None = None) -> LoopStats:
    """Process frames until the source ends, `max_frames` is reached or `stop` is set, handing each frame's result
    to every sink in turn; returns the stats. The sinks are the caller's to close.

    While `detecting()` is False (paused over MQTT) frames are still read, so a camera stays current and the
    watchdog hears from the loop, but no face is looked for: the tracks end as their faces would leave.
    """
    stats = LoopStats()
    for result in frame_results(source, step, stats, stop or threading.Event(), detecting):
        for sink in sinks:
            sink.on_frame(result)
    return stats
