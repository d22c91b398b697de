"""The connection to the broker: a paho client with a bounded send queue and counters; `publish` never blocks."""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ...config import MqttConfig
from ...config.mqtt import default_prefix, read_password
from ...errors import UsageError

if TYPE_CHECKING:  # paho is imported only when MQTT is turned on
    from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage, MQTTMessageInfo
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode


log = logging.getLogger(__name__)
MAX_PAYLOAD_BYTES = 8192  # a face event is ~500 bytes; anything near a picture's size is refused
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30  # paho doubles the wait after each failed attempt
PAHO_QUEUE = 64  # messages paho may hold unacknowledged; beyond, ours waits in our own bounded queue
INFLIGHT = 20  # of those, sent and awaiting PUBACK (paho's default); the rest wait inside paho
CONNECT_S = 3.0  # the TCP (and TLS) connect to the broker
CONNACK_S = 3.0  # from CONNECT to CONNACK: a broker that takes the connection and never answers is left after this
CLOSE_S = 1.0  # at a stop, the longest wait for the broker to acknowledge the last messages
STUCK_S = 0.3  # a full window with no PUBACK for this long: the broker is not acknowledging (frozen, or hung)
# CONNACK reasons that retrying will not fix, and the key to blame: bad client id, bad login, banned
REFUSED_KEYS = {133: "mqtt.client_id", 134: "mqtt.password", 135: "mqtt.password", 138: "mqtt.username",
                140: "mqtt.username"}


