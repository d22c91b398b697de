"""Is the loop any slower after a change? The same `fer-edge run` on a clip, by a git commit (before) and by the
working tree (after), alternately, each run a fresh process pinned to one core; medians of the loop's fps and of
its own per-stage times, in a JSON file and a markdown table.

    python -m fer_edge.benchmarks.before_after --before ac9650b --repeats 9 \\
        --out benchmarks/reference/x86_64-epyc-2core/refactor-19-before-after

Both sides run in this environment from copies (benchmarks/checkouts.py): only fer-edge's own code differs. The
order alternates (before-after, then after-before, ...) so a machine that warms up or gets busier over the runs
weighs on both alike; one untimed run each first compiles their bytecode. The figures are the loop's own, from
the last stats record `run` writes into its events: fps over the run, and each stage's mean ms per frame (detect:
per detection). Arguments after `--` go to `fer-edge run` on both sides (`-- --frames 30`, `-- --detect-every 1`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fer_edge.benchmarks.checkouts import Checkout, prepare, repo_root
from fer_edge.benchmarks.entry import command_line, failed
from fer_edge.benchmarks.machine import describe, short_name
from fer_edge.benchmarks.tables import fmt
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "track", "crop", "classify", "events", "total")
HAMILTON = "data/scenes/fr_short_hamilton_clip.mp4"


def run_once(side: Checkout, cmd: list[str], events: Path, cpu: int) -> dict:
    """`cmd` (a `fer-edge run` writing `events`) in a fresh process of this side, pinned to `cpu`: the loop's figures
    from its last stats record, and the process's wall time, CPU time and peak memory."""
    env = os.environ | {"PYTHONPATH": str(side.site)}
    events.unlink(missing_ok=True)
    with open(events.with_suffix(".log"), "wb") as logfile:
        t0 = time.perf_counter()
        proc = subprocess.Popen(["taskset", "-c", str(cpu), *cmd], env=env, cwd=events.parent, stdout=logfile,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = events.with_suffix(".log").read_text(errors="replace").strip().splitlines()[-3:]
        raise FerEdgeError(f"{side.label}: exit {proc.returncode}: {' / '.join(tail)}")
    records = [json.loads(line) for line in events.read_text().splitlines()]
    stats = [r for r in records if r.get("type") == "stats"]
    if not stats:
        raise FerEdgeError(f"{side.label}: the run wrote no stats record into {events}")
    model = next((r.get("config", {}).get("model") for r in records if r.get("type") == "run"), None)
    if model and side.site not in Path(model).parents:  # the bundled model lies beside the fer_edge that ran
        raise FerEdgeError(f"{side.label}: the run used {model}, not its own copy under {side.site}")
    last = stats[-1]
    return {"frames": last["frames"], "fps": last["fps_mean"], "faces_per_frame": last["faces_per_frame"],
            "detected_share": last.get("detected_share"),
            "stage_ms": {s: last["latency_ms"][s]["mean"] for s in STAGES if s in last["latency_ms"]},
            "wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def which_fer_edge(side: Checkout) -> Path:
    """Where this side's `fer_edge` is imported from (checked: it must be its copy, not the installed one)."""
    out = subprocess.run([sys.executable, "-c", "import fer_edge; print(fer_edge.__file__)"], capture_output=True,
                         text=True, env=os.environ | {"PYTHONPATH": str(side.site)}, cwd=side.site)
    path = Path(out.stdout.strip() or "?")
    if side.site not in path.parents:
        raise FerEdgeError(f"{side.label}: fer_edge imports from {path}, not from its copy {side.site}")
    return path


def summarize(runs: list[dict]) -> dict:
    """Medians over the runs (fps also its range)."""
    med = statistics.median
    fps = [r["fps"] for r in runs]
    return {"runs": len(runs), "fps_median": round(med(fps), 2), "fps_min": min(fps), "fps_max": max(fps),
            "faces_per_frame": sorted({r["faces_per_frame"] for r in runs}),
            "stage_ms_median": {s: round(med(r["stage_ms"][s] for r in runs), 3) for s in STAGES
                                if all(s in r["stage_ms"] for r in runs)},
            "wall_s_median": round(med(r["wall_s"] for r in runs), 3),
            "cpu_s_median": round(med(r["cpu_s"] for r in runs), 3),
            "peak_rss_mb_median": round(med(r["peak_rss_mb"] for r in runs), 1)}


def render_markdown(result: dict) -> str:
    b, a = result["before"]["summary"], result["after"]["summary"]

    def row(what: str, x, y, spec: str) -> str:
        ratio = fmt(y / x if x and y is not None else None, ".3f")
        return f"| {what} | {fmt(x, spec)} | {fmt(y, spec)} | {ratio} |"

    lines = [f"# The loop before and after: {result['machine_name']}", "",
             f"{result['created']} · `{result['command']}`", "",
             f"`{' '.join(result['run_command'])}` on {result['clip']}, pinned to CPU {result['cpu']}, {b['runs']} runs "
             "a side, alternating, each a fresh process. Medians over the runs; stage ms are the loop's own means per "
             "frame from its last stats record (detect: per detection).", "",
             f"| | before: {result['before']['label']} | after: {result['after']['label']} | after / before |",
             "|---|---|---|---|",
             row("loop fps", b["fps_median"], a["fps_median"], ".1f"),
             f"| fps range | {b['fps_min']:.1f}-{b['fps_max']:.1f} | {a['fps_min']:.1f}-{a['fps_max']:.1f} | |",
             f"| faces per frame | {', '.join(map(str, b['faces_per_frame']))} "
             f"| {', '.join(map(str, a['faces_per_frame']))} | |"]
    lines += [row(f"{s} ms", b["stage_ms_median"].get(s), a["stage_ms_median"].get(s), ".3f") for s in STAGES]
    lines += [row("process wall s", b["wall_s_median"], a["wall_s_median"], ".2f"),
              row("process CPU s", b["cpu_s_median"], a["cpu_s_median"], ".2f"),
              row("peak RSS MB", b["peak_rss_mb_median"], a["peak_rss_mb_median"], ".1f")]
    return "\n".join(lines) + "\n"


def measure(args: argparse.Namespace, command: str) -> dict:
    if args.repeats < 1:
        raise UsageError("--repeats must be at least 1")
    if shutil.which("taskset") is None:
        raise UsageError("taskset (util-linux) is not installed: it pins each run to --cpu")
    if args.cpu not in os.sched_getaffinity(0):
        raise UsageError(f"--cpu {args.cpu}: not one of this process's CPUs {sorted(os.sched_getaffinity(0))}")
    clip = Path(args.clip).resolve()
    if not clip.is_file():
        raise UsageError(f"--clip {clip}: no such video file")
    repo = repo_root(Path(args.repo))
    with tempfile.TemporaryDirectory(prefix="fer-edge-before-after-") as tmp_name:
        tmp = Path(tmp_name)
        sides = {"before": prepare(repo, args.before, tmp, "before"), "after": prepare(repo, args.after, tmp, "after")}
        for name, side in sides.items():
            log.info("%s: %s, fer_edge from %s", name, side.label, which_fer_edge(side).parent)
        run_cmd = [sys.executable, "-m", "fer_edge.cli", "run", "--source", str(clip), "--events", "events.jsonl",
                   "--stats-every", "1e9", *args.run_args]
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for name, side in sides.items():  # untimed: bytecode compiled, the clip in the page cache
            run_once(side, run_cmd, tmp / name / "events.jsonl", args.cpu)
        for i in range(args.repeats):
            for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                r = run_once(sides[name], run_cmd, tmp / name / "events.jsonl", args.cpu)
                runs[name].append(r)
                log.info("[%d/%d] %s: %.1f fps, %.2f faces a frame", i + 1, args.repeats, name, r["fps"],
                         r["faces_per_frame"])
    result = {"what": "the same fer-edge run by two versions, alternately", "created":
              datetime.now(UTC).isoformat(timespec="seconds"), "command": command, "machine": describe(),
              "cpu": args.cpu, "clip": clip.name, "run_command": ["taskset", "-c", str(args.cpu), "python", "-m",
                                                                   *run_cmd[2:]]}
    result["machine_name"] = short_name(result["machine"])
    for name, side in sides.items():
        result[name] = {"label": side.label, "summary": summarize(runs[name]), "runs": runs[name]}
    result["fps_ratio"] = round(result["after"]["summary"]["fps_median"] / result["before"]["summary"]["fps_median"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    from fer_edge.logs import log_to_stderr

    shared = Path(os.environ.get("FER_EDGE_SHARED", "../shared"))
    p = argparse.ArgumentParser(prog="python -m fer_edge.benchmarks.before_after", description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="the git commit to measure first (a hash, tag or branch)")
    p.add_argument("--after", default=None, help="the commit to compare it with (default: the working tree as it is)")
    p.add_argument("--clip", default=str(shared / HAMILTON), help="the video both run on (default: the Hamilton clip)")
    p.add_argument("--repeats", type=int, default=9, help="timed runs a side")
    p.add_argument("--cpu", type=int, default=1, help="the CPU every run is pinned to (taskset -c)")
    p.add_argument("--repo", default=".", help="the git checkout the commits are taken from")
    p.add_argument("--out", default="before-after", help="writes OUT.json and OUT.md")
    p.add_argument("run_args", nargs="*", help="after --: more arguments for fer-edge run, the same on both sides")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.before_after")
    try:
        result = measure(args, command_line("fer_edge.benchmarks.before_after", argv))
    except FerEdgeError as exc:
        return failed("fer_edge.benchmarks.before_after", exc)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_markdown(result)
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(result, indent=1) + "\n")
    atomic_write_text(out.with_name(out.name + ".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
