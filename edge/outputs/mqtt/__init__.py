"""MQTT output: per-face lifecycle events, retained availability and state, stats, Home Assistant discovery.

The loop never waits on the network: the sink (sink.py) only appends to the link's bounded queue (link.py: the
oldest message is dropped, and counted, when it is full); a sender thread hands messages to paho only while
connected, and paho's own thread (`loop_start`) does the I/O and reconnects with backoff. An event is handed to
paho once: after a reconnect only paho's QoS 1 redelivery of unacknowledged messages repeats one, while the
retained topics (availability, state, discovery) are sent again on purpose, because a restarted broker may have
lost them. Payloads are JSON built from whitelisted fields (edge/tracking/lifecycle.py); never a pixel. paho-mqtt
is imported only when MQTT is turned on. The [mqtt] section and its checks are config/mqtt.py's; here, the names
of the device.
"""

from __future__ import annotations

from .hass import node_id


def device_node(prefix: str) -> tuple[str, str]:
    """(node id, device name) of the Home Assistant device at `prefix`."""
    return node_id(prefix), f"fer-edge {prefix.rsplit('/', 1)[-1]}"
