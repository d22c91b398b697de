"""`Analyzer`: the faces in a picture or along a video and their expressions, as typed records for other programs.

The detector, crop, classifier and tracker are the ones `fer-edge run` uses (edge/), so a program that embeds
fer-edge gets the same answers as the command line; nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import cv2
import numpy as np

from .errors import UsageError
from .geometry import MARGIN, Detection
from .pipeline import DEFAULT_DETECT_EVERY, crop_faces
from .records import FaceRecord

Source = Union[str, int, "os.PathLike[str]", Iterable[np.ndarray]]  # what `stream` takes


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

        from . import Analyzer
        faces = Analyzer().analyze(cv2.imread("photo.jpg"))   # [Face(box=(x1, y1, x2, y2), label='happy', ...)]

    Keyword arguments: `model`, an expression classifier .tflite (default: the bundled int8 CNN); `detector`,
    one of blazeface (default), blazeface-short, blazeface-full, blazeface-back, yunet (with `yunet_model`) or
    haar; `threads`, CPU threads for the detector and the classifier; `accelerator`, none or edgetpu;
    `min_face_score`, the detector's threshold (None: its default); `margin`, the face crop's margin as a
    fraction of the face; `level_eyes`, rotate each crop so the eyes are level. The models load once, here:
    build one Analyzer and reuse it. One Analyzer serves one thread at a time.

    A model or detector that cannot be loaded raises `fer_edge.errors.FerEdgeError` (its message names the file);
    a bad argument raises ValueError (an `ArgumentError`, also a FerEdgeError) naming it, before anything loads;
    an image that is not an array, TypeError.
    """

    def __init__(self, *, model: str | os.PathLike[str] | None = None, detector: str = "blazeface", threads: int = 1,
                 accelerator: str = "none", min_face_score: float | None = None,
                 yunet_model: str | os.PathLike[str] | None = None, margin: float = MARGIN,
                 level_eyes: bool = False) -> None:
        from .build import build_pipeline
        from .config import DetectorConfig, ModelConfig, ServiceConfig

        _check_arguments(model=model, detector=detector, threads=threads, accelerator=accelerator,
                         min_face_score=min_face_score, yunet_model=yunet_model, margin=margin, level_eyes=level_eyes)
        cfg = ServiceConfig(threads=threads, model=ModelConfig(path=os.fspath(model) if model is not None else "",
                                                               accelerator=accelerator),
                            detector=DetectorConfig(name=detector, min_score=min_face_score or 0.0,
                                                    yunet_model=os.fspath(yunet_model) if yunet_model else "",
                                                    margin=float(margin), level_eyes=level_eyes))
        try:
            self._pipeline = build_pipeline(cfg)  # the models `fer-edge run` would load for the same settings
        except UsageError as exc:  # a setting the loaders refuse (yunet without its model): a bad argument
            raise ArgumentError(str(exc)) from None
        self.model, self.detector, self.threads = self._pipeline.model, detector, threads
        self._margin, self._level_eyes = float(margin), level_eyes
        self._detector, self._classifier = self._pipeline.detector, self._pipeline.classifier

    def __repr__(self) -> str:
        return f"Analyzer(model={str(self.model)!r}, detector={self.detector!r}, threads={self.threads})"

    @property
    def labels(self) -> tuple[str, ...]:
        """The expressions the model tells apart, in its output order (FER2013's seven for the bundled models)."""
        return tuple(self._classifier.labels)

    def analyze(self, image: np.ndarray) -> list[Face]:
        """The faces in one BGR image (H x W x 3 uint8; grey and BGRA are accepted), best detection first."""
        image = _as_bgr(image)
        faces, probs = self._classify(image, self._detector.detect(image))
        return [self._face(d, p) for d, p in zip(faces, probs)]

    def stream(self, source: Source, *, detect_every: int = DEFAULT_DETECT_EVERY, max_frames: int = 0) -> Iterator[list[Face]]:
        """One list of `Face`s per frame (an empty list for a frame without faces), each with its track id.

        `source` is what `fer-edge run --source` takes: a video file, a folder of images, a camera index (0) or
        /dev/videoN, an rtsp:// or http:// URL, "demo"; or any iterable of BGR images (numpy arrays). On a video,
        camera or iterable the detector runs on every `detect_every`-th frame and the boxes are carried between
        (every face is still classified on every frame); images from a file or folder are always detected.
        `max_frames` stops after that many (0: until the source ends). The source is opened when iteration
        starts and closed when it ends or the loop leaves early (`break`, or the generator's `close()`).
        """
        if not isinstance(detect_every, int) or detect_every < 1:
            raise ValueError(f"detect_every: want an integer >= 1, got {detect_every!r}")
        if not isinstance(max_frames, int) or max_frames < 0:
            raise ValueError(f"max_frames: want an integer >= 0, got {max_frames!r}")
        if not isinstance(source, (str, int, os.PathLike)) and not isinstance(source, Iterable) \
                or isinstance(source, bool):
            raise TypeError(f"source: want a path, camera index, URL or an iterable of images, got "
                            f"{type(source).__name__}")
        if isinstance(source, (str, os.PathLike)) and not os.fspath(source).strip():
            raise ArgumentError("source: empty (an empty path would read the current folder)")
        return self._stream(source, detect_every, max_frames)

    def _stream(self, source: Source, detect_every: int, max_frames: int) -> Generator[list[Face], None, None]:
        tracker = self._pipeline.new_tracker()
        dets: list[Detection] = []
        frames = _frames(source, max_frames)
        try:
            for n, (index, image, still) in enumerate(frames):
                cut = tracker.new_frame(image)  # as in the loop: a scene cut ends every track and detects afresh
                if still or cut or n % detect_every == 0:
                    dets = self._detector.detect(image)
                dets, probs = self._classify(image, dets)
                yield [Face.from_record(r) for r in tracker.faces(dets, probs, time=time.time(), frame=index)]
                if max_frames and n + 1 >= max_frames:
                    return
        finally:
            frames.close()

    def _classify(self, image: np.ndarray, dets: list[Detection]) -> tuple[list[Detection], np.ndarray]:
        """The detections whose crop is big enough (as in the loop), and their probabilities (N, classes)."""
        dets, crops = crop_faces(image, dets, self._margin, self._level_eyes)
        if not crops:
            return [], np.zeros((0, len(self.labels)), np.float32)
        return dets, self._classifier.classify(crops)

    def _face(self, det: Detection, probs: np.ndarray) -> Face:
        labels = self.labels
        top = int(probs.argmax())
        return Face(box=det.box.pixels, label=labels[top], score=float(probs[top]),
                    probs={name: float(p) for name, p in zip(labels, probs)}, detector_score=float(det.score))


