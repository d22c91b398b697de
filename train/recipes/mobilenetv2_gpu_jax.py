"""GPU trainer for fer-edge MobileNetV2 (Keras 3 on the JAX backend, augmentation on the GPU in JAX).

Same model as `fer-edge train --arch mobilenetv2 --weights none` (train.models.build_model), same recipe as
train/trainer.py where it matters: the runtime's resize (edge.preprocess.batch_to_model_input) before
augmentation, flip / rotation / shift / zoom (reflect fill) / brightness / contrast, sqrt class weights,
label smoothing 0.1, AdamW with no decay on BN/bias, linear warmup then cosine (here per step),
mixed bfloat16, best epoch selected on PublicTest and saved as a float32 .keras.

Data: a .npz of lossless-WebP 48x48 FER2013 Training + PublicTest images (no PrivateTest).
Run from the fer-edge repo root: KERAS_BACKEND=jax PYTHONPATH=. python train_gpu.py --data X.npz --out DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import cv2
import numpy as np


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def decode(buf, off):
    return np.stack([cv2.imdecode(buf[off[i]:off[i + 1]], cv2.IMREAD_GRAYSCALE) for i in range(len(off) - 1)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--alpha", type=float, default=0.75)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=2.0, help="warmup epochs")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--class-weight", default="sqrt")
    p.add_argument("--rotation", type=float, default=10.0)
    p.add_argument("--shift", type=float, default=0.1)
    p.add_argument("--zoom", type=float, default=0.1)
    p.add_argument("--brightness", type=float, default=0.2)
    p.add_argument("--contrast", type=float, default=0.2)
    p.add_argument("--erase", type=float, default=0.25, help="probability of random erasing (0 = off)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--deadline", type=float, default=0, help="stop after this many seconds of wall time (0 = none)")
    p.add_argument("--dump-aug", default="", help="write a PNG of augmented samples and exit")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--bench-verbose", action="store_true")
    p.add_argument("--bench", type=int, default=0, help="only time this many training steps, then exit")
    args = p.parse_args()
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)

    import jax
    import jax.numpy as jnp
    import keras
    import optax

    from edge.preprocess import batch_to_model_input
    from train.models import build_model
    from train.trainer import class_weights

    log(f"jax {jax.__version__} keras {keras.__version__} backend {keras.backend.backend()} devices {jax.devices()}")
    keras.utils.set_random_seed(args.seed)

    d = np.load(args.data)
    size = (args.size, args.size)
    xtr = batch_to_model_input(decode(d["btr"], d["otr"]), size, 1)[..., 0]
    xva = batch_to_model_input(decode(d["bva"], d["ova"]), size, 1)
    ytr, yva = d["ytr"].astype(np.int32), d["yva"].astype(np.int32)
    if args.limit:  # smoke tests only
        xtr, ytr, xva, yva = xtr[:args.limit], ytr[:args.limit], xva[:args.limit // 4], yva[:args.limit // 4]
    log(f"data: Training {xtr.shape} PublicTest {xva.shape} ({time.time() - t_start:.1f}s)")
    cw = class_weights(ytr.astype(np.int64), args.class_weight).astype(np.float32)

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build_model("mobilenetv2", args.size, args.alpha, None, args.dropout)
    keras.mixed_precision.set_global_policy("float32")
    float_model = build_model("mobilenetv2", args.size, args.alpha, None, args.dropout)
    n_params = model.count_params()
    log(f"{model.name}: {n_params:,} parameters")

    steps_per_epoch = len(xtr) // args.batch
    warm = int(args.warmup * steps_per_epoch)
    plan = {"epochs": args.epochs}

    def lr_at_step(step):
        """Linear warmup, then cosine to zero over plan['epochs'] (fixed once epoch 2 has been timed)."""
        if step < warm:
            return args.lr * (step + 1) / warm
        span = max(plan["epochs"] * steps_per_epoch - warm, 1)
        return 0.5 * args.lr * (1 + math.cos(math.pi * min(step - warm, span) / span))

    tv_vars = model.trainable_variables
    ntv_vars = model.non_trainable_variables
    no_decay = ("bn", "bias", "beta", "gamma")  # as trainer.py's exclude_from_weight_decay
    mask = [not any(s in v.path for s in no_decay) for v in tv_vars]
    log(f"weight decay on {sum(mask)} of {len(mask)} trainable variables")
    opt = optax.inject_hyperparams(optax.adamw)(learning_rate=args.lr, weight_decay=args.weight_decay, mask=mask)

    tv = [jnp.asarray(v.value) for v in tv_vars]
    ntv = [jnp.asarray(v.value) for v in ntv_vars]
    opt_state = opt.init(tv)

    xtr_d = jax.device_put(xtr)
    ytr_d = jax.device_put(ytr)
    cw_d = jnp.asarray(cw)
    H = W = args.size
    ys, xs = jnp.meshgrid(jnp.arange(H, dtype=jnp.float32), jnp.arange(W, dtype=jnp.float32), indexing="ij")
    cy, cx = (H - 1) / 2, (W - 1) / 2

    def augment(key, x):
        B = x.shape[0]
        k = jax.random.split(key, 12)
        flip = jnp.where(jax.random.bernoulli(k[0], 0.5, (B,)), -1.0, 1.0)
        ang = jax.random.uniform(k[1], (B,), minval=-1, maxval=1) * args.rotation * math.pi / 180
        tx = jax.random.uniform(k[2], (B,), minval=-1, maxval=1) * args.shift * W
        ty = jax.random.uniform(k[3], (B,), minval=-1, maxval=1) * args.shift * H
        z = 1 + jax.random.uniform(k[4], (B,), minval=-1, maxval=1) * args.zoom
        c, s = jnp.cos(ang)[:, None, None], jnp.sin(ang)[:, None, None]
        dx = (xs - cx)[None] * flip[:, None, None] * z[:, None, None]
        dy = (ys - cy)[None] * z[:, None, None]
        sx = c * dx - s * dy + cx + tx[:, None, None]
        sy = s * dx + c * dy + cy + ty[:, None, None]
        warp = jax.vmap(lambda im, a, b: jax.scipy.ndimage.map_coordinates(im, [a, b], order=1, mode="reflect"))
        x = warp(x, sy, sx)
        x = x + (jax.random.uniform(k[5], (B, 1, 1), minval=-1, maxval=1) * args.brightness * 255)
        m = x.mean(axis=(1, 2), keepdims=True)
        x = (x - m) * (1 + jax.random.uniform(k[6], (B, 1, 1), minval=-1, maxval=1) * args.contrast) + m
        x = jnp.clip(x, 0, 255)
        if args.erase > 0:
            area = jax.random.uniform(k[7], (B,), minval=0.02, maxval=0.15) * H * W
            ratio = jnp.exp(jax.random.uniform(k[8], (B,), minval=math.log(0.3), maxval=math.log(3.3)))
            eh = jnp.clip(jnp.sqrt(area * ratio), 1, H)
            ew = jnp.clip(jnp.sqrt(area / ratio), 1, W)
            y0 = jax.random.uniform(k[9], (B,)) * (H - eh)
            x0 = jax.random.uniform(k[10], (B,)) * (W - ew)
            on = jax.random.bernoulli(k[11], args.erase, (B,))
            box = ((ys[None] >= y0[:, None, None]) & (ys[None] < (y0 + eh)[:, None, None])
                   & (xs[None] >= x0[:, None, None]) & (xs[None] < (x0 + ew)[:, None, None]) & on[:, None, None])
            noise = jax.random.uniform(jax.random.fold_in(key, 99), x.shape) * 255
            x = jnp.where(box, noise, x)
        return x[..., None]

    def loss_fn(tv, ntv, x, y):
        probs, ntv = model.stateless_call(tv, ntv, x, training=True)
        probs = probs.astype(jnp.float32)
        onehot = jax.nn.one_hot(y, 7)
        target = onehot * (1 - args.label_smoothing) + args.label_smoothing / 7
        ce = -jnp.sum(target * jnp.log(jnp.clip(probs, 1e-7, 1.0)), axis=-1)
        loss = jnp.mean(ce * cw_d[y])
        acc = jnp.mean(jnp.argmax(probs, -1) == y)
        return loss, (ntv, acc)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def train_step(tv, ntv, opt_state, key, idx, lr):
        x = augment(key, xtr_d[idx].astype(jnp.float32))
        y = ytr_d[idx]
        (loss, (new_ntv, acc)), grads = grad_fn(tv, ntv, x, y)
        opt_state.hyperparams["learning_rate"] = lr
        updates, new_opt = opt.update(grads, opt_state, tv)
        new_tv = optax.apply_updates(tv, updates)
        # a step with a non-finite loss or gradient is skipped (weights, BN statistics and optimizer unchanged)
        ok = jnp.isfinite(loss) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in grads]))
        pick = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        return pick(new_tv, tv), pick(new_ntv, ntv), pick(new_opt, opt_state), loss, acc, ok

    @jax.jit
    def predict(tv, ntv, x):
        probs, _ = model.stateless_call(tv, ntv, x.astype(jnp.float32), training=False)
        return probs.astype(jnp.float32)

    xva_d = jax.device_put(xva)

    def evaluate(tv, ntv):
        preds = []
        for i in range(0, len(xva), 512):
            chunk = xva_d[i:i + 512]
            n = chunk.shape[0]
            if n < 512:
                chunk = jnp.concatenate([chunk, jnp.zeros((512 - n,) + chunk.shape[1:], chunk.dtype)])
            preds.append(np.asarray(predict(tv, ntv, chunk))[:n])
        probs = np.concatenate(preds)
        return float((probs.argmax(-1) == yva).mean()), probs

    def save(tv_host, ntv_host, path):
        for v, a in zip(tv_vars, tv_host):
            v.assign(a)
        for v, a in zip(ntv_vars, ntv_host):
            v.assign(a)
        float_model.set_weights(model.get_weights())
        tmp = path + ".tmp.keras"
        float_model.save(tmp)
        os.replace(tmp, path)

    key = jax.random.PRNGKey(args.seed)
    if args.dump_aug:
        xa = np.asarray(jax.jit(augment)(key, xtr_d[:32].astype(jnp.float32)))[..., 0]
        rows = [np.concatenate(list(xtr[:16]), 1), np.concatenate(list(xa[:16].astype(np.uint8)), 1)]
        cv2.imwrite(args.dump_aug, np.concatenate(rows, 0))
        return
    if args.bench:
        t0 = time.time()
        for i in range(args.bench):
            key, k1, k2 = jax.random.split(key, 3)
            idx = jax.random.permutation(k1, len(xtr))[:args.batch]
            tv, ntv, opt_state, loss, acc, ok = train_step(tv, ntv, opt_state, k2, idx, jnp.float32(lr_at_step(i)))
            if args.bench_verbose:
                bad = [v.path for v, a in zip(ntv_vars, ntv) if not bool(jnp.isfinite(a).all())]
                log(f"step {i} loss {float(loss):.4f} nonfinite ntv {bad[:3]}")
            if i == 0:
                jax.block_until_ready(loss)
                log(f"compile+first step {time.time() - t0:.1f}s")
                t1 = time.time()
        jax.block_until_ready(loss)
        dt = (time.time() - t1) / (args.bench - 1)
        log(f"bench {model.name} batch {args.batch}: {dt * 1000:.1f} ms/step, {args.batch / dt:.0f} img/s, "
            f"epoch ~{dt * steps_per_epoch:.1f}s; loss {float(loss):.3f}")
        t0 = time.time()
        acc_v, _ = evaluate(tv, ntv)
        log(f"eval compile+run {time.time() - t0:.1f}s acc {acc_v:.4f}")
        t0 = time.time()
        save(jax.device_get(tv), jax.device_get(ntv), os.path.join(args.out, "bench.keras"))
        log(f"save {time.time() - t0:.1f}s")
        return

    history, best = [], {"acc": -1.0, "epoch": 0}
    best_host = None
    skipped = 0
    t_train = time.time()
    for epoch in range(args.epochs):
        t0 = time.time()
        key, kp = jax.random.split(key)
        perm = jax.random.permutation(kp, len(xtr))[:steps_per_epoch * args.batch].reshape(steps_per_epoch, args.batch)
        losses, accs, oks = [], [], []
        for i in range(steps_per_epoch):
            key, ks = jax.random.split(key)
            lr = lr_at_step(epoch * steps_per_epoch + i)
            tv, ntv, opt_state, loss, acc, ok = train_step(tv, ntv, opt_state, ks, perm[i], jnp.float32(lr))
            losses.append(loss)
            accs.append(acc)
            oks.append(ok)
        oks = np.asarray(jnp.stack(oks))
        loss_e = float(jnp.mean(jnp.stack(losses)[oks])) if oks.any() else float("nan")
        acc_e = float(jnp.mean(jnp.stack(accs)[oks])) if oks.any() else float("nan")
        skipped += int((~oks).sum())
        val_acc, _ = evaluate(tv, ntv)
        row = {"epoch": epoch + 1, "lr_end": lr, "loss": round(loss_e, 5), "accuracy": round(acc_e, 5),
               "val_accuracy": round(val_acc, 5), "skipped_steps": int((~oks).sum()), "seconds": round(time.time() - t0, 2)}
        history.append(row)
        improved = val_acc > best["acc"]
        if improved:
            best = {"acc": val_acc, "epoch": epoch + 1}
            best_host = (jax.device_get(tv), jax.device_get(ntv))
        log(f"epoch {epoch + 1}/{args.epochs} lr {row['lr_end']:.5f} loss {loss_e:.4f} acc {acc_e:.4f} "
            f"val_acc {val_acc:.4f} {row['seconds']:.1f}s" + (" *best" if improved else ""))
        with open(os.path.join(args.out, "history.json"), "w") as fh:
            json.dump({"args": vars(args), "model": model.name, "params": n_params, "history": history,
                       "best_val_accuracy": best["acc"], "best_epoch": best["epoch"],
                       "planned_epochs": plan["epochs"], "skipped_steps": skipped,
                       "train_seconds": round(time.time() - t_train, 1)}, fh, indent=1)
        if epoch + 1 == 2 and args.deadline:
            # fit the cosine schedule into the time left: epoch 2 (compiled, warmup) gives the epoch time
            left = 0.92 * (args.deadline - (time.time() - t_start)) - 15
            plan["epochs"] = max(3, min(args.epochs, 2 + int(left / row["seconds"])))
            log(f"plan: {plan['epochs']} epochs ({row['seconds']:.1f}s per epoch, {left:.0f}s left)")
        if epoch + 1 >= plan["epochs"]:
            break
        if args.deadline and time.time() - t_start > args.deadline:
            log(f"deadline reached after epoch {epoch + 1}")
            break
    save(*best_host, os.path.join(args.out, "best.keras"))
    save(jax.device_get(tv), jax.device_get(ntv), os.path.join(args.out, "last.keras"))
    log(f"best PublicTest {best['acc']:.4f} at epoch {best['epoch']}; train {time.time() - t_train:.0f}s, "
        f"total {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
