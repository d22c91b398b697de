"""The live preview page in a real headless Chromium, its MJPEG stream and token on real sockets, and privacy.

Real `fer-edge service` and `fer-edge run` subprocesses on the demo photo; Debian's `chromium` loads the page,
takes a screenshot (the annotated picture: the box colour where the face is) and dumps the DOM after the page's
script ran (the face list). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REQUIRE, ROOT, assert_one_line_error, run_cli

from fer_edge.outputs.annotate import COLOURS
from fer_edge.outputs.http.mjpeg import BOUNDARY
from fer_edge.outputs.http.preview import MAX_VIEWERS
from fer_edge.sources import DEMO_IMAGE

TOKEN = "s3cret-preview-token-0123"
PREVIEW_PATHS = ("/", "/preview", "/faces", "/preview.mjpg")


class Proc:
    """`fer-edge ARGS` in a subprocess with its own working folder, TMPDIR and HOME; the URL read from its log."""

    def __init__(self, tmp: Path, *args: str):
        self.tmp = tmp
        for name in ("work", "tmp", "home"):
            (tmp / name).mkdir(parents=True, exist_ok=True)
        self.log = tmp / "stderr.log"
        env = {**os.environ, "TMPDIR": str(tmp / "tmp"), "HOME": str(tmp / "home"), "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with self.log.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "fer_edge.cli", *args], stdout=subprocess.DEVNULL,
                                         stderr=err, cwd=tmp / "work", env=env)
        deadline = time.monotonic() + 90
        while not (found := re.search(r"http (http://\S+)", self.stderr())):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.stderr()
            time.sleep(0.05)
        self.url = found.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        while self.get("/healthz")[0] != 200:  # a frame went through: the preview has a picture
            assert time.monotonic() < deadline and self.proc.poll() is None, self.stderr()
            time.sleep(0.1)

    def stderr(self) -> str:
        return self.log.read_text()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def metric(self, name: str) -> float:
        body = self.get("/metrics")[2].decode()
        return float(re.search(rf"^{name} (\S+)$", body, re.M).group(1))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def _stream_parts(port: int, n: int, token: str = "", timeout: float = 20.0) -> tuple[bytes, list[bytes]]:
    """The response head and the first `n` JPEG parts of /preview.mjpg, read off a raw socket."""
    query = f"?token={token}" if token else ""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET /preview.mjpg{query} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        data, deadline = b"", time.monotonic() + timeout
        while data.count(b"--" + BOUNDARY) < n + 1 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    parts = []
    for chunk in body.split(b"--" + BOUNDARY)[1:]:
        headers, _, rest = chunk.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", headers).group(1))
        if len(rest) >= length:
            parts.append(rest[:length])
    return head, parts[:n]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium not installed (apt-get install chromium; .ci/run installs it)"
        if REQUIRE:
            pytest.fail(message + " (FER_EDGE_REQUIRE_SHARED=1 turns this skip into a failure)")
        pytest.skip(message)
    return path


def _browse(profile: Path, url: str, *what: str, size: str = "1000,700") -> subprocess.CompletedProcess:
    """Headless Chromium on `url` for 3 s of page time: `what` is --screenshot=FILE or --dump-dom."""
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--window-size={size}", "--virtual-time-budget=3000",
           "--hide-scrollbars", *what, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _box_pixels(image: np.ndarray, box: list[int], colour: tuple[int, int, int], tolerance: int = 60) -> float:
    """Share of points on the box's outline with a pixel of `colour` (BGR) within one pixel of them."""
    x1, y1, x2, y2 = box
    points = ([(x, y) for x in range(x1, x2 + 1, 4) for y in (y1, y2)]
              + [(x, y) for y in range(y1, y2 + 1, 4) for x in (x1, x2)])
    target = np.array(colour, np.int32)
    hits = 0
    for x, y in points:
        patch = image[max(0, y - 1):y + 2, max(0, x - 1):x + 2].reshape(-1, 3).astype(np.int32)
        hits += bool((np.abs(patch - target).max(axis=1) <= tolerance).any())
    return hits / len(points)


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    svc = Proc(tmp_path_factory.mktemp("svc"), "service", "--source", "demo", "--http-port", "0",
               "--http-preview", "true", "--http-preview-fps", "4", "--events", "events.jsonl")
    yield svc
    assert svc.stop() == 0, svc.stderr()


