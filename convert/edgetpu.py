"""Optional Edge TPU compilation: run `edgetpu_compiler` when it is on PATH, else say how to get it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

HOW_TO = ("edgetpu_compiler not found: on x86-64 Debian/Ubuntu add Coral's apt repository "
          "(https://coral.ai/docs/edgetpu/compiler/) and `apt-get install edgetpu-compiler`, then run "
          "`edgetpu_compiler -s -o OUT_DIR MODEL_int8.tflite`")


def compile_for_edgetpu(int8_model: Path, out_dir: Path) -> dict:
    """{'compiled': bool, ...}: the compiled model path and how many ops map to the TPU, or why not."""
    exe = shutil.which("edgetpu_compiler")
    if exe is None:
        return {"compiled": False, "message": HOW_TO}
    proc = subprocess.run([exe, "-s", "-o", str(out_dir), str(int8_model)], capture_output=True, text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return {"compiled": False, "message": f"edgetpu_compiler failed (exit {proc.returncode}): {log.strip()[-300:]}"}
    return {"compiled": True, "path": str(out_dir / f"{int8_model.stem}_edgetpu.tflite"), **parse_compiler_log(log)}


def parse_compiler_log(log: str) -> dict:
    """Op counts from the compiler's summary lines."""
    def grab(pattern: str) -> int | None:
        m = re.search(pattern, log)
        return int(m.group(1)) if m else None

    return {"ops_on_edgetpu": grab(r"Number of operations that will run on Edge TPU:\s*(\d+)"),
            "ops_on_cpu": grab(r"Number of operations that will run on CPU:\s*(\d+)")}
