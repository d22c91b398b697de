"""`--annotate out.mp4` writes a video that a browser plays: H.264 where this install can encode it (PyAV's libx264),
checked by loading it in a real headless Chromium; without an H.264 encoder, mp4v and a warning that says so."""

from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import pytest
from conftest import ROOT, assert_drawn, cli_env, video_frames, write_demo_clip
from test_preview import _browse

PAGE = """<!doctype html><html><body><video id="v" src="out.mp4" muted preload="auto"></video><pre id="r">pending</pre>
<script>
const v = document.getElementById("v"), r = document.getElementById("r");
v.addEventListener("canplay", () => { r.textContent = JSON.stringify(
  {readyState: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight}); });
v.addEventListener("error", () => { r.textContent = JSON.stringify({error: v.error.code, message: v.error.message}); });
</script></body></html>
"""


def _annotate(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clip = write_demo_clip(tmp_path / "clip.avi", 30, 320)
    return subprocess.run([sys.executable, "-m", "fer_edge.cli", "run", "--source", str(clip), "--annotate",
                           str(tmp_path / "site" / "out.mp4"), "--events", str(tmp_path / "events.jsonl")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env or cli_env(tmp_path))


def _assert_every_frame_drawn(tmp_path: Path) -> None:
    """Each frame of site/out.mp4 is the clip's frame with the events' face drawn on it (box colour, filled label)."""
    faces = [r for r in map(json.loads, (tmp_path / "events.jsonl").read_text().splitlines()) if r["type"] == "face"]
    raw, annotated = video_frames(tmp_path / "clip.avi"), video_frames(tmp_path / "site" / "out.mp4")
    assert len(faces) == len(annotated) == len(raw) == 30
    for face in faces:
        assert_drawn(raw[face["frame"]], annotated[face["frame"]], [face])


def _in_chromium(tmp_path: Path) -> dict:
    """What the page's <video> said of site/out.mp4 once Chromium loaded it over HTTP (loopback only)."""
    site = tmp_path / "site"
    (site / "index.html").write_text(PAGE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom = _browse(tmp_path / "profile", f"http://127.0.0.1:{server.server_address[1]}/index.html", "--dump-dom")
    finally:
        server.shutdown()
        server.server_close()
    return json.loads(re.search(r'<pre id="r">(.*?)</pre>', dom.stdout).group(1))


def test_annotated_mp4_is_h264_and_plays_in_chromium(tmp_path):
    proc = _annotate(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "annotated video: " in proc.stderr and "(H.264, 30 frames)" in proc.stderr, proc.stderr
    assert "warning" not in proc.stderr.lower()
    cap = cv2.VideoCapture(str(tmp_path / "site" / "out.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 30 and int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"h264"
    _assert_every_frame_drawn(tmp_path)
    video = _in_chromium(tmp_path)
    assert video.get("readyState", 0) >= 3, video  # HAVE_FUTURE_DATA: it can play
    assert video["duration"] == pytest.approx(1.0, abs=0.05) and (video["width"], video["height"]) == (320, 320)


def test_without_an_h264_encoder_it_warns_and_writes_mp4v_which_chromium_refuses(tmp_path):
    proc = _annotate(tmp_path, cli_env(tmp_path, block=("av",)))  # as an install without the video extra
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "no H.264 encoder" in line]
    assert len(warnings) == 1 and 'pip install "fer-edge[video]"' in warnings[0], proc.stderr
    assert "(MPEG-4 Part 2 (mp4v), 30 frames)" in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    _assert_every_frame_drawn(tmp_path)
    assert _in_chromium(tmp_path)["error"] == 4  # MEDIA_ERR_SRC_NOT_SUPPORTED: what the issue saw
