"""What outlives a run: the node announced last (so a changed prefix clears the old device), and `--mqtt-forget`."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ...config import MqttConfig
from . import device_node
from .hass import forget_topics
from .link import MqttLink, new_link

log = logging.getLogger(__name__)


def state_folder() -> Path:
    """Where the service keeps what outlives a run: systemd's StateDirectory ($STATE_DIRECTORY), else
    $XDG_STATE_HOME/fer-edge or ~/.local/state/fer-edge."""
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "fer-edge"


NODE_FILE = "mqtt-node.json"  # in the state folder: the topic prefix and discovery prefix announced last


def previous_node(folder: Path) -> dict[str, str] | None:
    try:
        data = json.loads((folder / NODE_FILE).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and all(isinstance(data.get(k), str) and data[k] for k in ("prefix", "discovery_prefix"))
    return data if ok else None


def remember_node(folder: Path, prefix: str, discovery_prefix: str) -> None:
    from ...files import atomic_write_text

    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / NODE_FILE, json.dumps({"prefix": prefix, "discovery_prefix": discovery_prefix}) + "\n")
    except OSError as exc:
        log.warning("cannot remember the MQTT node in %s (%s): a later prefix change will not clear this one's "
                    "Home Assistant configs", folder, exc.strerror or exc)


def clear_retained(link: MqttLink, topics: Iterable[str]) -> int:
    """An empty retained message on each topic: the broker forgets it, Home Assistant removes an entity whose config
    it was."""
    n = 0
    for topic in topics:
        link.unretain(topic)
        link.publish(topic, "", retain=True)
        n += 1
    return n


def forget(cfg: MqttConfig, labels: tuple[str, ...], state_dir: Path | None = None, wait_s: float = 5.0) -> int:
    """`fer-edge service --mqtt-forget`: clear this node's retained discovery configs and topics (and those of the
    node remembered in `state_dir`, when another), so Home Assistant removes the device. Returns how many."""
    from ...errors import FerEdgeError

    link = new_link(cfg)
    link.unretain(link.availability)  # no `online` on connect: availability is one of the topics cleared
    link.start(wait_s)
    if not link.connected:
        link.close(timeout=0.5, quiet=True)
        raise FerEdgeError(f"mqtt.host: cannot reach the broker at {link.where}; nothing was cleared")
    prefixes = [(link.prefix, cfg.discovery_prefix)]
    before = previous_node(state_dir) if state_dir is not None else None
    if before is not None and (before["prefix"], before["discovery_prefix"]) not in prefixes:
        prefixes.append((before["prefix"], before["discovery_prefix"]))
    n = sum(clear_retained(link, forget_topics(prefix, device_node(prefix)[0], discovery, labels))
            for prefix, discovery in prefixes)
    link.close(timeout=wait_s, farewell=False)
    if state_dir is not None and (state_dir / NODE_FILE).is_file():
        (state_dir / NODE_FILE).unlink()
    log.info("cleared %d retained topics of %s on %s: Home Assistant removes the device",
             n, " and ".join(p for p, _ in prefixes), link.where)
    return n
