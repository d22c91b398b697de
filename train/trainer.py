"""Training loop: augmentation, class weights, warmup + cosine LR, checkpoint every epoch, resume.

A run folder holds `last.keras` (with optimizer state, for `--resume`),
`best.keras` (float32, best PublicTest accuracy, what `convert` takes),
`state.json` (epoch, history, options) and `history.png`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fer_edge.classification.preprocess import batch_to_model_input
from fer_edge.errors import UsageError
from fer_edge.eval.datasets import load_split, log_counts, stratified_sample
from fer_edge.files import atomic_path, atomic_write_text
from fer_edge.labels import EMOTIONS
from fer_edge.train.label_sets import ferplus_training, ferplus_validation, soft_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    data: str
    out: str
    arch: str = "cnn"
    size: int = 48
    alpha: float = 0.35
    weights: str | None = None
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 2, 2, 2, 1)
    se: int = 0  # dscnn: squeeze-and-excitation reduction on the 96-384 stages; 0 = none
    epochs: int = 40
    batch: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup: int = 1
    label_smoothing: float = 0.1
    dropout: float = 0.3
    class_weight: str = "sqrt"
    patience: int = 12
    seed: int = 1
    limit: int = 0
    mixed_precision: bool | None = None  # None: mixed bfloat16 where the hardware has native bf16 (precision.py)
    train_split: str = "Training"
    val_split: str = "PublicTest"
    augment: dict = field(default_factory=lambda: dict(AUGMENT))
    teacher: tuple[str, ...] = ()
    teacher_weight: float = 0.0
    ferplus: str | None = None
    ferplus_weight: float = 0.0
    labels: str = "fer2013"  # ferplus: train on the crowd's vote distributions, select on FER+ PublicTest majorities
    precise_bn: int | None = None  # Training images for PreciseBN before each PublicTest check (precise_bn.py); None/0: off
    swa_from: int | None = None  # average the weights of this epoch and every later one (swa.py); None/0: off
    init_from: str | None = None  # start from this trained model's weights (fine-tuning); None: random


SWA_BN_IMAGES = 7680  # Training images for the averaged weights' BatchNorm statistics when --precise-bn is off
AUGMENT = {"flip": True, "rotation_deg": 10.0, "shift": 0.1, "zoom": 0.1, "brightness": 0.2, "contrast": 0.2,
           "erase": 0.0, "lowres": 0.0}


def class_weights(label_ids: np.ndarray, mode: str) -> np.ndarray:
    """Per-class loss weights, mean 1 over samples: none, balanced (1/n) or sqrt (1/sqrt(n))."""
    counts = np.bincount(label_ids, minlength=len(EMOTIONS)).astype(np.float64)
    if mode == "none":
        return np.ones(len(EMOTIONS))
    power = {"balanced": 1.0, "sqrt": 0.5}.get(mode)
    if power is None:
        raise UsageError(f"unknown --class-weight {mode!r}: use none, sqrt or balanced")
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1) ** power, 0.0)
    return w / (w[label_ids].mean())


def lr_at(epoch: int, opts: TrainOptions) -> float:
    """Linear warmup then cosine to zero; a function of the epoch alone, so resume picks it up exactly."""
    if epoch < opts.warmup:
        return opts.lr * (epoch + 1) / (opts.warmup + 1)
    span = max(opts.epochs - opts.warmup, 1)
    return 0.5 * opts.lr * (1 + math.cos(math.pi * (epoch - opts.warmup) / span))


def _augmenter(opts: TrainOptions):
    """Keras random layers (active only in training), so augmentation runs on any backend and device."""
    from keras import layers

    a, seed, f32 = opts.augment, opts.seed, {"dtype": "float32"}
    steps = []
    if a.get("flip"):
        steps.append(layers.RandomFlip("horizontal", seed=seed, **f32))
    if a.get("rotation_deg"):
        steps.append(layers.RandomRotation(a["rotation_deg"] / 360.0, fill_mode="reflect", seed=seed, **f32))
    if a.get("shift"):
        steps.append(layers.RandomTranslation(a["shift"], a["shift"], fill_mode="reflect", seed=seed, **f32))
    if a.get("zoom"):
        steps.append(layers.RandomZoom((-a["zoom"], a["zoom"]), fill_mode="reflect", seed=seed, **f32))
    if a.get("brightness"):
        steps.append(layers.RandomBrightness(a["brightness"], value_range=(0, 255), seed=seed, **f32))
    if a.get("contrast"):
        steps.append(layers.RandomContrast(a["contrast"], value_range=(0, 255), seed=seed, **f32))
    if a.get("erase"):
        # Random erasing (Zhong et al. 2017): hands, glasses and hair hide parts of faces in the wild.
        steps.append(layers.RandomErasing(factor=a["erase"], scale=(0.02, 0.15), value_range=(0, 255), seed=seed,
                                          **f32))
    if a.get("lowres"):
        from fer_edge.train.lowres import RandomLowRes

        steps.append(RandomLowRes(a["lowres"], seed=seed, **f32))
    return steps


def _training_model(keras, model, opts: TrainOptions):
    """The model behind its augmentation layers: what `fit` trains and `last.keras` holds."""
    return keras.Sequential([keras.Input(model.input_shape[1:], name="pixels"), *_augmenter(opts), model],
                            name="train_" + model.name)


def _start_from(keras, model, path: str) -> None:
    """Copy a trained model's weights, BatchNorm statistics included, into the one just built: fine-tuning."""
    try:
        source = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors... for a file it cannot read
        raise UsageError(f"--init-from {path}: not a Keras model ({type(e).__name__})") from None
    net = source.layers[-1] if isinstance(source.layers[-1], keras.Model) else source  # last.keras: the net behind augmentation
    mine, theirs = [tuple(w.shape) for w in model.weights], [tuple(w.shape) for w in net.weights]
    if mine != theirs:
        raise UsageError(f"--init-from {path}: another network ({len(theirs)} weight tensors, this run builds {len(mine)}); "
                         "give the --arch, --size, --widths, --blocks and --se it was trained with")
    model.set_weights(net.get_weights())
    log.info(f"--init-from {path}: starting from its {sum(int(np.prod(s)) for s in mine):,} weights")


