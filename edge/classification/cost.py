"""Compute per invoke of a .tflite model, counted from its graph: multiply-accumulates (MACs) and parameters.

MACs do not depend on the machine, so a user can compare models for a Raspberry Pi before measuring on one.
Counted: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV at the shapes the runtime allocates
(batch 1). A mirror-averaged model (`convert --flip-average`) holds both passes in its graph, so both count.
Everything else (pooling, adds, activations, resizes) is left out: it is a few percent of a conv net.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FerEdgeError

if TYPE_CHECKING:
    from ..runtime import GraphOp

COUNTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
# which inputs hold the weights and the bias of each counted kind (TRANSPOSE_CONV: output_shape, weights, input, bias)
_WEIGHT_BIAS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "TRANSPOSE_CONV": (1, 3)}

Tensor = tuple[int, tuple[int, ...] | None]


@dataclass(frozen=True)
class ModelCost:
    """MACs per invoke, parameters (weights and biases of the counted layers, each tensor once) and how many
    operators were counted. A mirror-averaged int8 graph shares its weights between the passes but re-quantizes
    the second pass's biases, so those (under 0.1%) count twice."""

    macs: int
    params: int
    layers: int

    def to_dict(self) -> dict[str, Any]:
        return {"macs": self.macs, "params": self.params, "layers": self.layers}


def _shape(tensors: tuple[Tensor, ...], i: int) -> tuple[int, ...] | None:
    return tensors[i][1] if i < len(tensors) and tensors[i][0] >= 0 else None


def op_macs(name: str, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> int:
    """MACs of one operator from its tensor shapes (0 for kinds not counted).

    CONV_2D weights are [Cout, kh, kw, Cin per group]: every output element costs kh*kw*Cin.
    DEPTHWISE_CONV_2D weights are [1, kh, kw, Cout]: kh*kw per output element.
    FULLY_CONNECTED weights are [units, depth]: depth per output element.
    TRANSPOSE_CONV weights are [Cout, kh, kw, Cin]: every input element is spread over kh*kw*Cout outputs.
    """
    if name not in COUNTED_OPS:
        return 0
    weights = _shape(inputs, 1)
    out = _shape(outputs, 0)
    if weights is None or out is None:
        raise FerEdgeError(f"{name}: tensor shapes unknown, cannot count MACs")
    if name == "CONV_2D":
        return math.prod(out) * weights[1] * weights[2] * weights[3]
    if name == "DEPTHWISE_CONV_2D":
        return math.prod(out) * weights[1] * weights[2]
    if name == "FULLY_CONNECTED":
        return math.prod(out) * weights[-1]
    source = _shape(inputs, 2)  # TRANSPOSE_CONV's data input
    if source is None:
        raise FerEdgeError(f"{name}: input shape unknown, cannot count MACs")
    return math.prod(source) * weights[0] * weights[1] * weights[2]


def count_cost(ops: Iterable[GraphOp]) -> ModelCost:
    """Sum `op_macs` over a graph's operators (`fer_edge.runtime.GraphOp`s) and count the distinct weight and bias
    tensors they read: a layer run twice (the mirror pass) shares its weights, so they count once."""
    macs, layers, param_tensors = 0, 0, {}
    for op in ops:
        if op.name not in COUNTED_OPS:
            continue
        macs += op_macs(op.name, op.inputs, op.outputs)
        layers += 1
        for i in _WEIGHT_BIAS[op.name]:
            shape = _shape(op.inputs, i)
            if shape is not None:
                param_tensors[op.inputs[i][0]] = math.prod(shape)
    return ModelCost(macs, sum(param_tensors.values()), layers)


@lru_cache(maxsize=32)
def _cached_cost(path: str, size: int, mtime_ns: int) -> ModelCost:
    from ..runtime import graph_ops

    return count_cost(graph_ops(path))


def model_cost(model_path: str | Path) -> ModelCost:
    """MACs and parameters of a .tflite file (cached per file version: the bench asks once per row)."""
    path = Path(model_path)
    if not path.is_file():
        raise FerEdgeError(f"{path}: no such model file")
    st = path.stat()
    return _cached_cost(str(path), st.st_size, st.st_mtime_ns)


def format_macs(macs: int | float | None) -> str:
    """'235 M', '0.42 M' or 'unknown': millions, to the precision a comparison needs."""
    if macs is None:
        return "unknown"
    millions = macs / 1e6
    return f"{millions:,.0f} M" if millions >= 10 else f"{millions:.2g} M"


def detector_macs(name: str) -> int | None:
    """MACs of one detection by a named detector; None for OpenCV's (YuNet's ONNX and Haar are not counted)."""
    from ..detection import detector_model_file

    path = detector_model_file(name)
    return None if path is None else model_cost(path).macs


def loop_macs_per_frame(detector: int | None, detect_every: int, classifier: int | None,
                        faces_per_frame: float) -> float | None:
    """Compute of one loop frame: the detector spread over the frames it runs on, plus the classifier once per
    face. None when either part is unknown."""
    if detector is None or classifier is None:
        return None
    return detector / max(detect_every, 1) + classifier * faces_per_frame
