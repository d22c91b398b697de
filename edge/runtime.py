"""The only module that imports a TFLite runtime or loads a delegate.

Order: LiteRT (`ai_edge_litert`, numpy 2, XNNPACK int8), then `tflite_runtime`
(numpy<2, much slower int8), then `tf.lite` as a last resort on a desktop.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import DeviceError, FerEdgeError, UsageError
from .quiet import native_stderr

EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
ACCELERATORS = ("none", "edgetpu")
MAX_THREADS = 64  # as the service config's `threads`; far beyond it the binding fails with a C++ signature dump


TensorDetails = dict[str, Any]  # the runtime's description of a tensor: "index", "shape", "dtype", "quantization", ...


class Interpreter(Protocol):
    """What fer-edge calls of a TFLite interpreter (LiteRT's, tflite_runtime's and tf.lite's are alike; untyped)."""

    def allocate_tensors(self) -> None: ...

    def get_input_details(self) -> list[TensorDetails]: ...

    def get_output_details(self) -> list[TensorDetails]: ...

    def get_tensor_details(self) -> list[TensorDetails]: ...

    def resize_tensor_input(self, input_index: int, tensor_size: Sequence[int]) -> None: ...

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def get_tensor(self, tensor_index: int) -> np.ndarray: ...

    def _get_ops_details(self) -> list[dict[str, Any]]: ...  # public in every runtime since TF 2.5, just underscored


Runtime = tuple[Callable[..., Interpreter], Callable[[str], object], str]


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """(Interpreter class, load_delegate, runtime name) of the first runtime found."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "tflite-runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf  # last resort only: the device side never needs it

        return tf.lite.Interpreter, tf.lite.experimental.load_delegate, "tensorflow"
    except ImportError:
        raise FerEdgeError("no TFLite runtime installed: pip install ai-edge-litert") from None


def edgetpu_library() -> str:
    """Load the Edge TPU library by name; its absence is an install problem no restart fixes."""
    library = EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
    try:
        ctypes.CDLL(library)
    except OSError as exc:
        raise FerEdgeError(
            f"no Edge TPU available: could not load {library} ({str(exc).splitlines()[0]}); install libedgetpu1-std "
            "from Coral's apt repository, or run without --accelerator edgetpu") from None
    return library


def edgetpu_delegate() -> object:
    """Load the Edge TPU delegate, or say plainly that there is none.

    A missing library is a FerEdgeError; a library that finds no device is a DeviceError (it may be plugged in).
    """
    _, load_delegate, _ = runtime()
    library = edgetpu_library()  # probed first: a failed load_delegate leaves a Delegate whose __del__ prints
    try:
        return load_delegate(library)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DeviceError(
            f"no Edge TPU available: {library} found no device ({str(exc).splitlines()[0]}); plug in the Coral "
            "device, or run without --accelerator edgetpu") from None


def _model_arg(path: Path) -> dict[str, str | bytes]:
    """The runtime's binding takes a path only as UTF-8 text: a name with other bytes is passed as its content."""
    try:
        os.fsencode(path).decode("utf-8")
        return {"model_path": str(path)}
    except UnicodeDecodeError:
        try:
            return {"model_content": path.read_bytes()}
        except OSError as exc:
            raise FerEdgeError(f"{path}: cannot read ({exc.strerror or exc})") from None


def make_interpreter(model_path: str | Path, threads: int = 1, accelerator: str = "none") -> Interpreter:
    """A ready (tensors allocated) interpreter for `model_path`; errors name the file."""
    path = Path(model_path)
    if accelerator not in ACCELERATORS:
        raise UsageError(f"unknown accelerator {accelerator!r}: use one of {', '.join(ACCELERATORS)}")
    if not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"threads must be from 1 to {MAX_THREADS}, not {threads}")
    if not path.is_file():
        raise FerEdgeError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise FerEdgeError(f"{path}: empty file, not a TFLite model")
    Interpreter, _, _ = runtime()
    delegates = [edgetpu_delegate()] if accelerator == "edgetpu" else []
    try:
        with native_stderr():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" on every start
            interpreter = Interpreter(**_model_arg(path), num_threads=threads, experimental_delegates=delegates or None)
            _refuse_empty_ranges(interpreter, path)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        if "edgetpu-custom-op" in text:
            raise FerEdgeError(f"{path}: compiled for the Edge TPU; run it with --accelerator edgetpu") from None
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise FerEdgeError(f"{path}: not a valid TFLite model ({first})") from None
    return interpreter


# An int8 activation whose calibration range was empty gets the converter's placeholder scale, about 1e-8 (2e-6 over
# 255 steps); LiteRT then aborts the whole process in allocate_tensors (a rescale multiplier out of range). Real
# activation scales are 1e-5 and up.
EMPTY_RANGE_SCALE = 1e-7


def _refuse_empty_ranges(interpreter: Interpreter, path: Path) -> None:
    """A one-line error instead of that abort, naming the tensor no calibration image reached."""
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    for index in op_outputs(interpreter):
        scales = details[index]["quantization_parameters"]["scales"]
        if len(scales) and float(np.min(scales)) < EMPTY_RANGE_SCALE:
            raise FerEdgeError(f"{path}: int8 tensor {details[index]['name'].split(';')[0]!r} has an empty range "
                               f"(scale {float(np.min(scales)):.1e}): no calibration image reached it; convert again "
                               "with more or other --calib images")


def op_outputs(interpreter: Interpreter) -> list[int]:
    """The indices of the tensors the graph's ops write (activations, not weights), in order; empty on a runtime
    without the private ops listing (an older one)."""
    ops = getattr(interpreter, "_get_ops_details", None)
    return sorted({int(i) for op in ops() for i in op["outputs"]}) if ops else []


def allocate(interpreter: Interpreter) -> None:
    """`allocate_tensors` after a resize, as quiet as the first one."""
    with native_stderr():
        interpreter.allocate_tensors()


def runtime_name() -> str:
    return runtime()[2]


@dataclass(frozen=True)
class GraphOp:
    """One operator of a model's main graph: its builtin name and its tensors as (tensor index, shape); an
    optional input left out is (-1, None)."""

    name: str
    inputs: tuple[tuple[int, tuple[int, ...] | None], ...]
    outputs: tuple[tuple[int, tuple[int, ...] | None], ...]


def graph_ops(model_path: str | Path) -> list[GraphOp]:
    """The operators of a .tflite file with their tensor shapes at batch 1, read through the runtime itself (so the
    counter needs no flatbuffer schema and sees the shapes the runtime allocates)."""
    interpreter = make_interpreter(model_path)
    try:
        ops = interpreter._get_ops_details()  # noqa: SLF001 - public in every runtime since TF 2.5, just underscored
    except AttributeError:
        raise FerEdgeError(f"{model_path}: this TFLite runtime ({runtime_name()}) cannot list a model's operators") from None
    shapes: dict[int, tuple[int, ...]] = {}
    for detail in interpreter.get_tensor_details():
        shapes[int(detail["index"])] = tuple(int(s) for s in detail["shape"])

    def tensors(indices: Iterable[int]) -> tuple[tuple[int, tuple[int, ...] | None], ...]:
        return tuple((int(i), shapes.get(int(i))) for i in indices)

    return [GraphOp(str(op["op_name"]), tensors(op["inputs"]), tensors(op["outputs"])) for op in ops]
