"""Outlier-robust int8 calibration: leave out the rare image whose activations dwarf every other's.

The converter takes each tensor's int8 range from the minimum and maximum over all representative images.
One face that drives a tensor 100x past its usual peak (FER2013 has a few: blank frames, text, extreme
contrast) widens that tensor's int8 step for every face; a squeeze-and-excitation gate collapsed that way
(docs/train.md). So each image's peak per tensor is measured on the float model and compared with the
median peak over the calibration set; images far past it on any tensor are dropped before calibrating.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from fer_edge.quiet import native_stderr
from fer_edge.runtime import op_outputs, runtime

DEFAULT_RATIO = 10.0  # measured separation: dropped images scored 12.7-4,188, the largest kept 4.3-9.4 (docs/train.md)


@dataclass(frozen=True)
class Peaks:
    """Per image (rows) and per intermediate tensor (columns), the largest absolute value."""

    values: np.ndarray
    tensors: tuple[str, ...]


def activation_peaks(float_model: bytes, images: np.ndarray) -> Peaks:
    """Run a float32 TFLite model over raw-pixel `images`, keeping every op's output: their peaks."""
    Interpreter, _, _ = runtime()
    with native_stderr(), warnings.catch_warnings():  # "intended for debugging": here it is the point
        warnings.simplefilter("ignore", UserWarning)
        interpreter = Interpreter(model_content=float_model, experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
    outputs = op_outputs(interpreter)
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    source = interpreter.get_input_details()[0]["index"]
    values = np.zeros((len(images), len(outputs)), np.float32)
    for row, image in enumerate(images):
        interpreter.set_tensor(source, image[None].astype(np.float32))
        interpreter.invoke()
        values[row] = [np.abs(interpreter.get_tensor(i)).max() for i in outputs]
    return Peaks(values, tuple(names[i] for i in outputs))


def peak_ratios(peaks: np.ndarray) -> np.ndarray:
    """Each peak over its tensor's median peak across the images. A tensor at zero for most images (a gate that
    fires on a few faces) has no usual peak to judge by: 1 throughout. Judged, the images it fires on would all
    be left out, its int8 range would be empty, and LiteRT aborts on such a model (runtime.EMPTY_RANGE_SCALE)."""
    median = np.median(peaks, axis=0)
    safe = np.where(median > 0, median, 1.0)
    return np.where(median > 0, peaks / safe, 1.0)


def drop_outliers(float_model: bytes, images: np.ndarray, ratio: float) -> tuple[np.ndarray, dict]:
    """Which `images` to keep (a mask: not those with a peak over `ratio` times its tensor's median), and a record."""
    peaks = activation_peaks(float_model, images)
    ratios = peak_ratios(peaks.values)
    scores = ratios.max(axis=1)
    out = scores > ratio
    if out.all():  # rare (each image far out on some other tensor), but never calibrate on nothing: keep them all
        out[:] = False
    dropped = sorted(({"image": int(i), "ratio": round(float(scores[i]), 1),
                       "tensor": peaks.tensors[int(ratios[i].argmax())]} for i in np.flatnonzero(out)),
                     key=lambda d: -d["ratio"])
    info = {"rule": f"left out: images with an activation peak over {ratio:g}x that tensor's median peak",
            "ratio": ratio, "dropped": len(dropped), "images": dropped[:20],
            "largest_kept_ratio": round(float(scores[~out].max()), 2)}
    return ~out, info
