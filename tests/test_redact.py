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
    ("http://cam/video.mjpg?user=a&password=b&fps=5", "http://cam/video.mjpg?user=***&password=***&fps=5"),
    ("http://cam/x?token=abc123", "http://cam/x?token=***"),
    # issue 20, D7: by rule, not by a list of secret names
    ("rtsp://admin@cam/live", "rtsp://***@cam/live"),  # a userinfo without ":" may be a token: all of it
    ("https://ghp_0123456789abcdef@cam/x", "https://***@cam/x"),
    ("rtsp://admin:my secret@cam/x: cannot open", "rtsp://admin:***@cam/x: cannot open"),  # a space in it
    ("rtsp://admin:pa/ss@cam/x", "rtsp://admin:***@cam/x"),  # a "/" in it
    ("rtsp://admin:p@ss w/rd@cam/x", "rtsp://admin:***@cam/x"),  # all three
    ("http://cam/videostream.cgi?loginuse=admin&loginpas=s3cret",  # cheap IP cameras
     "http://cam/videostream.cgi?loginuse=***&loginpas=***"),
    ("http://cam/x?passphrase=a&authkey=b&credentials=c&X-Amz-Signature=d",
     "http://cam/x?passphrase=***&authkey=***&credentials=***&X-Amz-Signature=***"),
    ("http://cam/x?channel=1&subtype=0&resolution=640x480&fps=15", "http://cam/x?channel=1&subtype=0&resolution=640x480&fps=15"),
    ("http://cam/x?S3CR3T", "http://cam/x?***"),  # a bare query value: a token as like as not
    ("http://cam/x#access_token=abc", "http://cam/x#access_token=***"),
    ("rtsp://10.0.0.9:554/user=admin&password=x&channel=1&stream=0.sdp",  # credentials in the path (XMEye)
     "rtsp://10.0.0.9:554/user=***&password=***&channel=1&stream=0.sdp"),
    ("source http://cam/v.cgi?loginpas=s3cret: cannot open; reconnecting in 1.0 s",
     "source http://cam/v.cgi?loginpas=***: cannot open; reconnecting in 1.0 s"),  # the message's ":" stays
    ("a://u:p@h,b://v:q@i", "a://u:***@h,b://v:***@i"),  # two URLs without a space between
    ("STATUS=waiting for camera: source rtsp://u:p@cam/x: rtsp://u:p@cam/x: cannot open video source",
     "STATUS=waiting for camera: source rtsp://u:***@cam/x: rtsp://u:***@cam/x: cannot open video source"),
])
def test_passwords_and_secret_parameters_are_masked(text, want):
    assert redact(text) == want
    assert redact(want) == want


@pytest.mark.parametrize("text", [
    "rtsp://cam:554/live", "http://cam/a@b", "http://cam:8080/a@b", "/dev/video0", "demo", "0",
    "/home/pi/clips/a:b@c.mp4", "events /var/lib/fer-edge/events.jsonl: write failed", "",
    "source rtsp://cam/x: no frame for 10 s (stalled); mail me@home", "http://cam/x?channel=2&mute",
])
def test_text_without_secrets_is_unchanged(text):
    assert redact(text) == text


def test_redact_is_idempotent():
    once = redact("rtsp://a:b@c/d?key=e")
    assert redact(once) == once == "rtsp://a:***@c/d?key=***"
