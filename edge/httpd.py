"""The local HTTP endpoint, standard library only: /healthz, /metrics (Prometheus text) and /events/latest (JSON).

Bound to 127.0.0.1 unless configured otherwise. It serves numbers and event records, never an image: there is no
path that could.
"""

from __future__ import annotations

import errno
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from edge.errors import FerEdgeError, UsageError


class Endpoint(Protocol):
    def healthy(self) -> bool: ...

    def health_text(self) -> str: ...

    def metrics_text(self) -> str: ...

    def latest_json(self) -> str: ...


class _Handler(BaseHTTPRequestHandler):
    server_version = "fer-edge"
    timeout = 10  # a stalled client gives its thread back
    endpoint: Endpoint

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        path = self.path.split("?", 1)[0]
        ep = self.endpoint
        if path == "/healthz":
            self._send(200 if ep.healthy() else 503, "text/plain; charset=utf-8", ep.health_text())
        elif path == "/metrics":
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", ep.metrics_text())
        elif path == "/events/latest":
            self._send(200, "application/json", ep.latest_json())
        else:
            self._send(404, "text/plain; charset=utf-8", "not found; try /healthz, /metrics or /events/latest\n")

    def _send(self, code: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # scrapes every few seconds would flood the journal
        pass


class HttpEndpoint:
    """Binds at construction, so a taken port fails the start at once; serves from `start` on a daemon thread."""

    def __init__(self, host: str, port: int):
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except socket.gaierror as exc:
            raise UsageError(f"http.host {host!r}: not an address ({exc.strerror})") from None
        server_cls = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        handler = type("Handler", (_Handler,), {})
        try:
            self._server = server_cls((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise FerEdgeError(f"http.port {port}: {host}:{port} is already in use (another fer-edge service?); "
                                   "stop it or choose another http.port") from None
            raise UsageError(f"http.host {host!r} / http.port {port}: cannot listen ({exc.strerror or exc})") from None
        self._handler = handler
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self, endpoint: Endpoint) -> None:
        self._handler.endpoint = endpoint
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
