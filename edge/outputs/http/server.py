"""The local HTTP endpoint: /healthz, /metrics (prometheus_client renders the registry) and /events/latest (JSON).

Bound to 127.0.0.1 unless configured otherwise. It serves numbers and event records, never an image: with the
preview off (the default) there is no path that could; `edge/outputs/http/preview.py` adds the opt-in page and stream, whose
long-lived sockets are handed to the preview's own thread. It must never cost the camera loop what it needs,
whatever a local client does: one thread serves every client from a selector (a slow client costs a descriptor,
never a thread), at most `MAX_CONNECTIONS` are open and the oldest unfinished request makes room for a new one, a
request must arrive whole within `HEAD_TIMEOUT_S`, `FD_RESERVE` descriptors stay free for the loop (a source
reopening), a client that resets is counted, not logged with a traceback, serving takes at most `CPU_SHARE` of a
core (a flood waits in the kernel's backlog), /metrics is rendered at most every `METRICS_EVERY_S` during a flood
(more than `FLOOD_RATE` requests a second), and a request whose `Host:` names another server gets 421 (guard.py).
"""

from __future__ import annotations

import collections
import errno
import logging
import math
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from ...errors import FerEdgeError, UsageError
from ...pipeline.sink import Closing
from .guard import allowed_hosts, exposure_warning, forget, free_descriptors
from .handler import Endpoint, Handler, head_end

if TYPE_CHECKING:
    from .preview import Preview

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64  # open client sockets at once; the oldest unfinished request is closed for a new one
HEAD_TIMEOUT_S = 3.0  # request line and headers, in all: a client trickling bytes is closed after this
SEND_TIMEOUT_S = 5.0  # the whole exchange, for a client that does not read its answer
MAX_HEAD_BYTES = 8192
BACKLOG = 256  # listen backlog: a burst of health checks waits in the kernel, not in SYN retries
FD_RESERVE = 32  # descriptors kept free for the loop: a source reopening needs a few, FFmpeg more
ACCEPT_PAUSE_S = 0.1  # after EMFILE: the listening socket stays readable, so stop polling it a moment
FLOOD_RATE = 20  # /metrics requests within a second beyond which it is a flood, answered from the last rendering
METRICS_EVERY_S = 0.5  # during a flood /metrics is rendered at most this often (per format)
CPU_SHARE = 0.02  # CPU seconds a second this thread may spend serving: beyond, it waits and requests queue in the kernel
LOG_EVERY_S = 60.0  # client failures: the first is logged, then at most one summary line a minute
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nServer: fer-edge\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\nbusy\n")


