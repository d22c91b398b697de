"""The loop's one config tree, for `fer-edge run` and `fer-edge service` alike: TOML (the service's file, run's
--print-config), validated once at start, every key a flag of both commands with the same name and default.

Each field documents itself (`help`) and carries its limits; an unknown key, a wrong type or a bad value is a
`UsageError` (exit 2) naming the key path (`http.port`) and, for a command-line value, its flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import socket
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import geometry, tracking
from ..errors import UsageError
from ..files import read_regular
from ..redact import redact

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEFAULT_PATH = "/etc/fer-edge/config.toml"
# Keys only a service uses: `fer-edge run` neither reconnects nor serves HTTP unless an --http-* flag asks (README).
SERVICE_ONLY = ("source.reconnect_min_s", "source.reconnect_max_s", "http.enabled")
ACCELERATORS = ("none", "edgetpu")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt")
T = TypeVar("T")
Section = TypeVar("Section", bound="DataclassInstance")
Key = dataclasses.Field[Any]  # a key's field: its default, and its help and limits in `metadata`


def _key(default: T, help: str, *, lo: float | None = None, hi: float | None = None, above: float | None = None,
         choices: tuple[str, ...] = (), flag: str | None = None) -> T:
    """A config key: its default (whose type is the key's type), a one-line help, and its limits."""
    meta = {"help": help, "lo": lo, "hi": hi, "above": above, "choices": choices, "flag": flag}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SourceConfig:
    input: str = _key("auto", "auto (picamera2 on a Pi, else /dev/video0), picamera, demo, N, /dev/videoN, "
                              "a video file, a folder of images, or an rtsp:// / http:// URL", flag="--source")
    width: int = _key(640, "frame width asked of a camera (0: the camera's default)", lo=0, hi=8192, flag="--width")
    height: int = _key(480, "frame height asked of a camera (0: the camera's default)", lo=0, hi=8192,
                       flag="--height")
    fps: float = _key(15.0, "frame rate asked of a camera; under the service, files, folders and the demo photo "
                            "loop at this rate too (0: as fast as the loop runs)", lo=0, hi=1000, flag="--fps")
    lores: str = _key("auto", "picamera2 only: detect on its small YUV stream, WxH or off (auto: 320 px wide, "
                              "main's aspect; off where the room detector would tile main, wider than 640 px)",
                      flag="--lores")
    reconnect_min_s: float = _key(0.5, "first wait before reopening a lost camera or stream; doubles per failure",
                                  above=0, hi=3600)
    reconnect_max_s: float = _key(16.0, "longest wait between reopening attempts", above=0, hi=3600)


@dataclass(frozen=True)
class DetectorConfig:
    name: str = _key("room", "face detector: room (BlazeFace back on the frame and on tiles: small faces at 1080p), "
                             "blazeface, blazeface-short, blazeface-full, blazeface-back, yunet or haar",
                     flag="--detector")
    min_score: float = _key(0.0, "detector score threshold (0: the detector's own default)", lo=0, hi=0.999,
                            flag="--min-face-score")
    yunet_model: str = _key("", "YuNet ONNX file, for name = \"yunet\"", flag="--yunet-model")
    margin: float = _key(geometry.MARGIN, "face crop margin, a fraction of the face size", lo=0, hi=2, flag="--margin")
    level_eyes: bool = _key(False, "rotate each face crop so the eyes are level", flag="--level-eyes")
    every: int = _key(0, "detect on every Nth frame of a camera or video, reusing the boxes between (0: the "
                         "smallest N, at least 2, that keeps the detector within 100 M MACs a frame)", lo=0, hi=100,
                      flag="--detect-every")


@dataclass(frozen=True)
class ModelConfig:
    path: str = _key("", "expression classifier .tflite (\"\": the bundled default int8 model)", flag="--model")
    accelerator: str = _key("none", "classifier delegate: none or edgetpu", choices=ACCELERATORS,
                            flag="--accelerator")


@dataclass(frozen=True)
class SmoothingConfig:
    """Also `fer-edge run`'s --smoothing-* flags; the defaults live in edge.tracking, where they were tuned."""

    alpha: float = _key(tracking.ALPHA, "weight of the newest frame in each face's moving average", above=0, hi=1)
    min_score: float = _key(tracking.MIN_SCORE, "a face is \"uncertain\" until its smoothed top score reaches this",
                            lo=0, hi=1)
    switch_margin: float = _key(tracking.SWITCH_MARGIN, "hysteresis: another label must lead the shown one by this "
                                "much to replace it, and the shown one drops to uncertain only this far below "
                                "min_score", lo=0, hi=1)
    scene_cut: float = _key(tracking.SCENE_CUT, "mean grey-level change of a small thumbnail between two frames that "
                            "counts as a scene cut and ends every face's id (0: never)", lo=0, hi=255)
    min_face: int = _key(tracking.MIN_FACE, "a face whose box is smaller than this many pixels (its longer side) is "
                         "\"uncertain\": too small to read an expression from (0: no minimum)", lo=0, hi=4096)


@dataclass(frozen=True)
class TrackingConfig:
    """How faces are followed between detections and when a new one is reported (README, "Tracking")."""

    follow: str = _key(tracking.FOLLOW_DEFAULT, "how a box follows its face between detections: flow (sparse "
                       "optical flow on a few points of the face), velocity (a constant-velocity model) or none "
                       "(the box stays where the detector left it)", choices=tracking.FOLLOW)
    confirm: str = _key(tracking.CONFIRM_DEFAULT, "when a new face is reported: check (at once, but a box that only "
                        "a tile of the room detector found is looked at again on a crop around it), hits (once two "
                        "detections found it) or none (at once)", choices=tracking.CONFIRM)
    max_carry_s: float = _key(tracking.MAX_CARRY_S, "seconds a face may go unfound by the detector before its id "
                              "ends; its box is carried meanwhile while it still looks like the face", above=0,
                              hi=3600)
    min_likeness: float = _key(tracking.MIN_LIKENESS, "a carried box is hidden once its 16x16 grey template "
                               "correlates less than this with the one taken at the last detection (0: never)",
                               lo=0, hi=1)
    iou_threshold: float = _key(tracking.IOU_THRESHOLD, "box overlap that makes a detection a tracked face's; "
                                "failing that, centres within one face width", above=0, hi=1)


@dataclass(frozen=True)
class OutputsConfig:
    events: str = _key("-", "JSON Lines events file, - for stdout, \"\" for none", flag="--events")
    events_max_mb: float = _key(64.0, "rotate the events file to <file>.1 beyond this size (0: never)", lo=0)
    stats_every_s: float = _key(10.0, "seconds between stats records in the events (and on MQTT)", above=0,
                                flag="--stats-every")


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = _key(True, "serve /healthz, /metrics and /events/latest")
    host: str = _key("127.0.0.1", "address to bind (0.0.0.0 exposes it to the network)")
    port: int = _key(8787, "TCP port (0: any free port, logged at start)", lo=0, hi=65535)
    stale_after_s: float = _key(5.0, "/healthz says 503 when no frame was processed for this long", above=0)
    preview: bool = _key(False, "serve a live preview page at / (annotated camera pictures and the faces); "
                                "off: no path serves a picture")
    preview_fps: float = _key(2.0, "frames per second of the preview's MJPEG stream (JPEG is encoded only while "
                                   "someone watches)", above=0, hi=30)
    token: str = _key("", "secret the preview asks for (?token= or Authorization: Bearer); needed when http.host "
                          "is not loopback; prefer token_file")
    token_file: str = _key("", "file holding the preview token (first line), instead of http.token")
    allowed_hosts: str = _key("", "host names a request's Host header may carry besides an address, localhost and "
                                  "this machine's name (comma-separated; \"*\": any). Others get 421: a web page "
                                  "that rebinds its name to this address reads nothing")


@dataclass(frozen=True)
class MqttConfig:
    host: str = _key("", "MQTT broker host name or address (\"\": MQTT off; setting one turns it on)")
    port: int = _key(1883, "broker TCP port (8883 is the usual one for TLS)", lo=1, hi=65535)
    topic_prefix: str = _key("", "topics start with this (\"\": fer-edge/<hostname>)")
    client_id: str = _key("", "MQTT client id (\"\": fer-edge-<hostname>-<pid>)")
    username: str = _key("", "user name for the broker (\"\": anonymous)")
    password: str = _key("", "password for the broker; prefer password_file (never logged)")
    password_file: str = _key("", "file whose first line is the password (readable only by the service user)")
    qos: int = _key(1, "QoS of every message: 0, 1 or 2", lo=0, hi=2)
    keepalive: int = _key(60, "seconds between keepalive pings; the broker sends the last will after 1.5x this",
                          lo=5, hi=65535)
    tls: bool = _key(False, "connect with TLS (turned on by tls_ca; without it, the system's CA certificates)")
    tls_ca: str = _key("", "CA certificate file (PEM) that signed the broker's certificate")
    tls_cert: str = _key("", "client certificate file (PEM), for brokers that ask for one")
    tls_key: str = _key("", "client certificate's private key (PEM)")
    update_every_s: float = _key(5.0, "a tracked face's update is sent when its label changes, else at most this "
                                      "often (0: only on changes)", lo=0)
    queue_size: int = _key(1000, "messages held while the broker is away; beyond, the oldest are dropped and counted",
                           lo=1, hi=1_000_000)
    discovery: bool = _key(False, "publish Home Assistant MQTT discovery configs (a device: faces, expression, fps, "
                                  "face present, a detection switch)")
    count_sensors: bool = _key(False, "with discovery: also one sensor per expression, counting the faces that show it")
    discovery_prefix: str = _key("homeassistant", "Home Assistant's discovery prefix")


@dataclass(frozen=True)
class ServiceConfig:
    threads: int = _key(1, "CPU threads for the detector and the classifier", lo=1, hi=64)
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)


