"""The loop's frame rate with and without a loopback flood of /metrics requests (issue 20, D9).

    python -m fer_edge.benchmarks.metrics_flood --seconds 5 --repeat 5 --rate 1000

`fer-edge service` runs unpaced on the demo photo (`--source-fps 0`) as a subprocess; its frame rate is read from
its own fer_edge_frames_total over windows, alone, while a second process floods a decoy server (the flood's own cost
to the machine), and while it floods /metrics from `--clients` threads at `--rate` requests a second (a new
connection each, as a scraper gone wrong or a hostile local user would), the three interleaved `--repeat` times.
Reported: the median frame rates, their ratios, the HTTP thread's CPU share and the requests answered. The goal is a
loop within 10% of its unflooded rate: serving takes at most `fer_edge.outputs.http.server.CPU_SHARE` of a core and renders
/metrics at most every `METRICS_EVERY_S`, whatever the rate of requests.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fer_edge.benchmarks.machine import describe
from fer_edge.logs import log_to_stderr
from fer_edge.outputs.http.health import metric_value

log = logging.getLogger(__name__)

FLOOD = """
import socket, sys, threading, time
port, clients, seconds, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
done, counts = time.monotonic() + seconds, [0] * clients
def flood(i):
    due = time.monotonic()
    while time.monotonic() < done:
        due += clients / rate
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /metrics HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
                while s.recv(65536):
                    pass
            counts[i] += 1
        except OSError:
            pass
threads = [threading.Thread(target=flood, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts) / seconds)
"""
# What the flood gets from the decoy: /metrics-sized answers from a process of its own, so that the flood's cost to
# the machine (its own CPU, the kernel's loopback) is measured apart from what serving it costs the service.
DECOY = """
import socket, sys
server = socket.create_server(("127.0.0.1", 0), backlog=256)
print(server.getsockname()[1], flush=True)
body = b"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n" + b"x" * int(sys.argv[1])
while True:
    conn, _ = server.accept()
    try:
        conn.recv(4096)
        conn.sendall(body)
    except OSError:
        pass
    conn.close()
"""


def _metrics(url: str) -> str:
    return urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()


def _window(url: str, seconds: float) -> tuple[float, float]:
    """(frames a second, the HTTP thread's CPU share) over `seconds`."""
    first = _metrics(url)
    t0 = time.monotonic()
    time.sleep(seconds)
    last = _metrics(url)
    elapsed = time.monotonic() - t0

    def delta(name: str) -> float:
        return (metric_value(last, name) or 0.0) - (metric_value(first, name) or 0.0)

    return delta("fer_edge_frames_total") / elapsed, delta("fer_edge_http_cpu_seconds_total") / elapsed


def _flooded(url: str, port: int, seconds: float, clients: int, rate: float) -> tuple[float, float, float]:
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(port), str(clients), str(seconds + 2), str(rate)],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    fps, cpu = _window(url, seconds)
    served = float(flood.communicate(timeout=seconds + 60)[0].strip() or 0)
    return fps, cpu, served


def measure(seconds: float, clients: int, rate: float, detector: str, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="fer-edge-flood-") as tmp:
        err = Path(tmp) / "service.log"
        with err.open("w") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "fer_edge.cli", "service", "--source", "demo",
                                     "--source-fps", "0", "--detector", detector, "--events", "", "--http-port", "0"],
                                    stdout=subprocess.DEVNULL, stderr=fh)
        decoy = subprocess.Popen([sys.executable, "-c", DECOY, "20000"], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 90
            while not (found := re.search(r"http (http://\S+)", err.read_text())):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"service did not start: {err.read_text()[-400:]}")
                time.sleep(0.1)
            url = found.group(1)
            decoy_port = int(decoy.stdout.readline())
            time.sleep(3)  # warm up: the first frames load caches and the detector's buffers
            runs: dict[str, list[tuple[float, float, float]]] = {"alone": [], "decoy": [], "metrics": []}
            for _ in range(repeat):  # interleaved, so that a busy neighbour on the machine hits every phase alike
                runs["alone"].append((*_window(url, seconds), 0.0))
                runs["decoy"].append(_flooded(url, decoy_port, seconds, clients, rate))
                runs["metrics"].append(_flooded(url, int(url.rsplit(":", 1)[1]), seconds, clients, rate))
        finally:
            decoy.kill()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    fps = {name: statistics.median(r[0] for r in rows) for name, rows in runs.items()}
    return {"fps_median": {name: round(v, 1) for name, v in fps.items()},
            "fps_runs": {name: [round(r[0], 1) for r in rows] for name, rows in runs.items()},
            "ratio_to_alone": round(fps["metrics"] / fps["alone"], 3),
            "ratio_to_decoy_flood": round(fps["metrics"] / fps["decoy"], 3),
            "http_thread_cpu_share": round(statistics.median(r[1] for r in runs["metrics"]), 3),
            "requests_per_s": {"asked": rate, "decoy_answered": round(statistics.median(r[2] for r in runs["decoy"])),
                               "metrics_answered": round(statistics.median(r[2] for r in runs["metrics"]))},
            "clients": clients, "window_s": seconds, "repeat": repeat, "detector": detector}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="each measuring window")
    p.add_argument("--repeat", type=int, default=5, help="rounds of the three windows, interleaved")
    p.add_argument("--clients", type=int, default=4, help="flooding threads")
    p.add_argument("--rate", type=float, default=1000.0, help="requests a second the flood asks for, in all")
    p.add_argument("--detector", default="blazeface", help="the service's detector (blazeface: a fast loop)")
    args = p.parse_args(argv)
    log_to_stderr("fer_edge.benchmarks.metrics_flood")
    result = {"machine": describe(), **measure(args.seconds, args.clients, args.rate, args.detector, args.repeat)}
    fps = result["fps_median"]
    log.info(f"median {fps['alone']} fps alone, {fps['decoy']} with the flood on a decoy, {fps['metrics']} with it "
             f"on /metrics ({result['requests_per_s']}); the HTTP thread used {result['http_thread_cpu_share']:.0%} "
             "of a core")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