class MqttLink:
    """A paho client with a bounded send queue and counters; `publish` never blocks the caller."""

    def __init__(self, cfg: MqttConfig, prefix: str, client_id: str, password: str | None) -> None:
        try:
            from paho.mqtt import client as paho
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError:
            raise UsageError("mqtt.host: MQTT needs paho-mqtt: pip install 'fer-edge[mqtt]'") from None
        self._paho = paho
        self.cfg, self.prefix, self.where, self.client_id = cfg, prefix, f"{cfg.host}:{cfg.port}", client_id
        self.availability = f"{prefix}/availability"
        self.connected = False
        self.sent = self.dropped = self.reconnects = self.refusals = 0
        self._connects = 0
        self._queue: collections.deque[tuple[str, bytes, bool]] = collections.deque()
        self._cond = threading.Condition()
        self._retained: dict[str, bytes] = {self.availability: b"online"}  # sent again on every connect, in order
        self._retained_lock = threading.Lock()
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        # paho's MQTTMessageInfo of messages maybe not yet acked, for close() to wait on; bounded over weeks
        self._infos: collections.deque[MQTTMessageInfo] = collections.deque(maxlen=4 * PAHO_QUEUE)
        self._connack = threading.Event()
        self._refused: tuple[int, str] | None = None
        self._closing = self._started = False
        self._trouble_since: float | None = None  # start of the current outage
        self._trouble: str | None = None  # what is wrong now ("refused 134"...): logged when it changes, not per try
        self._connack_due: float | None = None  # a CONNECT went out: a CONNACK must come by then
        self._cut = False  # the CONNACK wait ran out and the socket was closed here: not the broker's doing
        self._handover = False  # close() takes over the queue from the sender
        self._acked_at = time.monotonic()  # the last PUBACK (or the start)
        self._full_logged = False
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if cfg.username:
            client.username_pw_set(cfg.username, password)
        if cfg.tls or cfg.tls_ca or cfg.tls_cert:
            try:
                client.tls_set(ca_certs=cfg.tls_ca or None, certfile=cfg.tls_cert or None, keyfile=cfg.tls_key or None)
            except (ssl.SSLError, OSError, ValueError) as exc:
                key = "mqtt.tls_cert" if cfg.tls_cert else "mqtt.tls_ca"
                raise UsageError(f"{key}: cannot load the TLS files ({getattr(exc, 'reason', None) or exc})") from None
        client.will_set(self.availability, "offline", cfg.qos, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(PAHO_QUEUE)
        client.max_inflight_messages_set(INFLIGHT)
        client.connect_timeout = CONNECT_S
        client.on_socket_open = self._on_socket_open
        client.on_connect, client.on_connect_fail = self._on_connect, self._on_connect_fail
        client.on_disconnect, client.on_publish, client.on_message = self._on_disconnect, self._on_publish, self._on_message
        self._client = client
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-send", daemon=True)

    # -- the loop's side: never blocks on the network
    def publish(self, topic: str, payload: dict[str, Any] | str, retain: bool = False) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))).encode()
        with self._cond:
            if len(data) > MAX_PAYLOAD_BYTES:  # never a picture, whatever a caller passes
                self.dropped += 1
                log.warning("refused a %d-byte message for %s (limit %d)", len(data), topic, MAX_PAYLOAD_BYTES)
                return
            if len(self._queue) >= self.cfg.queue_size:
                self._queue.popleft()
                self.dropped += 1
                if not self._full_logged:
                    self._full_logged = True
                    log.warning("queue full (%d messages): dropping the oldest until the broker takes them",
                                self.cfg.queue_size)
            self._queue.append((topic, data, retain))
            self._cond.notify()

    def retain(self, topic: str, payload: dict[str, Any] | str) -> None:
        """A retained message sent on every connect (discovery configs), beside availability and the last state."""
        data = (payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))).encode()
        with self._retained_lock:
            self._retained[topic] = data

    def subscribe(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Subscribe on every connect (and now, when connected); `handler(payload)` runs on paho's thread."""
        self._handlers[topic] = handler
        if self.connected:
            self._client.subscribe(topic, self.cfg.qos)

    def unretain(self, topic: str) -> None:
        """Stop sending `topic` again on each connect (`--mqtt-forget` clears availability instead of announcing it)."""
        with self._retained_lock:
            self._retained.pop(topic, None)

    def resend(self, topics: Iterable[str]) -> None:
        with self._retained_lock:
            items = [(t, self._retained[t]) for t in topics if t in self._retained]
        for topic, data in items:
            self._client.publish(topic, data, self.cfg.qos, retain=True)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- start and stop
    def start(self, wait_s: float = CONNACK_S) -> MqttLink:
        """Connect; a login the broker refuses is a UsageError (exit 2); a broker that is away, or that takes the
        connection and never answers it, is retried in the background after at most CONNECT_S + `wait_s`."""
        cfg, client = self.cfg, self._client
        self._sender.start()
        reached = True
        try:
            client.connect(cfg.host, cfg.port, cfg.keepalive)
        except ssl.SSLError as exc:
            key = "mqtt.tls_ca" if cfg.tls_ca else "mqtt.tls"
            self.close(quiet=True)
            raise UsageError(f"{key}: TLS with {self.where} failed ({exc.reason or exc})") from None
        except OSError as exc:
            reached = False
            self._note("unreachable", "cannot reach %s (%s); retrying in the background every %d to %d s", self.where,
                       exc.strerror or exc, RECONNECT_MIN_S, RECONNECT_MAX_S)
            client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        client.loop_start()
        if reached and not self._connack.wait(wait_s):
            self._note("no connack", "%s took the connection but sent no CONNACK within %g s (not an MQTT broker, or "
                       "one that hangs); retrying in the background", self.where, wait_s)
        elif reached and self._refused and self._refused[0] in REFUSED_KEYS:
            code, reason = self._refused
            self.close(quiet=True)
            key = REFUSED_KEYS[code] if cfg.username or code == 133 else "mqtt.username"
            who = f"user {cfg.username!r}" if cfg.username else "an anonymous login"
            raise UsageError(f"{key}: the broker at {self.where} refused {who} ({reason})")
        self._started = True
        return self

    def _note(self, trouble: str, message: str, *args: object) -> None:
        """One warning per change of what is wrong (away, refused, no CONNACK...), not one per retry."""
        if self._trouble_since is None:
            self._trouble_since = time.monotonic()
        if trouble != self._trouble:
            self._trouble = trouble
            log.warning(message, *args)

    def close(self, timeout: float = CLOSE_S, quiet: bool = False, farewell: bool = True) -> None:
        """Let the sender hand over what is queued while the broker acknowledges, at most `timeout`; what is left
        (all of it, from a frozen broker that acknowledges nothing) goes onto the wire at once at QoS 0 past paho's
        window, then `offline` (unless not `farewell`), then DISCONNECT. A frozen broker's socket still takes the
        bytes, and the broker delivers them when it runs again; a stop never waits on it for long."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        while self._sender.is_alive() and time.monotonic() < deadline:
            self._sender.join(0.05)  # it ends once the queue is empty, or the window is stuck
        with self._cond:
            self._handover = True  # the sender ends at its next look; the rest is sent from here
            self._cond.notify_all()
        self._sender.join(0.1)
        with self._cond:
            last, sending = list(self._queue), self.connected and not quiet and not self._sender.is_alive()
            self._queue.clear()
            if not sending:
                self.dropped += len(last)
        if sending:  # _infos is the sender's until it ends
            qos = 0 if last or self._stuck() else self.cfg.qos  # left over: the broker is not acknowledging
            final = [self._client.publish(t, data, qos, retain) for t, data, retain in last]
            if farewell:
                final.append(self._client.publish(self.availability, "offline", qos, retain=True))
            while time.monotonic() < deadline and self.connected and (
                    self._client.want_write() or not (qos == 0 or all(info.is_published() for info in final))):
                time.sleep(0.01)
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()  # paho's thread ends within its 1 s select; the process need not wait for that
        stopper.join(0.2)
        if not quiet:
            log.info("closed: %d messages sent, %d dropped, %d reconnects", self.sent, self.dropped, self.reconnects)

    def _window_open(self) -> bool:
        """Fewer than INFLIGHT messages await their PUBACK: paho sends the next one at once instead of holding it
        behind the window (where a frozen broker would keep it for good)."""
        while self._infos and self._infos[0].is_published():
            self._infos.popleft()
        return len(self._infos) < INFLIGHT

    def _stuck(self) -> bool:
        """The window is full and no PUBACK came for STUCK_S: the broker is not acknowledging."""
        return not self._window_open() and time.monotonic() - self._acked_at > STUCK_S

    # -- the sender thread
    def _send_loop(self) -> None:
        ok = self._paho.MQTT_ERR_SUCCESS
        while True:
            with self._cond:
                while not (self._queue and self.connected and self._window_open()):
                    if self._handover or self._closing and (not self._queue or not self.connected or self._stuck()):
                        return  # close() sends the rest itself
                    self._cond.wait(0.05 if self._queue and self.connected else 0.5)  # a PUBACK notifies
                    self._check_connack()
                if self._handover:
                    return
                topic, data, retain = item = self._queue.popleft()
            info = self._client.publish(topic, data, self.cfg.qos, retain)
            if info.rc == self._paho.MQTT_ERR_QUEUE_SIZE:  # paho holds PAHO_QUEUE unacked: wait for the broker
                with self._cond:
                    if len(self._queue) < self.cfg.queue_size:
                        self._queue.appendleft(item)
                    else:
                        self.dropped += 1
                    self._cond.wait(0.05)
                continue
            if info.rc == ok or info.rc == self._paho.MQTT_ERR_NO_CONN and self.cfg.qos > 0:  # NO_CONN: paho resends
                self._infos.append(info)
                if retain:
                    with self._retained_lock:
                        self._retained[topic] = data
            else:
                with self._cond:
                    self.dropped += 1

    def _check_connack(self) -> None:
        """From the sender thread: a CONNECT unanswered past its time has its socket closed, so paho tries again
        with backoff (paho itself would wait out the keepalive, a minute by default, saying nothing)."""
        due = self._connack_due
        if due is None or time.monotonic() < due:
            return
        self._connack_due = None
        self._note("no connack", "%s took the connection but sent no CONNACK within %g s (not an MQTT broker, or one "
                   "that hangs); retrying in the background", self.where, CONNACK_S)
        sock = self._client.socket()
        if isinstance(sock, socket.socket):  # a TLS socket too
            self._cut = True
            try:
                sock.shutdown(socket.SHUT_RDWR)  # paho's select sees the end and reconnects
            except OSError:
                pass

    # -- paho's callbacks (its network thread)
    def _on_socket_open(self, client: Client, userdata: object, sock: object) -> None:
        self._connack_due = time.monotonic() + CONNACK_S  # paho sends CONNECT next

    def _on_connect(self, client: Client, userdata: object, flags: ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:
        self._connack_due = None
        if reason.is_failure:
            self.refusals += 1
            self._refused = (reason.value, str(reason))
            if self._started or reason.value not in REFUSED_KEYS:  # a refusal at start is start()'s error line
                who = f"user {self.cfg.username!r}" if self.cfg.username else "an anonymous login"
                self._note(f"refused {reason.value}", "the broker at %s refused %s (%s); retrying with backoff",
                           self.where, who, reason)
            self._connack.set()
            return
        self._refused = None
        self._connects += 1
        if self._connects > 1:
            self.reconnects += 1
        if self._trouble_since is not None or self._connects > 1:
            away = time.monotonic() - (self._trouble_since or time.monotonic())
            log.info("connected to %s again after %.1f s (%d messages dropped so far)", self.where, away, self.dropped)
        else:
            log.info("connected to %s as %s, topics %s/...", self.where, self.client_id, self.prefix)
        self._trouble_since = self._trouble = None
        for topic in list(self._handlers):
            client.subscribe(topic, self.cfg.qos)
        with self._retained_lock:
            items = list(self._retained.items())
        for topic, data in items:
            client.publish(topic, data, self.cfg.qos, retain=True)
        with self._cond:
            self.connected = True
            self._full_logged = False
            self._cond.notify_all()
        self._connack.set()

    def _on_connect_fail(self, client: Client, userdata: object) -> None:
        self._note("unreachable", "cannot reach %s; retrying every %d to %d s", self.where, RECONNECT_MIN_S,
                   RECONNECT_MAX_S)

    def _on_disconnect(self, client: Client, userdata: object, flags: DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        was, cut = self.connected, self._cut
        self._connack_due, self._cut = None, False
        with self._cond:
            self.connected = False
        if self._closing:
            return
        why = "connection closed" if reason.value == 128 else str(reason)  # 128: paho's "Unspecified error"
        if was:
            self._trouble_since = time.monotonic()
            self._note("lost", "lost the broker at %s (%s); reconnecting in the background, holding up to %d messages",
                       self.where, why, self.cfg.queue_size)
        elif not cut and self._refused is None:  # no CONNACK: not MQTT, or TLS not asked for
            self._note("closed", "%s closed the connection before accepting it (%s; a TLS port without mqtt.tls?); "
                       "retrying", self.where, why)
        self._connack.set()  # the first attempt is over: start() need not wait longer

    def _on_publish(self, client: Client, userdata: object, mid: int, reason: ReasonCode,
                    properties: Properties) -> None:
        self.sent += 1
        self._acked_at = time.monotonic()
        with self._cond:
            self._cond.notify_all()  # a place in the window

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        handler = self._handlers.get(message.topic)
        if handler is not None:
            handler(bytes(message.payload))


def new_link(cfg: MqttConfig) -> MqttLink:
    """A link (not yet connected) for a validated [mqtt] section: its prefix and client id as configured or defaulted."""
    host = socket.gethostname() or "host"
    prefix = cfg.topic_prefix or default_prefix()
    client_id = cfg.client_id or f"fer-edge-{host}-{os.getpid()}"
    return MqttLink(cfg, prefix, client_id, read_password(cfg))
