"""The MQTT output the loop feeds: face lifecycle events, the retained scene state, stats, the Detection switch."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ...bundled import package_version
from ...config import MqttConfig
from ...pipeline.sink import Closing
from ...records import FrameResult, LoopCounts
from ...tracking.lifecycle import NO_FACE, FaceLifecycle, scene_state
from ..events import stats_record
from . import device_node
from .hass import BIRTH_PAYLOAD, OFF, ON, birth_topic, detection_topics, discovery_configs, forget_topics
from .link import MqttLink, new_link
from .node import clear_retained, previous_node, remember_node

log = logging.getLogger(__name__)


class MqttSink(Closing):
    """The MQTT output: face lifecycle events (`end` for the ids a frame's result says ended), the retained scene
    state, stats on a timer, the Detection switch (`<prefix>/detection/set` ON or OFF pauses and resumes detection;
    the state is echoed, retained, on `<prefix>/detection`) and, with discovery, the Home Assistant device with the
    classifier's `labels` as the Expression sensor's options."""

    STATE_MIN_S = 1.0  # the faces count flickers with the detector; HA needs no more than this

    def __init__(self, link: MqttLink, cfg: MqttConfig, stats_every_s: float, labels: tuple[str, ...],
                 state_dir: Path | None = None, clock: Callable[[], float] = time.monotonic):
        self.link, self.cfg, self.labels, self._clock, self._state_dir = link, cfg, labels, clock, state_dir
        self._closed = False
        self._lifecycle = FaceLifecycle(cfg.update_every_s)
        self._stats_every = stats_every_s
        self._last_stats = clock()
        self._state_key: tuple[int, str] | None = None
        self._state_at = -math.inf
        self._last: FrameResult | None = None
        self.paused = threading.Event()  # set by an OFF on the command topic; the loop asks `detecting`
        command, self._detection_state = detection_topics(link.prefix)
        link.retain(self._detection_state, ON)
        link.subscribe(command, self._on_command)

    def detecting(self) -> bool:
        return not self.paused.is_set()

    def _on_command(self, payload: bytes) -> None:
        """ON or OFF from Home Assistant's switch (or anyone): pause or resume, and echo the state, retained."""
        text = payload.decode(errors="replace").strip().upper()
        if text not in (ON, OFF):
            log.warning("%s: ignored %r (want %s or %s)", detection_topics(self.link.prefix)[0], text[:20], ON, OFF)
            return
        if (text == OFF) != self.paused.is_set():
            (self.paused.set if text == OFF else self.paused.clear)()
            log.info("detection %s by MQTT", "paused" if text == OFF else "resumed")
        self.link.publish(self._detection_state, text, retain=True)

    def announce(self) -> None:
        """Discovery configs, retained and sent again on Home Assistant's birth; a node announced last under another
        prefix (remembered in the state folder) has its configs and retained topics cleared first."""
        link, cfg, labels = self.link, self.cfg, self.labels
        node, name = device_node(link.prefix)
        if self._state_dir is not None:
            before = previous_node(self._state_dir)
            if before is not None and (before["prefix"], before["discovery_prefix"]) != (link.prefix, cfg.discovery_prefix):
                old_node = device_node(before["prefix"])[0]
                n = clear_retained(link, forget_topics(before["prefix"], old_node, before["discovery_prefix"], labels))
                log.info("the topic prefix was %s: cleared that node's %d retained topics (Home Assistant removes "
                         "its device)", before["prefix"], n)
            remember_node(self._state_dir, link.prefix, cfg.discovery_prefix)
        configs = discovery_configs(link.prefix, node, name, package_version(), cfg.discovery_prefix, labels,
                                    cfg.count_sensors)
        for topic, config in configs:
            link.publish(topic, config, retain=True)
        topics = [t for t, _ in configs]

        def on_birth(payload: bytes) -> None:
            if payload.decode(errors="replace").strip() == BIRTH_PAYLOAD:
                link.resend(topics)

        link.subscribe(birth_topic(cfg.discovery_prefix), on_birth)

    def on_frame(self, result: FrameResult) -> None:
        link, prefix = self.link, self.link.prefix
        for event in self._lifecycle.on_frame(result.faces, result.ended):
            link.publish(f"{prefix}/events", event)
        now = self._clock()
        state = scene_state(result.faces, result.frame.timestamp)
        key = (state["faces"], state["dominant"])
        if key != self._state_key and now - self._state_at >= self.STATE_MIN_S:
            self._state_key, self._state_at = key, now
            link.publish(f"{prefix}/state", state, retain=True)
        self._last = result
        if now - self._last_stats >= self._stats_every:
            self._last_stats = now
            link.publish(f"{prefix}/stats", self.stats_payload(result.stats, result.dropped))

    def stats_payload(self, stats: LoopCounts, dropped: int) -> dict[str, Any]:
        record = stats_record(time.time(), stats, dropped)
        record["mqtt"] = {"sent": self.link.sent, "dropped": self.link.dropped, "reconnects": self.link.reconnects}
        return record

    def close(self) -> None:
        """`end` for the faces still tracked, an empty state, the last stats; then the link sends `offline`."""
        if self._closed:
            return
        self._closed = True
        prefix = self.link.prefix
        for event in self._lifecycle.close():
            self.link.publish(f"{prefix}/events", event)
        self.link.publish(f"{prefix}/state", {"time": round(time.time(), 3), "faces": 0, "dominant": NO_FACE,
                                              "labels": {}}, retain=True)
        if self._last is not None:
            self.link.publish(f"{prefix}/stats", self.stats_payload(self._last.stats, self._last.dropped))
        self.link.close()

    def collect(self) -> Iterator[Metric]:
        """Prometheus families for /metrics (a prometheus_client collector: the HTTP endpoint's registry takes it)."""
        yield GaugeMetricFamily("fer_edge_mqtt_connected", "1 while connected to the MQTT broker.",
                                value=int(self.link.connected))
        yield CounterMetricFamily("fer_edge_mqtt_messages_sent_total", "MQTT messages the broker acknowledged.",
                                  value=self.link.sent)
        yield CounterMetricFamily("fer_edge_mqtt_messages_dropped_total",
                                  "MQTT messages dropped (queue full while the broker was away, or refused).",
                                  value=self.link.dropped)
        yield GaugeMetricFamily("fer_edge_mqtt_queue_length", "MQTT messages waiting for the broker.", value=self.link.queued)
        yield CounterMetricFamily("fer_edge_mqtt_reconnects_total", "Reconnections to the MQTT broker after a loss.",
                                  value=self.link.reconnects)




def open_mqtt(cfg: MqttConfig, stats_every_s: float, labels: tuple[str, ...], state_dir: Path | None = None
              ) -> MqttSink:
    """The MQTT output of a validated [mqtt] section, connected (or retrying), the device announced when discovery
    is on. `state_dir` (the service's): where the announced node is remembered, so a changed prefix clears the old
    one. A login the broker refuses is a UsageError naming the key."""
    link = new_link(cfg)
    sink = MqttSink(link, cfg, stats_every_s, labels, state_dir)
    link.start()
    if cfg.discovery:
        sink.announce()
    return sink
