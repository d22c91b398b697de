"""BlazeFace (MediaPipe face detection) on a TFLite runtime: anchors, decoding and weighted NMS written here.

Facts about the vendored float models: input RGB in [-1, 1], letterboxed to a
square; per anchor 16 regressors (cx, cy, w, h, then six keypoints x, y) in
input pixels relative to the anchor centre, and one score logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import FerEdgeError, UsageError
from ..geometry import Box, Detection, iou_matrix, weighted_nms
from ..runtime import make_interpreter
from .base import NoOptions

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "blazeface"


@dataclass(frozen=True)
class BlazeFaceSpec:
    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]
    min_score: float
    macs: int  # multiply-accumulates per invoke (conv, depthwise; batch 1), counted from the vendored float model


DEFAULT_VARIANT = "back"  # the only variant that finds every face in the test photos; see docs/run.md, "Detectors"
VARIANTS = {
    # near faces (a kiosk): 128x128
    "short": BlazeFaceSpec("face_detection_short_range.tflite", 128, (8, 16), (2, 6), 0.5, 31_000_000),
    # full-range (a room): 192x192, one anchor per cell on a 48x48 grid
    "full": BlazeFaceSpec("face_detection_full_range_sparse.tflite", 192, (4,), (1,), 0.5, 117_000_000),
    # the back-camera model: 256x256
    # 0.4, not MediaPipe's 0.5: on the test clip it adds real audience faces (1.32 -> 1.65 per frame), photos stay exact
    "back": BlazeFaceSpec("face_detection_back.tflite", 256, (16, 32), (2, 6), 0.4, 189_000_000),
}


def variant_of(name: str) -> str:
    """`blazeface-short` -> short; plain `blazeface` is the default variant."""
    return name.partition("-")[2] or DEFAULT_VARIANT


def anchor_centres(size: int, strides: tuple[int, ...], per_cell: tuple[int, ...]) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1], in the models' order: stride by stride, row-major, cell repeats."""
    out = []
    for stride, n in zip(strides, per_cell):
        cells = size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        out.append(np.repeat(centres, n, axis=0))
    return np.concatenate(out).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, size: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regressors (N, 16) and score logits (N,) -> corner boxes (N, 4) and keypoints (N, 6, 2) in [0, 1], scores."""
    r = raw_boxes.astype(np.float32) / size
    cx = r[:, 0] + anchors[:, 0]
    cy = r[:, 1] + anchors[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = r[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float32), -100, 100)))
    return boxes, keypoints, scores


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Fit into size x size keeping the aspect ratio, pad the rest: (square image, scale, pad_x, pad_y)."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    out = np.zeros((size, size) + image.shape[2:], np.uint8)
    out[int(pad_y):int(pad_y) + nh, int(pad_x):int(pad_x) + nw] = resized
    return out, scale, float(int(pad_x)), float(int(pad_y))


class BlazeFaceDetector:
    """detect(frame BGR) -> detections in frame pixels, best first."""

    Options = NoOptions

    @classmethod
    def load(cls, name: str, options: NoOptions, threads: int, min_score: float | None) -> BlazeFaceDetector:
        """`blazeface` (the default variant) or `blazeface-<variant>`."""
        return cls(variant_of(name), min_score=min_score, threads=threads)

    def __init__(self, variant: str = DEFAULT_VARIANT, min_score: float | None = None, iou_threshold: float = 0.3,
                 threads: int = 1, model_path: str | Path | None = None):
        if variant not in VARIANTS:
            raise FerEdgeError(f"unknown blazeface variant {variant!r}: use one of {', '.join(VARIANTS)}")
        self.spec = VARIANTS[variant]
        self.name = f"blazeface-{variant}"
        self.min_score = self.spec.min_score if min_score is None else min_score
        if not 0 < self.min_score < 1:
            raise UsageError(f"face score threshold must be between 0 and 1, not {self.min_score}")
        self._min_logit = float(np.log(self.min_score / (1 - self.min_score)))  # threshold logits: skip most sigmoids
        self.iou_threshold = iou_threshold
        self._interp = make_interpreter(model_path or MODEL_DIR / self.spec.file, threads)
        self._input = self._interp.get_input_details()[0]
        outputs = self._interp.get_output_details()
        self._boxes_idx = next(d["index"] for d in outputs if d["shape"][-1] == 16)
        self._scores_idx = next(d["index"] for d in outputs if d["shape"][-1] == 1)
        self._anchors = anchor_centres(self.spec.size, self.spec.strides, self.spec.anchors_per_cell)
        self._rgb = np.empty((self.spec.size, self.spec.size, 3), np.uint8)
        self._x = np.empty((1, self.spec.size, self.spec.size, 3), np.float32)

    def macs(self, width: int, height: int) -> int:
        """Multiply-accumulates per detect call: one invoke whatever the frame size (it is letterboxed)."""
        return self.spec.macs

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.detect_below(frame, None)[0]

    def detect_below(self, frame: np.ndarray, least: float | None) -> tuple[list[Detection], list[Detection]]:
        """`detect`'s faces; and with `least`, the boxes scoring from `least` up to the threshold that overlap no face
        (suppressed among themselves): where a closer look may find a face the model was unsure of (tiled.py's
        hints)."""
        size = self.spec.size
        # letterbox first, then colour and scale the small square: a third of the cost of doing it on the frame
        square, scale, pad_x, pad_y = letterbox(frame, size)
        code = cv2.COLOR_BGR2RGB if square.ndim == 3 else cv2.COLOR_GRAY2RGB
        cv2.cvtColor(square, code, dst=self._rgb)
        np.multiply(self._rgb, np.float32(1 / 127.5), out=self._x[0], dtype=np.float32)
        self._x -= 1.0
        self._interp.set_tensor(self._input["index"], self._x)
        self._interp.invoke()
        raw_boxes = self._interp.get_tensor(self._boxes_idx)[0]
        raw_scores = self._interp.get_tensor(self._scores_idx)[0, :, 0]
        placed = (frame.shape[:2], scale, pad_x, pad_y)
        keep = raw_scores > self._min_logit
        faces = self._placed(raw_boxes[keep], raw_scores[keep], self._anchors[keep], placed) if keep.any() else []
        if least is None:
            return faces, []
        low = (raw_scores > np.log(least / (1 - least))) & ~keep
        below = self._placed(raw_boxes[low], raw_scores[low], self._anchors[low], placed) if low.any() else []
        if faces and below:
            over = iou_matrix(np.array([d.box.as_array() for d in below]), np.array([d.box.as_array() for d in faces]))
            below = [d for d, o in zip(below, over.max(axis=1)) if o < self.iou_threshold]
        return faces, below

    def _placed(self, raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                placed: tuple[tuple[int, ...], float, float, float]) -> list[Detection]:
        """Decoded, suppressed candidates in frame pixels (`placed`: the frame's shape and the letterbox's scale and
        padding), best first."""
        size = self.spec.size
        (fh, fw), scale, pad_x, pad_y = placed
        boxes, kps, scores = decode(raw_boxes, raw_scores, anchors, size)
        dets = []
        for box, score, kp in weighted_nms(boxes, scores, kps, self.iou_threshold):
            # letterboxed [0, 1] -> frame pixels
            bx = (box * size - [pad_x, pad_y, pad_x, pad_y]) / scale
            kx = (kp * size - [pad_x, pad_y]) / scale
            bx = np.clip(bx, 0, [fw, fh, fw, fh])
            if bx[2] - bx[0] < 2 or bx[3] - bx[1] < 2:
                continue
            dets.append(Detection(Box(*map(float, bx)), score, tuple((float(a), float(b)) for a, b in kx)))
        return dets