class _RateLimitedLog:
    """The first failure of a kind is logged; later ones are counted and summed up at most every `every_s`."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._every, self._clock = every_s, clock
        self._next: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def note(self, kind: str, detail: str) -> None:
        now = self._clock()
        if now < self._next.get(kind, -1.0):
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        self._next[kind] = now + self._every
        earlier = self._unlogged.pop(kind, 0)
        more = f" ({earlier} more since the last such line)" if earlier else ""
        log.warning(f"http: {kind}: {detail}{more}; counted in /metrics, logged at most once a minute")


class _Client:
    __slots__ = ("sock", "address", "since", "batch", "inbox", "outbox")

    def __init__(self, sock: socket.socket, address: Any, since: float, batch: int) -> None:
        self.sock, self.address, self.since, self.batch = sock, address, since, batch
        self.inbox = bytearray()
        self.outbox: bytes | None = None  # set once the request is whole: then only written to


class _Server:
    """A listening socket and its clients, all non-blocking, served by `serve_forever` on one thread."""

    def __init__(self, host: str, port: int, family: int, clock: Callable[[], float] = time.monotonic,
                 free: Callable[[], int | None] = lambda: free_descriptors(FD_RESERVE),
                 hosts: frozenset[str] | None = None) -> None:
        self._clock, self._free, self.hosts = clock, free, hosts
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.endpoint: Endpoint | None = None
        self.preview: Preview | None = None  # when http.preview is on
        self._selector = selectors.DefaultSelector()
        self._clients: dict[socket.socket, _Client] = {}  # in order of arrival: the first is the oldest
        self._stop = threading.Event()
        self._accept_paused_until = 0.0
        self._round = 0  # accept rounds: a client accepted in the current one has not been read yet
        self._errors = _RateLimitedLog(clock=clock)
        self.refused = self.dropped = self.client_errors = self.wrong_host = self.throttled = 0
        self.cpu_s = 0.0  # CPU time this server's thread has used
        self._rendered: dict[str, tuple[float, str, bytes]] = {}  # Accept kind -> (when, content type, /metrics)
        self._asked: collections.deque[float] = collections.deque(maxlen=FLOOD_RATE)  # when /metrics was asked

    def serve_forever(self, poll_s: float = 0.2) -> None:
        self._selector.register(self.socket, selectors.EVENT_READ)
        window, spent = self._clock(), time.thread_time()
        start = spent
        while not self._stop.is_set():
            ready = [key.fileobj for key, _ in self._selector.select(poll_s)]
            for sock in ready:  # clients first: a request that has arrived is answered before anyone new comes in
                if sock in self._clients:
                    self._service(self._clients[sock])
            if self.socket in ready:
                self._accept()
            self._expire()
            self.cpu_s = time.thread_time() - start
            now = self._clock()
            if now - window >= 1.0:
                window, spent = now, time.thread_time()
            elif time.thread_time() - spent > CPU_SHARE:  # a flood: the rest of this second is the loop's
                self.throttled += 1
                self._stop.wait(1.0 - (now - window))

    def shutdown(self) -> None:
        self._stop.set()

    def metrics(self, accept: str) -> tuple[str, bytes]:
        """/metrics as (content type, body). Rendered for each request, unless more than FLOOD_RATE came within a
        second: then at most every METRICS_EVERY_S per format, so a client that asks a thousand times a second gets
        the same text and the loop keeps its CPU."""
        encode, content_type = choose_encoder(accept)
        now = self._clock()
        self._asked.append(now)
        flood = len(self._asked) == self._asked.maxlen and now - self._asked[0] < 1.0
        when, kind, body = self._rendered.get(content_type, (-math.inf, content_type, b""))
        if (not flood or now - when >= METRICS_EVERY_S) and self.endpoint is not None:
            body = encode(self.endpoint.registry)
            self._rendered[content_type] = (now, kind, body)
        return kind, body

    def server_close(self) -> None:
        for client in list(self._clients.values()):
            self._close(client)
        self._selector.close()
        self.socket.close()

    def _accept(self) -> None:
        self._round += 1
        for _ in range(16):  # a few per round, so clients already connected are read between bursts
            try:
                sock, address = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of descriptors after all (the loop took them): stop polling a moment
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting(exc)
                return
            sock.setblocking(False)
            if not self._make_room():
                self._refuse(sock)
                continue
            client = _Client(sock, address, self._clock(), self._round)
            self._clients[sock] = client
            self._selector.register(sock, selectors.EVENT_READ, client)

    def _make_room(self) -> bool:
        """Room for the client just accepted: at the cap or the reserve, the oldest unfinished request is closed."""
        free = self._free()
        if len(self._clients) < MAX_CONNECTIONS and (free is None or free >= 0):
            return True
        # never one accepted in this round: it has not been read yet, however fast it sent its request
        oldest = next((c for c in self._clients.values() if c.outbox is None and c.batch < self._round), None)
        if oldest is None:  # no one to close: refuse the new one cheaply, without a wait
            return False
        self.dropped += 1
        self._close(oldest)
        return True

    def _refuse(self, sock: socket.socket) -> None:
        self.refused += 1
        try:
            sock.send(BUSY)
        except OSError:
            pass
        sock.close()

    def _pause_accepting(self, exc: OSError) -> None:
        self.refused += 1
        self._accept_paused_until = self._clock() + ACCEPT_PAUSE_S
        self._selector.unregister(self.socket)
        self._errors.note("cannot accept", f"{exc.strerror or exc}; pausing {ACCEPT_PAUSE_S} s")

    def _service(self, client: _Client) -> None:
        try:
            if client.outbox is None:
                self._read(client)
            else:
                self._write(client, client.outbox)
        except OSError as exc:  # reset, broken pipe: the client's doing, counted and logged once a minute
            self.client_errors += 1
            self._errors.note("client connections failed", f"{type(exc).__name__}: {exc.strerror or exc}")
            self._close(client)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except BlockingIOError:
            return
        if not data:
            self._close(client)
            return
        client.inbox += data
        end = head_end(client.inbox)
        if end > 0:
            client.outbox = outbox = self._answer(bytes(client.inbox[:end]), client.address)
            if outbox is None:  # the preview's stream: its own thread owns the socket from here
                self._hand_over(client)
                return
            self._selector.modify(client.sock, selectors.EVENT_WRITE, client)
            self._write(client, outbox)
        elif len(client.inbox) > MAX_HEAD_BYTES:
            self.dropped += 1
            self._close(client)

    def _answer(self, head: bytes, address: Any) -> bytes | None:
        """The whole answer, or None when the preview takes the socket for a stream."""
        try:
            if self.endpoint is None:
                raise RuntimeError("no endpoint: serving before start")
            handler = Handler(head, address, self)
            return None if handler.stream else handler.output.getvalue()
        except Exception as exc:  # a bug behind one path: that answer fails, the endpoint stays up
            self._errors.note("error answering a request", f"{type(exc).__name__}: {exc}")
            return b"HTTP/1.0 500 Internal Server Error\r\nServer: fer-edge\r\nContent-Length: 0\r\n\r\n"

    def _write(self, client: _Client, outbox: bytes) -> None:
        try:
            sent = client.sock.send(outbox)
        except BlockingIOError:
            return
        client.outbox = outbox[sent:]
        if not client.outbox:
            self._close(client)

    def _hand_over(self, client: _Client) -> None:
        self._clients.pop(client.sock, None)
        self._selector.unregister(client.sock)
        if self.preview is None or not self.preview.adopt(client.sock):  # full after all: closed, the image retries
            client.sock.close()

    def _expire(self) -> None:
        now = self._clock()
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self._selector.register(self.socket, selectors.EVENT_READ)
        for client in list(self._clients.values()):
            limit = HEAD_TIMEOUT_S if client.outbox is None else SEND_TIMEOUT_S
            if now - client.since > limit:
                self.dropped += 1
                self._close(client)

    def _close(self, client: _Client) -> None:
        self._clients.pop(client.sock, None)
        forget(self._selector, client.sock)

    def collect(self) -> Iterator[Metric]:
        """The endpoint's own families for /metrics (a prometheus_client collector; `HttpEndpoint.start` registers it)."""
        yield CounterMetricFamily("fer_edge_http_connections_refused_total", "HTTP clients turned away at once (every "
                                  "slot answering, or out of descriptors).", value=self.refused)
        yield CounterMetricFamily("fer_edge_http_connections_dropped_total", "HTTP clients closed unanswered: too slow "
                                  "to send a request, or the oldest when room was needed.", value=self.dropped)
        yield CounterMetricFamily("fer_edge_http_client_errors_total", "HTTP connections that failed (reset, broken "
                                  "pipe).", value=self.client_errors)
        yield CounterMetricFamily("fer_edge_http_cpu_seconds_total", "CPU time the HTTP thread used serving.",
                                  value=round(self.cpu_s, 3))
        yield CounterMetricFamily("fer_edge_http_throttled_total", "Seconds in which serving HTTP used up its CPU "
                                  "share and paused, so that a flood of requests cannot slow the loop.",
                                  value=self.throttled)
        yield CounterMetricFamily("fer_edge_http_wrong_host_total", "HTTP requests refused (421) for a Host header "
                                  "that names another server (DNS rebinding).", value=self.wrong_host)


