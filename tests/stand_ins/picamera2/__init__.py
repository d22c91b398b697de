"""A stand-in for picamera2 (no libcamera here), put first on PYTHONPATH of a `fer-edge` subprocess by
tests/test_runtime_parts.py, as apt's python3-picamera2 sits on a Pi. It serves grey test frames of the configured
size and, when FAKE_PICAMERA2_LOG names a file, appends one JSON line per call so the test can see what was asked."""

from __future__ import annotations

import json
import os
import time

import numpy as np


def _log(call: str, **fields) -> None:
    path = os.environ.get("FAKE_PICAMERA2_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"call": call, **fields}) + "\n")


class Picamera2:
    def __init__(self):
        self._config = None
        _log("init")

    def create_video_configuration(self, main, controls, lores=None):
        return {"main": dict(main), "controls": dict(controls), "lores": dict(lores) if lores else None}

    def configure(self, config):
        self._config = config
        lores = config["lores"]
        _log("configure", size=list(config["main"]["size"]), format=config["main"]["format"],
             controls=config["controls"], lores=[*lores["size"], lores["format"]] if lores else None)

    def start(self):
        _log("start")

    def capture_array(self, stream="main"):
        time.sleep(0.01)
        return self._array(stream)

    def capture_arrays(self, names):
        """Both streams of one request, and its metadata."""
        time.sleep(0.01)
        return [self._array(n) for n in names], {}

    def _array(self, stream):
        w, h = self._config[stream]["size"]
        if stream == "lores":  # YUV420: h rows of Y, then h / 2 rows of U and V
            return np.full((h * 3 // 2, w), 90, np.uint8)
        frame = np.zeros((h, w, 4), np.uint8)  # XBGR8888-like: the source keeps the first three channels
        frame[..., :3] = 90
        return frame

    def close(self):
        _log("close")