def _is_section(f: Key) -> bool:
    return f.default is dataclasses.MISSING


def _section(f: Key) -> type[Any]:
    """A section's dataclass: the field's default factory."""
    if not isinstance(f.default_factory, type):
        raise TypeError(f"{f.name}: not a config section")
    return f.default_factory


def iter_keys(cls: type[Any] = ServiceConfig, prefix: str = "") -> Iterator[tuple[str, Key]]:
    """(dotted key path, dataclasses.Field) for every leaf key, in declaration order."""
    for f in dataclasses.fields(cls):
        if _is_section(f):
            yield from iter_keys(_section(f), f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, f


def flag_for(path: str, f: Key) -> str:
    """The key's flag: its short name where it has one (`--margin`), else the key path (`--http-port`)."""
    return f.metadata["flag"] or long_flag(path)


def long_flag(path: str) -> str:
    """The flag every key answers to, spelled from its path: `detector.margin` is `--detector-margin`."""
    return "--" + path.replace(".", "-").replace("_", "-")


def flags_of(path: str, f: Key) -> list[str]:
    return list(dict.fromkeys((flag_for(path, f), long_flag(path))))


def _check(path: str, f: Key, value: Any) -> Any:
    """The value with the key's type, or a UsageError naming the key and the reason."""
    want: type[Any] = type(f.default)
    m = f.metadata
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not want:
        kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[want]
        shown = "a secret" if path.endswith("password") else repr(value)  # never echo a password
        raise UsageError(f"{path}: want {kind}, got {shown}")
    if want is float and not math.isfinite(value):
        raise UsageError(f"{path}: want a finite number, got {value!r}")
    if m["choices"] and value not in m["choices"]:
        raise UsageError(f"{path}: {value!r} is not one of {', '.join(m['choices'])}")
    if m["lo"] is not None and value < m["lo"] or m["hi"] is not None and value > m["hi"]:
        lo, hi = m["lo"], m["hi"]
        span = f"from {lo} to {hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
        raise UsageError(f"{path}: {value!r} is out of range (want {span})")
    if m["above"] is not None and not value > m["above"]:
        raise UsageError(f"{path}: {value!r} is out of range (want > {m['above']})")
    return value


def _build(cls: type[Section], table: dict[str, Any], prefix: str) -> Section:
    unknown = sorted(set(table) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise UsageError(f"{prefix}{unknown[0]}: unknown key")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if f.name not in table:
            continue
        if _is_section(f):
            if not isinstance(table[f.name], dict):
                raise UsageError(f"{path}: want a table ([{path}]), got {table[f.name]!r}")
            kwargs[f.name] = _build(_section(f), table[f.name], path + ".")
        else:
            if isinstance(table[f.name], dict):
                raise UsageError(f"{path}: want a value, got a table")
            kwargs[f.name] = _check(path, f, table[f.name])
    return cls(**kwargs)


def _check_together(cfg: ServiceConfig, loaders: bool = True) -> None:
    """Checks that span keys or look at files; run once at start (and by --check-config). `loaders=False` leaves
    the source, detector and model to the code that opens them (`fer-edge run` words those errors its own way)."""
    if cfg.source.reconnect_min_s > cfg.source.reconnect_max_s:
        raise UsageError(f"source.reconnect_min_s: {cfg.source.reconnect_min_s} is above source.reconnect_max_s "
                         f"({cfg.source.reconnect_max_s})")
    if not cfg.source.input.strip():  # run's too: an empty path would read the current folder
        raise UsageError("source.input: empty")
    if loaders:
        _check_loaders(cfg)
    if not cfg.http.host.strip():
        raise UsageError("http.host: empty")
    if cfg.http.enabled:
        _check_host(cfg.http.host, cfg.http.port)
    if cfg.mqtt.host:
        from ..outputs.mqtt import check_config

        check_config(cfg.mqtt)
    from ..outputs.http.preview import check_preview_config

    check_preview_config(cfg.http)


def _check_loaders(cfg: ServiceConfig) -> None:
    """What opening the source and loading the models would refuse, found before either happens."""
    from ..detection import DETECTORS
    from ..detection.lores import lores_option

    try:
        lores_option(cfg.source.lores, cfg.detector.name, (cfg.source.width or 640, cfg.source.height or 480))
    except UsageError as exc:
        raise UsageError(f"source.lores:{str(exc).partition(':')[2]}") from None
    if cfg.detector.name not in DETECTORS:
        raise UsageError(f"detector.name: {cfg.detector.name!r} is not one of {', '.join(DETECTORS)}")
    if cfg.detector.name == "yunet" and not cfg.detector.yunet_model:
        raise UsageError("detector.yunet_model: needed for detector.name = \"yunet\"")
    from ..bundled import resolve_model

    for path, value in (("model.path", cfg.model.path and resolve_model(cfg.model.path)),
                        ("detector.yunet_model", cfg.detector.yunet_model)):
        if value:
            _check_readable(path, Path(value))
    _check_source(cfg.source.input)


def _check_readable(key: str, path: Path) -> None:
    """A file this user can open: the service user, not root, when install.sh checks the config."""
    if not path.is_file():
        raise UsageError(f"{key}: {path}: no such file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"{key}: {path}: not readable by this user ({exc.strerror or exc})") from None


def _check_source(spec: str) -> None:
    """What opening the source would refuse as a wrong setting, found without a camera or a stream."""
    from ..sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    if spec in ("auto", "demo", "picamera") or spec.isdigit() or spec.startswith("/dev/video"):
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
    from ..sources import path_kind, unreadable

    if spec in ("auto", "demo", "picamera") or spec.isdigit() or spec.startswith("/dev/video") or "://" in spec:
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


def check_events_now(target: str) -> None:
    """What `--check-config` says of `outputs.events` as it is now, which the service would only log and retry: a
    folder, or a path whose folder cannot be made or written (nothing is created by the check)."""
    if target in ("", "-"):
        return
    path = Path(target)
    if path.is_dir():
        raise UsageError(f"outputs.events: {target}: is a folder")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the service makes the missing folders below the nearest one that exists
    if not folder.is_dir():
        raise UsageError(f"outputs.events: {target}: {folder} is not a folder")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"outputs.events: {target}: not writable by this user")
        return
    try:  # a probe, not os.access alone, which says yes to root on a read-only mount
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"outputs.events: {target}: cannot write in {folder} ({exc.strerror or exc})") from None


def _check_host(host: str, port: int) -> None:
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"http.host: {host!r} is not an address this machine can bind ({reason})") from None


