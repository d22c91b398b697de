"""`fer-edge convert`: this package's own command (the train extra: TensorFlow's converter).

Registered through the `fer_edge.commands` entry point; the device package never imports it.
"""

from __future__ import annotations

from fer_edge.convert.outliers import DEFAULT_RATIO
from fer_edge.errors import UsageError
from fer_edge.files import ensure_folder
from fer_edge.quiet import preload


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a Keras model to TFLite variants (needs fer-edge[train])",
                       description="Convert to int8/float16/float32/dynamic TFLite, verify against the float model.")
    p.add_argument("model", help=".keras, .h5 or a SavedModel folder")
    p.add_argument("--out", required=True, help="output folder; files are <name>_<variant>.tflite + .json sidecars")
    p.add_argument("--name", default=None, help="file name stem (default: the --out folder's name)")
    p.add_argument("--variants", default="int8", help="comma list of int8, float16, float32, dynamic")
    p.add_argument("--calib", default=None, help="calibration data: fer2013.csv(.gz) (Training split) or an image folder")
    p.add_argument("--calib-images", type=int, default=500, help="representative images, stratified by class")
    p.add_argument("--calib-outliers", type=float, default=DEFAULT_RATIO, metavar="RATIO",
                   help="leave out calibration images with an activation over RATIO times that tensor's median peak "
                        f"(default {DEFAULT_RATIO:g}; 0 keeps every image)")
    p.add_argument("--eval-data", default=None, help="data for the accuracy check (default: --calib when it is a CSV)")
    p.add_argument("--eval-split", default="PrivateTest")
    p.add_argument("--normalize", default="none",
                   help="bake the model's own input normalization in: none, unit (x/255), symmetric (x/127.5-1) "
                        "or SCALE,OFFSET")
    p.add_argument("--flip-average", action="store_true",
                   help="bake test-time augmentation in: average the face and its mirror image (2x compute)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_convert, needs=("tensorflow",))  # the train extra: named before any argument is used


def _cmd_convert(args) -> int:
    from .converter import parse_variants
    from .pipeline import run_convert

    if args.calib_images < 1:
        raise UsageError("--calib-images must be at least 1")
    if args.calib_outliers and not args.calib_outliers > 1:
        raise UsageError(f"--calib-outliers {args.calib_outliers:g}: use 0 (off) or a ratio over 1, such as 10")
    ensure_folder(args.out, "--out")
    variants = parse_variants(args.variants)  # a usage error before TensorFlow takes seconds to load
    preload("tensorflow")
    run_convert(args.model, args.out, variants, args.calib, args.calib_images,
                args.eval_data, args.eval_split, args.normalize, args.name, args.seed, args.flip_average,
                args.calib_outliers)
    return 0
