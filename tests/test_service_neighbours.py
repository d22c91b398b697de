"""The HTTP endpoint under hostile neighbours (issue 20, D5, D6, D9, D10): a web page that rebinds its name to
127.0.0.1 (a foreign `Host:`), a token guesser, a /metrics flood, preview viewers that never read. Real service
subprocesses and raw loopback sockets; the flood's cost to the loop is a number in benchmarks/metrics_flood.py."""

from __future__ import annotations

import socket
import time

import pytest
from conftest import assert_one_line_error, run_cli
from test_preview import TOKEN, Proc, _stream_parts, token_service

from fer_edge.outputs.http.guard import TRIES, host_allowed
from fer_edge.outputs.http.preview import MAX_VIEWERS


def _raw(port: int, path: str, host: str | None, timeout: float = 10.0) -> tuple[int, bytes]:
    """Status and head+body of one request sent as written (urllib would set its own Host)."""
    head = f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "") + "Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data or (b"multipart" not in data and len(data) < 200_000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"multipart" in data:
                break
    return int(data.split(b" ", 2)[1]), data


def _metric_reaches(svc: Proc, name: str, value: float) -> None:
    """Poll until the sample has caught up (counted on the HTTP thread, read on the next rendering)."""
    deadline = time.monotonic() + 10
    while svc.metric(name) < value:
        assert time.monotonic() < deadline, (name, svc.metric(name), value)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    svc = Proc(tmp_path_factory.mktemp("svc"), "service", "--source", "demo", "--http-port", "0",
               "--http-preview", "true", "--http-preview-fps", "4", "--http-allowed-hosts", "cam.example, other.lan",
               "--events", "")
    yield svc
    assert svc.stop() == 0


# --- D5: DNS rebinding ---

@pytest.mark.parametrize("host,allowed", [
    ("127.0.0.1:8787", True), ("127.0.0.1", True), ("[::1]:8787", True), ("192.168.1.20:8787", True),
    ("localhost:8787", True), ("LOCALHOST", True), ("app.localhost", True), ("localhost.", True), ("", True),
    (socket.gethostname(), True), (socket.gethostname().split(".")[0] + ".local:8787", True),
    ("cam.example:8787", True), ("other.lan", True),
    ("evil.example:8787", False), ("127.0.0.1.nip.io:8787", False), ("localhost.evil.example", False),
    ("cam.example.evil.example", False),
])
def test_host_rule(host, allowed):
    from fer_edge.outputs.http.guard import allowed_hosts

    assert host_allowed(host, allowed_hosts("cam.example, other.lan")) is allowed
    assert host_allowed(host, allowed_hosts("*")) is True


def test_a_foreign_host_header_is_refused_on_every_path(preview):
    """A page at evil.example that rebinds its name to 127.0.0.1 sends `Host: evil.example:PORT`: it got the faces
    and the camera picture same-origin."""
    before = preview.metric("fer_edge_http_wrong_host_total")
    for path in ("/", "/faces", "/preview.mjpg", "/healthz", "/metrics", "/events/latest"):
        status, data = _raw(preview.port, path, f"evil.example:{preview.port}")
        assert status == 421 and b"http.allowed_hosts" in data and b"image/jpeg" not in data, (path, data[:300])
    _metric_reaches(preview, "fer_edge_http_wrong_host_total", before + 6)
    for host in (f"127.0.0.1:{preview.port}", f"localhost:{preview.port}", f"cam.example:{preview.port}", None):
        assert _raw(preview.port, "/faces", host)[0] == 200, host
    status, data = _raw(preview.port, "/preview.mjpg", f"localhost:{preview.port}")
    assert status == 200 and b"multipart/x-mixed-replace" in data


# --- D6: weak tokens, guessing ---

@pytest.mark.parametrize("token", ["aaaaaaaaaaaaaaaa", "0123456789abcdef", "password-password"])
def test_a_token_that_is_easy_to_guess_is_refused(token):
    proc = run_cli("service", "--source", "demo", "--http-host", "0.0.0.0", "--http-preview", "true",
                   "--http-token", token, "--check-config")
    assert_one_line_error(proc, "http.token (--http-token)", "too easy to guess", code=2)
    assert token not in proc.stderr


