"""`fer-edge bench`: this package's own command (no TensorFlow unless --keras is given).

Registered through the `fer_edge.commands` entry point; the device package never imports it.
"""

from __future__ import annotations

import logging
import sys

from fer_edge.config import check_flag
from fer_edge.config.argtypes import csv_list, int_list
from fer_edge.errors import UsageError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("bench", help="accuracy against latency and FPS for each model on this machine",
                       description="Measure every model variant (accuracy, macro-F1, latency per face, load time, "
                                   "memory) and the whole loop on a video; write results.json, results.csv, report.md "
                                   "and pareto.png. No TensorFlow needed unless --keras is given.")
    p.add_argument("--models", nargs="+", default=[], help="model files or folders of *.tflite (default: the bundled models)")
    p.add_argument("--keras", nargs="+", default=[], help="Keras models to measure beside them (imports TensorFlow)")
    p.add_argument("--keras-normalize", default="none", help="the Keras models' own normalization (as convert --normalize)")
    p.add_argument("--data", default=None, help="labelled images: fer2013.csv(.gz) or an image-folder tree")
    p.add_argument("--ferplus", default=None,
                   help="FER+ fer2013new.csv: FER+ majority accuracy and neutral recall beside --data's (a FER2013 CSV)")
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--images", type=int, default=0, help="only the first N images of the split (0: all)")
    p.add_argument("--video", default=None, help="clip, camera or demo for the whole-loop measurement (default demo)")
    p.add_argument("--video-frames", type=int, default=0, help="frames of the video to run (0: all; demo: 60)")
    p.add_argument("--detectors", default="blazeface", help="comma list of detectors for the video")
    p.add_argument("--yunet-model", default=None,
                   help="YuNet ONNX: the yunet detector's model, and a reference: YuNet at full size on every frame of "
                        "the video scores each loop row (recall, boxes on no face, box IoU, ids per face)")
    p.add_argument("--threads", default="1", help="comma list of thread counts, e.g. 1,2,4")
    p.add_argument("--runs", type=int, default=None, help="timed calls per latency figure (default 300; --quick 100)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 30; --quick 10)")
    p.add_argument("--out", default="bench", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="under two minutes: the demo source, fewer runs; the bundled models unless --models names others")
    p.add_argument("--sustain", type=float, default=None, metavar="MINUTES",
                   help="instead of the tables: run the loop (first detector, model and thread count) this long and log "
                        "fps, temperature and throttling over time (what decides a Pi's real fps without a heatsink)")
    p.add_argument("--sustain-every", type=float, default=10.0, metavar="SECONDS", help="--sustain: one sample this often")
    p.add_argument("--sysfs-root", default=None,
                   help="read thermal zones under this folder instead of / (a chroot, or a test's fake sysfs; "
                        "env FER_EDGE_SYSFS_ROOT)")
    p.add_argument("--emulated", action="store_true", help="label every timing as meaningless (CPU emulation)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None, help="print ratios B/A of two results.json")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    from . import report

    if args.compare:
        a, b = (report.load_results(p) for p in args.compare)
        for difference in report.source_differences(a, b):
            log.warning(f"warning: A and B measured different sources ({difference}); their ratios compare "
                        "different work")
        print(report.format_compare(a, b, report.compare(a, b)))
        return 0
    from .bench import BenchOptions, run_bench, summary

    threads = int_list(args.threads, "--threads")
    for t in threads:
        check_flag("threads", "--threads", t)
    if args.quick and args.video:
        raise UsageError("--quick measures the loop on the demo source: leave out --video")
    if args.images < 0 or args.video_frames < 0:
        raise UsageError("--images and --video-frames must be >= 0")
    if args.sustain is not None and not (args.sustain > 0 and args.sustain_every > 0):
        raise UsageError("--sustain and --sustain-every must be > 0")
    quick = args.quick
    opts = BenchOptions(
        models=tuple(args.models), keras=tuple(args.keras), keras_normalize=args.keras_normalize, data=args.data,
        ferplus=args.ferplus,
        split=args.split, images=args.images, video=args.video or "demo", video_frames=args.video_frames,
        detectors=tuple(csv_list(args.detectors)) or ("blazeface",), yunet_model=args.yunet_model,
        threads=threads or (1,), runs=args.runs or (100 if quick else 300), warmup=args.warmup if args.warmup is not None
        else (10 if quick else 30), out=args.out, quick=quick, emulated=args.emulated,
        command=("fer-edge", *sys.argv[1:]))
    if args.sustain is not None:
        import os
        from pathlib import Path

        from .sustain import run_sustain

        root = Path(args.sysfs_root or os.environ.get("FER_EDGE_SYSFS_ROOT") or "/")
        record = run_sustain(opts, args.sustain, args.sustain_every, root)
        log.info(f"wrote {args.out}/sustain.json, sustain.csv")
        return 0 if record["samples"] else 1
    results = run_bench(opts)
    print(summary(results))
    log.info(f"wrote {args.out}/results.json, results.csv, report.md" + (", pareto.png" if results.get("plot") else ""))
    ok = any(m["status"] == "ok" for m in results["models"])
    return 0 if ok else 1
