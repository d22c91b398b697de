"""SIGTERM to exit of `fer-edge service` in the states where a stop could hang: running, waiting out a reconnect
backoff, opening a stream whose server never answers, reading a stream that stalled, events to a FIFO nobody reads,
a watched folder whose path became a file, and an MQTT broker frozen after the login (goal: every stop under 2 s).

    python -m fer_edge.benchmarks.sigterm --repeat 3

Each state is set up on loopback only (benchmarks/loopback.py), the service runs as a subprocess as under systemd,
and the time from SIGTERM to the process's exit is measured; the exit code is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from fer_edge.benchmarks.loopback import FrozenBroker, MjpegServer, SilentServer
from fer_edge.logs import log_to_stderr
from fer_edge.outputs.http.health import metric_value

log = logging.getLogger(__name__)



def _until(check, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"state not reached (exit {proc.returncode}): {log.read_text()[-400:]}")
        time.sleep(0.05)


def _get(log: Path, path: str) -> tuple[int, str]:
    """Status and body of the service's `path`; (0, "") before it listens."""
    found = re.search(r"http (http://\S+)", log.read_text())
    if not found:
        return 0, ""
    try:
        with urllib.request.urlopen(found.group(1) + path, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _stalled(log: Path) -> bool:
    """Frames came, then none for `stale_after_s`: the reader sits in a read that does not return."""
    text = _get(log, "/metrics")[1]
    frames = metric_value(text, "fer_edge_frames_total") if text else None
    return bool(frames) and _get(log, "/healthz")[0] == 503


def _connected(server: SilentServer):
    """A check that the service has connected to `server` since the check was last met: the open is under way."""
    seen = [server.connections]

    def check(log: Path) -> bool:
        if server.connections > seen[0]:
            seen[0] = server.connections
            return True
        return False

    return check


def _filled(broker: FrozenBroker):
    """A check that the service has written 8 KB to `broker` since the check was last met: its window is full."""
    seen = [len(broker.received)]

    def check(log: Path) -> bool:
        if len(broker.received) > seen[0] + 8_000:
            seen[0] = len(broker.received)
            return True
        return False

    return check


def _states(tmp: Path):
    """name -> (service arguments, a server to close after, a check that the state is reached)."""
    silent, stalled, frozen = SilentServer(), MjpegServer(frames=30, stall=True), FrozenBroker()
    fifo = tmp / "events.fifo"  # no reader ever: a plain open() of it blocks until one comes
    os.mkfifo(fifo)
    replaced = tmp / "frames"  # the watched folder's path, a regular file now
    replaced.write_text("not a folder\n")
    return {
        "running (demo, 15 fps)": (["--source", "demo"], None, lambda log: _get(log, "/healthz")[0] == 200),
        "reconnect backoff (30 s)": (["--source", "/nonexistent/cam.mp4", "--source-reconnect-min-s", "30",
                                      "--source-reconnect-max-s", "30"], None,
                                     lambda log: "reconnecting in" in log.read_text()),
        "opening a silent stream": (["--source", silent.url], silent, _connected(silent)),
        "stream stalled, reader blocked in read": (
            ["--source", stalled.url, "--http-stale-after-s", "1"], stalled, _stalled),
        "events to a FIFO with no reader": (["--source", "demo", "--events", str(fifo)], None,
                                            lambda log: _get(log, "/healthz")[0] == 200),
        "watched folder replaced by a file": (["--source", str(replaced)], None,
                                              lambda log: "not a folder" in log.read_text()),
        "MQTT broker frozen (no PUBACK)": (["--source", "demo", "--mqtt-host", "127.0.0.1", "--mqtt-port",
                                           str(frozen.port), "--mqtt-update-every-s", "0.05"], frozen,
                                          _filled(frozen)),
    }


def measure(args: list[str], reached, log: Path) -> tuple[float, int]:
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fer_edge.cli", "service", "--http-port", "0", "--events", "",
                                 *args], stdout=subprocess.DEVNULL, stderr=err)
    try:
        _until(lambda: reached(log), 60, proc, log)
        time.sleep(0.5)  # well inside the state
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        return time.perf_counter() - t0, code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.sigterm")
    results = {}
    with tempfile.TemporaryDirectory(prefix="fer-edge-sigterm-") as tmp:
        for name, (service_args, server, reached) in _states(Path(tmp)).items():
            runs = [measure(service_args, reached, Path(tmp) / "service.log") for _ in range(args.repeat)]
            if server is not None:
                server.close()
            seconds = [s for s, _ in runs]
            results[name] = {"median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3),
                             "exit_codes": sorted({c for _, c in runs})}
            log.info(f"{name}: {results[name]}")
    print(json.dumps(results, indent=1))
    return 0 if all(r["exit_codes"] == [0] and r["max_s"] < 2.0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
