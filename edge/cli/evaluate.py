"""`fer-edge evaluate`: a model's accuracy, macro-F1, per-class metrics and confusion matrix on one split."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FerEdgeError, UsageError
from .plugins import plugin

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger(__name__)


def add_evaluate(sub: Subparsers) -> None:
    p = sub.add_parser("evaluate", help="accuracy, macro-F1, per-class metrics and confusion matrix of a model",
                       description="Evaluate a .tflite (no TensorFlow needed) or a Keras model on one split.")
    p.add_argument("model", nargs="?", default=None,
                   help=".tflite, .keras, .h5 or a SavedModel folder (default: the bundled default int8 model)")
    p.add_argument("--data", required=True, help="fer2013.csv(.gz) or an image-folder tree")
    p.add_argument("--split", default="PrivateTest", help="Training, PublicTest or PrivateTest (folder: train/val/test)")
    p.add_argument("--report", default=None,
                   help="report JSON path, PNG beside it (default: <model>_<split>[_ferplus].json beside the model, "
                        "or here for a model inside the installed package)")
    p.add_argument("--normalize", default="none", help="Keras models only: none, unit, symmetric or SCALE,OFFSET")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--labels", default=None,
                   help="fer2013 (the CSV's own labels), ferplus (FER+ majority votes) or both, from one pass "
                        "(default: both with --ferplus, else fer2013)")
    p.add_argument("--ferplus", default=None, help="FER+ fer2013new.csv, one row per row of the --data CSV")
    p.add_argument("--sidecar", action="store_true",
                   help="write this evaluation's figures (both label sets, latency) into the .tflite's sidecar "
                        "accuracy block, atomically")
    p.set_defaults(func=_cmd_evaluate)


def default_report(model: Path, split: str, label_set: str) -> Path:
    """Beside the model, named after it, the split and the label set, so runs and models never share a report;
    never into the installed package (a bundled model's report goes to the working directory)."""
    name = f"{model.stem}_{split}{'' if label_set == 'fer2013' else '_' + label_set}.json"
    package = Path(__file__).resolve().parents[1]
    folder = model.resolve().parent
    return Path(name) if folder == package or package in folder.parents else model.parent / name


def _check_labels(args: argparse.Namespace) -> None:
    """Usage errors about --labels, --ferplus and --sidecar, before any model or data loads."""
    from ..eval.report import LABEL_SETS

    args.labels = args.labels or ("both" if args.ferplus else "fer2013")
    if args.labels not in LABEL_SETS:
        raise UsageError(f"--labels {args.labels!r}: use one of {', '.join(LABEL_SETS)}")
    if args.labels != "fer2013" and not args.ferplus:
        raise UsageError(f"--labels {args.labels} needs --ferplus PATH (fer2013new.csv from microsoft/FERPlus)")
    if args.labels == "fer2013" and args.ferplus:
        raise UsageError("--ferplus is not used with --labels fer2013 (leave --labels out for both label sets)")
    if args.sidecar and args.labels != "both":
        raise UsageError("--sidecar records both label sets of a .tflite model: give --ferplus and a .tflite")
    if args.labels != "fer2013":
        if not Path(args.ferplus).is_file():
            raise UsageError(f"--ferplus {args.ferplus}: no such file")
        if not Path(args.data).is_file():
            raise UsageError(f"--data {args.data}: --labels {args.labels} needs the FER2013 CSV (FER+ rows follow "
                             "its rows)")


KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _evaluated_kind(path: Path, normalize: str) -> str:
    """"tflite" or "keras", from the name (and a folder's saved_model.pb), before anything loads; a file evaluate
    does not read, an empty folder or a --normalize a .tflite would ignore is a usage error naming it."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        if normalize != "none":
            raise UsageError(f"--normalize {normalize!r}: for Keras models only; a .tflite takes raw pixels "
                             "(its normalization is inside the graph)")
        return "tflite"
    if suffix in KERAS_SUFFIXES:
        return "keras"
    try:
        if path.is_dir():
            if any((path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt")):
                return "keras"
            raise UsageError(f"{path}: a folder without saved_model.pb, not a SavedModel")
    except OSError as exc:
        raise FerEdgeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise UsageError(f"{path}: not a model evaluate reads (want .tflite, {', '.join(KERAS_SUFFIXES)} or a SavedModel "
                     "folder)")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import time

    from ..bundled import resolve_model
    from ..classification.cost import format_macs
    from ..classification.preprocess import batch_to_model_input
    from ..eval.datasets import canonical_split, load_split, log_counts
    from ..eval.report import both_report, face_latency, ferplus_report, format_evaluation, report_from_probs, save_report
    from ..files import check_output_file

    canonical_split(args.split)  # a usage error before any model loads
    _check_labels(args)
    _check_model_flags(args)
    path = resolve_model(args.model)
    tflite = _evaluated_kind(path, args.normalize) == "tflite"
    if args.sidecar and not tflite:
        raise UsageError(f"--sidecar records both label sets of a .tflite model; {path} has no sidecar")
    out = Path(args.report) if args.report else default_report(path, canonical_split(args.split), args.labels)
    for target in (out, out.with_suffix(".png")):
        check_output_file(target, "--report")  # a folder, device or unwritable place: refused now, not after the work
    t0 = time.perf_counter()
    cost = clf = None
    if tflite:
        from ..classification.classifier import TFLiteClassifier
        from ..classification.cost import model_cost

        clf = TFLiteClassifier(path, threads=args.threads)
        size, channels, labels, predict = clf.input.size, clf.input.channels, clf.labels, clf.predict_dataset
        cost = model_cost(path)
    else:
        from ..labels import EMOTIONS
        from ..quiet import preload

        preload("keras")  # TensorFlow prints its oneDNN and absl lines as it loads: loaded where they are kept off stderr
        model = plugin("fer_edge.model_loaders", "keras", f"{path}: a Keras model")(path, args.normalize)
        if model.classes != len(EMOTIONS):
            raise UsageError(f"{path}: model has {model.classes} outputs, but FER2013 has {len(EMOTIONS)} classes")
        size, channels, labels, predict = (model.height, model.width), model.channels, EMOTIONS, model.predict
    outcomes = published = None
    if args.labels != "fer2013":
        from ..eval.ferplus import majority_outcomes, paired_votes, published_outcomes
        from ..labels import EMOTIONS

        if tuple(labels) != EMOTIONS:
            raise FerEdgeError(f"{path}: labels {list(labels)} are not FER2013's seven, so FER+ labels cannot score it")
        votes = paired_votes(args.ferplus, args.data, args.split)  # FER+ rows pair with the CSV's, so CSV only
        outcomes = majority_outcomes(votes.votes, votes.named)
        published = published_outcomes(votes.votes, votes.named)  # the rule published FER+ figures use, beside ours
    data = load_split(args.data, args.split, size, channels)
    log_counts(data)
    t1 = time.perf_counter()
    probs = predict(batch_to_model_input(data.images, size, channels))
    seconds = time.perf_counter() - t1
    meta: dict[str, Any] = {"model": str(path), "data": str(args.data), "split": args.split, "label_set": args.labels,
                            "macs": cost.macs if cost else None, "params": cost.params if cost else None,
                            "predict_seconds": round(seconds, 2)}
    if clf is not None:  # per face, batch 1, as the loop classifies: the first 200 faces of the split
        meta["latency_ms"] = {**face_latency(clf.classify, data.images[:200]), "threads": args.threads}
    if outcomes is None:
        report = report_from_probs(probs, data.label_ids, tuple(labels), **meta)
    elif args.labels == "ferplus":
        report = ferplus_report(probs, outcomes, tuple(labels), str(args.ferplus), published, **meta)
    else:
        report = both_report(probs, data.label_ids, outcomes, tuple(labels), str(args.ferplus), published, **meta)
    report["total_seconds"] = round(time.perf_counter() - t0, 2)
    title = f"{path.name} on {args.split}"
    json_path, pngs = save_report(report, out, title)
    print(format_evaluation(report))
    print(f"compute: {format_macs(report['macs'])} MACs per invoke"
          + (f", {report['params']:,} parameters" if report["params"] is not None else " (counted for .tflite models)"))
    if "latency_ms" in report:
        print(f"latency: {report['latency_ms']['p50']:.2f} ms per face (p50, batch 1, {args.threads} thread(s))")
    log.info(f"report: {json_path}" + "".join(f", {png}" for png in pngs) + f" ({seconds:.1f}s to classify)")
    if args.sidecar:
        from ..classification.sidecar import update_accuracy
        from ..eval.report import accuracy_block

        side = update_accuracy(path, accuracy_block(report))
        log.info(f"sidecar: {side} (accuracy block rewritten)")
    return 0


def _check_model_flags(args: argparse.Namespace) -> None:
    """`evaluate --threads` within the config's limits for the key (`run` reads the key itself)."""
    from ..config import check_flag

    check_flag("threads", "--threads", args.threads)
