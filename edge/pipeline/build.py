"""One way from the validated config to a loop ready to run, so `run`, `service`, the benchmarks, the API and the
tests cannot wire the detector, classifier, tracker and loop options differently."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from ..config import Config
from ..detection import FaceDetector
from ..errors import DeviceError, FerEdgeError, UsageError
from ..sources import FrameSource, Lores
from ..tracking import Tracker
from .loop import Classifier, FrameStep, LoopOptions, run_loop
from .sink import Sink
from .stats import LoopStats

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Pipeline:
    """The loaded models and the loop's settings; `run` drives a source through them."""

    config: Config
    detector: FaceDetector
    classifier: Classifier
    tracker: Tracker
    options: LoopOptions
    model: Path
    lores: Lores  # picamera2's small stream for the detector (open_source's `lores`)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.classifier.labels)

    @property
    def info(self) -> dict[str, str]:
        """What the outputs name: the model file and the detector."""
        return model_info(self.config)

    def new_tracker(self) -> Tracker:
        """A tracker with the config's smoothing and tracking, for a second, unrelated stream (the API's `stream`);
        it shares this pipeline's second-look model."""
        t = self.tracker
        return Tracker(self.labels, **dataclasses.asdict(self.config.smoothing), **dataclasses.asdict(self.config.tracking),
                       checker=t.checker, check_macs=t.check_macs, finder=t.finder, finder_macs=t.finder_macs)

    def step(self, detect_every: int | None = None, max_frames: int | None = None, tracker: Tracker | None = None
             ) -> FrameStep:
        """Frames one at a time through this pipeline's models, detecting on every `detect_every`-th frame (None:
        as the config says), with `tracker` (None: a new one) and up to `max_frames` (None: as built)."""
        opts = self.options if detect_every is None else dataclasses.replace(
            self.options, detect_every=detect_every, detect_budget_macs=0.0)
        if max_frames is not None:
            opts = dataclasses.replace(opts, max_frames=max_frames)
        return FrameStep(self.detector, self.classifier, tracker if tracker is not None else self.new_tracker(), opts)

    def run(self, source: FrameSource, sinks: Sequence[Sink] = (), *, stop: threading.Event | None = None,
            detecting: Callable[[], bool] | None = None) -> LoopStats:
        """The loop over `source` with this pipeline's own tracker, each frame's result to every one of `sinks`."""
        return run_loop(source, self.step(tracker=self.tracker), sinks, stop=stop, detecting=detecting)


def model_info(cfg: Config) -> dict[str, str]:
    """The model file and the detector the config names, as the outputs show them (known before the models load)."""
    from ..bundled import resolve_model

    return {"model": resolve_model(cfg.model.path).name, "detector": cfg.detector.name}


def model_labels(cfg: Config) -> tuple[str, ...]:
    """The classifier's labels, from its sidecar (FER2013's seven without one), before the model loads: what the
    service's outputs announce at start (Home Assistant's expression options, /metrics' label counts)."""
    from ..bundled import resolve_model
    from ..classification.sidecar import read_sidecar
    from ..labels import EMOTIONS

    return tuple((read_sidecar(resolve_model(cfg.model.path)) or {}).get("labels") or EMOTIONS)


def loop_options(cfg: Config, max_frames: int = 0) -> LoopOptions:
    """detector.every N, or (0) the MAC budget that picks N on the first frame."""
    det = cfg.detector
    interval = {"detect_every": det.every} if det.every else {"detect_budget_macs": det.budget_mmacs * 1e6}
    return LoopOptions(margin=det.margin, level_eyes=det.level_eyes, max_frames=max_frames, **interval)


def make_tracker(cfg: Config, labels: tuple[str, ...], detector: FaceDetector) -> Tracker:
    """The tracker the config asks for; with the `room` detector it takes a second look at tile-only boxes; it looks
    for faces the flow lost with BlazeFace short-range (loaded at the first look)."""
    from ..detection.region import RegionFinder
    from ..detection.tiled import TiledBlazeFace

    look = detector.look if isinstance(detector, TiledBlazeFace) else None
    finder = RegionFinder(cfg.threads)
    return Tracker(labels, **dataclasses.asdict(cfg.smoothing), **dataclasses.asdict(cfg.tracking), checker=look,
                   check_macs=look.macs if look is not None else 0, finder=finder, finder_macs=finder.macs)


def build_pipeline(cfg: Config, *, max_frames: int = 0, keyed_errors: bool = False,
                   detector: FaceDetector | None = None, classifier: Classifier | None = None) -> Pipeline:
    """Load the detector and classifier the config names and set up the tracker and loop options.

    With `keyed_errors` (the service), a model that cannot be loaded is a config error naming the key (exit 2:
    a restart cannot fix it); an Edge TPU that is not plugged in stays a DeviceError either way. A `detector` or
    `classifier` given stands in for the one the config names, the rest built as always (tests fake at this seam).
    """
    from ..bundled import resolve_model
    from ..classification.classifier import TFLiteClassifier
    from ..detection import make_detector
    from ..runtime import edgetpu_library

    load = _keyed if keyed_errors else _plain
    det = cfg.detector
    lores = source_lores(cfg)
    if detector is None:
        detector = load("detector.options" if det.options else "detector.name", make_detector,
                        det.name, cfg.threads, det.min_score or None, det.options)
    model = resolve_model(cfg.model.path)
    if classifier is None:
        if cfg.model.accelerator == "edgetpu" and keyed_errors:
            load("model.accelerator", edgetpu_library)
        classifier = load("model.path", TFLiteClassifier, model, cfg.threads, cfg.model.accelerator)
    tracker = make_tracker(cfg, tuple(classifier.labels), detector)
    return Pipeline(cfg, detector, classifier, tracker, loop_options(cfg, max_frames), model, lores)


def source_lores(cfg: Config) -> Lores:
    """picamera2's small stream for the detector, as `source.lores` asks (open_source's `lores`)."""
    from ..detection.lores import lores_option

    src = cfg.source
    return lores_option(src.lores, cfg.detector.name, (src.width or 640, src.height or 480))


def _plain(_key: str, build: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return build(*args, **kwargs)


def _keyed(key: str, build: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`build(*args)`, its FerEdgeError turned into a UsageError naming `key`."""
    try:
        return build(*args, **kwargs)
    except (DeviceError, UsageError):
        raise
    except FerEdgeError as exc:
        raise UsageError(f"{key}: {exc}") from None
