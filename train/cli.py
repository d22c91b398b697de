"""`fer-edge train`: this package's own command (the train extra: Keras 3 and a backend).

Registered through the `fer_edge.commands` entry point; the device package never imports it. Keras loads only
inside the command, so a light install gets one line naming the extra instead of a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from fer_edge.config.argtypes import int_list
from fer_edge.errors import UsageError
from fer_edge.files import ensure_folder
from fer_edge.quiet import preload


def register(sub) -> None:
    p = sub.add_parser("train", help="train a Keras model on FER2013 (needs fer-edge[train])",
                       description="Train on the Training split, keep the best PublicTest epoch.")
    p.add_argument("--data", required=True, help="fer2013.csv(.gz) or an image-folder tree (train/<class>/...)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, state.json, history.png)")
    p.add_argument("--arch", default="cnn", choices=["cnn", "dscnn", "mobilenetv2"],
                   help="cnn: VGG-style; dscnn: depthwise-separable, about 32 M MACs; mobilenetv2")
    p.add_argument("--size", type=int, default=None, help="input side in pixels (cnn 48, mobilenetv2 96)")
    p.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    p.add_argument("--weights", default="none", help="mobilenetv2 backbone start: imagenet or none")
    p.add_argument("--widths", default=None,
                   help="cnn: filters per stage (32,64,128,256); dscnn: stem then per stage (24,48,96,192,384,768)")
    p.add_argument("--blocks", default="1,2,2,2,1", help="dscnn: separable blocks per stage")
    p.add_argument("--se", type=int, default=0,
                   help="dscnn: squeeze-and-excitation on the 96-384 channel stages, with this reduction (0: none)")
    p.add_argument("--precise-bn", type=int, default=None, metavar="N",
                   help="score PublicTest and keep best.keras with BatchNorm statistics recomputed over N plain Training "
                        "images (PreciseBN; 0: the moving averages); with --resume, changes the run's setting")
    p.add_argument("--swa-from", type=int, default=None, metavar="EPOCH",
                   help="stochastic weight averaging: the mean of the weights of EPOCH and every later epoch, with "
                        "its own BatchNorm statistics, scored on PublicTest and written as swa.keras (0: off); with "
                        "--resume, changes the run's setting")
    p.add_argument("--init-from", default=None, metavar="MODEL.keras",
                   help="start from this trained model's weights (fine-tuning: same --arch, --widths, --blocks, --se, "
                        "--size; pair it with a small --lr and --warmup 0) instead of random ones")
    p.add_argument("--warmup", type=int, default=1, help="epochs of linear warmup before the cosine")
    p.add_argument("--erase", type=float, default=0.0, help="probability of random erasing (augmentation)")
    p.add_argument("--lowres", type=float, default=0.0, metavar="P",
                   help="share of Training faces shrunk to 20-40 px and scaled back, as the loop's crops of small faces "
                        "are (augmentation)")
    p.add_argument("--backend", default=None, choices=["tensorflow", "jax", "torch"],
                   help="Keras 3 backend (default: KERAS_BACKEND, else tensorflow); jax trains on a GPU without TensorFlow")
    p.add_argument("--teacher", nargs="+", default=[], metavar="MODEL",
                   help="distil from these .tflite models (their mean probabilities, computed once per run)")
    p.add_argument("--teacher-weight", type=float, default=0.5, help="share of the target from the teacher")
    p.add_argument("--ferplus", default=None, help="FER+ fer2013new.csv: its crowd votes as soft labels")
    p.add_argument("--ferplus-weight", type=float, default=0.2, help="share of the target from the FER+ votes")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default 40; with --resume, the run's own)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"], help="SGD with Nesterov momentum, or AdamW")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (one warmup epoch, then cosine)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--class-weight", default="sqrt", choices=["none", "sqrt", "balanced"])
    p.add_argument("--patience", type=int, default=12, help="early stop after this many epochs without a PublicTest gain")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit", type=int, default=0,
                   help="train on a stratified subset of this many images (smoke tests); PublicTest shrinks to a quarter")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--float32", action="store_true",
                      help="train in float32 (default: mixed bfloat16 only on a GPU or a CPU with avx512_bf16 or AMX)")
    prec.add_argument("--bf16", action="store_true", help="train in mixed bfloat16 even without native bf16 (slow)")
    p.add_argument("--labels", default="fer2013", choices=["fer2013", "ferplus"],
                   help="fer2013: the CSV's labels (mixed with --teacher/--ferplus shares); ferplus: the FER+ vote "
                        "distributions (needs --ferplus; mixed with a --teacher's share), selected on FER+ PublicTest "
                        "majority accuracy")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last epoch, with its saved options (--data and --epochs may change)")
    p.set_defaults(func=_cmd_train, needs=("keras",))  # the train extra: named before any argument is used


def _cmd_train(args) -> int:
    from .models import DSCNN_WIDTHS
    from .trainer import AUGMENT, TrainOptions, train

    default_widths = ",".join(map(str, DSCNN_WIDTHS)) if args.arch == "dscnn" else "32,64,128,256"
    widths, blocks = (int_list(args.widths or default_widths, "--widths"), int_list(args.blocks, "--blocks"))
    for flag, w in (("--teacher-weight", args.teacher_weight), ("--ferplus-weight", args.ferplus_weight),
                    ("--erase", args.erase), ("--lowres", args.lowres)):
        if not 0.0 <= w <= 1.0:
            raise UsageError(f"{flag} {w}: want a share between 0 and 1")
    for model in args.teacher:
        if not Path(model).is_file():
            raise UsageError(f"--teacher {model}: no such file")
    if args.labels == "ferplus" and not args.ferplus:
        raise UsageError("--labels ferplus needs --ferplus fer2013new.csv (the FER+ vote file)")
    if args.precise_bn is not None and args.precise_bn < 0:
        raise UsageError(f"--precise-bn {args.precise_bn}: a number of images, or 0 for off")
    if args.swa_from is not None and args.swa_from < 0:
        raise UsageError(f"--swa-from {args.swa_from}: an epoch (1 or more), or 0 for off")
    if args.init_from and args.resume:
        raise UsageError("--init-from starts a run; --resume continues one from its own last.keras: give one of them")
    if args.init_from and not Path(args.init_from).is_file():
        raise UsageError(f"--init-from {args.init_from}: no such file")
    if args.se < 0:
        raise UsageError(f"--se {args.se}: a reduction of 1 or more, or 0 for none")
    ensure_folder(args.out, "--out")
    size = args.size or (96 if args.arch == "mobilenetv2" else 48)
    if size < 32:
        raise UsageError(f"--size {size}: at least 32")
    opts = TrainOptions(
        data=args.data, out=args.out, arch=args.arch, size=size, alpha=args.alpha,
        weights=None if args.weights.lower() == "none" else args.weights, widths=widths, blocks=blocks, se=args.se,
        teacher=tuple(args.teacher), teacher_weight=args.teacher_weight if args.teacher else 0.0,
        ferplus=args.ferplus, ferplus_weight=args.ferplus_weight if args.ferplus else 0.0,
        epochs=args.epochs or (0 if args.resume else 40),
        batch=args.batch, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        dropout=args.dropout, class_weight=args.class_weight, patience=args.patience, seed=args.seed,
        limit=args.limit, mixed_precision=False if args.float32 else (True if args.bf16 else None), warmup=args.warmup,
        labels=args.labels, precise_bn=args.precise_bn, swa_from=args.swa_from, init_from=args.init_from,
        augment={**AUGMENT, "erase": args.erase, "lowres": args.lowres})
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    preload("keras")
    train(opts, resume=args.resume)
    return 0
