"""The service's HTTP endpoint against hostile local clients, and secrets in what the service prints.

Real `fer-edge service` subprocesses and real loopback sockets; every wait is bounded.
"""

from __future__ import annotations

import http.client
import re
import resource
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import Service, free_port, run_cli

from fer_edge.outputs.http.guard import exposure_warning

REQUEST = b"GET /healthz HTTP/1.0\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"


class SlowClients:
    """`n` clients that each send a health check one byte every `every_s` and reconnect when closed (slowloris)."""

    def __init__(self, port: int, n: int, every_s: float = 0.5):
        self._port, self._n, self._every = port, n, every_s
        self._stop = threading.Event()
        self.connects = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        socks: dict[int, tuple[socket.socket, int]] = {}
        while not self._stop.is_set():
            for i in range(self._n):
                if i not in socks:
                    try:
                        socks[i] = (socket.create_connection(("127.0.0.1", self._port), timeout=0.5), 0)
                        self.connects += 1
                    except OSError:
                        continue
                sock, sent = socks[i]
                try:
                    sock.send(REQUEST[sent % len(REQUEST):][:1])
                    socks[i] = (sock, sent + 1)
                except OSError:
                    sock.close()
                    del socks[i]
            self._stop.wait(self._every)
        for sock, _ in socks.values():
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _limit_descriptors(n: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return preexec


def test_slow_clients_under_a_low_descriptor_limit_do_not_starve_health_or_loop(tmp_path):
    """100 slowloris clients against a service held to 64 descriptors: /healthz answers, frames flow, nothing logged."""
    args = ("--source", "demo", "--source-fps", "10", "--events", str(tmp_path / "events.jsonl"))
    with Service(tmp_path, *args, preexec_fn=_limit_descriptors(64)) as svc:
        svc.wait_for("READY=1")
        frames = svc.metrics()[("fer_edge_frames_total", ())]
        slow = SlowClients(svc.port, 100)
        try:
            time.sleep(4)  # past the head timeout: every slot has been taken and retaken
            for _ in range(8):  # each answered within the client's 10 s timeout (benchmarks/ time the answers)
                status = svc.get("/healthz")[0]
                assert status == 200, (status, svc.stderr())
                time.sleep(0.3)
            m = svc.metrics()
        finally:
            slow.close()
        assert slow.connects > 100  # the server closed slow clients and they came back
        assert m[("fer_edge_http_connections_dropped_total", ())] > 0
        assert m[("fer_edge_frames_total", ())] >= frames + 10  # the loop went on (10 fps for 6 s)
        assert svc.stop() == 0, svc.stderr()
    err = svc.stderr()
    assert "Traceback" not in err and len([x for x in err.splitlines() if "http" in x]) <= 3, err


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("http")
    with Service(tmp, "--source", "demo", "--source-fps", "10", "--events", "") as svc:
        svc.wait_for("READY=1")
        yield svc


def _reset(port: int, data: bytes) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    sock.close()


def test_resetting_clients_are_counted_not_logged_with_tracebacks(service):
    before = len(service.stderr().splitlines())
    for i in range(20):
        _reset(service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"[: 5 + i])
    time.sleep(1)  # for the server to see every reset
    assert service.get("/healthz")[0] == 200
    new = service.stderr().splitlines()[before:]
    assert "Traceback" not in "\n".join(new) and len(new) <= 2, new
    assert all(line.startswith("fer-edge service: http: client connections failed") for line in new), new
    assert service.metrics()[("fer_edge_http_client_errors_total", ())] >= 1


def test_head_plain_text_errors_and_no_version_in_server_header(service):
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    for method, path, code in [("HEAD", "/healthz", 200), ("HEAD", "/metrics", 200), ("HEAD", "/nope", 404),
                               ("POST", "/healthz", 501)]:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == code, (method, path, resp.status)
        assert resp.headers["Server"] == "fer-edge", resp.headers["Server"]
        assert resp.headers["Content-Type"].startswith("text/plain"), (method, path, resp.headers["Content-Type"])
        if method == "HEAD":
            assert body == b"" and int(resp.headers["Content-Length"]) > 0
        else:
            assert b"<" not in body and body.decode().startswith(str(code)), body
        conn.close()
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:  # 101 headers: too many
        sock.sendall(b"GET /healthz HTTP/1.0\r\n" + b"X: y\r\n" * 101 + b"\r\n")
        answer = sock.makefile("rb").read().decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 431") and "Server: fer-edge\r\n" in head and "text/plain" in head, answer
    assert body.startswith("431 ") and "<" not in body, body


def test_metrics_parse_as_the_loop_s_families_and_the_process_gauges(service):
    """/metrics of a running service, read by prometheus_client's parsers: the loop's families with their types, the
    endpoint's own, and the process collector's memory, CPU and descriptors; OpenMetrics when Prometheus asks for it."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
    from prometheus_client.parser import text_string_to_metric_families

    service.poll_until(lambda: service.metrics().get(("fer_edge_stage_seconds_count", (("stage", "total"),)), 0) >= 3)
    status, ctype, body = service.get("/metrics")
    assert status == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8", ctype
    families = {f.name: f for f in text_string_to_metric_families(body)}
    value = {s.name: s.value for f in families.values() for s in f.samples if not s.labels}
    for name, kind in [("fer_edge_frames", "counter"), ("fer_edge_frames_detected", "counter"),
                       ("fer_edge_faces_in_view", "gauge"), ("fer_edge_frames_per_second", "gauge"),
                       ("fer_edge_labels", "counter"), ("fer_edge_stage_seconds", "summary"), ("fer_edge_info", "gauge"),
                       ("fer_edge_http_client_errors", "counter"), ("process_cpu_seconds", "counter")]:
        assert families[name].type == kind, (name, families[name].type)
    assert value["fer_edge_frames_total"] >= 3 and value["fer_edge_healthy"] == 1
    stages = {s.labels["stage"] for s in families["fer_edge_stage_seconds"].samples}
    assert stages == {"wait", "decode", "detect", "track", "crop", "classify", "events", "total"}, stages
    assert value["process_resident_memory_bytes"] > 10e6 and value["process_open_fds"] > 0
    assert value["process_max_fds"] > 0 and value["process_cpu_seconds_total"] > 0
    with urllib.request.urlopen(urllib.request.Request(service.url + "/metrics", headers={
            "Accept": "application/openmetrics-text; version=1.0.0"}), timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text"), resp.headers["Content-Type"]
        names = {f.name for f in openmetrics_families(resp.read().decode())}
    assert {"fer_edge_frames", "fer_edge", "process_resident_memory_bytes"} <= names, names


def test_listen_backlog_holds_a_burst_of_200_health_checks(service):
    port = service.port
    if shutil.which("ss"):  # the backlog itself, as the kernel has it (Send-Q of a listening socket)
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
        assert int(out[2]) >= 128, out

    def check(_) -> int:  # refused or reset, it raises: a burst beyond the backlog fails here, however fast
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as resp:
            return resp.status

    with ThreadPoolExecutor(200) as pool:
        results = list(pool.map(check, range(200)))
    assert results == [200] * 200


@pytest.mark.parametrize("host,warned", [("127.0.0.1", False), ("::1", False), ("0.0.0.0", True), ("::", True),
                                         ("192.168.1.20", True), ("localhost", False)])
def test_exposure_warning_names_what_is_exposed(host, warned):
    text = exposure_warning(host)
    assert (text is not None) == warned
    if warned:
        assert all(path in text for path in ("/healthz", "/metrics", "/events/latest")) and "127.0.0.1" in text


def test_binding_every_interface_warns_at_start(tmp_path):
    with Service(tmp_path, "--source", "demo", "--source-fps", "5", "--events", "", "--http-host", "0.0.0.0") as svc:
        svc.poll_until(lambda: "listening on every network interface" in svc.stderr(), timeout=90)
        assert svc.stop() == 0, svc.stderr()
    warned = [x for x in svc.stderr().splitlines() if "every network interface" in x]
    assert len(warned) == 1 and "/metrics" in warned[0] and "/events/latest" in warned[0], warned


def test_stream_password_never_printed_logged_or_sent_to_systemd(tmp_path):
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live"
    with Service(tmp_path, "--source", url, "--source-reconnect-min-s", "0.1", "--source-reconnect-max-s", "0.2",
                 "--events", "") as svc:
        svc.wait_for("STATUS=waiting for camera: source ", timeout=90)
        svc.poll_until(lambda: svc.count("STATUS=waiting for camera: source ") >= 2, timeout=30)
        assert svc.stop() == 0, svc.stderr()
    err = svc.stderr()
    assert re.search(r"source rtsp://admin:\*\*\*@127\.0\.0\.1:\d+/live", err), err
    assert "hunter2" not in err and not any("hunter2" in m for m in svc.messages), err
    proc = run_cli("run", "--source", url, "--frames", "1", timeout=120)
    assert proc.returncode != 0 and "admin:***@" in proc.stderr and "hunter2" not in proc.stderr, proc.stderr


SECRET_URLS = [  # issue 20, D7: what the fixed list of secret names let through
    "http://127.0.0.1:{port}/videostream.cgi?loginuse=admin&loginpas=S3CRET",
    "rtsp://admin:my S3CRET/x@127.0.0.1:{port}/live",
    "rtsp://127.0.0.1:{port}/user=admin&password=S3CRET&channel=1&stream=0.sdp",
    "http://127.0.0.1:{port}/x?authkey=S3CRET&credentials=S3CRET&passphrase=S3CRET",
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_a_secret_anywhere_in_the_url_is_masked_in_journal_status_and_healthz(tmp_path, url):
    url = url.format(port=free_port())
    with Service(tmp_path, "--source", url, "--source-reconnect-min-s", "0.1", "--source-reconnect-max-s", "0.2",
                 "--events", "") as svc:
        svc.poll_until(lambda: svc.count("STATUS=waiting for camera: source ") >= 2, timeout=90)
        status, _, body = svc.get("/healthz")
        assert status == 503 and "***" in body and "S3CRET" not in body, body
        assert svc.stop() == 0, svc.stderr()
    err = svc.stderr()
    assert "***" in err and "S3CRET" not in err, err
    assert not any("S3CRET" in m for m in svc.messages), svc.messages
    printed = run_cli("run", "--source", url, "--print-config")
    assert printed.returncode == 0 and "S3CRET" not in printed.stdout and "holds credentials, not shown" in \
        printed.stdout, printed.stdout


def test_run_record_masks_a_secret_query_value(tmp_path):
    from fer_edge.benchmarks.loopback import MjpegServer

    server = MjpegServer(frames=10, stall=False)
    try:
        url = server.url + "?loginuse=admin&loginpas=S3CRET&channel=1"
        events = tmp_path / "events.jsonl"
        proc = run_cli("run", "--source", url, "--events", str(events), "--detector", "blazeface", timeout=120)
    finally:
        server.close()
    assert proc.returncode == 0 and "S3CRET" not in proc.stderr, proc.stderr
    record = events.read_text().splitlines()[0]
    assert '"type":"run"' in record and "S3CRET" not in record and "loginpas=***&channel=1" in record, record


class _Health:
    def healthy(self) -> bool:
        return True

    def health_text(self) -> str:
        return "ok\n"

    def metrics_text(self) -> str:
        return ""

    def latest_json(self) -> str:
        return "{}\n"


def test_out_of_descriptors_the_oldest_unfinished_request_makes_room_and_nothing_else_is_refused():
    """The descriptor reserve in-process: a server told it has room for two clients takes a third by closing one."""
    from fer_edge.outputs.http.server import _Server

    server = None

    def free() -> int:  # asked just after an accept: room for two clients, not three
        return 2 - (len(server._clients) + 1)

    server = _Server("127.0.0.1", 0, socket.AF_INET, free=free)
    server.endpoint = _Health()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_s": 0.05}, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        for sock in slow:
            sock.sendall(b"GET /hea")
        time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            assert resp.status == 200 and resp.read() == b"ok\n"
        assert slow[0].recv(100) == b"" and server.dropped == 1 and server.refused == 0  # the oldest was closed
        slow[1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            slow[1].recv(100)  # the younger one still waits
        for sock in slow:
            sock.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
