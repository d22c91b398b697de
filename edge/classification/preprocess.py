"""The one preprocessing step shared by training data, calibration and the runtime.

Models take raw 0-255 pixels and normalize inside their graph, so the only
thing done outside is geometry and colour: resize to the model's input size
and convert to its channel count. Calibration and the runtime both call
`to_model_input`, so int8 calibration sees exactly what the device will feed.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_model_input(image: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """Return a uint8 (H, W, C) array for a model input of `size` (h, w) and `channels`.

    `image` is grey (H, W) or (H, W, 1), or colour (H, W, 3) in OpenCV's BGR order.
    Colour models get RGB.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    h, w = size
    if image.shape[:2] != (h, w):
        shrink = image.shape[0] > h or image.shape[1] > w
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if channels == 1:
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return np.ascontiguousarray(image[:, :, None], dtype=np.uint8)
    if channels == 3:
        if image.ndim == 2:
            return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2), dtype=np.uint8)
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    raise ValueError(f"channels must be 1 or 3, not {channels}")


def batch_to_model_input(images: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """`to_model_input` over a batch (N, H, W[, C]); a no-op copy-free path when shapes match."""
    if images.ndim == 4 and images.shape[1:] == (size[0], size[1], channels) and images.dtype == np.uint8:
        return images
    out = np.empty((len(images), size[0], size[1], channels), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = to_model_input(image, size, channels)
    return out