def test_wrong_tokens_are_limited_per_client_and_logged_without_the_token(tmp_path):
    svc = token_service(tmp_path, "127.0.0.1")
    try:
        codes = [svc.get(f"/faces?token=guess-{i:04d}-abcdefghijkl")[0] for i in range(TRIES + 20)]
        assert codes[:TRIES] == [401] * TRIES and set(codes[TRIES:]) == {429}, codes  # was 1,300 guesses a second
        assert svc.get(f"/faces?token={TOKEN}")[0] == 429  # the right one too, until a try comes back
        time.sleep(2.5)
        assert svc.get(f"/faces?token={TOKEN}")[0] == 200
        _metric_reaches(svc, "fer_edge_preview_requests_limited_total", 21)
    finally:
        assert svc.stop() == 0
    lines = [line for line in svc.stderr().splitlines() if "wrong token" in line]
    assert len(lines) == 1 and "from 127.0.0.1" in lines[0], lines  # the first guess; then at most one a minute
    assert "guess-" not in svc.stderr() and TOKEN not in svc.stderr()


def test_the_limit_refills_and_is_per_client_with_a_fake_clock():
    from fer_edge.outputs.http.guard import TRY_EVERY_S
    from fer_edge.outputs.http.preview import Preview

    now = [0.0]
    guarded = Preview(token=TOKEN, clock=lambda: now[0])
    for _ in range(TRIES):
        assert guarded.answer("GET", "/faces?token=wrong-wrong-wrong-wrong", {}, "10.0.0.1")[0] == 401
    assert guarded.answer("GET", "/faces?token=wrong-wrong-wrong-wrong", {}, "10.0.0.1")[0] == 429
    assert guarded.answer("GET", f"/faces?token={TOKEN}", {}, "10.0.0.2")[0] == 200  # another client
    assert guarded.answer("GET", "/faces", {}, "10.0.0.3")[0] == 401  # no token given: a first visit, not a try
    now[0] += TRY_EVERY_S
    assert guarded.answer("GET", f"/faces?token={TOKEN}", {}, "10.0.0.1")[0] == 200


# --- D9: /metrics flood ---

def test_a_metrics_flood_is_answered_from_a_rendering_made_at_most_every_half_second():
    from prometheus_client import CollectorRegistry

    from fer_edge.outputs.http.server import FLOOD_RATE, METRICS_EVERY_S, _Server

    class Counting:
        calls = 0

        def collect(self):
            Counting.calls += 1
            return iter(())

    class Endpoint:
        registry = CollectorRegistry()

    Endpoint.registry.register(Counting())
    now = [100.0]
    server = _Server("127.0.0.1", 0, socket.AF_INET, clock=lambda: now[0])
    try:
        server.endpoint = Endpoint()
        for _ in range(5):  # a scraper polling: every request rendered afresh
            server.metrics("")
            now[0] += 1.0
        assert Counting.calls == 5
        Counting.calls = 0
        for _ in range(200):  # 200 at once
            server.metrics("")
        assert Counting.calls == FLOOD_RATE - 1  # the flood is known at its FLOOD_RATE-th request a second
        server.metrics("application/openmetrics-text; version=1.0.0")  # the other format, rendered once too
        assert Counting.calls == FLOOD_RATE
        now[0] += METRICS_EVERY_S
        server.metrics("")
        assert Counting.calls == FLOOD_RATE + 1
    finally:
        server.server_close()


# --- D10: preview viewers that never read ---

def test_viewers_that_never_read_or_trickle_are_dropped_soon(preview):
    """Three sockets that never read and one that reads 4 KB a second (a picture every 10 s or more) held every
    slot: the silent ones until the kernel's megabytes of send buffer filled (80 s at 2 fps), the trickle for as
    long as it liked, since any byte taken counted as progress."""
    silent = []
    trickle = socket.socket()
    trickle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small windows: each read lets a little more in
    try:
        for _ in range(MAX_VIEWERS - 1):  # connect, ask, never read
            sock = socket.create_connection(("127.0.0.1", preview.port), timeout=5)
            sock.sendall(b"GET /preview.mjpg HTTP/1.0\r\n\r\n")
            silent.append(sock)
        trickle.settimeout(0.2)
        trickle.connect(("127.0.0.1", preview.port))
        trickle.sendall(b"GET /preview.mjpg HTTP/1.0\r\n\r\n")
        deadline = time.monotonic() + 10
        while preview.metric("fer_edge_preview_viewers") < MAX_VIEWERS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        while preview.metric("fer_edge_preview_viewers") > 0:
            assert time.monotonic() - t0 < 15, "viewers that do not read still hold the preview's slots"
            for _ in range(4):
                try:
                    trickle.recv(1024)
                except OSError:
                    pass
                time.sleep(0.25)
        assert len(_stream_parts(preview.port, 1)[1]) == 1  # a real viewer gets a picture again
    finally:
        trickle.close()
        for sock in silent:
            sock.close()
