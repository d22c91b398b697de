"""Home Assistant MQTT discovery: one device with three sensors (faces in view, dominant expression, fps).

Configs go to `<discovery_prefix>/sensor/<node_id>/<object_id>/config`, retained, and are sent again when Home
Assistant's birth message (`<discovery_prefix>/status` = `online`) arrives, so a restarted Home Assistant (or a
broker that lost its retained messages) finds the device again. Keys are the documented ones of an MQTT sensor.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

BIRTH_PAYLOAD = "online"


def node_id(prefix: str, machine: str | None = None) -> str:
    """This device's node id, the stem of its unique ids: the topic prefix made of what Home Assistant allows
    ([a-zA-Z0-9_-]), for reading, and a hash of this machine's id (/etc/machine-id) with the exact prefix, so that
    `site/cam1`, `site_cam1` and `site.cam1`, or two Pis both left named raspberrypi, never share an entity. The
    machine id itself is never sent."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id") if machine is None else ():
        try:
            machine = Path(path).read_text().strip() or None
        except OSError:
            continue
        if machine:
            break
    machine = machine or f"mac-{uuid.getnode():012x}"  # no machine id (a container): the network card's address
    digest = hashlib.sha256(f"{machine}\0{prefix}".encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', prefix) or 'fer-edge'}_{digest}"


def birth_topic(discovery_prefix: str) -> str:
    return f"{discovery_prefix}/status"


def discovery_configs(prefix: str, node: str, name: str, version: str,
                      discovery_prefix: str = "homeassistant") -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) for each sensor; `prefix` is this device's topic prefix (state, stats, availability)."""
    device = {"identifiers": [node], "name": name, "model": "fer-edge facial-expression recognition",
              "manufacturer": "fer-edge", "sw_version": version}
    common = {"availability_topic": f"{prefix}/availability", "payload_available": "online",
              "payload_not_available": "offline", "device": device, "qos": 1}
    sensors = [
        ("faces", {"name": "Faces", "state_topic": f"{prefix}/state", "value_template": "{{ value_json.faces }}",
                   "unit_of_measurement": "faces", "state_class": "measurement", "icon": "mdi:account-multiple"}),
        ("expression", {"name": "Expression", "state_topic": f"{prefix}/state",
                        "value_template": "{{ value_json.dominant }}", "icon": "mdi:emoticon-outline"}),
        ("fps", {"name": "FPS", "state_topic": f"{prefix}/stats", "value_template": "{{ value_json.fps_now }}",
                 "unit_of_measurement": "fps", "state_class": "measurement", "icon": "mdi:speedometer",
                 "entity_category": "diagnostic"}),
    ]
    return [(f"{discovery_prefix}/sensor/{node}/{obj}/config", {**cfg, "unique_id": f"{node}_{obj}", **common})
            for obj, cfg in sensors]