class ArgumentError(UsageError, ValueError):
    """A bad `Analyzer` argument: the documented ValueError, and the FerEdgeError `fer-edge run` raises for it."""


# each argument's config key, whose type and limits it is held to (those of `fer-edge run`'s flags)
_KEYS = {"threads": "threads", "accelerator": "model.accelerator", "min_face_score": "detector.min_score",
         "margin": "detector.margin", "level_eyes": "detector.level_eyes"}


def _check_arguments(**args: Any) -> None:
    """Every argument checked before any model loads, as the config checks its key: type, finiteness, range."""
    from .config import check_flag
    from .detectors import DETECTORS

    for name, key in _KEYS.items():
        if not (name == "min_face_score" and args[name] is None):
            try:
                check_flag(key, name, args[name])
            except UsageError as exc:
                raise ArgumentError(str(exc)) from None
    if not isinstance(args["detector"], str) or args["detector"] not in DETECTORS:
        raise ArgumentError(f"detector: unknown detector {args['detector']!r}: use one of {', '.join(DETECTORS)}")
    for name in ("model", "yunet_model"):
        if args[name] is not None and not (isinstance(args[name], (str, os.PathLike)) and os.fspath(args[name])):
            raise ArgumentError(f"{name}: want a path to a model file, got {args[name]!r}")


def _frames(source: Source, max_frames: int) -> Generator[tuple[int, np.ndarray, bool], None, None]:
    """(frame number, BGR image, whether it is a still to detect on) from a source spec or an iterable of images."""
    if isinstance(source, (str, int, os.PathLike)):
        from .sources import open_source

        opened = open_source(str(source) if isinstance(source, int) else os.fspath(source),
                             demo_frames=max_frames or 1)
        try:
            while (frame := opened.read()) is not None:
                yield frame.index, frame.image, opened.still
        finally:
            opened.close()
        return
    for index, image in enumerate(source):
        yield index, _as_bgr(image), False
