"""The loop's one config tree, section by section: every key with its type, default, help and limits, and each
section's `check()` for what spans its keys or looks at files (run once, at load).

`fer-edge run` and `fer-edge service` read the same tree (edge/config/load.py), every key also a flag of both
(edge/config/flags.py). Checks that need the loaders (detector names, source paths, model files) live above the
loaders, in edge/pipeline/check.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import geometry
from ..errors import UsageError
from . import tuning
from .http import HttpConfig
from .keys import Key, Scalar, key, leaf_keys, table_key
from .mqtt import MqttConfig

ACCELERATORS = ("none", "edgetpu")


@dataclass(frozen=True)
class SourceConfig:
    input: str = key("auto", "auto (picamera2 on a Pi, else /dev/video0), picamera, demo, N, /dev/videoN, "
                              "a video file, a folder of images, or an rtsp:// / http:// URL", flag="--source")
    width: int = key(640, "frame width asked of a camera (0: the camera's default)", lo=0, hi=8192, flag="--width")
    height: int = key(480, "frame height asked of a camera (0: the camera's default)", lo=0, hi=8192,
                       flag="--height")
    fps: float = key(15.0, "frame rate asked of a camera; under the service, files, folders and the demo photo "
                            "loop at this rate too (0: as fast as the loop runs)", lo=0, hi=1000, flag="--fps")
    lores: str = key("auto", "picamera2 only: detect on its small YUV stream, WxH or off (auto: 320 px wide, "
                              "main's aspect; off where the room detector would tile main, wider than 640 px)",
                      flag="--lores")
    reconnect_min_s: float = key(0.5, "first wait before reopening a lost camera or stream; doubles per failure",
                                  above=0, hi=3600)
    reconnect_max_s: float = key(16.0, "longest wait between reopening attempts", above=0, hi=3600)

    def check(self) -> None:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise UsageError(f"source.reconnect_min_s: {self.reconnect_min_s} is above source.reconnect_max_s "
                             f"({self.reconnect_max_s})")
        if not self.input.strip():  # run's too: an empty path would read the current folder
            raise UsageError("source.input: empty")


@dataclass(frozen=True)
class DetectorConfig:
    name: str = key("room", "face detector: room (BlazeFace back on the frame and on tiles: small faces at 1080p), "
                             "blazeface, blazeface-short, blazeface-full, blazeface-back, yunet or haar",
                     flag="--detector")
    min_score: float = key(0.0, "detector score threshold (0: the detector's own default)", lo=0, hi=0.999,
                            flag="--min-face-score")
    options: dict[str, Scalar] = table_key("the chosen detector's own options, checked by the detector: yunet takes "
                                           "model (its ONNX file); room takes search (spread or whole); the others "
                                           "take none")
    margin: float = key(geometry.MARGIN, "face crop margin, a fraction of the face size", lo=0, hi=2, flag="--margin")
    level_eyes: bool = key(False, "rotate each face crop so the eyes are level", flag="--level-eyes")
    every: int = key(0, "detect on every Nth frame of a camera or video, reusing the boxes between (0: the "
                         "smallest N, at least 2, that keeps the detector within budget_mmacs a frame)", lo=0, hi=100,
                      flag="--detect-every")
    budget_mmacs: float = key(tuning.DETECT_BUDGET_MACS / 1e6, "with every = 0: the detector's MACs a frame, "
                              "amortized, in millions (room spends them a part at a time): less on a board slower "
                              "than a Pi 4, more finds a few more small faces", lo=1, hi=100_000,
                              flag="--detect-budget")


@dataclass(frozen=True)
class ModelConfig:
    path: str = key("", "expression classifier .tflite (\"\": the bundled default int8 model)", flag="--model")
    accelerator: str = key("none", "classifier delegate: none or edgetpu", choices=ACCELERATORS,
                            flag="--accelerator")


@dataclass(frozen=True)
class SmoothingConfig:
    """Also `fer-edge run`'s --smoothing-* flags; the defaults were tuned in edge/config/tuning.py's notes."""

    alpha: float = key(tuning.ALPHA, "weight of the newest frame in each face's moving average", above=0, hi=1)
    min_score: float = key(tuning.MIN_SCORE, "a face is \"uncertain\" until its smoothed top score reaches this",
                            lo=0, hi=1)
    switch_margin: float = key(tuning.SWITCH_MARGIN, "hysteresis: another label must lead the shown one by this "
                                "much to replace it, and the shown one drops to uncertain only this far below "
                                "min_score", lo=0, hi=1)
    scene_cut: float = key(tuning.SCENE_CUT, "mean grey-level change of a small thumbnail between two frames that "
                            "counts as a scene cut and ends every face's id (0: never)", lo=0, hi=255)
    min_face: int = key(tuning.MIN_FACE, "a face whose box is smaller than this many pixels (its longer side) is "
                         "\"uncertain\": too small to read an expression from (0: no minimum)", lo=0, hi=4096)


@dataclass(frozen=True)
class TrackingConfig:
    """How faces are followed between detections and when a new one is reported (docs/run.md, "Tracking")."""

    follow: str = key(tuning.FOLLOW_DEFAULT, "how a box follows its face between detections: flow (sparse "
                       "optical flow on a few points of the face), velocity (a constant-velocity model) or none "
                       "(the box stays where the detector left it)", choices=tuning.FOLLOW)
    confirm: str = key(tuning.CONFIRM_DEFAULT, "when a new face is reported: check (at once, but a box that only "
                        "a tile of the room detector found is looked at again on a crop around it), hits (once two "
                        "detections found it) or none (at once)", choices=tuning.CONFIRM)
    max_carry_s: float = key(tuning.MAX_CARRY_S, "seconds a face may go unfound by the detector before its id "
                              "ends; its box is carried meanwhile while it still looks like the face", above=0,
                              hi=3600)
    min_likeness: float = key(tuning.MIN_LIKENESS, "a carried box is hidden once its 16x16 grey template "
                               "correlates less than this with the one taken at the last detection (0: never)",
                               lo=0, hi=1)
    iou_threshold: float = key(tuning.IOU_THRESHOLD, "box overlap that makes a detection a tracked face's; "
                                "failing that, centres within one face width", above=0, hi=1)
    regain: bool = key(tuning.REGAIN, "when a followed box loses its face, look for it again on a crop around the "
                        "box (BlazeFace short-range, 31 M MACs a look, at most two a frame; not with follow = none)")


@dataclass(frozen=True)
class OutputsConfig:
    events: str = key("-", "JSON Lines events file, - for stdout, \"\" for none", flag="--events")
    events_max_mb: float = key(64.0, "rotate the events file to <file>.1 beyond this size (0: never)", lo=0)
    stats_every_s: float = key(10.0, "seconds between stats records in the events (and on MQTT)", above=0,
                                flag="--stats-every")


@dataclass(frozen=True)
class Config:
    threads: int = key(1, "CPU threads for the detector and the classifier", lo=1, hi=64)
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)


def iter_keys(cls: type[Any] = Config, prefix: str = "") -> Iterator[tuple[str, Key]]:
    """(dotted key path, dataclasses.Field) for every leaf key of the tree (or of section `cls`), in order."""
    yield from leaf_keys(cls, prefix)
