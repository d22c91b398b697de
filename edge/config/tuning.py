"""The tracker's tuned defaults: the [smoothing] and [tracking] keys' defaults, which the tracker takes from here; and
the detector's compute budget (`detector.budget_mmacs`), which the loop takes from here.

The smoothing defaults were tuned on the Hamilton test clip with `python -m fer_edge.benchmarks.stability` (docs/bench.md,
"Stable labels"), never on FER2013; the tracking defaults follow from walking speed and the detection interval
(docs/run.md, "Tracking").
"""

from __future__ import annotations

# SWITCH_MARGIN was 0.15 until the FER+ default of 2026-12-06 (1,2,2,2,2 blocks), whose labels changed 11 times on the
# clip with it (2.5 per 100 face-frames) and 7 times with 0.25; a lower alpha (0.2) steadied them as well but showed a
# laugh a frame later than the third of a second at 15 fps that run promises.
ALPHA, MIN_SCORE, SWITCH_MARGIN, SCENE_CUT = 0.3, 0.3, 0.25, 18.0
# Pixels (a box's longer side): a smaller face is shown `uncertain`, too small to read an expression from. Chosen on
# FER+ PublicTest faces pasted into real photos by the benchmark's rule (python -m fer_edge.benchmarks.crops; docs/bench.md,
# "Small faces and the crop"): the detector's 10th-percentile box on 48 px faces. It was 32 (the box on 40 px faces)
# until the distilled default of 2026-12-07, which through the loop falls 7.5 points behind on 40 px faces (5 allowed).
MIN_FACE = 37

FOLLOW = ("flow", "velocity", "none")  # how a box moves between detections
CONFIRM = ("check", "hits", "none")  # how a new face is confirmed before it is reported
FOLLOW_DEFAULT, CONFIRM_DEFAULT = "flow", "check"
IOU_THRESHOLD = 0.3  # a detection overlapping a track's box this much is that track's
# A face missed by detections keeps its id (and, while it still looks like itself, its carried box) this long:
# more than two detection intervals of `room` at 1080p (18 frames, 0.6 s at 30 fps), so one missed detection,
# or a head turned away for a moment, does not end the face.
MAX_CARRY_S = 1.5
# A carried box whose 16x16 grey template correlates less than this with the one taken at the last detection has
# lost its face (a face against a jacket or a wall scores about 0, the same face a few frames on 0.7 or more).
MIN_LIKENESS = 0.2
# A face the flow loses is looked for again on a crop around its box (edge/tracking/regain.py): on the composed clip
# recall 0.725 -> 0.79 and ids per true track 1.67 -> 1.19 (python -m fer_edge.benchmarks.scene).
REGAIN = True
# A Pi-sized cost ceiling for the detector, amortized over the interval (issue 9): `room` on a 1080p frame costs
# 1.7 G MACs a call (nine back invokes), so with this budget it detects every 18th frame (or spends 94 M a frame a part
# at a time), while `back` (189 M) keeps every 2nd. `detector.budget_mmacs` sets it: more buys little recall at 1080p
# (docs/bench.md, "The detector budget"), less suits a board slower than a Pi 4.
DETECT_BUDGET_MACS = 100_000_000