def _parse_text(path: str, f: Key, text: str) -> Any:
    """A command-line string as the key's type."""
    want: type[Any] = type(f.default)
    try:
        if want is bool:
            words = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False,
                     "0": False}
            return words[text.strip().lower()]
        return want(text)
    except (KeyError, ValueError):
        kind = {bool: "true or false", int: "an integer", float: "a number"}[want]
        raise UsageError(f"{path} ({flag_for(path, f)}): want {kind}, got {text!r}") from None


def load_config(path: str | Path | None, overrides: dict[str, str] | None = None, *,
                loaders: bool = True) -> ServiceConfig:
    """The file (or the defaults when `path` is None) with command-line `overrides` ({key path: text}) on top.

    `loaders=False` leaves the source, detector and model names and files to the code that opens them: `fer-edge
    run` reports a missing model or an unknown detector as the loader words it (exit 1 for a bad model file).
    """
    table: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            table = tomllib.loads(read_regular(p).decode("utf-8-sig"))  # a BOM, as Windows editors write it
        except FileNotFoundError:
            raise UsageError(f"{p}: no such config file") from None
        except OSError as exc:
            raise UsageError(f"{p}: cannot read config ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{p}: cannot read config ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{p}: not valid TOML ({exc})") from None
    fields = dict(iter_keys())
    for key, text in (overrides or {}).items():
        *sections, name = key.split(".")
        node = table
        for s in sections:
            node = node.setdefault(s, {})
        if isinstance(node, dict):  # else _build says the section is not a table
            node[name] = _parse_text(key, fields[key], text)
    try:
        cfg = _build(ServiceConfig, table, "")
        _check_together(cfg, loaders)
    except UsageError as exc:
        key, _, reason = str(exc).partition(":")
        if key in (overrides or {}):
            raise UsageError(f"{key} ({flag_for(key, fields[key])}):{reason}") from None
        raise UsageError(f"{path}: {exc}" if path is not None else str(exc)) from None
    return cfg