class HttpEndpoint(Closing):
    """Binds at construction, so a taken port fails the start at once; serves from `start` on a daemon thread."""

    def __init__(self, host: str, port: int, allowed: str = "") -> None:
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except socket.gaierror as exc:
            raise UsageError(f"http.host {host!r}: not an address ({exc.strerror})") from None
        try:
            self._server = _Server(host, port, family, hosts=allowed_hosts(allowed))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise FerEdgeError(f"http.port {port}: {host}:{port} is already in use (another fer-edge service?); "
                                   "stop it or choose another http.port") from None
            raise UsageError(f"http.host {host!r} / http.port {port}: cannot listen ({exc.strerror or exc})") from None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def exposure(self) -> str | None:
        """A warning when the bound address is not loopback (0.0.0.0, ::, a LAN address)."""
        return exposure_warning(self._server.server_address[0])

    def start(self, endpoint: Endpoint, preview: Preview | None = None) -> None:
        """Serve `endpoint`'s paths, and `preview`'s (outputs.http.preview.Preview) when given; both count in /metrics."""
        self._server.endpoint, self._server.preview = endpoint, preview
        endpoint.registry.register(self._server)
        if preview is not None:
            endpoint.registry.register(preview)
            preview.start(self.url)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close every socket, the preview's streams too; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=2)
            self._thread = None
        if self._server.preview is not None:
            self._server.preview.close()
        self._server.server_close()
