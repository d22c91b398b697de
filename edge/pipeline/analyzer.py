"""`Analyzer`: the faces in a picture or along a video and their expressions, as typed records for other programs.

The models come from `build_pipeline` and the frames go through `fer-edge run`'s own loop (edge/pipeline/loop.py:
the detector on every Nth frame within the compute budget, picamera2's lores stream, the tracker, the classifier),
so a program that embeds fer-edge gets the same answers as the command line; nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import cv2
import numpy as np

from ..config.keys import Scalar
from ..config.tuning import CONFIRM, CONFIRM_DEFAULT, DETECT_BUDGET_MACS, FOLLOW, FOLLOW_DEFAULT
from ..detection import DEFAULT_DETECTOR
from ..errors import UsageError
from ..geometry import MARGIN
from ..records import FaceRecord, Frame
from ..sources import FrameSource
from .loop import frame_results
from .stats import LoopStats

if TYPE_CHECKING:
    from .build import Pipeline

Source = Union[str, int, "os.PathLike[str]", Iterable[np.ndarray]]  # what `stream` takes
Option = Union[Scalar, "os.PathLike[str]"]  # a detector option's value: a path may be a Path


@dataclass(frozen=True)
class Face:
    """One face: where it is and what it shows.

    `box` is (x1, y1, x2, y2) in pixels of the image given, x2 and y2 exclusive; `label` and `score` are the most
    likely expression and its probability, `probs` every label's probability (label: probability); `detector_score` is the
    face detector's confidence. From `Analyzer.stream` also: `face_id`, a track id that stays the same while the
    face stays in view; `frame`, the frame number; `smoothed_label` and `smoothed_score`, the track's moving
    average (`uncertain` while its top score is low). They are None from `Analyzer.analyze`.
    """

    box: tuple[int, int, int, int]
    label: str
    score: float
    probs: dict[str, float] = field(hash=False)
    detector_score: float
    face_id: int | None = None
    frame: int | None = None
    smoothed_label: str | None = None
    smoothed_score: float | None = None

    @classmethod
    def from_record(cls, r: FaceRecord) -> Face:
        """The tracker's record of a face (what `fer-edge run` writes as an event), unrounded."""
        return cls(box=r.box, label=r.label, score=r.score, probs=dict(zip(r.labels, r.probs)),
                   detector_score=r.detector_score, face_id=r.face_id, frame=r.frame, smoothed_label=r.smoothed_label,
                   smoothed_score=r.smoothed_score)