def test_page_in_chromium_shows_the_annotated_picture_and_the_face_list(preview, tmp_path):
    assert "preview on at http://127.0.0.1:" in preview.stderr() and "without a token (loopback only)" in preview.stderr()
    shot = tmp_path / "page.png"
    _browse(tmp_path / "profile", preview.url + "/", f"--screenshot={shot}")
    page = cv2.imread(str(shot))
    assert page is not None and page.shape[:2] == (700, 1000)
    demo = cv2.imread(str(DEMO_IMAGE))
    # where the live picture sits on the page: the demo photo matched in the screenshot, at its own size
    scores = cv2.matchTemplate(page, demo, cv2.TM_CCOEFF_NORMED)
    _, best, _, (left, top) = cv2.minMaxLoc(scores)
    assert best > 0.8, best
    face = json.loads(preview.get("/faces")[2])["faces"][0]
    assert face["smoothed_label"] == "happy"
    x1, y1, x2, y2 = face["box"]
    on_page = [x1 + left, y1 + top, x2 + left, y2 + top]
    happy = COLOURS["happy"]
    assert _box_pixels(page, on_page, happy) > 0.8  # the drawn box, in the happy colour, around the face
    assert _box_pixels(demo, face["box"], happy) < 0.2  # and it is not in the photo itself

    dom = _browse(tmp_path / "profile2", preview.url + "/preview", "--dump-dom").stdout
    faces = re.search(r'<ul id="faces" data-frame="(\d+)" data-moment="(\d+)">(.*?)</ul>', dom, re.S)
    assert faces, dom
    assert re.search(r'<div class="face">#\d+ happy [01]\.\d\d</div><div class="raw">this frame:</div>', faces.group(3))
    img = re.search(r'<img id="live"[^>]*>', dom).group(0)
    picture = [re.search(rf'{name}="([^"]*)"', img).group(1) for name in ("src", "data-frame", "data-moment")]
    assert picture[0].startswith("blob:") and picture[1:] == list(faces.groups()[:2]), img  # the picture's own moment
    assert '<p id="status">1 face</p>' in dom
    info = re.search(r'<p id="info">(.*?)</p>', dom).group(1)
    assert re.fullmatch(rf"frame {faces.group(1)} · \d+\.\d fps · healthy · model dscnn_ferplus_int8\.tflite · detector room",
                        info), info
    assert "smoothed" in dom and "this frame's own" in dom  # the two kinds of label, explained


def test_moment_picture_and_its_faces_are_one_frame(tmp_path):
    """A face that moves 8 px a frame: the boxes /faces?moment=N gives are the ones drawn on /moment.jpg's picture
    N, and not those of the frame before or after (which the latest-faces poll could give)."""
    from conftest import write_demo_clip  # noqa: F401 (the same clip writer, sliding the face instead)

    demo = cv2.resize(cv2.imread(str(DEMO_IMAGE)), (200, 200))
    clip = tmp_path / "sliding.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for k in range(160):  # 10.7 s at 15 fps, there and back: the checks below end well inside it on a busy machine
        x = 20 + 10 * (k % 80 if k % 80 < 40 else 80 - k % 80)
        canvas = np.full((360, 640, 3), 40, np.uint8)
        canvas[80:280, x:x + 200] = demo
        writer.write(canvas)
    writer.release()
    svc = Proc(tmp_path / "svc", "service", "--source", str(clip), "--source-fps", "15", "--http-port", "0",
               "--http-preview", "true", "--detect-every", "1", "--events", "")
    try:
        checked = 0
        for _ in range(12):
            status, headers, jpeg = svc.get("/moment.jpg")
            assert status == 200 and headers["Content-Type"] == "image/jpeg", status
            moment, frame = int(headers["X-Moment"]), int(headers["X-Frame"])
            time.sleep(0.1)  # the loop moves on (15 fps): the latest faces are another frame's by now
            status, _, body = svc.get(f"/faces?moment={moment}")
            assert status == 200, body
            data = json.loads(body)
            assert (data["moment"], data["frame"]) == (moment, frame)
            picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            for face in data["faces"]:
                colour = COLOURS[face["smoothed_label"]]
                assert _box_pixels(picture, face["box"], colour) > 0.8, (moment, face["box"])
                x1, y1, x2, y2 = face["box"]
                for shift in (-10, 10):  # a neighbouring frame's box is not what was drawn
                    assert _box_pixels(picture, [x1 + shift, y1, x2 + shift, y2], colour, tolerance=30) < 0.6
                checked += 1
            time.sleep(0.13)
        assert checked >= 6
        assert svc.get("/faces?moment=999999")[0] == 404
    finally:
        assert svc.stop() == 0


