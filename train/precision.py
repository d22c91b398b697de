"""Which float policy to train in: mixed bfloat16 pays only where the hardware computes bf16 natively.

On a CPU without `avx512_bf16` or AMX, Keras emulates bf16 and an epoch takes about five times longer than in
float32; with them (or on a GPU) it is about 2.7x faster. The CPU flags are read through `cpu_flags`, a seam a
test points at a file of its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path | None = None) -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (x86 `flags`, Arm `Features`); empty where it cannot be read."""
    try:
        text = (cpuinfo or CPUINFO).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def choose_mixed_bf16(requested: bool | None, flags: set[str], gpu: bool) -> tuple[bool, str]:
    """(train in mixed bfloat16?, the one line that says why). `requested` None means: decide from the hardware."""
    native = [f for f in NATIVE_BF16 if f in flags]
    if requested is False:
        return False, "training in float32 (--float32)"
    if gpu:
        return True, "training in mixed bfloat16 on the GPU"
    if native:
        return True, f"training in mixed bfloat16: the CPU computes bf16 natively ({', '.join(native)})"
    if requested:
        return True, "training in mixed bfloat16 as asked (--bf16), though the CPU has no avx512_bf16 or AMX: expect it slower"
    return False, "training in float32: the CPU has no avx512_bf16 or AMX, where mixed bfloat16 runs about 5x slower"


def gpu_present() -> bool:
    """Whether the Keras backend sees a GPU (TensorFlow or JAX); False when it cannot tell."""
    import keras

    try:
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # a backend that cannot list devices trains on the CPU
        return False
    return False
