"""Result checks for benchmarks/pi_emulation.sh, run inside the emulated arm64 rootfs.

    python pi_emulation_check.py installed          the light install: aarch64 wheels, LiteRT as the runtime
    python pi_emulation_check.py run EVENTS.jsonl   `fer-edge run --source demo --frames 5` results
    python pi_emulation_check.py bench DIR          `fer-edge bench --quick --out DIR` results

Standard library only (it also runs on the host, in tests). Prints one `pi-emulation:` line per
check and exits 1 with the reason when one fails. The expectations are the constants below.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

RUN_FRAMES = 5
RUN_LABEL = "happy"  # the bundled demo photo: the smiling astronaut
# The light install's binary dependencies, each to come as an aarch64 wheel.
BINARY_DISTRIBUTIONS = ("numpy", "opencv-python-headless", "ai-edge-litert")
BENCH_FILE = "results.json"
BENCH_KEYS = {"schema": None, "machine": dict, "models": list}  # key: required type (None: any)


class CheckFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"pi-emulation: {text}", flush=True)


def wheel_tags(dist: str) -> list[str]:
    wheel = metadata.distribution(dist).read_text("WHEEL") or ""
    return [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]


def check_installed() -> None:
    machine = platform.machine()
    if machine != "aarch64":
        raise CheckFailed(f"platform.machine() is {machine}, not aarch64")
    parts = [f"fer-edge {metadata.version('fer-edge')}"]
    for dist in BINARY_DISTRIBUTIONS:
        tags = wheel_tags(dist)
        if not any("aarch64" in tag for tag in tags):
            raise CheckFailed(f"{dist} was not installed from an aarch64 wheel (tags {tags})")
        parts.append(f"{dist} {metadata.version(dist)} [{tags[0]}]")
    from fer_edge.runtime import runtime_name

    if runtime_name() != "ai-edge-litert":
        raise CheckFailed(f"the TFLite runtime is {runtime_name()}, not ai-edge-litert")
    say(f"installed: Python {platform.python_version()} {machine}: " + ", ".join(parts))


def check_run(events: Path) -> None:
    if not events.is_file():
        raise CheckFailed(f"no events file {events}")
    records = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    faces = [r for r in records if r.get("type") == "face"]
    stats = [r for r in records if r.get("type") == "stats"]
    if not stats or stats[-1].get("frames") != RUN_FRAMES:
        raise CheckFailed(f"expected a final stats record with frames={RUN_FRAMES}, got {stats[-1:] or 'none'}")
    frames = sorted({f["frame"] for f in faces})
    if frames != list(range(RUN_FRAMES)):
        raise CheckFailed(f"expected a face in each of frames 0-{RUN_FRAMES - 1}, got faces in frames {frames}")
    labels = sorted({f["label"] for f in faces})
    if labels != [RUN_LABEL]:
        raise CheckFailed(f"expected every face labelled {RUN_LABEL}, got {labels}")
    scores = [f["score"] for f in faces]
    say(f"run: ok: {stats[-1]['frames']} frames, {len(faces)} faces, all labelled {RUN_LABEL} "
        f"(score {min(scores):.2f}-{max(scores):.2f}); emulated fps {stats[-1].get('fps_mean')} (meaningless)")


def check_bench(out: Path) -> None:
    path = out / BENCH_FILE
    if not path.is_file():
        raise CheckFailed(f"no {path}")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"{path} is not JSON: {exc}") from None
    if not isinstance(results, dict):
        raise CheckFailed(f"{path}: top level is {type(results).__name__}, not an object")
    for key, kind in BENCH_KEYS.items():
        if key not in results:
            raise CheckFailed(f"{path}: no {key!r} key (keys: {sorted(results)})")
        if kind is not None and not isinstance(results[key], kind):
            raise CheckFailed(f"{path}: {key!r} is {type(results[key]).__name__}, not {kind.__name__}")
    if not results["models"]:
        raise CheckFailed(f"{path}: 'models' is empty")
    failed = [f"{m.get('name')}: {m.get('error')}" for m in results["models"] + results.get("video", [])
              if m.get("status") != "ok"]
    if failed:
        raise CheckFailed(f"{path}: failed measurements: {'; '.join(failed)}")
    if results["machine"].get("arch") not in (None, "aarch64"):
        raise CheckFailed(f"{path}: measured on {results['machine'].get('arch')}, not aarch64")
    others = ", ".join(f"{name} {'present' if (out / name).exists() else 'absent'}"
                       for name in ("results.csv", "report.md", "pareto.png"))
    say(f"bench: ok: {BENCH_FILE} schema {results['schema']!r}, {len(results['models'])} models; {others}")


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["installed"]:
                check_installed()
            case ["run", events]:
                check_run(Path(events))
            case ["bench", out]:
                check_bench(Path(out))
            case _:
                print(__doc__, file=sys.stderr)
                return 2
    except CheckFailed as exc:
        say(f"FAIL: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
