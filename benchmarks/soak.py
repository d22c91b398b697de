"""Soak the service: `fer-edge service` on a looping file for N frames, its memory and file descriptors sampled.

    python -m fer_edge.benchmarks.soak --source ../shared/data/scenes/fr_short_hamilton_clip.mp4 --frames 50000 --out soak.json

The service runs as a subprocess, as under systemd, unpaced (`--source-fps 0`) with a small events rotation size so
that reopening the clip and rotating the events file are both exercised many times. Frames are counted through
its own /metrics; resident memory (VmRSS) and open descriptors are read from /proc. At the end it gets SIGTERM and
the time to exit is measured, with the events file checked to end in a stats record that counts every frame.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fer_edge.benchmarks.machine import describe
from fer_edge.files import atomic_write_text
from fer_edge.logs import log_to_stderr
from fer_edge.outputs.http.health import metric_value

log = logging.getLogger(__name__)



def _proc(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return {"rss_mb": rss_kb / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}


def _frames(url: str) -> int:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    return int(metric_value(text, "fer_edge_frames_total") or 0)


def _wait_for_url(log: Path, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"http (http://\S+)", log.read_text())
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"service exited early ({proc.returncode}): {log.read_text()[-500:]}")
        time.sleep(0.2)
    raise SystemExit("service did not start")


def soak(source: str, frames: int, warmup: int, every_s: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="fer-edge-soak-") as tmp:
        events, log = Path(tmp) / "events.jsonl", Path(tmp) / "service.log"
        cmd = [sys.executable, "-m", "fer_edge.cli", "service", "--source", source, "--source-fps", "0",
               "--http-port", "0", "--events", str(events), "--outputs-events-max-mb", "8", *extra]
        with log.open("w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            url = _wait_for_url(log, proc)
            samples, warm, t0 = [], None, time.monotonic()
            while True:
                now = _proc(proc.pid)  # before the scrape, so its connection and thread are not counted
                n = _frames(url)
                sample = {"frames": n, "s": round(time.monotonic() - t0, 1), **now}
                samples.append(sample)
                if warm is None and n >= warmup:
                    warm = sample
                if n >= frames:
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"service died ({proc.returncode}): {log.read_text()[-500:]}")
                time.sleep(every_s)
            end = samples[-1]
            t_term = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            stop_s = time.perf_counter() - t_term
        finally:
            if proc.poll() is None:
                proc.kill()
        last = json.loads(events.read_text().splitlines()[-1])
        rotated = events.with_name(events.name + ".1").exists()
    warm = warm or samples[0]  # the run ended before the warm-up did: the baseline is the first sample
    after = [s for s in samples if s["frames"] >= warm["frames"]]
    return {
        "machine": describe(),
        "source": source, "frames_asked": frames, "warmup_frames": warmup, "extra_args": extra,
        "frames": end["frames"], "seconds": end["s"], "fps": round(end["frames"] / end["s"], 1) if end["s"] else None,
        "rss_mb_warm": round(warm["rss_mb"], 1), "rss_mb_end": round(end["rss_mb"], 1),
        "rss_mb_growth": round(end["rss_mb"] - warm["rss_mb"], 1),
        "rss_mb_max_after_warmup": round(max(s["rss_mb"] for s in after), 1),
        "fds_warm": warm["fds"], "fds_end": end["fds"], "fds_max": max(s["fds"] for s in after),
        "threads_warm": warm["threads"], "threads_end": end["threads"],
        "sigterm_to_exit_s": round(stop_s, 3), "exit_code": code,
        "events_end_with_stats": last.get("type") == "stats", "events_final_frames": last.get("frames"),
        "events_rotated": rotated, "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, help="a video file (looped by the service)")
    p.add_argument("--frames", type=int, default=50000)
    p.add_argument("--warmup", type=int, default=2000, help="frames before the memory baseline is taken")
    p.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--out", default=None, help="write the JSON result here too")
    p.add_argument("service_args", nargs="*", help="more `fer-edge service` flags (after --)")
    args = p.parse_args(argv)
    if args.frames < 1 or args.warmup < 0 or args.every <= 0:
        p.error("--frames must be at least 1, --warmup at least 0 and --every above 0")
    log_to_stderr("soak")
    if args.warmup > args.frames:  # no sample would come after the warm-up: take the baseline at the start
        log.warning(f"--warmup {args.warmup} is more than --frames {args.frames}; the memory baseline is taken at "
                    "the first sample instead")
    result = soak(args.source, args.frames, args.warmup, args.every, args.service_args)
    text = json.dumps(result, indent=1)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    return 0 if result["exit_code"] == 0 and result["events_end_with_stats"] else 1


if __name__ == "__main__":
    sys.exit(main())
