"""What the loaders would refuse, found before any of them runs: the detector and its options, the lores stream,
the model file, the source's kind. The config (below the loaders) checks keys; this checks names and files
against what the detectors and sources take, for `fer-edge service` at start and `--check-config`.

`load_config(path, overrides, check=check_loaders)` words these errors as the config's own: the key, and the
file or the flag.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..bundled import resolve_model
from ..config import Config
from ..detection import DETECTORS, detector_files
from ..detection.lores import lores_option
from ..errors import UsageError
from ..sources import IMAGE_SUFFIXES, STREAM_SCHEMES, VIDEO_SUFFIXES, path_kind, unreadable

DEVICE_SPECS = ("auto", "demo", "picamera")


def check_loaders(cfg: Config) -> None:
    """What opening the source and loading the models would refuse, found before either happens."""
    try:
        lores_option(cfg.source.lores, cfg.detector.name, (cfg.source.width or 640, cfg.source.height or 480))
    except UsageError as exc:
        raise UsageError(f"source.lores:{str(exc).partition(':')[2]}") from None
    if cfg.detector.name not in DETECTORS:
        raise UsageError(f"detector.name: {cfg.detector.name!r} is not one of {', '.join(DETECTORS)}")
    files = {"model.path": cfg.model.path and str(resolve_model(cfg.model.path)),
             **detector_files(cfg.detector.name, cfg.detector.options)}  # the detector checks its options here
    for key, value in files.items():
        if value:
            check_readable(key, Path(value))
    check_source(cfg.source.input)


def check_readable(key: str, path: Path) -> None:
    """A file this user can open: the service user, not root, when install.sh checks the config."""
    if not path.is_file():
        raise UsageError(f"{key}: {path}: no such file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"{key}: {path}: not readable by this user ({exc.strerror or exc})") from None


def _device(spec: str) -> bool:
    return spec in DEVICE_SPECS or spec.isdigit() or spec.startswith("/dev/video")


def check_source(spec: str) -> None:
    """What opening the source would refuse as a wrong setting, found without a camera or a stream."""
    if _device(spec):
        return
    if "://" in spec:
        scheme = spec.partition("://")[0].lower()  # never the rest: a URL may hold a password
        if scheme not in STREAM_SCHEMES:
            raise UsageError(f"source.input: {scheme}:// is not a stream fer-edge opens (want {', '.join(STREAM_SCHEMES)})")
        return
    path = Path(spec)
    suffix = path.suffix.lower()
    if not suffix or suffix in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        return  # a folder, an image or a video by its name: what is there now is for the start to wait out
    try:
        if path.is_dir():
            return
    except OSError:
        return  # cannot be looked at now: check_source_now says why
    raise UsageError(f"source.input: {spec}: unknown source type (an image, a video file, a folder, a camera "
                     "index, /dev/videoN, a stream URL, demo, picamera or auto)")


def check_source_now(spec: str) -> None:
    """What `--check-config` says of a source path as it is now, which the service would wait out rather than fail
    on: a folder or file this user cannot read, a folder's path that holds something else."""
    if _device(spec) or "://" in spec:
        return
    path = Path(spec)
    try:
        if path.is_dir():
            os.listdir(path)
        elif path.exists():
            if not path.suffix:
                raise UsageError(f"source.input: {spec}: not a folder (it is {path_kind(path)})")
            if path.is_file():
                with path.open("rb"):
                    pass
    except OSError as exc:
        raise UsageError(f"source.input: {spec}: {unreadable(exc)}") from None
