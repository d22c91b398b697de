"""MQTT output against a real mosquitto broker started here on a free loopback port (Debian's `mosquitto`).

The CLI runs as a user runs it (a subprocess); a paho subscriber in the test records every message. Faults are
real: the broker is stopped and started again under a running service, and a broker that wants a password gets a
wrong one.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, Service, _missing, assert_one_line_error, face_record, free_port, run_cli

from fer_edge.records import FaceRecord
from fer_edge.tracking.lifecycle import FACE_KEYS, FaceLifecycle, scene_state

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CLIP = "data/scenes/fr_short_hamilton_clip.mp4"
# Home Assistant's documented keys of an MQTT sensor and of its `device` (home-assistant.io/integrations/sensor.mqtt)
HA_SENSOR_KEYS = {"availability", "availability_mode", "availability_template", "availability_topic", "device",
                  "device_class", "default_entity_id", "enabled_by_default", "encoding", "entity_category",
                  "entity_picture", "expire_after", "force_update", "icon", "json_attributes_template",
                  "json_attributes_topic", "last_reset_value_template", "name", "object_id", "options", "origin",
                  "payload_available", "payload_not_available", "platform", "qos", "state_class", "state_topic",
                  "suggested_display_precision", "unique_id", "unit_of_measurement", "value_template"}
HA_DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
                  "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"}
HA_STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# ... of an MQTT binary sensor (home-assistant.io/integrations/binary_sensor.mqtt) and an MQTT switch
# (home-assistant.io/integrations/switch.mqtt), and of the `origin` block every discovery payload may carry
HA_COMMON_KEYS = {"availability", "availability_mode", "availability_template", "availability_topic", "device",
                  "default_entity_id", "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon",
                  "json_attributes_template", "json_attributes_topic", "name", "object_id", "origin",
                  "payload_available", "payload_not_available", "platform", "qos", "unique_id"}
HA_BINARY_SENSOR_KEYS = HA_COMMON_KEYS | {"device_class", "expire_after", "force_update", "off_delay", "payload_off",
                                          "payload_on", "state_topic", "value_template"}
HA_SWITCH_KEYS = HA_COMMON_KEYS | {"command_template", "command_topic", "device_class", "optimistic", "payload_off",
                                   "payload_on", "retain", "state_off", "state_on", "state_topic", "value_template"}
HA_KEYS = {"sensor": HA_SENSOR_KEYS, "binary_sensor": HA_BINARY_SENSOR_KEYS, "switch": HA_SWITCH_KEYS}
HA_ORIGIN_KEYS = {"name", "sw_version", "support_url"}


class Broker:
    """mosquitto on 127.0.0.1:port; `users` ({name: password}) turns anonymous logins off."""

    def __init__(self, tmp_path: Path, users: dict[str, str] | None = None, tls: Path | None = None):
        if not Path(MOSQUITTO).is_file():
            _missing("mosquitto not installed (apt-get install mosquitto mosquitto-clients)")
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {'false' if users else 'true'}",
                 "persistence false", f"user {getpass.getuser()}"]  # as root it would drop to `mosquitto`
        if tls is not None:  # a second listener, TLS with the certificates in `tls` (see _certificates)
            self.tls_port = free_port()
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {tls / 'ca.crt'}",
                      f"certfile {tls / 'server.crt'}", f"keyfile {tls / 'server.key'}"]
        if users:
            pw = tmp_path / "mosquitto.passwd"
            for i, (name, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pw), name, password],
                               check=True, capture_output=True, timeout=30)
            lines.append(f"password_file {pw}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = tmp_path / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    b.stop()


class Subscriber:
    """A paho client on `topic` that keeps (topic, payload, retain, arrival time) of every message."""

    def __init__(self, port: int, topic: str = "#", username: str | None = None, password: str | None = None):
        from paho.mqtt import client as paho

        self.messages: list[tuple[str, bytes, bool, float]] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{os.getpid()}-{id(self)}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain),
                                                                        time.monotonic()))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"

    def on(self, suffix: str, since: float = 0.0) -> list[bytes]:
        return [p for t, p, _, at in self.messages if t.endswith(suffix) and at >= since]

    def wait_for(self, check, timeout: float = 30.0, what: str = ""):
        deadline = time.monotonic() + timeout
        while not (result := check()):
            assert time.monotonic() < deadline, f"no {what} in {timeout} s; got {[m[0] for m in self.messages[-10:]]}"
            time.sleep(0.05)
        return result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _events(sub: Subscriber, prefix: str) -> list[dict]:
    return [json.loads(p) for p in sub.on(f"{prefix}/events")]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- pure: the lifecycle and the scene state, no broker


def _rec(face_id: int, t: float, frame: int, label: str, score: float = 0.8) -> FaceRecord:
    return face_record(face_id, label, score=score, time=t, frame=frame)


def test_lifecycle_new_update_end_and_time_shares():
    life = FaceLifecycle(update_every_s=10.0)
    out = life.on_frame([_rec(1, 0.0, 0, "happy")])
    assert [e["type"] for e in out] == ["new"] and out[0]["before"] == out[0]["after"]
    assert life.on_frame([_rec(1, 1.0, 1, "happy")]) == []  # same label, not yet due: no message
    out = life.on_frame([_rec(1, 3.0, 2, "sad")])
    assert [e["type"] for e in out] == ["update"]
    assert out[0]["before"]["label"] == "happy" and out[0]["after"]["label"] == "sad"
    assert life.on_frame([_rec(1, 4.0, 3, "sad")]) == []
    assert life.on_frame([]) == []  # missing from a frame is not an end: the tracker still holds it
    out = life.on_frame([], [1])  # the tracker dropped it
    assert [e["type"] for e in out] == ["end"]
    after = out[0]["after"]
    assert set(after) == set(FACE_KEYS)
    assert after["duration"] == 4.0 and after["end_time"] == 4.0 and after["frames"] == 4
    assert after["label_shares"] == {"happy": 0.75, "sad": 0.25}  # happy held 0..3 s, sad 3..4 s
    periodic = FaceLifecycle(update_every_s=2.0)
    kinds = [e["type"] for t in range(6) for e in periodic.on_frame([_rec(7, float(t), t, "happy")])]
    assert kinds == ["new", "update", "update"]  # at t=2 and t=4: at most every 2 s without a change
    assert [e["type"] for e in periodic.close()] == ["end"]


def test_scene_state_dominant_expression():
    assert scene_state([], 1.0) == {"time": 1.0, "faces": 0, "dominant": "none", "labels": {}}
    two = [_rec(1, 0, 0, "sad", 0.5), _rec(2, 0, 0, "happy", 0.9), _rec(3, 0, 0, "uncertain", 0.3)]
    assert scene_state(two, 0)["dominant"] == "happy"  # a tie on count: the higher score
    assert scene_state(two + [_rec(4, 0, 0, "sad", 0.5)], 0)["dominant"] == "sad"
    assert scene_state([_rec(1, 0, 0, "uncertain", 0.3)], 0)["dominant"] == "uncertain"


# -- config: one line naming the key, exit 2, secrets never echoed


def test_mqtt_config_errors(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[mqtt]\nhost = "127.0.0.1"\nhots = "x"\n')
    assert_one_line_error(run_cli("service", "--config", str(cfg), "--check-config"), "mqtt.hots: unknown key", code=2)
    assert_one_line_error(run_cli("service", "--check-config", "--mqtt-host", "h", "--mqtt-qos", "3"),
                          "mqtt.qos (--mqtt-qos)", "out of range", code=2)
    assert_one_line_error(run_cli("run", "--source", "demo", "--mqtt-host", "h", "--mqtt-topic-prefix", "a/#"),
                          "mqtt.topic_prefix", code=2)
    missing = tmp_path / "nope"
    assert_one_line_error(run_cli("run", "--source", "demo", "--mqtt-host", "h", "--mqtt-username", "u",
                                  "--mqtt-password-file", str(missing)), "mqtt.password_file", "no such file", code=2)
    assert_one_line_error(run_cli("service", "--check-config", "--mqtt-host", "h", "--mqtt-password", "s3cr3t-pw"),
                          "mqtt.password", "needs mqtt.username", code=2)
    cfg.write_text('[mqtt]\nhost = "h"\nusername = "u"\npassword = 12345678\n')
    proc = run_cli("service", "--config", str(cfg), "--check-config")
    assert_one_line_error(proc, "mqtt.password: want a string", code=2)
    assert "12345678" not in proc.stderr
    ok = run_cli("service", "--check-config", "--mqtt-host", "h", "--mqtt-username", "u", "--mqtt-password", "s3cr3t-pw")
    assert ok.returncode == 0 and "s3cr3t-pw" not in ok.stdout + ok.stderr


def test_broker_away_at_start_does_not_stop_the_run():
    # timeout: a run that waited for the broker would not end (run_cli raises TimeoutExpired)
    proc = run_cli("run", "--source", "demo", "--frames", "3", "--mqtt-host", "127.0.0.1", "--mqtt-port",
                   str(free_port()), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cannot reach 127.0.0.1" in proc.stderr and "Traceback" not in proc.stderr
    assert len([r for r in map(json.loads, proc.stdout.splitlines()) if r["type"] == "face"]) == 3


# -- the Hamilton clip: lifecycle events that match the JSONL events of the same run


@pytest.mark.shared
def test_run_publishes_lifecycle_matching_the_events(shared, broker, tmp_path):
    sub = Subscriber(broker.port)
    events = tmp_path / "events.jsonl"
    prefix = "test/cam"
    proc = run_cli("run", "--source", str(shared / CLIP), "--events", str(events), "--stats-every", "1",
                   "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.port), "--mqtt-topic-prefix", prefix,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    sub.wait_for(lambda: sub.on(f"{prefix}/availability")[-1:] == [b"offline"], what="offline at the end")
    sub.close()
    records = _jsonl(events)
    faces = [r for r in records if r["type"] == "face"]
    by_id: dict[int, list[dict]] = {}
    for r in faces:
        by_id.setdefault(r["face_id"], []).append(r)
    published = _events(sub, prefix)
    assert len(published) < len(faces) / 2, "one message per face per frame is a flood"
    assert len(by_id) >= 5
    for face_id, recs in by_id.items():
        mine = [e for e in published if e["after"]["face_id"] == face_id]
        kinds = [e["type"] for e in mine]
        assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("new") == kinds.count("end") == 1, kinds
        at_frame = {r["frame"]: r for r in recs}
        for e in mine:
            assert set(e) == {"type", "before", "after"} and set(e["after"]) == set(FACE_KEYS)
            r = at_frame[e["after"]["frame"]]  # every message describes a frame of the JSONL events
            assert (e["after"]["label"], e["after"]["score"], e["after"]["box"]) == (
                r["smoothed_label"], r["smoothed_score"], r["box"])
            if e["type"] == "update":
                assert e["before"]["label"] != e["after"]["label"] or (
                    e["after"]["frame_time"] - e["before"]["frame_time"] >= 5.0 - 1e-6)
        end = mine[-1]["after"]
        assert end["frames"] == len(recs) and end["start_time"] == recs[0]["time"] and end["end_time"] == recs[-1]["time"]
        assert abs(end["duration"] - (recs[-1]["time"] - recs[0]["time"])) < 2e-3
        held: dict[str, float] = {}
        for a, b in zip(recs, recs[1:]):
            held[a["smoothed_label"]] = held.get(a["smoothed_label"], 0.0) + b["time"] - a["time"]
        total = recs[-1]["time"] - recs[0]["time"]
        want = {k: round(v / total, 3) for k, v in held.items() if v > 0} if total > 0 else {recs[0]["smoothed_label"]: 1.0}
        assert end["label_shares"] == pytest.approx(want, abs=2e-3)
    assert {e["after"]["face_id"] for e in published} == set(by_id)
    states = [json.loads(p) for p in sub.on(f"{prefix}/state")]
    assert states and states[-1]["faces"] == 0 and {s["faces"] for s in states} - {0}
    stats = [json.loads(p) for p in sub.on(f"{prefix}/stats")]
    final = [r for r in records if r["type"] == "stats"][-1]
    assert stats and stats[-1]["frames"] == final["frames"] == 275 and stats[-1]["faces"] == final["faces"]
    assert stats[-1]["mqtt"]["dropped"] == 0
    assert sub.on(f"{prefix}/availability")[0] == b"online"
    retained = Subscriber(broker.port, f"{prefix}/#")  # a late subscriber gets the retained topics
    retained.wait_for(lambda: len({m[0] for m in retained.messages}) >= 2, what="retained messages")
    got = {t: (p, r) for t, p, r, _ in retained.messages}
    assert got[f"{prefix}/availability"] == (b"offline", True) and got[f"{prefix}/state"][1] is True
    retained.close()


# -- privacy: every output on (events, MQTT, discovery), no pixel leaves the process


def _walk(value, path="$"):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


@pytest.mark.shared
def test_privacy_no_pixels_over_mqtt(shared, broker, tmp_path):
    sub = Subscriber(broker.port)
    work = tmp_path / "work"
    for d in ("tmp", "home", "work"):
        (tmp_path / d).mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", str(shared / CLIP), "--events",
                           "events.jsonl", "--stats-every", "0.5", "--mqtt-host", "127.0.0.1", "--mqtt-port",
                           str(broker.port), "--mqtt-discovery", "true", "--mqtt-update-every-s", "0.2"],
                          capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    sub.wait_for(lambda: any(p == b"offline" for p in sub.on("/availability")), what="offline")
    sub.close()
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()
                     and not p.name.startswith("mosquitto"))
    assert written == ["work/events.jsonl"], written
    assert proc.stdout == ""
    assert len(sub.messages) > 20
    for topic, payload, _, _ in sub.messages:
        assert len(payload) < 4096, (topic, len(payload))
        for magic in (b"\xff\xd8\xff", b"\x89PNG", b"/9j/", b"iVBORw0KGgo", b"data:image", b"base64"):
            assert magic not in payload, (topic, magic)
        text = payload.decode("utf-8")  # never binary
        if text in ("online", "offline", "ON", "OFF"):  # availability, the detection switch's state
            continue
        for path, value in _walk(json.loads(text)):
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):  # names: the enum's options
                assert len(value) <= 4, (topic, path, len(value))  # a box at most; never a pixel array
            if isinstance(value, str):
                assert len(value) < 200, (topic, path)
        if topic.endswith("/events"):
            event = json.loads(text)
            assert set(event["after"]) == set(FACE_KEYS) and set(event["before"]) == set(FACE_KEYS)


# -- the broker goes away under a running service and comes back


def _metrics(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        body = resp.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples if not s.labels}


@pytest.mark.shared
def test_broker_lost_and_back_under_the_service(shared, broker, tmp_path):
    sub = Subscriber(broker.port)
    prefix = "test/svc"
    svc = Service(tmp_path, "--source", str(shared / CLIP), "--source-fps", "20", "--events", "",
                  "--outputs-stats-every-s", "1", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.port),
                  "--mqtt-topic-prefix", prefix, "--mqtt-update-every-s", "0.2", "--mqtt-queue-size", "3")
    try:
        url = svc.url
        sub.wait_for(lambda: sub.on(f"{prefix}/stats"), timeout=60, what="stats")
        before = _metrics(url)
        assert before["fer_edge_mqtt_connected"] == 1
        broker.stop()
        # the loop goes on without a broker: 60 more frames (3 s of the 20 fps source), while the messages that do not
        # fit the queue of 3 are dropped; a loop that waited on MQTT would stop counting (a count, not a speed: the
        # wait is only how long this machine may take)
        during = sub.wait_for(lambda: (m := _metrics(url))["fer_edge_frames_total"] >= before["fer_edge_frames_total"]
                              + 60 and m["fer_edge_mqtt_messages_dropped_total"] > 0 and m, timeout=60,
                              what="60 frames and dropped messages without a broker")
        assert during["fer_edge_mqtt_connected"] == 0
        assert during["fer_edge_healthy"] == 1
        back = time.monotonic()
        broker.start()
        sub.wait_for(lambda: b"online" in sub.on(f"{prefix}/availability", since=back), timeout=60,
                     what="availability online again")
        sub.wait_for(lambda: sub.on(f"{prefix}/events", since=back), timeout=30, what="events again")
        after = _metrics(url)
        assert after["fer_edge_mqtt_connected"] == 1 and after["fer_edge_mqtt_reconnects_total"] >= 1
        assert after["fer_edge_mqtt_messages_dropped_total"] >= during["fer_edge_mqtt_messages_dropped_total"]
        assert svc.stop() == 0, svc.stderr()
    finally:
        svc.close()
        sub.close()
    text = svc.stderr()
    assert "lost the broker at 127.0.0.1" in text and "again after" in text and "Traceback" not in text, text
    # nothing twice beyond QoS 1: only messages paho had in flight (20 at most) may arrive again
    seen: dict[tuple, int] = {}
    for e in _events(sub, prefix):
        key = (e["type"], e["after"]["face_id"], e["after"]["frame"])
        seen[key] = seen.get(key, 0) + 1
    assert sum(n - 1 for n in seen.values()) <= 20


# -- never a picture: a message over 8 KB is refused (README, "MQTT and Home Assistant")


def test_a_message_over_8_kb_is_refused_and_the_rest_still_go(broker, tmp_path):
    """A model whose labels are 1.3 KB each makes the Expression sensor's discovery config (its options are the labels)
    9.8 KB: that one message is refused, said once and counted as dropped, while the other configs and the events go
    out; no payload on the broker is over 8,192 bytes. At the link: 8,192 bytes go, 8,193 do not."""
    from fer_edge.bundled import DEFAULT_MODEL
    from fer_edge.config import MqttConfig
    from fer_edge.outputs.mqtt.link import MAX_PAYLOAD_BYTES, MqttLink

    model = tmp_path / "long_labels.tflite"
    model.write_bytes(DEFAULT_MODEL.read_bytes())
    side = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    side["labels"] = [f"{label}_{'x' * 1300}" for label in side["labels"]]
    model.with_suffix(".json").write_text(json.dumps(side))
    sub = Subscriber(broker.port)
    proc = run_cli("run", "--source", "demo", "--frames", "3", "--events", "", "--model", str(model), "--mqtt-host",
                   "127.0.0.1", "--mqtt-port", str(broker.port), "--mqtt-topic-prefix", "big/cam", "--mqtt-discovery",
                   "true", timeout=120)
    assert proc.returncode == 0, proc.stderr
    sub.wait_for(lambda: b"offline" in sub.on("big/cam/availability"), what="the run's messages")
    refused = [line for line in proc.stderr.splitlines() if "refused a" in line]
    assert len(refused) == 1 and "/expression/config (limit 8192)" in refused[0], proc.stderr
    assert "1 dropped" in proc.stderr, proc.stderr
    topics = {t for t, _, _, _ in sub.messages}
    assert not [t for t in topics if t.endswith("/expression/config")] and [t for t in topics if t.endswith("/faces/config")]
    assert [json.loads(p)["type"] for p in sub.on("big/cam/events")] == ["new", "end"]
    assert max(len(p) for _, p, _, _ in sub.messages) <= MAX_PAYLOAD_BYTES == 8192
    sub.close()

    sub = Subscriber(broker.port, "edge/#")
    link = MqttLink(MqttConfig(host="127.0.0.1", port=broker.port), "edge", "size-test", None).start()
    try:
        link.publish("edge/a", "a" * 8192)
        link.publish("edge/b", "b" * 8193)
        link.publish("edge/c", "c")
        sub.wait_for(lambda: sub.on("edge/c"), what="the message after the refused one")
    finally:
        link.close()
        sub.close()
    assert [(t, len(p)) for t, p, _, _ in sub.messages if t != "edge/availability"] == [("edge/a", 8192), ("edge/c", 1)]
    assert link.dropped == 1


# -- logins


def test_login_with_password_file_and_a_wrong_password(tmp_path):
    broker = Broker(tmp_path, users={"fer": "right-pw-1", "ha": "ha-pw"})
    try:
        sub = Subscriber(broker.port, username="ha", password="ha-pw")
        good, bad = tmp_path / "good.pw", tmp_path / "bad.pw"
        good.write_text("right-pw-1\n")
        bad.write_text("wrong-pw-2\n")
        base = ("run", "--source", "demo", "--frames", "3", "--events", str(tmp_path / "ev.jsonl"), "--mqtt-host",
                "127.0.0.1", "--mqtt-port", str(broker.port), "--mqtt-topic-prefix", "auth/cam")
        proc = run_cli(*base, "--mqtt-username", "fer", "--mqtt-password-file", str(good), timeout=120)
        assert proc.returncode == 0, proc.stderr
        sub.wait_for(lambda: b"offline" in sub.on("auth/cam/availability"), what="the run's messages")
        assert [json.loads(p)["type"] for p in sub.on("auth/cam/events")] == ["new", "end"]
        assert "right-pw-1" not in proc.stderr + proc.stdout
        proc = run_cli(*base, "--mqtt-username", "fer", "--mqtt-password-file", str(bad), timeout=120)
        assert_one_line_error(proc, "mqtt.password", "refused user 'fer'", code=2)
        assert "wrong-pw-2" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
        assert_one_line_error(run_cli(*base, timeout=120), "mqtt.username", "refused an anonymous login", code=2)
        sub.close()
    finally:
        broker.stop()


# -- Home Assistant discovery


def _render(template: str, value: dict):
    """A discovery template as Home Assistant renders it: Jinja2 with `value_json` (HA adds filters such as tojson)."""
    import jinja2

    return jinja2.Environment(undefined=jinja2.ChainableUndefined).from_string(template).render(value_json=value)


def _retained(port: int, topic: str = "#") -> dict[str, bytes]:
    """What a client that subscribes now gets as retained (a Home Assistant starting later)."""
    late = Subscriber(port, topic)
    time.sleep(1.0)  # retained messages come right after SUBACK
    late.close()
    return {t: p for t, p, retain, _ in late.messages if retain}


def test_home_assistant_device_switch_and_birth(broker, tmp_path):
    """The device as Home Assistant's MQTT schema documents it, on a real broker: the Expression enum with every
    state it takes among its options and the counts as attributes, Face present, the opt-in count sensors, origin;
    the Detection switch pauses and resumes detection and its state is echoed, retained; the birth message resends."""
    from paho.mqtt import client as paho

    sub = Subscriber(broker.port, "homeassistant/#")
    prefix = "test/ha"
    svc = Service(tmp_path, "--source", "demo", "--source-fps", "10", "--events", "", "--http-enabled", "false",
                  "--outputs-stats-every-s", "1", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.port),
                  "--mqtt-topic-prefix", prefix, "--mqtt-discovery", "true", "--mqtt-count-sensors", "true")
    states = Subscriber(broker.port, f"{prefix}/#")
    commander = paho.Client(paho.CallbackAPIVersion.VERSION2)
    commander.connect("127.0.0.1", broker.port)
    commander.loop_start()
    try:
        def configs():
            return [(t, p) for t, p, _, _ in sub.messages if t.endswith("/config")]

        first = sub.wait_for(lambda: len(configs()) >= 12 and configs(), timeout=90, what="discovery configs")
        states.wait_for(lambda: states.on(f"{prefix}/state") and states.on(f"{prefix}/stats"), timeout=60,
                        what="state and stats")
        values = {f"{prefix}/state": json.loads(states.on(f"{prefix}/state")[-1]),
                  f"{prefix}/stats": json.loads(states.on(f"{prefix}/stats")[-1])}
        by_id, ids = {}, set()
        for topic, payload in first:
            component, node, obj = re.fullmatch(r"homeassistant/(\w+)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config",
                                                topic).groups()
            cfg = json.loads(payload)
            assert set(cfg) <= HA_KEYS[component], (component, set(cfg) - HA_KEYS[component])
            assert set(cfg["device"]) <= HA_DEVICE_KEYS and cfg["device"]["identifiers"] == [node]
            assert set(cfg["origin"]) <= HA_ORIGIN_KEYS and cfg["origin"]["name"] == "fer-edge"
            assert cfg["availability_topic"] == f"{prefix}/availability" and cfg["unique_id"] not in ids
            ids.add(cfg["unique_id"])
            assert cfg.get("state_class", "measurement") in HA_STATE_CLASSES
            by_id[obj] = (component, cfg)
        assert {k: c for k, (c, _) in by_id.items() if not k.startswith("count_")} == {
            "faces": "sensor", "expression": "sensor", "fps": "sensor", "face_present": "binary_sensor",
            "detection": "switch"}
        labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
        assert sorted(k for k in by_id if k.startswith("count_")) == sorted(f"count_{x}" for x in labels)
        expression = by_id["expression"][1]
        # HA: an enum sensor takes only its options as states, and has no unit or state class
        assert expression["device_class"] == "enum" and set(expression["options"]) == {*labels, "uncertain", "none"}
        assert "unit_of_measurement" not in expression and "state_class" not in expression
        state = values[f"{prefix}/state"]
        assert state["faces"] == 1 and state["dominant"] == "happy"
        assert _render(expression["value_template"], state) in expression["options"]
        assert expression["json_attributes_topic"] == f"{prefix}/state"
        assert json.loads(_render(expression["json_attributes_template"], state)) == {"happy": 1}
        present = by_id["face_present"][1]
        assert _render(present["value_template"], state) == present["payload_on"] == "ON"
        assert _render(present["value_template"], {**state, "faces": 0}) == present["payload_off"]
        assert _render(by_id["count_happy"][1]["value_template"], state) == "1"
        assert _render(by_id["count_sad"][1]["value_template"], state) == "0"  # absent from labels: 0, not an error
        for component, cfg in by_id.values():  # each template finds its value in the payload it reads
            if component == "sensor":
                assert _render(cfg["value_template"], values[cfg["state_topic"]]) not in ("", "None"), cfg
        switch = by_id["detection"][1]
        assert (switch["command_topic"], switch["state_topic"]) == (f"{prefix}/detection/set", f"{prefix}/detection")
        assert _retained(broker.port, switch["state_topic"]) == {switch["state_topic"]: b"ON"}
        # pause: the state is echoed, retained, and the faces leave; resume: they come back
        commander.publish(switch["command_topic"], switch["payload_off"], qos=1).wait_for_publish(10)
        states.wait_for(lambda: b"OFF" in states.on(f"{prefix}/detection"), what="OFF echoed")
        states.wait_for(lambda: json.loads(states.on(f"{prefix}/state")[-1])["faces"] == 0, timeout=30,
                        what="no faces while paused")
        assert _retained(broker.port, switch["state_topic"]) == {switch["state_topic"]: b"OFF"}
        paused_at = time.monotonic()
        time.sleep(1.5)
        assert not [p for p in states.on(f"{prefix}/state", since=paused_at) if json.loads(p)["faces"]]
        commander.publish(switch["command_topic"], switch["payload_on"], qos=1).wait_for_publish(10)
        states.wait_for(lambda: json.loads(states.on(f"{prefix}/state")[-1])["faces"] == 1, timeout=30,
                        what="the face back after resuming")
        assert _retained(broker.port, switch["state_topic"]) == {switch["state_topic"]: b"ON"}
        assert "detection paused by MQTT" in svc.stderr() and "detection resumed by MQTT" in svc.stderr()
        late = _retained(broker.port, "homeassistant/#")  # a Home Assistant that starts later sees them
        assert len(late) == len(first)
        n = len(configs())
        commander.publish("homeassistant/status", "online", qos=1).wait_for_publish(10)
        sub.wait_for(lambda: len(configs()) >= n + len(first), timeout=30, what="configs sent again on the birth")
        assert svc.stop() == 0, svc.stderr()
    finally:
        svc.close()
        sub.close()
        states.close()
        commander.loop_stop()
        commander.disconnect()


def test_a_changed_prefix_clears_the_old_device_and_forget_clears_this_one(broker, tmp_path):
    """The state folder remembers the prefix announced last: a service started under another prefix removes the old
    device (empty retained configs), and `service --mqtt-forget` leaves nothing of this node on the broker."""
    state = tmp_path / "state"
    common = ("--source", "demo", "--events", "", "--http-enabled", "false", "--mqtt-host", "127.0.0.1",
              "--mqtt-port", str(broker.port), "--mqtt-discovery", "true")

    def serve(prefix: str) -> None:
        sub = Subscriber(broker.port, f"{prefix}/#")
        try:
            with Service(tmp_path, *common, "--mqtt-topic-prefix", prefix, state=state, abstract=True) as svc:
                sub.wait_for(lambda: sub.on(f"{prefix}/state"), timeout=90, what="state")
                assert svc.stop() == 0, svc.stderr()
        finally:
            sub.close()

    def nodes() -> set[str]:
        return {t.split("/")[2] for t, p in _retained(broker.port, "homeassistant/#").items() if p}

    serve("home/old")
    from fer_edge.outputs.mqtt import device_node

    assert nodes() == {device_node("home/old")[0]} and json.loads((state / "mqtt-node.json").read_text())["prefix"] == "home/old"
    serve("home/new")
    assert nodes() == {device_node("home/new")[0]}  # the old device's configs are gone: Home Assistant removes it
    assert not any(t.startswith("home/old/") and p for t, p in _retained(broker.port).items())
    env = {**os.environ, "STATE_DIRECTORY": str(state)}
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "service", *common, "--mqtt-topic-prefix", "home/new",
                           "--mqtt-forget"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not (state / "mqtt-node.json").exists()
    assert "cleared" in proc.stderr and "home/new" in proc.stderr
    assert {t: p for t, p in _retained(broker.port).items() if p} == {}  # no config, state or availability left
    assert_one_line_error(run_cli("service", "--mqtt-forget"), "--mqtt-forget needs the broker", code=2)


# -- TLS


def _certificates(folder: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it, plus a second CA that signed nothing."""
    folder.mkdir()

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    for ca in ("ca", "other-ca"):
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2",
             "-subj", f"/CN=fer-edge test {ca}")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
         "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return folder


