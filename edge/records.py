"""The records that cross stages: a frame, a face in it, and one frame's result as every output sees it.

JSON only where bytes leave the process (edge/outputs/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One picture from a source, with what the loop needs to know of it."""

    image: np.ndarray  # BGR, H x W x 3
    index: int
    timestamp: float  # seconds since the epoch when captured
    lores: np.ndarray | None = None  # picamera2's small grey stream of the same instant: the detector's input
    file: str | None = None  # the image file a still came from (events name it, annotated copies are named after it)
    video_time: float | None = None  # seconds into a video file (its own timestamps); None for cameras and photos
    waited_s: float = 0.0  # of the read that gave this frame, the time spent waiting (pacing, a camera's next frame)


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """One face in one processed frame: where it is, this frame's probabilities and its track's smoothed label.

    Values are unrounded; `fer_edge.outputs.events.face_json` rounds them for the events schema.
    """

    face_id: int  # the track id: the same while the face stays in view
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels, x2 and y2 exclusive
    detector_score: float
    probs: tuple[float, ...]  # this frame's class probabilities, in `labels` order
    labels: tuple[str, ...]  # the classifier's labels (one tuple shared by every record)
    smoothed_label: str  # the track's label after smoothing and hysteresis; `uncertain` while no label is sure
    smoothed_score: float  # the track's moving average for `smoothed_label` (for its top class while uncertain)
    detected: bool  # the detector ran on this frame (False: the box was carried over from an earlier detection)
    time: float  # the frame's capture time, seconds since the epoch
    frame: int  # the frame number
    file: str | None = None  # the photo a still came from
    video_time: float | None = None  # seconds into a video file (None: a camera, a stream or a photo)

    @property
    def top(self) -> int:
        """Index of this frame's most likely class."""
        return self.probs.index(max(self.probs))  # the first of equal maxima, as numpy's argmax

    @property
    def label(self) -> str:
        """This frame's most likely expression (unsmoothed)."""
        return self.labels[self.top]

    @property
    def score(self) -> float:
        """This frame's probability of `label`."""
        return self.probs[self.top]


class LoopCounts(Protocol):
    """What an output reads of the loop's running stats (edge/pipeline/stats.py's LoopStats, live, not a copy)."""

    frames: int
    faces: int
    detected: int  # frames on which the detector ran
    fps_now: float
    total_s: dict[str, float]  # seconds per stage since the start

    def fps_mean(self) -> float: ...

    def detected_share(self) -> float: ...

    def latency(self) -> dict[str, dict[str, float]]: ...

    def count(self, stage: str) -> int: ...


@dataclass(frozen=True, slots=True)
class FrameResult:
    """One processed frame as every output sees it (edge/pipeline/sink.py's `Sink.on_frame`)."""

    frame: Frame
    faces: tuple[FaceRecord, ...]  # this frame's face records, in the tracker's order
    # Faces reported before whose id the tracker dropped on this frame (unfound for tracking.max_carry_s, carried off
    # the frame, or a scene cut): the one rule for "a face ended", MQTT's `end` and /events/latest's `ended` alike.
    ended: tuple[int, ...]
    detected: bool  # the detector ran on this frame
    stats: LoopCounts  # the loop's stats, this frame counted
    dropped: int = 0  # the source's frames dropped so far because the loop was behind
    undecodable: int = 0  # the source's frames skipped so far because they did not decode
