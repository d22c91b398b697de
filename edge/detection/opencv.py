"""OpenCV's face detectors: YuNet (a user-supplied ONNX model) and the Haar cascade (ships with opencv<5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import FerEdgeError, UsageError
from ..geometry import Box, Detection
from .base import NoOptions, option

# YuNet (2023mar) runs at the frame's own size: its conv layers cost 86.1 M MACs at 320x320, counted from the ONNX
# graph's weight shapes and strides, so about 841 per input pixel (1.74 G at 1920x1080).
YUNET_MACS_PER_PIXEL = 86.1e6 / (320 * 320)


@dataclass(frozen=True)
class YuNetOptions:
    model: str = option("", "the YuNet ONNX file: OpenCV Zoo's face_detection_yunet_2023mar.onnx, not bundled",
                        file=True, required=True)


class YuNetDetector:
    """cv2.FaceDetectorYN; keypoints: right eye, left eye, nose tip, right and left mouth corners."""

    name = "yunet"
    Options = YuNetOptions

    @classmethod
    def load(cls, name: str, options: YuNetOptions, threads: int, min_score: float | None) -> YuNetDetector:
        return cls(options.model, min_score=0.7 if min_score is None else min_score)

    def macs(self, width: int, height: int) -> int:
        """Multiply-accumulates per detect call on a width x height frame (approximate: stride-rounded maps)."""
        return round(YUNET_MACS_PER_PIXEL * width * height)

    def __init__(self, model_path: str | Path | None, min_score: float = 0.7, nms: float = 0.3, top_k: int = 50):
        if not model_path:
            raise UsageError("detector.options.model: needed for detector.name = \"yunet\" (OpenCV Zoo's "
                             "face_detection_yunet_2023mar.onnx)")
        if not 0 <= min_score < 1:  # NaN too: cv2's NMS asserts on it at the first frame
            raise UsageError(f"YuNet score threshold must be from 0 to below 1, not {min_score}")
        path = Path(model_path)
        if not path.is_file() or path.stat().st_size == 0:
            raise FerEdgeError(f"{path}: no such YuNet model file")
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), min_score, nms, top_k)
        except cv2.error as exc:
            raise FerEdgeError(f"{path}: not a usable YuNet ONNX model ({str(exc).strip().splitlines()[-1]})") from None
        self._size = (320, 320)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        _, faces = self._net.detect(frame)
        if faces is None:
            return []
        out = []
        for f in faces:
            x, y, bw, bh = (float(v) for v in f[:4])
            box = Box(max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
            kps = tuple((float(f[4 + 2 * i]), float(f[5 + 2 * i])) for i in range(5))
            out.append(Detection(box, float(f[14]), kps))
        return sorted(out, key=lambda d: -d.score)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: no model download, poor recall; a fallback."""

    name = "haar"
    Options = NoOptions

    @classmethod
    def load(cls, name: str, options: NoOptions, threads: int, min_score: float | None) -> HaarDetector:
        return cls()

    def macs(self, width: int, height: int) -> None:
        """Not a network: a cascade's cost depends on the image, so no MAC figure."""
        return None

    def __init__(self, min_size: int = 30, scale_factor: float = 1.1, min_neighbors: int = 5):
        cascades = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if not cascades or not hasattr(cv2, "CascadeClassifier"):
            raise FerEdgeError("this OpenCV has no Haar cascades (OpenCV 5 dropped them): pip install 'opencv-python-headless<5'")
        path = Path(cascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FerEdgeError(f"{path}: could not load the Haar cascade")
        self._args: dict[str, Any] = dict(scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size))

    def detect(self, frame: np.ndarray) -> list[Detection]:
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        rects, _, weights = self._cascade.detectMultiScale3(grey, outputRejectLevels=True, **self._args)
        out = [Detection(Box(float(x), float(y), float(x + w), float(y + h)), float(s))
               for (x, y, w, h), s in zip(rects, np.ravel(weights))]
        return sorted(out, key=lambda d: -d.score)