def _limit(data, n: int, seed: int):
    """A class-stratified subset of about n images (0: all), for smoke tests, and its row indices."""
    index = stratified_sample(data.label_ids, n, seed) if n else np.arange(len(data))
    return data.subset(index), index


def train(opts: TrainOptions, resume: bool = False) -> Path:
    """Train per `opts` into `opts.out`; returns the path of `best.keras`."""
    out = Path(opts.out)
    state_path = out / "state.json"
    state = None
    if resume:
        if not state_path.is_file() or not (out / "last.keras").is_file():
            raise UsageError(f"{out}: nothing to resume (no state.json and last.keras)")
        state = json.loads(state_path.read_text())
        saved = state["options"]
        for key in ("widths", "blocks", "teacher"):
            if key in saved:
                saved[key] = tuple(saved[key])
        given = {k: getattr(opts, k) for k in ("precise_bn", "swa_from") if getattr(opts, k) is not None}
        opts = TrainOptions(**{**saved, "data": opts.data, "out": opts.out, "epochs": opts.epochs or saved["epochs"], **given})
        state["options"] = asdict(opts)  # a new --epochs holds for later resumes too
    elif (out / "last.keras").exists():
        raise UsageError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(opts.seed + (state["epoch"] if state else 0))
    from fer_edge.train.precision import choose_mixed_bf16, cpu_flags, gpu_present

    bf16, why = choose_mixed_bf16(opts.mixed_precision, cpu_flags(), gpu_present())
    log.info(why)
    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    size = (opts.size, opts.size)
    train_data, train_rows = _limit(load_split(opts.data, opts.train_split, (48, 48) if opts.teacher else size),
                                    opts.limit, opts.seed)
    val_data, val_rows = _limit(load_split(opts.data, opts.val_split, size), opts.limit // 4, opts.seed)
    if opts.limit:
        log.info(f"--limit {opts.limit}: {len(train_data)} {opts.train_split} images and {len(val_data)} "
                 f"{opts.val_split} images (the selection split shrinks too: a quarter of --limit)")
    if opts.labels == "ferplus":
        if not opts.ferplus:
            raise UsageError("--labels ferplus needs --ferplus fer2013new.csv")
        train_data, targets = ferplus_training(opts, train_data, train_rows, out)
        val_data = ferplus_validation(opts, val_data, val_rows)
    for d in (train_data, val_data):
        log_counts(d)
    if opts.labels != "ferplus":
        targets = soft_targets(opts, train_data, train_rows, out)
    train_data = type(train_data)(batch_to_model_input(train_data.images, size, 1), train_data.label_ids, train_data.source)
    val_data = type(val_data)(batch_to_model_input(val_data.images, size, 1), val_data.label_ids, val_data.source)

    import fer_edge.train.lowres  # noqa: F401  (registers RandomLowRes, which last.keras or --init-from's file may hold)
    from fer_edge.train.models import build_model
    from fer_edge.train.precise_bn import precise_accuracy

    if state:
        trainer = keras.models.load_model(out / "last.keras")
        start = state["epoch"]
        log.info(f"resuming {out} at epoch {start + 1}/{opts.epochs}" if start < opts.epochs else
                 f"{out}: all {opts.epochs} epochs done, nothing to train (raise --epochs to go on)")
    else:
        model = build_model(opts.arch, opts.size, opts.alpha, opts.weights, opts.dropout, opts.widths, opts.blocks, opts.se)
        if opts.init_from:
            _start_from(keras, model, opts.init_from)
        trainer = _training_model(keras, model, opts)
        optimizer = _optimizer(keras, opts)
        optimizer.exclude_from_weight_decay(var_names=["bn", "bias", "beta", "gamma"])
        trainer.compile(optimizer=optimizer,
                        loss=keras.losses.CategoricalCrossentropy(label_smoothing=opts.label_smoothing),
                        metrics=["accuracy"])
        start = 0
        state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "history": [], "options": asdict(opts)}
    model = trainer.layers[-1]
    keras.mixed_precision.set_global_policy("float32")
    float_model = build_model(opts.arch, opts.size, opts.alpha, None, opts.dropout, opts.widths, opts.blocks, opts.se)
    log.info(f"{model.name}: {model.count_params():,} parameters, Keras {keras.__version__} on {keras.backend.backend()}; "
             f"training {start + 1}-{opts.epochs} of {opts.epochs} epochs")

    x_train, x_val = train_data.images.astype(np.float32), val_data.images.astype(np.float32)
    sample_weight = class_weights(train_data.label_ids, opts.class_weight).astype(np.float32)[train_data.label_ids]
    y_val = np.eye(len(EMOTIONS), dtype=np.float32)[val_data.label_ids]
    for epoch in range(start, opts.epochs):
        if epoch - state["best_epoch"] >= opts.patience and state["best_epoch"] > 0:
            log.info(f"early stop: no PublicTest gain for {opts.patience} epochs")
            break
        lr = lr_at(epoch, opts)
        trainer.optimizer.learning_rate.assign(lr)
        t0 = time.perf_counter()
        fit = trainer.fit(x_train, targets, sample_weight=sample_weight, batch_size=opts.batch, shuffle=True,
                          validation_data=(x_val, y_val), validation_batch_size=256, epochs=epoch + 1,
                          initial_epoch=epoch, verbose=0,
                          callbacks=[EpochProgress(epoch + 1, opts.epochs, math.ceil(len(x_train) / opts.batch))])
        row = {k: float(v[-1]) for k, v in fit.history.items()}
        float_model.set_weights(model.get_weights())
        if opts.precise_bn:  # BatchNorm statistics recomputed on plain Training faces: what is scored and kept
            row["val_accuracy_precise"] = precise_accuracy(float_model, x_train, x_val, val_data.label_ids,
                                                           opts.precise_bn, seed=opts.seed)
        row.update(epoch=epoch + 1, lr=lr, seconds=round(time.perf_counter() - t0, 1))
        state["history"].append(row)
        state["epoch"] = epoch + 1
        score = row.get("val_accuracy_precise", row["val_accuracy"])
        improved = score > state["best_val_accuracy"]
        if improved:
            state["best_val_accuracy"], state["best_epoch"] = score, epoch + 1
            _atomic_save(float_model, out / "best.keras")
        if opts.swa_from and epoch + 1 >= opts.swa_from:
            row["val_accuracy_swa"] = _swa_epoch(float_model, model, out, epoch + 1, x_train, x_val, val_data.label_ids,
                                                 opts)
        _atomic_save(trainer, out / "last.keras")
        atomic_write_text(state_path, json.dumps(state, indent=1))
        log.info(f"epoch {epoch + 1}/{opts.epochs} lr {lr:.4f} loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
                 f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f} "
                 + (f"precise-BN val_acc {row['val_accuracy_precise']:.4f} " if opts.precise_bn else "")
                 + (f"SWA val_acc {row['val_accuracy_swa']:.4f} " if "val_accuracy_swa" in row else "")
                 + f"{row['seconds']:.0f}s"
                 + (" *best" if improved else ""))
        _plot_history(state["history"], out / "history.png")
    log.info(f"best PublicTest accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}: {out / 'best.keras'}")
    swa = [h for h in state["history"] if "val_accuracy_swa" in h]
    if swa:
        log.info(f"SWA, the mean of epochs {swa[0]['epoch']}-{swa[-1]['epoch']}: PublicTest accuracy "
                 f"{swa[-1]['val_accuracy_swa']:.4f}: {out / 'swa.keras'}")
    return out / "best.keras"