def test_at_1280_px_the_list_sits_beside_a_1080p_picture(tmp_path):
    photo = tmp_path / "room.png"
    canvas = np.full((1080, 1920, 3), 90, np.uint8)
    canvas[200:712, 700:1212] = cv2.imread(str(DEMO_IMAGE))
    cv2.imwrite(str(photo), canvas)
    svc = Proc(tmp_path / "svc", "service", "--source", str(photo), "--http-port", "0", "--http-preview", "true",
               "--events", "")
    try:
        shot = tmp_path / "wide.png"
        _browse(tmp_path / "profile", svc.url + "/", f"--screenshot={shot}", size="1280,800")
        page = cv2.imread(str(shot)).astype(int)
        assert page.shape[:2] == (800, 1280)
        grey = np.abs(page - 90).max(axis=2) < 12  # the picture's backdrop, scaled into the left column
        cols = np.flatnonzero(grey[:300].mean(axis=0) > 0.5)
        assert cols.size and cols.min() < 40 and 850 < cols.max() < 960, (cols.min(), cols.max())
        panel = page[:250, 970:1270]
        assert (panel.max(axis=2) > 200).sum() > 200  # light text: "Faces", the status and the face list
        below = page[560:, :]  # under the picture: nothing but the page background, no list
        assert (below.max(axis=2) > 200).sum() < 50
    finally:
        assert svc.stop() == 0


def _no_viewers(svc: Proc) -> None:
    deadline = time.monotonic() + 10
    while svc.metric("fer_edge_preview_viewers") > 0:  # closed viewers are noticed and let go
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_mjpeg_stream_is_encoded_only_while_watched_and_is_the_annotated_frame(preview):
    _no_viewers(preview)
    before = preview.metric("fer_edge_preview_frames_encoded_total")
    time.sleep(1.0)  # no viewer for a second at 4 fps: nothing encoded
    assert preview.metric("fer_edge_preview_frames_encoded_total") == before
    head, parts = _stream_parts(preview.port, 3)
    assert head.startswith(b"HTTP/1.0 200") and b"multipart/x-mixed-replace; boundary=fer-edge-frame" in head
    assert len(parts) == 3
    demo = cv2.imread(str(DEMO_IMAGE))
    for jpeg in parts:
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == demo.shape
        assert np.abs(picture.astype(int) - demo.astype(int)).mean() < 12  # the camera's picture...
    face = json.loads(preview.get("/faces")[2])["faces"][0]
    assert _box_pixels(picture, face["box"], COLOURS["happy"]) > 0.8  # ...with the box drawn on it
    assert preview.metric("fer_edge_preview_frames_encoded_total") >= before + 2
    _no_viewers(preview)


