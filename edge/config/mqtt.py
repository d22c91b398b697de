"""The [mqtt] section and its checks: what a broker would refuse (topics, strings, the login) is refused at start.

MQTT strings (topics, client id, user name, password) are UTF-8 of at most 65,535 bytes, without control
characters; a topic prefix holds no wildcard. The output (`fer_edge.outputs.mqtt`) reads the password with the same
function, so a file the check read is the file the client uses.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..labels import EMOTIONS
from .keys import key

MAX_STRING = 65535  # bytes of an MQTT string as UTF-8 (a two-byte length): topics, client id, user name
TOPICS = ("availability", "events", "state", "stats")  # under the prefix
# Home Assistant discovery topics are <discovery_prefix>/<component>/<node id>/<object id>/config; the longest
# component is binary_sensor, the node id is the prefix made safe plus 13 characters (edge/outputs/mqtt/hass.py),
# and the longest object id a count sensor's (count_<label>) or face_present.
_LONGEST_COMPONENT = "binary_sensor"
_NODE_HASH = 13
_LONGEST_OBJECT = max(["face_present", *(f"count_{label}" for label in EMOTIONS)], key=len)


def shown(value: str) -> str:
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
        raise UsageError(f"{path}: {shown(value)} is not valid UTF-8, which MQTT requires") from None
    bad = next((c for c in value if _forbidden(c)), None)
    if bad is not None:
        raise UsageError(f"{path}: {shown(value)} holds U+{ord(bad):04X}, a control character the broker refuses "
                         "(it would drop every CONNECT)")
    if size > MAX_STRING:
        raise UsageError(f"{path}: {size} bytes as UTF-8{' with ' + repr(longest) if longest else ''}; MQTT allows "
                         f"{MAX_STRING}")


def topic_ok(path: str, topic: str, longest: str = "") -> None:
    if re.search(r"[+#\x00]", topic) or topic.startswith(("/", "$")) or topic.endswith("/") or not topic.strip():
        raise UsageError(f"{path}: {shown(topic)} is not a topic prefix (no + or #, no leading $ or /, "
                         "no trailing /)")
    mqtt_string(path, topic, longest)


def default_prefix() -> str:
    return "fer-edge/" + re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname() or "host")


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


def discovery_rest(prefix: str) -> str:
    """The longest a discovery topic runs on after its discovery prefix, for the device at topic `prefix`."""
    node = (re.sub(r"[^A-Za-z0-9_-]", "_", prefix) or "fer-edge") + "_" + "0" * (_NODE_HASH - 1)
    return f"/{_LONGEST_COMPONENT}/{node}/{_LONGEST_OBJECT}/config"


def check_mqtt(cfg: MqttConfig) -> None:
    """The [mqtt] checks that span keys or read files (run when a host is set)."""
    prefix = cfg.topic_prefix or default_prefix()
    topic_ok("mqtt.topic_prefix", prefix, "/" + max(TOPICS, key=len))
    topic_ok("mqtt.discovery_prefix", cfg.discovery_prefix, discovery_rest(prefix))
    for name in ("client_id", "username"):
        mqtt_string(f"mqtt.{name}", getattr(cfg, name))
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
    for name in ("tls_ca", "tls_cert", "tls_key"):
        value = getattr(cfg, name)
        if value and not Path(value).is_file():
            raise UsageError(f"mqtt.{name}: {value}: no such file")
    if cfg.tls_key and not cfg.tls_cert:
        raise UsageError("mqtt.tls_key: needs mqtt.tls_cert")


@dataclass(frozen=True)
class MqttConfig:
    host: str = key("", "MQTT broker host name or address (\"\": MQTT off; setting one turns it on)")
    port: int = key(1883, "broker TCP port (8883 is the usual one for TLS)", lo=1, hi=65535)
    topic_prefix: str = key("", "topics start with this (\"\": fer-edge/<hostname>)")
    client_id: str = key("", "MQTT client id (\"\": fer-edge-<hostname>-<pid>)")
    username: str = key("", "user name for the broker (\"\": anonymous)")
    password: str = key("", "password for the broker; prefer password_file (never logged)")
    password_file: str = key("", "file whose first line is the password (readable only by the service user)")
    qos: int = key(1, "QoS of every message: 0, 1 or 2", lo=0, hi=2)
    keepalive: int = key(60, "seconds between keepalive pings; the broker sends the last will after 1.5x this",
                          lo=5, hi=65535)
    tls: bool = key(False, "connect with TLS (turned on by tls_ca; without it, the system's CA certificates)")
    tls_ca: str = key("", "CA certificate file (PEM) that signed the broker's certificate")
    tls_cert: str = key("", "client certificate file (PEM), for brokers that ask for one")
    tls_key: str = key("", "client certificate's private key (PEM)")
    update_every_s: float = key(5.0, "a tracked face's update is sent when its label changes, else at most this "
                                      "often (0: only on changes)", lo=0)
    queue_size: int = key(1000, "messages held while the broker is away; beyond, the oldest are dropped and counted",
                           lo=1, hi=1_000_000)
    discovery: bool = key(False, "publish Home Assistant MQTT discovery configs (a device: faces, expression, fps, "
                                  "face present, a detection switch)")
    count_sensors: bool = key(False, "with discovery: also one sensor per expression, counting the faces that show it")
    discovery_prefix: str = key("homeassistant", "Home Assistant's discovery prefix")

    def check(self) -> None:
        if self.host:
            check_mqtt(self)
