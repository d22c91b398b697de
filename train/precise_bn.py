"""PreciseBN (Wu and Johnson 2021, "Rethinking 'Batch' in BatchNorm"): BatchNorm's population statistics
recomputed with the weights held fixed, on un-augmented Training images.

The moving averages that training keeps lag the weights while the learning rate is high, and they are taken on
augmented faces, while the model runs on plain ones. With `--precise-bn N` the trainer scores PublicTest and
writes `best.keras` with statistics recomputed over N Training images instead.
"""

from __future__ import annotations

import numpy as np


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of `model`, nested models (a MobileNetV2 backbone) included."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(batchnorm_layers(layer))
    return found


def recompute_batchnorm(model, images: np.ndarray, count: int, batch: int = 128, seed: int = 0) -> int:
    """Set each BatchNorm layer's moving mean and variance to the mean of its batch statistics over a seeded sample
    of `images` (`count` rounded down to whole batches, one batch at least), the weights unchanged; returns the
    number of batches."""
    layers = batchnorm_layers(model)
    if not layers or count <= 0:
        return 0
    pick = np.random.default_rng(seed).permutation(len(images))[:max(batch, count - count % batch)]
    momenta = [layer.momentum for layer in layers]
    steps = 0
    try:
        for steps, start in enumerate(range(0, len(pick), batch), start=1):
            for layer in layers:
                layer.momentum = (steps - 1) / steps  # a running mean: batch k weighs 1/k
            model(images[np.sort(pick[start:start + batch])], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return steps


def precise_accuracy(model, train_images: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray, count: int,
                     seed: int = 0) -> float:
    """Top-1 accuracy on the selection split after `recompute_batchnorm` over `count` Training images."""
    recompute_batchnorm(model, train_images, count, seed=seed)
    probs = model.predict(val_images, batch_size=256, verbose=0)
    return float((np.asarray(probs).argmax(1) == val_labels).mean())