def test_stream_viewers_are_bounded_and_never_starve_health(preview):
    socks = []
    try:
        for _ in range(MAX_VIEWERS):  # viewers that never read: their socket buffers fill, they stall
            sock = socket.create_connection(("127.0.0.1", preview.port), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /preview.mjpg HTTP/1.0\r\n\r\n")
            socks.append(sock)
        deadline = time.monotonic() + 10
        while preview.metric("fer_edge_preview_viewers") < MAX_VIEWERS:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, _, body = preview.get("/preview.mjpg")
        assert status == 503 and b"busy" in body
        for _ in range(20):  # answered (within the client's timeout) while every viewer slot is held
            assert preview.get("/healthz")[0] == 200
        assert preview.metric("fer_edge_preview_viewers_refused_total") >= 1
    finally:
        for sock in socks:
            sock.close()
    _no_viewers(preview)
    assert len(_stream_parts(preview.port, 1)[1]) == 1


def test_faces_json_and_page_headers(preview):
    status, headers, body = preview.get("/faces")
    data = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert data["fresh"] and len(data["faces"]) == 1 and data["faces"][0]["label"] == "happy"
    status, headers, body = preview.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'sha256-" in headers["Content-Security-Policy"] and headers["Referrer-Policy"] == "no-referrer"
    assert b'<img id="live"' in body


def test_no_picture_is_written_to_disk(preview):
    """The preview keeps pictures in memory and on its viewers' sockets: after streaming, nothing new on disk."""
    assert len(_stream_parts(preview.port, 2)[1]) == 2
    written = sorted(str(p.relative_to(preview.tmp)) for p in preview.tmp.rglob("*") if p.is_file())
    assert written == ["stderr.log", "work/events.jsonl"], written
    assert not re.search(r"\.(jpe?g|png|mjpe?g)\b", preview.stderr())


def token_service(tmp_path: Path, host: str) -> Proc:
    """The demo service on `host` (a free port) with the preview on behind TOKEN, read from a file."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    return Proc(tmp_path / "svc", "service", "--source", "demo", "--http-host", host, "--http-port", "0",
                "--http-preview", "true", "--http-token-file", str(token_file), "--events", "")


def test_beyond_loopback_the_token_is_required_and_said_at_start(tmp_path):
    svc = token_service(tmp_path, "0.0.0.0")
    try:
        err = svc.stderr()
        assert "with the token (?token= or Authorization: Bearer)" in err and "every network interface" in err
        assert TOKEN not in err
        for path in PREVIEW_PATHS:
            status, headers, body = svc.get(path)
            assert status == 401 and b"token required" in body, (path, status)
            assert headers["WWW-Authenticate"].startswith("Bearer")
            assert svc.get(path + "?token=wrong-token-of-enough-length")[0] == 401
            assert svc.get(path, {"Authorization": "Bearer nope"})[0] == 401
        assert svc.get("/?token=" + TOKEN)[0] == 200
        assert svc.get("/faces", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert svc.get("/healthz")[0] == 200  # health and metrics stay as they were
        head, parts = _stream_parts(svc.port, 1, token=TOKEN)
        assert head.startswith(b"HTTP/1.0 200") and len(parts) == 1
        assert svc.metric("fer_edge_preview_requests_denied_total") == 3 * len(PREVIEW_PATHS)
    finally:
        assert svc.stop() == 0


def test_preview_off_serves_no_page_and_no_picture(tmp_path):
    """Privacy: with the preview off (the default) no path serves a picture, and nothing says preview."""
    svc = Proc(tmp_path, "service", "--source", "demo", "--http-port", "0", "--events", "")
    try:
        for path in PREVIEW_PATHS:
            status, headers, _ = svc.get(path)
            assert status == 404 and not headers["Content-Type"].startswith(("image/", "multipart/")), path
        assert "fer_edge_preview" not in svc.get("/metrics")[2].decode()
        assert "preview" not in svc.stderr()
    finally:
        assert svc.stop() == 0


def test_run_gains_http_only_when_asked(tmp_path):
    svc = Proc(tmp_path, "run", "--source", "demo", "--frames", "100000", "--events", "events.jsonl",
               "--http-port", "0", "--http-preview", "true")
    try:
        assert svc.get("/faces")[0] == 200
        assert len(_stream_parts(svc.port, 1)[1]) == 1
        assert "fer_edge_frames_total" in svc.get("/metrics")[2].decode()
    finally:
        assert svc.stop() == 0
    plain = run_cli("run", "--source", "demo", "--frames", "1")
    assert plain.returncode == 0 and "http" not in plain.stderr, plain.stderr


@pytest.mark.parametrize("args,fragments", [
    (["--http-host", "0.0.0.0", "--http-preview", "true"], ["http.token", "not loopback"]),
    (["--http-preview", "true", "--http-token", "short"], ["http.token (--http-token)", "too short"]),
    (["--http-preview", "true", "--http-token-file", "/nonexistent/token"], ["http.token_file", "cannot read"]),
    (["--http-preview", "true", "--http-enabled", "false"], ["http.preview", "http.enabled"]),
    (["--http-preview-fps", "0"], ["http.preview_fps (--http-preview-fps)", "out of range"]),
])
def test_bad_preview_settings_are_one_line_exit_2(args, fragments):
    assert_one_line_error(run_cli("service", "--source", "demo", "--check-config", *args), *fragments, code=2)
    if "--http-enabled" not in args:
        assert_one_line_error(run_cli("run", "--source", "demo", *args), *fragments, code=2)


@pytest.mark.network
def test_token_and_loopback_rules_without_a_service(tmp_path, network):  # looks up no-such-host.invalid
    from fer_edge.config import HttpConfig
    from fer_edge.config.http import is_loopback, read_token
    from fer_edge.errors import UsageError
    from fer_edge.outputs.http.preview import Preview

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("no-such-host.invalid")
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}  \nignored second line\n")
    assert read_token(HttpConfig(token_file=str(token_file))) == TOKEN
    for bad, message in ((HttpConfig(token=TOKEN, token_file=str(token_file)), "not both"),
                         (HttpConfig(token="with a space 0123456789"), "without spaces"),
                         (HttpConfig(token_file=str(tmp_path)), "cannot read")):
        with pytest.raises(UsageError, match=message):
            read_token(bad)
    guarded, open_ = Preview(token=TOKEN), Preview()
    assert guarded.answer("GET", "/healthz", {}) is None  # not a preview path: the endpoint's own
    assert guarded.answer("GET", "/faces", {})[0] == 401
    assert guarded.answer("GET", f"/faces?token={TOKEN}", {})[0] == 200
    assert guarded.answer("GET", "/faces", {"Authorization": f"bearer {TOKEN}"})[0] == 200
    assert guarded.answer("GET", f"/faces?token={TOKEN}x", {})[0] == 401
    assert open_.answer("GET", "/faces", {})[0] == 200
    assert json.loads(open_.answer("GET", "/faces", {})[2])["faces"] == []  # no frame yet
