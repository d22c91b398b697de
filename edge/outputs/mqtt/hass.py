"""Home Assistant MQTT discovery: one device with its entities, and the topics that remove it again.

Entities: Faces (a count), Expression (an enum sensor whose options are every state it can take, with the
per-expression counts as attributes), FPS (diagnostic), Face present (a binary sensor), Detection (a switch: its
command topic pauses and resumes detection, its state is echoed retained), and, when asked, one count sensor per
expression. Configs go to `<discovery_prefix>/<component>/<node_id>/<object_id>/config`, retained, and are sent
again when Home Assistant's birth message (`<discovery_prefix>/status` = `online`) arrives. Keys are the documented
ones of each MQTT platform (sensor, binary_sensor, switch); `origin` names fer-edge as the software that sent them.
An empty retained payload on a config topic removes that entity, which is how a node is forgotten.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

from ...tracking import UNCERTAIN
from ...tracking.lifecycle import NO_FACE

BIRTH_PAYLOAD = "online"
ON, OFF = "ON", "OFF"  # the switch's and the binary sensor's payloads (Home Assistant's defaults)


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


def unique_id(node: str, obj: str) -> str:
    """Every entity's unique id: the one place it is made (Home Assistant keys its entity registry on it)."""
    return f"{node}_{obj}"


def birth_topic(discovery_prefix: str) -> str:
    return f"{discovery_prefix}/status"


def detection_topics(prefix: str) -> tuple[str, str]:
    """(command topic, state topic) of the Detection switch: `<prefix>/detection/set` takes ON or OFF."""
    return f"{prefix}/detection/set", f"{prefix}/detection"


def retained_topics(prefix: str) -> list[str]:
    """The device's own topics that the broker keeps: what forgetting the node must clear besides its configs."""
    return [f"{prefix}/availability", f"{prefix}/state", detection_topics(prefix)[1]]


def _count_id(label: str) -> str:
    return "count_" + (re.sub(r"[^A-Za-z0-9_-]", "_", label) or "_")


def entities(prefix: str, labels: tuple[str, ...], counts: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, object id, entity-specific keys) of each entity, for a device whose topics start with `prefix`."""
    state, stats = f"{prefix}/state", f"{prefix}/stats"
    command, detection = detection_topics(prefix)
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", "faces", {"name": "Faces", "state_topic": state, "value_template": "{{ value_json.faces }}",
                             "unit_of_measurement": "faces", "state_class": "measurement",
                             "icon": "mdi:account-multiple"}),
        # enum: Home Assistant shows and automates on these states only; the counts per expression are attributes
        ("sensor", "expression", {"name": "Expression", "state_topic": state, "device_class": "enum",
                                  "options": [*labels, UNCERTAIN, NO_FACE], "value_template": "{{ value_json.dominant }}",
                                  "json_attributes_topic": state, "json_attributes_template": "{{ value_json.labels | tojson }}",
                                  "icon": "mdi:emoticon-outline"}),
        ("sensor", "fps", {"name": "FPS", "state_topic": stats, "value_template": "{{ value_json.fps_now }}",
                           "unit_of_measurement": "fps", "state_class": "measurement", "icon": "mdi:speedometer",
                           "entity_category": "diagnostic"}),
        ("binary_sensor", "face_present", {"name": "Face present", "state_topic": state, "device_class": "occupancy",
                                           "value_template": f"{{{{ '{ON}' if value_json.faces > 0 else '{OFF}' }}}}",
                                           "payload_on": ON, "payload_off": OFF}),
        ("switch", "detection", {"name": "Detection", "command_topic": command, "state_topic": detection,
                                 "payload_on": ON, "payload_off": OFF, "icon": "mdi:face-recognition",
                                 "entity_category": "config"}),
    ]
    if counts:
        out += [("sensor", _count_id(label), {"name": f"{label.capitalize()} faces", "state_topic": state,
                                              "value_template": f"{{{{ value_json.labels['{label}'] | default(0) }}}}",
                                              "unit_of_measurement": "faces", "state_class": "measurement",
                                              "icon": "mdi:emoticon-outline"})
                for label in labels]
    return out


def config_topic(discovery_prefix: str, component: str, node: str, obj: str) -> str:
    return f"{discovery_prefix}/{component}/{node}/{obj}/config"


def discovery_configs(prefix: str, node: str, name: str, version: str, discovery_prefix: str = "homeassistant",
                      labels: tuple[str, ...] = (), counts: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) for each entity; `prefix` is this device's topic prefix (state, stats, availability)."""
    device = {"identifiers": [node], "name": name, "model": "fer-edge facial-expression recognition",
              "manufacturer": "fer-edge", "sw_version": version}
    common = {"availability_topic": f"{prefix}/availability", "payload_available": "online",
              "payload_not_available": "offline", "device": device, "qos": 1,
              "origin": {"name": "fer-edge", "sw_version": version}}
    return [(config_topic(discovery_prefix, component, node, obj), {**cfg, "unique_id": unique_id(node, obj), **common})
            for component, obj, cfg in entities(prefix, labels, counts)]


def forget_topics(prefix: str, node: str, discovery_prefix: str, labels: tuple[str, ...]) -> list[str]:
    """Every retained topic a device at `prefix` may have left: each entity's config (count sensors included, on or
    off) and its availability, state and detection state. An empty retained payload on each clears them."""
    configs = [config_topic(discovery_prefix, c, node, o) for c, o, _ in entities(prefix, labels, counts=True)]
    return configs + retained_topics(prefix)
