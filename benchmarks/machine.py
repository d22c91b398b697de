"""The machine a result was measured on: board, CPU, governor, temperature, throttling, OS and runtime versions.

Every reader tolerates a missing file: a laptop has no device-tree model, a
container no thermal zones. Paths hang off `root` so tests can point it at a
crafted tree.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").replace("\x00", "").strip() or None
    except OSError:
        return None


def board_model(root: Path = Path("/")) -> str | None:
    """A Pi names itself in the device tree ("Raspberry Pi 5 Model B Rev 1.0"); PCs in DMI."""
    model = _read(root / "proc/device-tree/model")
    if model:
        return model
    vendor, product = _read(root / "sys/class/dmi/id/sys_vendor"), _read(root / "sys/class/dmi/id/product_name")
    return " ".join(p for p in (vendor, product) if p) or None


def cpu_name(cpuinfo: str) -> str:
    """The CPU's name from /proc/cpuinfo's text (x86 "model name"; a Pi's "Model")."""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in cpuinfo.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def governors(root: Path = Path("/")) -> list[str]:
    """Distinct scaling governors across CPUs (empty when cpufreq is not exposed)."""
    found = {_read(p) for p in sorted((root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"))}
    return sorted(g for g in found if g)


def temperatures_c(root: Path = Path("/")) -> dict[str, float]:
    out = {}
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        temp = _read(zone / "temp")
        if temp and temp.lstrip("-").isdigit():
            out[_read(zone / "type") or zone.name] = round(int(temp) / 1000, 1)
    return out


def throttled() -> str | None:
    """`vcgencmd get_throttled` on a Pi ("throttled=0x0" means never throttled since boot)."""
    if shutil.which("vcgencmd") is None:
        return None
    try:
        out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def os_name(root: Path = Path("/")) -> str:
    for line in (_read(root / "etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return f"{platform.system()} {platform.release()}"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe(delegate: str = "none", root: Path = Path("/")) -> dict:
    """Everything a reader needs to trust or discount the numbers beside it."""
    from fer_edge.runtime import runtime_name

    govs = governors(root)
    runtime = runtime_name()
    packages = {name: _version(name) for name in
                ("fer-edge", runtime, "numpy", "opencv-python-headless", "opencv-python")}
    warnings = []
    if govs and govs != ["performance"]:
        warnings.append(f"CPU governor is {'/'.join(govs)}, not performance: latency varies with the clock "
                        "(sudo cpupower frequency-set -g performance, or echo performance > .../scaling_governor)")
    state = throttled()
    if state and state.split("=")[-1] not in ("0x0", "0"):
        warnings.append(f"the Pi reports throttling ({state}): check the power supply and cooling")
    cpuinfo = _read(root / "proc/cpuinfo") or ""
    # qemu-user passes the host's /proc/cpuinfo through: an Arm Python reading an x86 CPU is emulated
    emulated = platform.machine() in ("aarch64", "armv7l") and any(v in cpuinfo for v in ("GenuineIntel", "AuthenticAMD"))
    if emulated:
        warnings.append("emulated CPU (qemu-user): timings are meaningless")
    return {
        "emulated": emulated,
        "board": board_model(root), "cpu": cpu_name(cpuinfo), "arch": platform.machine(), "cores": os.cpu_count(),
        "governor": govs, "temperature_c": temperatures_c(root), "throttled": state,
        "os": os_name(root), "kernel": platform.release(), "python": platform.python_version(),
        "runtime": runtime, "packages": {k: v for k, v in packages.items() if v}, "delegate": delegate,
        "warnings": warnings,
    }


def short_name(machine: dict) -> str:
    """One line for titles: the board if known, else the CPU, with the core count."""
    return f"{machine.get('board') or machine.get('cpu')} ({machine.get('cores')} cores, {machine.get('arch')})"