def _swa_epoch(float_model, model, out: Path, epoch: int, x_train, x_val, y_val, opts: TrainOptions) -> float:
    """Fold this epoch into the weight average, recompute its BatchNorm statistics, score it, write swa.keras."""
    from fer_edge.train.precise_bn import precise_accuracy
    from fer_edge.train.swa import MODEL, average_epoch

    mean, _ = average_epoch(out, model.get_weights(), epoch)
    float_model.set_weights([w.astype(np.float32) for w in mean])
    score = precise_accuracy(float_model, x_train, x_val, y_val, opts.precise_bn or SWA_BN_IMAGES, seed=opts.seed)
    _atomic_save(float_model, out / MODEL)
    return score


class EpochProgress:
    """A progress line with an ETA every tenth of an epoch, through logging (a terminal and a journal alike)."""

    def __new__(cls, epoch: int, epochs: int, steps: int):
        import keras

        class _Progress(keras.callbacks.Callback):
            def on_epoch_begin(self, e, logs=None):
                self.t0, self.next = time.perf_counter(), max(steps // 10, 1)

            def on_train_batch_end(self, batch, logs=None):
                done = batch + 1
                if done >= self.next and done < steps:
                    self.next += max(steps // 10, 1)
                    spent = time.perf_counter() - self.t0
                    loss = f" loss {float(logs['loss']):.4f}" if logs and "loss" in logs else ""
                    log.info(f"epoch {epoch}/{epochs}: batch {done}/{steps}{loss}, "
                             f"ETA {spent / done * (steps - done):.0f} s")

        return _Progress()


def _optimizer(keras, opts: TrainOptions):
    """SGD with Nesterov momentum (the CNN), or AdamW (MobileNetV2 from scratch took off faster with it)."""
    if opts.optimizer == "sgd":
        return keras.optimizers.SGD(opts.lr, momentum=0.9, nesterov=True, weight_decay=opts.weight_decay)
    if opts.optimizer == "adamw":
        return keras.optimizers.AdamW(opts.lr, weight_decay=opts.weight_decay)
    raise UsageError(f"unknown --optimizer {opts.optimizer!r}: use sgd or adamw")


def _atomic_save(model, path: Path) -> None:
    with atomic_path(path, suffix=".keras") as tmp:  # Keras wants the extension
        model.save(tmp)


def _plot_history(history: list[dict], path: Path) -> None:
    from fer_edge.eval.plots import line_plot

    epochs = [h["epoch"] for h in history]
    accuracy = {"train": (epochs, [h["accuracy"] for h in history]),
                "PublicTest": (epochs, [h["val_accuracy"] for h in history])}
    for key, name in (("val_accuracy_precise", "PublicTest, precise BN"), ("val_accuracy_swa", "PublicTest, SWA")):
        scored = [h for h in history if key in h]
        if scored:
            accuracy[name] = ([h["epoch"] for h in scored], [h[key] for h in scored])
    line_plot(path, "Training history", "epoch",
              {"accuracy": accuracy, "loss": {"train": (epochs, [h["loss"] for h in history]),
                                              "PublicTest": (epochs, [h["val_loss"] for h in history])}})