def config_from(values: dict[str, Any]) -> ServiceConfig:
    """The defaults with `values` ({key path: value}) on top, each checked as a file's: for code that builds a loop
    without a file or flags (the benchmarks, the API, tests). Names and files are left to the loaders."""
    table: dict[str, Any] = {}
    for key, value in values.items():
        *sections, name = key.split(".")
        node = table
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    cfg = _build(ServiceConfig, table, "")
    _check_together(cfg, loaders=False)
    return cfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --check-config and one flag per key (dest: the key path)."""
    parser.add_argument("--config", default=None, help=f"TOML config file (e.g. {DEFAULT_PATH}); "
                                                      "without it, the defaults and the flags below")
    parser.add_argument("--check-config", action="store_true", help="validate the config and exit (0: valid, 2: not)")
    add_section_arguments(parser, "")


def add_section_arguments(parser: argparse._ActionsContainer, section: str, skip: tuple[str, ...] = ()) -> None:
    """One flag per key under `section` ("": all) but those in `skip` (key paths or sections ending in ".")."""
    for path, f in iter_keys():
        if path.startswith(section) and not any(path == s or s.endswith(".") and path.startswith(s) for s in skip):
            add_key_argument(parser, path, f)


def add_key_argument(parser: argparse._ActionsContainer, path: str, f: Key) -> None:
    """`--flag VALUE` (and its long spelling) for one key; a true-or-false key may be given bare (`--level-eyes`)."""
    default = f.default if f.default != "" else '""'
    bare: dict[str, Any] = {"nargs": "?", "const": "true"} if type(f.default) is bool else {}
    parser.add_argument(*flags_of(path, f), dest=path, default=None, metavar=type(f.default).__name__.upper(),
                        help=f"{path}: {f.metadata['help']} (default: {default})".replace("%", "%%"), **bare)


def check_flag(key: str, flag: str, value: Any) -> Any:
    """A command-line value of another command (`run --margin`) checked against the config key's type and limits,
    so the ranges OpenCV and LiteRT would reject later are refused at parse time in one line naming the flag."""
    f = dict(iter_keys())[key]
    try:
        return _check(key, f, value)
    except UsageError as exc:
        raise UsageError(f"{flag}:{str(exc).partition(':')[2]}") from None


def overrides_from(args: argparse.Namespace) -> dict[str, str]:
    return {path: getattr(args, path) for path, _ in iter_keys() if getattr(args, path, None) is not None}


SECRETS = ("mqtt.password", "http.token")


def to_toml(cfg: ServiceConfig) -> str:
    """The config as TOML that `load_config` reads back; a secret is left out, with a comment saying so."""
    lines: list[str] = []
    section = None
    for path, _ in iter_keys():
        *parents, name = path.split(".")
        value: Any = cfg
        for part in path.split("."):
            value = getattr(value, part)
        head = ".".join(parents) or None
        if head != section:
            lines += ["", f"[{head}]"]
            section = head
        if path in SECRETS and value:
            lines.append(f"# {name}: set, not shown (put it in {name}_file)")
            continue
        if isinstance(value, str) and redact(value) != value:  # a stream URL with a password or a token in it
            lines.append(f"# {name}: holds credentials, not shown: {redact(value)} (write the real one here)")
            continue
        lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML basic-string escapes
    return repr(value)
