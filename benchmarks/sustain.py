"""`fer-edge bench --sustain MINUTES`: the loop run for minutes, with its fps, the temperatures and the firmware's
throttling flags sampled over time. A Pi without a heatsink runs fast for a minute and then slows as it heats; the
tables' fps (seconds of work) cannot show that, this can.

The loop is `run`'s own (its detection interval too), on the bench's source looped without pause; temperatures come
from /sys/class/thermal (under `root`, so a test points it at a fake tree) and throttling from `vcgencmd
get_throttled` where it exists (bit 0: under-voltage now, bit 2: throttled now, bit 3: soft temperature limit now;
the high bits say the same since boot).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fer_edge.benchmarks.bench import BenchOptions
from fer_edge.benchmarks.bench_inputs import loop_source
from fer_edge.benchmarks.bench_models import find_models
from fer_edge.benchmarks.machine import describe, temperatures_c, throttled
from fer_edge.benchmarks.worker import INTERVAL_RULE, _loop_pipeline
from fer_edge.files import atomic_write_text, ensure_folder
from fer_edge.pipeline.sink import Closing
from fer_edge.pipeline.stats import LoopStats
from fer_edge.records import FrameResult

log = logging.getLogger(__name__)


class Sampler(Closing):
    """A sink: every `every_s`, one sample of the frames since the last, the temperatures, throttling."""

    def __init__(self, every_s: float, root: Path, clock=time.perf_counter) -> None:
        self.every_s, self.root, self._clock = every_s, root, clock
        self.t0 = self._last_t = clock()
        self._last_frames = 0
        self.samples: list[dict] = []

    def on_frame(self, result: FrameResult) -> None:
        now = self._clock()
        if now - self._last_t >= self.every_s:
            self.take(now, result.stats)

    def take(self, now: float, stats: LoopStats) -> None:
        frames = stats.frames - self._last_frames
        sample = {"t_s": round(now - self.t0, 1), "frames": stats.frames,
                  "fps": round(frames / (now - self._last_t), 2) if now > self._last_t else 0.0,
                  "temperature_c": temperatures_c(self.root), "throttled": throttled()}
        self.samples.append(sample)
        self._last_t, self._last_frames = now, stats.frames
        temps = ", ".join(f"{k} {v} °C" for k, v in sample["temperature_c"].items()) or "no thermal zone"
        log.info(f"sustain {sample['t_s']:7.1f} s: {sample['fps']:.1f} fps, {temps}, "
                 f"{sample['throttled'] or 'throttling not readable (no vcgencmd)'}")


def run_sustain(opts: BenchOptions, minutes: float, every_s: float, root: Path) -> dict:
    """Run the loop for `minutes`, sampling every `every_s`; writes sustain.json and sustain.csv under `opts.out`."""
    from fer_edge.sources import open_source
    from fer_edge.sources.reconnect import ReconnectingSource

    out = ensure_folder(opts.out, "--out")
    from fer_edge.bundled import DEFAULT_MODEL

    model = find_models(opts.models)[0] if opts.models else DEFAULT_MODEL  # what `fer-edge run` would use
    task = {"detector": opts.detectors[0], "model": str(model), "threads": opts.threads[0],
            "yunet_model": opts.yunet_model}
    pipeline = _loop_pipeline(task)
    stop = threading.Event()
    tmp = tempfile.TemporaryDirectory(prefix="fer-edge-sustain-")
    spec = loop_source(opts.video, 60, Path(tmp.name))
    # looped without pause (fps 0): a file starts again at its end
    source = ReconnectingSource(lambda: open_source(spec), opts.video, stop, fps=0.0)
    sampler = Sampler(every_s, root)
    timer = threading.Timer(minutes * 60, stop.set)
    timer.daemon = True
    log.info(f"sustain: {task['detector']} + {model.stem} ×{task['threads']} on {opts.video} for {minutes:g} min, "
             f"a sample every {every_s:g} s")
    timer.start()
    try:
        stats = pipeline.run(source, [sampler], stop=stop)
    finally:
        timer.cancel()
        source.close()
        tmp.cleanup()
    if stats.frames and (not sampler.samples or sampler.samples[-1]["frames"] < stats.frames):
        sampler.take(time.perf_counter(), stats)  # the last stretch, shorter than `every_s`
    fps = [s["fps"] for s in sampler.samples]
    record = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "machine": describe(root=root),
              "detector": task["detector"], "model": model.stem, "threads": task["threads"], "source": opts.video,
              "minutes": minutes, "every_s": every_s, "detect_every": stats.detect_every, "interval_rule": INTERVAL_RULE,
              "frames": stats.frames, "fps_first": fps[0] if fps else None, "fps_last": fps[-1] if fps else None,
              "samples": sampler.samples}
    atomic_write_text(out / "sustain.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(out / "sustain.csv", sustain_csv(sampler.samples))
    return record


def sustain_csv(samples: list[dict]) -> str:
    """One row per sample: seconds, frames, fps, throttling, then one column per thermal zone."""
    zones = sorted({z for s in samples for z in s["temperature_c"]})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["t_s", "frames", "fps", "throttled", *(f"{z}_c" for z in zones)])
    for s in samples:
        w.writerow([s["t_s"], s["frames"], s["fps"], s["throttled"] or "", *(s["temperature_c"].get(z, "") for z in zones)])
    return buf.getvalue()
