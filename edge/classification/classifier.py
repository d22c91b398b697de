"""Expression classifier over a TFLite model: raw face pixels in, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FerEdgeError
from ..labels import EMOTIONS
from ..runtime import Interpreter, allocate, make_interpreter
from .preprocess import batch_to_model_input, to_model_input
from .quant import output_to_probs, pixels_to_input
from .sidecar import ModelInput, read_sidecar, sidecar_path


class TFLiteClassifier:
    """Runs all faces of a batch in one invoke when the model's batch dimension is dynamic."""

    MAX_BATCH = 16

    def __init__(self, model_path: str | Path, threads: int = 1, accelerator: str = "none") -> None:
        self.path = Path(model_path)
        self.sidecar = read_sidecar(self.path) or {}
        self._threads, self._accelerator = threads, accelerator
        self._interp = make_interpreter(self.path, threads, accelerator)
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise FerEdgeError(f"{self.path}: expected one input and one output, found {len(inp)} and {len(out)}")
        self._in, self._out = inp[0], out[0]
        shape = tuple(int(s) for s in self._in["shape"])
        if len(shape) != 4 or shape[3] not in (1, 3) or min(shape[1:3]) < 8:
            raise FerEdgeError(f"{self.path}: model input {list(shape)} is not an image (want 1xHxWx1 or 1xHxWx3)")
        labels = self._sidecar_labels()
        n_out = int(self._out["shape"][-1])
        if n_out != len(labels):
            raise FerEdgeError(f"{self.path}: model has {n_out} outputs but {len(labels)} labels")
        self.input = ModelInput(shape[1], shape[2], shape[3], labels)
        signature = self._in.get("shape_signature")
        self.dynamic_batch = (accelerator == "none" and signature is not None and len(signature) > 0
                              and int(signature[0]) == -1)
        # One interpreter per batch size seen: re-allocating tensors whenever the face count changes costs more
        # than the invoke itself on a small model.
        self._by_batch = {shape[0]: self._interp}
        self._in_q = self._in["quantization"]
        self._out_q = self._out["quantization"]

    def _sidecar_labels(self) -> tuple[str, ...]:
        """The sidecar's labels (FER2013's when it has none), checked: a sidecar is edited by hand."""
        labels = self.sidecar.get("labels") or EMOTIONS
        if (not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) and x for x in labels)
                or len(set(labels)) != len(labels)):
            raise FerEdgeError(f"{sidecar_path(self.path)}: \"labels\" is not a list of distinct names")
        return tuple(labels)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.input.labels

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._in["dtype"])

    def _interpreter(self, n: int) -> Interpreter:
        interp = self._by_batch.get(n)
        if interp is None:
            interp = make_interpreter(self.path, self._threads, self._accelerator)
            interp.resize_tensor_input(self._in["index"], [n, *self.input.size, self.input.channels])
            allocate(interp)
            self._by_batch[n] = interp
        return interp

    def _invoke(self, pixels: np.ndarray) -> np.ndarray:
        interp = self._interpreter(len(pixels))
        interp.set_tensor(self._in["index"], pixels_to_input(pixels, self.input_dtype, *self._in_q))
        interp.invoke()
        return output_to_probs(interp.get_tensor(self._out["index"]), *self._out_q)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 at the model's input size -> (N, classes) float probabilities."""
        n = len(pixels)
        if n == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.dynamic_batch:
            step = self.MAX_BATCH
            return np.concatenate([self._invoke(pixels[i:i + step]) for i in range(0, n, step)])
        return np.concatenate([self._invoke(pixels[i:i + 1]) for i in range(n)])

    def classify(self, faces: list[np.ndarray]) -> np.ndarray:
        """Face crops of any size/colour (BGR or grey) -> probabilities, through the shared preprocessing."""
        if not faces:
            return np.zeros((0, len(self.labels)), np.float32)
        spec = self.input
        return self.predict(np.stack([to_model_input(f, spec.size, spec.channels) for f in faces]))

    def predict_dataset(self, images: np.ndarray, batch: int = 64) -> np.ndarray:
        """Probabilities for a whole dataset in fixed-size chunks (one resize, last chunk padded)."""
        images = batch_to_model_input(images, self.input.size, self.input.channels)
        if not self.dynamic_batch:
            return self.predict(images)
        out = []
        for start in range(0, len(images), batch):
            chunk = images[start:start + batch]
            pad = batch - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            out.append(self._invoke(chunk)[: batch - pad])
        return np.concatenate(out)

    def tensor_dtypes(self) -> list[tuple[str, str]]:
        """(name, dtype) of every tensor, for the all-integer (Edge TPU) check."""
        return [(d["name"], np.dtype(d["dtype"]).name) for d in self._interp.get_tensor_details()]

