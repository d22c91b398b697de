"""One request, already read whole into memory, parsed and answered into memory (the selector thread never blocks):
/healthz, /metrics and /events/latest from the endpoint, the preview's paths from the preview, 421 for a `Host:`
that names another server."""

from __future__ import annotations

import io
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from .guard import host_allowed

if TYPE_CHECKING:
    from .preview import Preview


class Endpoint(Protocol):
    def healthy(self) -> bool: ...

    def health_text(self) -> str: ...

    @property
    def registry(self) -> CollectorRegistry: ...  # what /metrics renders; the server and the preview register here

    def latest_json(self) -> str: ...


class Serving(Protocol):
    """What a request reads of the server that took it (server.py's `_Server`)."""

    endpoint: Endpoint | None
    preview: Preview | None
    hosts: frozenset[str] | None  # the host names `Host:` may carry (None: any)
    wrong_host: int  # requests refused for their `Host:`

    def metrics(self, accept: str) -> tuple[str, bytes]: ...


class Handler(BaseHTTPRequestHandler):
    """Parses one whole request already read into memory and writes the answer into memory: never blocks."""

    server_version = "fer-edge"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def __init__(self, head: bytes, client_address: Any, server: Serving) -> None:  # no socket
        self.output = io.BytesIO()  # the whole answer
        self.rfile, self.wfile = io.BytesIO(head), self.output
        self.client_address, self.http = client_address, server
        self.close_connection = True
        self.preview, self.stream = server.preview, False  # stream: the preview takes the socket, nothing written here
        self.handle_one_request()

    def version_string(self) -> str:
        return self.server_version  # no Python version: it only helps someone looking for a known hole

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        path = self.path.split("?", 1)[0]
        ep = self.http.endpoint
        if ep is None:
            raise RuntimeError("no endpoint: serving before start")
        if not host_allowed(self.headers.get("Host", ""), self.http.hosts):
            self.http.wrong_host += 1
            self._send(421, "text/plain; charset=utf-8", "misdirected request: this server answers to its address, "
                       "localhost and its own name; add the name to http.allowed_hosts\n")
        elif path == "/healthz":
            self._send(200 if ep.healthy() else 503, "text/plain; charset=utf-8", ep.health_text())
        elif path == "/metrics":  # the text format 0.0.4, or OpenMetrics when the Accept header asks for it
            self._send(200, *self.http.metrics(self.headers.get("Accept", "")))
        elif path == "/events/latest":
            self._send(200, "application/json", ep.latest_json())
        elif self.preview is not None and (answer := self.preview.answer(self.command, self.path, self.headers,
                                                                         str(self.client_address[0]))):
            if isinstance(answer, tuple):
                self._send(*answer)
            else:  # STREAM: the preview's thread takes the socket
                self.stream = True
        else:
            self._send(404, "text/plain; charset=utf-8", "not found; try /healthz, /metrics or /events/latest\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()  # `_send` leaves the body out

    def _send(self, code: int, content_type: str, body: str | bytes, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds would flood the journal
        pass


def head_end(buf: bytearray) -> int:
    """Where the request line and headers end (the blank line), or -1 while they are still coming."""
    for blank in (b"\r\n\r\n", b"\n\n"):
        at = buf.find(blank)
        if at >= 0:
            return at + len(blank)
    return -1