def test_tls_with_the_broker_ca_and_a_wrong_ca(tmp_path):
    if not shutil.which("openssl"):
        _missing("openssl not installed")
    certs = _certificates(tmp_path / "certs")
    broker = Broker(tmp_path, tls=certs)
    try:
        sub = Subscriber(broker.port)  # the plain listener; fer-edge uses the TLS one
        base = ("run", "--source", "demo", "--frames", "3", "--events", str(tmp_path / "ev.jsonl"), "--mqtt-host",
                "127.0.0.1", "--mqtt-port", str(broker.tls_port), "--mqtt-topic-prefix", "tls/cam")
        proc = run_cli(*base, "--mqtt-tls-ca", str(certs / "ca.crt"), timeout=120)
        assert proc.returncode == 0, proc.stderr
        sub.wait_for(lambda: b"offline" in sub.on("tls/cam/availability"), what="the run's messages over TLS")
        assert [json.loads(p)["type"] for p in sub.on("tls/cam/events")] == ["new", "end"]
        sub.close()
        proc = run_cli(*base, "--mqtt-tls-ca", str(certs / "other-ca.crt"), timeout=120)
        assert_one_line_error(proc, "mqtt.tls_ca", f"TLS with 127.0.0.1:{broker.tls_port} failed", code=2)
    finally:
        broker.stop()
