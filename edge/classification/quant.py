"""Pure tensor math for quantized TFLite tensors: testable without an interpreter."""

from __future__ import annotations

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Real values to a quantized integer tensor: q = round(x / scale) + zero_point, clipped to the dtype."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float32) / np.float32(scale)) + zero_point
    out: np.ndarray = np.clip(q, info.min, info.max).astype(dtype)
    return out


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor to real values: scale * (q - zero_point), in int64 first so uint8/int8 cannot wrap."""
    return (np.float32(scale) * (q.astype(np.int64) - zero_point)).astype(np.float32)


def pixels_to_input(pixels: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Raw uint8 pixels to the model's input tensor dtype (float for float models, quantized for int8/uint8)."""
    if np.issubdtype(dtype, np.floating):
        return pixels.astype(dtype)
    if scale == 0:  # an unquantized integer input: feed the values as they are
        return pixels.astype(dtype)
    return quantize(pixels, scale, zero_point, dtype)


def output_to_probs(raw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Model output to float probabilities; int8 softmax outputs have scale 1/256 and zero point -128."""
    if np.issubdtype(raw.dtype, np.floating):
        return raw.astype(np.float32)
    return dequantize(raw, scale, zero_point) if scale else raw.astype(np.float32)
