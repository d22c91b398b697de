"""MQTT output: per-face lifecycle events, retained availability and state, stats, Home Assistant discovery.

The loop never waits on the network: the sink (sink.py) only appends to the link's bounded queue (link.py: the
oldest message is dropped, and counted, when it is full); a sender thread hands messages to paho only while
connected, and paho's own thread (`loop_start`) does the I/O and reconnects with backoff. An event is handed to
paho once: after a reconnect only paho's QoS 1 redelivery of unacknowledged messages repeats one, while the
retained topics (availability, state, discovery) are sent again on purpose, because a restarted broker may have
lost them. Payloads are JSON built from whitelisted fields (edge/tracking/lifecycle.py); never a pixel. paho-mqtt
is imported only when MQTT is turned on. Here: the [mqtt] checks, and the names of the device.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

from ...bundled import package_version
from ...config import MqttConfig
from ...errors import UsageError
from .hass import discovery_configs, node_id

MAX_STRING = 65535  # bytes of an MQTT string as UTF-8 (a two-byte length): topics, client id, user name
TOPICS = ("availability", "events", "state", "stats")  # under the prefix


def _shown(value: str) -> str:
    """A value for an error line: escaped, and cut short (a 65 KB prefix is not echoed)."""
    return ascii(value if len(value) <= 40 else value[:40] + "...")


def _forbidden(c: str) -> bool:
    """What a broker refuses in an MQTT string: control characters (C0, DEL, C1) and Unicode non-characters."""
    n = ord(c)
    return n < 0x20 or 0x7F <= n <= 0x9F or 0xFDD0 <= n <= 0xFDEF or n & 0xFFFE == 0xFFFE


def mqtt_string(path: str, value: str, longest: str = "") -> None:
    """`value` as the broker will check it: UTF-8 (a name from a Latin-1 command line is not), no control
    characters, and within MQTT's 65,535 bytes with `longest`, the longest text sent with it (a topic's rest)."""
    try:
        size = len((value + longest).encode("utf-8"))
    except UnicodeEncodeError:
        raise UsageError(f"{path}: {_shown(value)} is not valid UTF-8, which MQTT requires") from None
    bad = next((c for c in value if _forbidden(c)), None)
    if bad is not None:
        raise UsageError(f"{path}: {_shown(value)} holds U+{ord(bad):04X}, a control character the broker refuses "
                         "(it would drop every CONNECT)")
    if size > MAX_STRING:
        raise UsageError(f"{path}: {size} bytes as UTF-8{' with ' + repr(longest) if longest else ''}; MQTT allows "
                         f"{MAX_STRING}")


def _topic_ok(path: str, topic: str, longest: str = "") -> None:
    if re.search(r"[+#\x00]", topic) or topic.startswith(("/", "$")) or topic.endswith("/") or not topic.strip():
        raise UsageError(f"{path}: {_shown(topic)} is not a topic prefix (no + or #, no leading $ or /, "
                         "no trailing /)")
    mqtt_string(path, topic, longest)


def read_password(cfg: MqttConfig) -> str | None:
    if not cfg.password_file:
        return cfg.password or None
    try:
        lines = Path(cfg.password_file).read_text().splitlines()
    except FileNotFoundError:
        raise UsageError(f"mqtt.password_file: {cfg.password_file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"mqtt.password_file: {cfg.password_file}: cannot read ({reason})") from None
    if not lines or not lines[0]:
        raise UsageError(f"mqtt.password_file: {cfg.password_file}: empty first line")
    return lines[0]


def check_config(cfg: MqttConfig) -> None:
    """The [mqtt] checks that span keys or read files (config.py runs them when a host is set)."""
    prefix = cfg.topic_prefix or default_prefix()
    _topic_ok("mqtt.topic_prefix", prefix, "/" + max(TOPICS, key=len))
    longest = max((t for t, _ in _discovery(cfg, prefix)), key=len)  # discovery_prefix/sensor/NODE/OBJECT/config
    _topic_ok("mqtt.discovery_prefix", cfg.discovery_prefix, longest[len(cfg.discovery_prefix):])
    for key in ("client_id", "username"):
        mqtt_string(f"mqtt.{key}", getattr(cfg, key))
    if cfg.password and cfg.password_file:
        raise UsageError("mqtt.password_file: set mqtt.password or mqtt.password_file, not both")
    if (cfg.password or cfg.password_file) and not cfg.username:
        raise UsageError(f"mqtt.{'password_file' if cfg.password_file else 'password'}: needs mqtt.username")
    password = read_password(cfg)
    if password is not None:
        try:
            if len(password.encode("utf-8")) > MAX_STRING:
                raise UsageError(f"mqtt.password: longer than MQTT's {MAX_STRING} bytes")
        except UnicodeEncodeError:
            raise UsageError("mqtt.password: not valid UTF-8") from None
    for key in ("tls_ca", "tls_cert", "tls_key"):
        value = getattr(cfg, key)
        if value and not Path(value).is_file():
            raise UsageError(f"mqtt.{key}: {value}: no such file")
    if cfg.tls_key and not cfg.tls_cert:
        raise UsageError("mqtt.tls_key: needs mqtt.tls_cert")


def default_prefix() -> str:
    return "fer-edge/" + re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname() or "host")


def _discovery(cfg: MqttConfig, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The Home Assistant discovery configs of the device at `prefix` with every label (their topics, for the
    length check, even when discovery is off)."""
    from ...labels import EMOTIONS

    node, name = device_node(prefix)
    return discovery_configs(prefix, node, name, package_version(), cfg.discovery_prefix, tuple(EMOTIONS), True)


def device_node(prefix: str) -> tuple[str, str]:
    """(node id, device name) of the Home Assistant device at `prefix`."""
    return node_id(prefix), f"fer-edge {prefix.rsplit('/', 1)[-1]}"
