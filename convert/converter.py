"""Keras model -> TFLite variants (float32, float16, dynamic-range, full-int8), verified and described."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.classification.classifier import TFLiteClassifier
from fer_edge.config.argtypes import csv_list
from fer_edge.convert.calibration import calibration_images
from fer_edge.convert.loading import SourceModel
from fer_edge.convert.outliers import drop_outliers
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.eval.datasets import class_counts
from fer_edge.files import atomic_write_bytes
from fer_edge.labels import EMOTIONS
from fer_edge.quiet import native_stderr

log = logging.getLogger(__name__)

VARIANTS = ("int8", "float16", "float32", "dynamic")


def parse_variants(text: str) -> tuple[str, ...]:
    names = tuple(v.lower() for v in csv_list(text))
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise UsageError(f"--variants {text!r}: choose from {', '.join(VARIANTS)}")
    return names


@dataclass(frozen=True)
class Converted:
    variant: str
    path: Path
    size_bytes: int
    seconds: float


def _converter(model: SourceModel):
    import tensorflow as tf

    return tf, tf.lite.TFLiteConverter.from_keras_model(model.keras_model)


def convert_variant(model: SourceModel, variant: str, calib: np.ndarray | None = None) -> bytes:
    """One TFLite flatbuffer. int8 is full-integer: int8 input and output, only int8 builtin ops."""
    tf, conv = _converter(model)
    if variant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if calib is None or not len(calib):
            raise FerEdgeError("int8 conversion needs calibration images (--calib)")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8

        def representative():
            for image in calib:  # raw 0-255 pixels, exactly what the runtime feeds
                yield [image[None].astype(np.float32)]

        conv.representative_dataset = representative
    elif variant != "float32":
        raise UsageError(f"unknown variant {variant!r}")
    sink = io.StringIO()
    try:
        # the converter prints a long "Saved artifact" dump to stdout and its "fully_quantize: ..." line to fd 2
        with contextlib.redirect_stdout(sink), native_stderr():
            return conv.convert()
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise FerEdgeError(f"{model.path}: {variant} conversion failed ({text[0] if text else type(exc).__name__})") from None


def non_integer_tensors(classifier: TFLiteClassifier) -> list[str]:
    """Names of tensors that are not integer; empty means the Edge TPU prerequisite holds."""
    return [f"{name} ({dtype})" for name, dtype in classifier.tensor_dtypes() if not dtype.startswith(("int", "uint"))]


def convert_all(model: SourceModel, out_dir: Path, name: str, variants: tuple[str, ...], calib_path: str | None,
                calib_n: int, seed: int = 0, outlier_ratio: float = 0.0) -> tuple[list[Converted], dict | None]:
    """Write `<out_dir>/<name>_<variant>.tflite` for each variant; return them and the calibration description.

    `outlier_ratio` > 0 leaves out calibration images with an activation that many times past the usual (outliers.py).
    """
    calib, calib_info = None, None
    built: dict[str, bytes] = {}  # the float32 flatbuffer the outlier check ran, kept for a float32 variant
    if "int8" in variants:
        if not calib_path:
            raise UsageError("int8 needs --calib (a FER2013 CSV or an image folder)")
        t0 = time.perf_counter()
        calib, calib_info, label_ids = calibration_images(calib_path, calib_n, (model.height, model.width),
                                                          model.channels, seed)
        log.info(f"calibration: {calib_info['images']} images from {calib_info['source']} "
                 f"({calib_info['sampling']}) in {time.perf_counter() - t0:.1f}s")
        if outlier_ratio:
            built["float32"] = convert_variant(model, "float32")
            keep, calib_info["outliers"] = drop_outliers(built["float32"], calib, outlier_ratio)
            calib = calib[keep]
            calib_info["images"] = len(calib)
            if label_ids is not None:  # the classes of the images calibrated on, not of those drawn
                calib_info["per_class"] = class_counts(label_ids[keep])
            log.info(f"calibration: {calib_info['outliers']['dropped']} outlier images left out "
                     f"(activation over {outlier_ratio:g}x the median peak), {len(calib)} kept")
    done = []
    for i, variant in enumerate(variants, 1):
        t0 = time.perf_counter()
        log.info(f"[{i}/{len(variants)}] converting {variant} ...")
        flat = built.get(variant) or convert_variant(model, variant, calib)
        path = out_dir / f"{name}_{variant}.tflite"
        atomic_write_bytes(path, flat)
        seconds = time.perf_counter() - t0
        done.append(Converted(variant, path, len(flat), round(seconds, 2)))
        log.info(f"[{i}/{len(variants)}] {path} {len(flat) / 1024:.0f} KiB in {seconds:.1f}s")
    return done, calib_info


def labels_for(model: SourceModel) -> list[str]:
    if model.classes != len(EMOTIONS):
        raise FerEdgeError(f"{model.path}: {model.classes} outputs, but FER2013 has {len(EMOTIONS)} classes")
    return list(EMOTIONS)
