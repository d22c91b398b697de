"""Load a source model (.keras, .h5 or a SavedModel folder) as a callable on raw pixels, with clear errors."""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.errors import FerEdgeError, UsageError

# Named input normalizations a foreign model may expect; ours keep it in the graph ("none").
NORMALIZATIONS = {
    "none": (1.0, 0.0),
    "unit": (1 / 255.0, 0.0),          # x / 255
    "symmetric": (1 / 127.5, -1.0),    # (x / 255 - 0.5) * 2, e.g. the fer package's mini-Xception
}


def parse_normalization(text: str) -> tuple[float, float]:
    """A name from NORMALIZATIONS or 'SCALE,OFFSET' (model sees x * SCALE + OFFSET)."""
    if text in NORMALIZATIONS:
        return NORMALIZATIONS[text]
    try:
        scale, offset = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--normalize {text!r}: use {', '.join(NORMALIZATIONS)} or SCALE,OFFSET") from None
    return scale, offset


@dataclass(frozen=True)
class SourceModel:
    """A float model that takes raw 0-255 pixels (normalization, if any, already wrapped in)."""

    keras_model: object  # keras.Model taking raw pixels
    path: Path
    sha256: str
    height: int
    width: int
    channels: int
    classes: int
    normalization: tuple[float, float]
    flip_average: bool = False

    def predict(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        out = [np.asarray(self.keras_model(images[i:i + batch].astype(np.float32), training=False))
               for i in range(0, len(images), batch)]
        return np.concatenate(out) if out else np.zeros((0, self.classes), np.float32)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _load_keras(path: Path):
    import keras

    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise FerEdgeError(f"{path}: folder is not a SavedModel (no saved_model.pb)")
        try:
            layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        except Exception as exc:
            raise FerEdgeError(f"{path}: unreadable SavedModel ({_first_line(exc)})") from None
        return _wrap_saved_model(layer, path)
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise FerEdgeError(f"{path}: not a Keras model file (truncated or not a .keras zip archive)")
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise UsageError(f"{path}: unknown model type {suffix!r} (want .keras, .h5 or a SavedModel folder)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py OSError, zip errors, ValueError from deserialization
        raise FerEdgeError(f"{path}: not a loadable Keras model ({_first_line(exc)})") from None


def _wrap_saved_model(layer, path: Path):
    import keras
    import tensorflow as tf

    try:
        fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        spec = next(iter(fn.structured_input_signature[1].values()))
    except Exception as exc:
        raise FerEdgeError(f"{path}: SavedModel has no usable serving_default signature ({_first_line(exc)})") from None
    inputs = keras.Input(tuple(spec.shape[1:]), name="pixels")
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_source_model(path: str | os.PathLike, normalize: str = "none", flip_average: bool = False) -> SourceModel:
    """Load `path` and put `normalize` in front so the result takes raw pixels like our own models.

    `flip_average` bakes test-time augmentation into the graph: the mean of the
    probabilities for the face and its mirror image (one extra pass per face).
    """
    path = Path(path)
    if not path.exists():
        raise FerEdgeError(f"{path}: no such model file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise FerEdgeError(f"{path}: empty file, not a model")
    scale, offset = parse_normalization(normalize)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model = _load_keras(path)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] not in (1, 3) or shape[1] is None or shape[2] is None:
        raise FerEdgeError(f"{path}: model input {list(shape)} is not an image (want Nx H x W x 1 or 3)")
    classes = int(model.output_shape[-1])
    if (scale, offset) != (1.0, 0.0):
        import keras

        inputs = keras.Input(shape[1:], name="pixels")
        x = keras.layers.Rescaling(scale, offset=offset, name="normalize")(inputs)
        model = keras.Model(inputs, model(x), name=f"{model.name}_raw_pixels")
    if flip_average:
        model = _flip_averaged(model, shape[1:])
    return SourceModel(model, path, file_sha256(path), int(shape[1]), int(shape[2]), int(shape[3]), classes,
                       (scale, offset), flip_average)


def _flip_averaged(model, input_shape):
    import keras

    inputs = keras.Input(input_shape, name="pixels")
    mirrored = keras.layers.Lambda(lambda t: keras.ops.flip(t, axis=2), name="mirror")(inputs)
    probs = keras.layers.Average(name="flip_average")([model(inputs), model(mirrored)])
    return keras.Model(inputs, probs, name=f"{model.name}_flip_avg")
