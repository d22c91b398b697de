"""Faces followed from frame to frame (`Tracker`, edge/tracking/tracker.py): boxes carried between detections
(follow), new faces confirmed before they are reported, one id per person (match), scene cuts ending every id
(scenecut), each face's labels smoothed with hysteresis (smoothing), and the per-face new/update/end events
(lifecycle). The defaults live with the config (edge/config/tuning.py).
"""

from __future__ import annotations

from .match import match_pairs
from .scenecut import cut_between, thumbnail
from .smoothing import UNCERTAIN, smooth_label
from .tracker import Checker, Track, Tracker

__all__ = ["UNCERTAIN", "Checker", "Track", "Tracker", "cut_between", "match_pairs", "smooth_label", "thumbnail"]
