"""`fer_edge.redact.redact`: stream passwords never reach a log line, and nothing else in the text changes."""

from __future__ import annotations

import pytest

from fer_edge.redact import redact


@pytest.mark.parametrize("text,want", [
    ("rtsp://admin:hunter2@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
    ("source rtsp://admin:hunter2@cam/live: rtsp://admin:hunter2@cam/live: cannot open video source",
     "source rtsp://admin:***@cam/live: rtsp://admin:***@cam/live: cannot open video source"),
    ("RTSP://Admin:Pw@cam", "RTSP://Admin:***@cam"),  # no path, any case
    ("rtsp://u:p@ss:w0rd@cam/x", "rtsp://u:***@cam/x"),  # an unescaped "@" in the password
    ("rtsp://u:@cam/x", "rtsp://u:***@cam/x"),
    ("http://cam/video.mjpg?user=a&password=b&fps=5", "http://cam/video.mjpg?user=a&password=***&fps=5"),
    ("http://cam/x?token=abc123", "http://cam/x?token=***"),
])
def test_passwords_and_secret_parameters_are_masked(text, want):
    assert redact(text) == want


@pytest.mark.parametrize("text", [
    "rtsp://cam:554/live", "rtsp://admin@cam/live", "http://cam/a@b", "/dev/video0", "demo", "0",
    "/home/pi/clips/a:b@c.mp4", "events /var/lib/fer-edge/events.jsonl: write failed", "",
])
def test_text_without_secrets_is_unchanged(text):
    assert redact(text) == text


def test_redact_is_idempotent():
    once = redact("rtsp://a:b@c/d?key=e")
    assert redact(once) == once == "rtsp://a:***@c/d?key=***"