def _as_bgr(image: Any) -> np.ndarray:
    """A uint8 BGR H x W x 3 array; grey and BGRA are converted, anything else is a ValueError saying what came."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: want a numpy array (BGR, as cv2.imread gives), got {type(image).__name__}")
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3 and image.shape[2] in (1, 3, 4)) \
            or min(image.shape[:2]) < 1:
        raise ValueError(f"image: want a uint8 array of H x W x 3 (BGR), H x W (grey) or H x W x 4 (BGRA), "
                         f"got {image.dtype} {image.shape}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class Analyzer:
    """Finds the faces in BGR images (numpy arrays as OpenCV reads them) and classifies their expressions.

        from .. import Analyzer
        faces = Analyzer().analyze(cv2.imread("photo.jpg"))   # [Face(box=(x1, y1, x2, y2), label='happy', ...)]

    Keyword arguments: `model`, an expression classifier .tflite (default: the bundled int8 CNN); `detector`,
    one of room (default, as `fer-edge run`), blazeface, blazeface-short, blazeface-full, blazeface-back, yunet
    or haar; `detector_options`, the detector's own (the config's `detector.options`: yunet needs
    `{"model": PATH}`, its ONNX file); `threads`, CPU threads for the detector and the classifier; `accelerator`,
    none or edgetpu; `min_face_score`, the detector's threshold (None: its default); `margin`, the face crop's margin as
    a fraction of the face; `level_eyes`, rotate each crop so the eyes are level; `follow` and `confirm`, how
    faces are tracked between detections and confirmed (the config's [tracking] keys); `detect_budget_mmacs`, the
    detector's MACs a frame on a video, in millions (`--detect-budget`). The models load once, here:
    build one Analyzer and reuse it. One Analyzer serves one thread at a time.

    A model or detector that cannot be loaded raises `fer_edge.errors.FerEdgeError` (its message names the file);
    a bad argument raises ValueError (an `ArgumentError`, also a FerEdgeError) naming it, before anything loads;
    an image that is not an array, TypeError.
    """

    def __init__(self, *, model: str | os.PathLike[str] | None = None, detector: str = DEFAULT_DETECTOR,
                 threads: int = 1, accelerator: str = "none", min_face_score: float | None = None,
                 detector_options: Mapping[str, Option] | None = None, margin: float = MARGIN,
                 level_eyes: bool = False, follow: str = FOLLOW_DEFAULT, confirm: str = CONFIRM_DEFAULT,
                 detect_budget_mmacs: float = DETECT_BUDGET_MACS / 1e6) -> None:
        from ..config import Config, DetectorConfig, ModelConfig, TrackingConfig
        from .build import build_pipeline

        _check_arguments(model=model, detector=detector, threads=threads, accelerator=accelerator,
                         min_face_score=min_face_score, detector_options=detector_options, margin=margin,
                         level_eyes=level_eyes, detect_budget_mmacs=detect_budget_mmacs)
        for name, value, choices in (("follow", follow, FOLLOW), ("confirm", confirm, CONFIRM)):
            if value not in choices:
                raise ArgumentError(f"{name}: want one of {', '.join(choices)}, got {value!r}")
        cfg = Config(threads=threads, model=ModelConfig(path=os.fspath(model) if model is not None else "",
                                                               accelerator=accelerator),
                            detector=DetectorConfig(name=detector, min_score=min_face_score or 0.0,
                                                    options=_options(detector_options),
                                                    margin=float(margin), level_eyes=level_eyes,
                                                    budget_mmacs=float(detect_budget_mmacs)),
                            tracking=TrackingConfig(follow=follow, confirm=confirm))
        try:
            self._pipeline = build_pipeline(cfg)  # the models and loop options `fer-edge run` would use
        except UsageError as exc:  # a setting the loaders refuse (yunet without its model): a bad argument
            raise ArgumentError(str(exc)) from None
        self.model, self.detector, self.threads = self._pipeline.model, detector, threads

    def __repr__(self) -> str:
        return f"Analyzer(model={str(self.model)!r}, detector={self.detector!r}, threads={self.threads})"

    @property
    def labels(self) -> tuple[str, ...]:
        """The expressions the model tells apart, in its output order (FER2013's seven for the bundled models)."""
        return self._pipeline.labels

    def analyze(self, image: np.ndarray) -> list[Face]:
        """The faces in one BGR image (H x W x 3 uint8; grey and BGRA are accepted), best detection first: what
        `fer-edge run --source photo.jpg` reports for it."""
        step = self._pipeline.step()(Frame(_as_bgr(image), 0, time.time()), True, 0.0)
        return [_still_face(r) for r in step.records]

    def stream(self, source: Source, *, detect_every: int | None = None, max_frames: int = 0,
               fps: float = 30.0) -> Iterator[list[Face]]:
        """One list of `Face`s per frame (an empty list for a frame without faces), each with its track id.

        `source` is what `fer-edge run --source` takes: a video file, a folder of images, a camera index (0) or
        /dev/videoN, an rtsp:// or http:// URL, "demo"; or any iterable of BGR images (numpy arrays), taken to
        come at `fps` frames a second. On a video, camera or iterable the detector runs on every
        `detect_every`-th frame (None: as `fer-edge run` chooses, by its MAC budget) and the tracker carries the
        boxes between (every face is still classified on every frame); images from a file or folder are always
        detected. `max_frames` stops after that many (0: until the source ends). The source is opened when
        iteration starts and closed when it ends or the loop leaves early (`break`, or the generator's `close()`).
        """
        if detect_every is not None and (not isinstance(detect_every, int) or isinstance(detect_every, bool)
                                         or detect_every < 1):
            raise ArgumentError(f"detect_every: want an integer >= 1, got {detect_every!r}")
        if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 0:
            raise ArgumentError(f"max_frames: want an integer >= 0, got {max_frames!r}")
        if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not fps > 0 or fps == float("inf"):
            raise ArgumentError(f"fps: want a number > 0, got {fps!r}")
        if not isinstance(source, (str, int, os.PathLike)) and not isinstance(source, Iterable) \
                or isinstance(source, bool):
            raise TypeError(f"source: want a path, camera index, URL or an iterable of images, got "
                            f"{type(source).__name__}")
        if isinstance(source, (str, os.PathLike)) and not os.fspath(source).strip():
            raise ArgumentError("source: empty (an empty path would read the current folder)")
        return self._stream(source, detect_every, max_frames, fps)

    def _stream(self, source: Source, detect_every: int | None, max_frames: int,
                fps: float) -> Generator[list[Face], None, None]:
        """`fer-edge run`'s loop (edge/pipeline/loop.py) over the source, its faces yielded instead of written."""
        step = self._pipeline.step(detect_every, max_frames)
        opened = _open(source, fps, max_frames, self._pipeline)
        try:
            for result in frame_results(opened, step, LoopStats(), threading.Event()):
                yield [Face.from_record(r) for r in result.faces]
        finally:
            opened.close()


def _still_face(r: FaceRecord) -> Face:
    """A face of `analyze`: no track, no smoothing."""
    return Face(box=r.box, label=r.label, score=r.score, probs=dict(zip(r.labels, r.probs)),
                detector_score=r.detector_score)


class ArgumentError(UsageError, ValueError):
    """A bad `Analyzer` argument: the documented ValueError, and the FerEdgeError `fer-edge run` raises for it."""


# each argument's config key, whose type and limits it is held to (those of `fer-edge run`'s flags)
_KEYS = {"threads": "threads", "accelerator": "model.accelerator", "min_face_score": "detector.min_score",
         "margin": "detector.margin", "level_eyes": "detector.level_eyes", "detect_budget_mmacs": "detector.budget_mmacs"}


def _options(given: Mapping[str, Option] | None) -> dict[str, Scalar]:
    """The config's `detector.options` table from the keyword argument: a path given as a Path becomes its text."""
    return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in (given or {}).items()}


def _check_arguments(**args: Any) -> None:
    """Every argument checked before any model loads, as the config checks its key: type, finiteness, range."""
    from ..config import check_flag
    from ..detection import DETECTORS

    for name, key in _KEYS.items():
        if not (name == "min_face_score" and args[name] is None):
            try:
                check_flag(key, name, args[name])
            except UsageError as exc:
                raise ArgumentError(str(exc)) from None
    if not isinstance(args["detector"], str) or args["detector"] not in DETECTORS:
        raise ArgumentError(f"detector: unknown detector {args['detector']!r}: use one of {', '.join(DETECTORS)}")
    given = args["detector_options"]
    if given is not None and not (isinstance(given, Mapping) and all(isinstance(k, str) for k in given)):
        raise ArgumentError(f"detector_options: want a dict of option names to values, got {given!r}")
    for name in ("model",):
        if args[name] is not None and not (isinstance(args[name], (str, os.PathLike)) and os.fspath(args[name])):
            raise ArgumentError(f"{name}: want a path to a model file, got {args[name]!r}")


def _open(source: Source, fps: float, max_frames: int, pipeline: Pipeline) -> FrameSource:
    """The source `fer-edge run --source` would open (with picamera2's lores stream where the detector takes it),
    or an iterable of images taken to come at `fps`."""
    if isinstance(source, (str, int, os.PathLike)):
        from ..sources import open_source

        return open_source(str(source) if isinstance(source, int) else os.fspath(source),
                           demo_frames=max_frames or 1, lores=pipeline.lores)
    return _Images(source, fps)


class _Images:
    """An iterable of BGR images as a frame source: a video at `fps`, read in step with the loop."""

    name, dropped, undecodable, still, live, length, failure, stalled = "images", 0, 0, False, False, None, None, False

    def __init__(self, images: Iterable[np.ndarray], fps: float) -> None:
        self._images, self._fps, self._index = iter(images), fps, 0

    @property
    def fps(self) -> float:
        return self._fps

    def read(self) -> Frame | None:
        image = next(self._images, None)
        if image is None:
            return None
        self._index += 1
        return Frame(_as_bgr(image), self._index - 1, time.time())

    def wake(self) -> None:
        pass

    def close(self) -> None:
        pass
