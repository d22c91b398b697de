"""Keras model builders. Every model takes raw 0-255 pixels and normalizes inside its graph."""

from __future__ import annotations

from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.labels import EMOTIONS

ARCHS = ("cnn", "dscnn", "mobilenetv2")
CNN_WIDTHS = (32, 64, 128, 256)
DSCNN_WIDTHS = (24, 48, 96, 192, 384, 768)
DSCNN_BLOCKS = (1, 2, 2, 2, 1)


def build_model(arch: str, size: int = 48, alpha: float = 0.35, weights: str | None = None, dropout: float = 0.3,
                widths: tuple[int, ...] | None = None, blocks: tuple[int, ...] = DSCNN_BLOCKS, se: int = 0):
    """Build `arch` for (size, size, 1) grey input in [0, 255]; softmax over the 7 FER2013 classes."""
    if se and arch != "dscnn":
        raise UsageError("--se applies to dscnn only")
    if arch == "dscnn":
        if weights:
            raise UsageError("--weights applies to mobilenetv2 only")
        return _dscnn(size, widths or DSCNN_WIDTHS, blocks, dropout, se)
    if arch == "cnn":
        if weights:
            raise UsageError("--weights applies to mobilenetv2 only")
        return _vgg_cnn(size, widths or CNN_WIDTHS, dropout)
    if arch == "mobilenetv2":
        return _mobilenetv2(size, alpha, weights, dropout)
    raise UsageError(f"unknown --arch {arch!r}: use one of {', '.join(ARCHS)}")


def _vgg_cnn(size: int, widths: tuple[int, ...], dropout: float):
    """VGG-style: per stage two 3x3 convs, BatchNorm before ReLU (so it folds into the conv for int8), max-pool.

    A global-average-pooled head: a flattened 3x3x256 map into the classifier
    made SGD diverge in its first steps (logit steps scale with the feature count).
    """
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 1), name="pixels")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
    for stage, width in enumerate(widths):
        for j in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{stage + 1}_{j + 1}")(x)
            x = layers.BatchNormalization(name=f"bn{stage + 1}_{j + 1}")(x)
            x = layers.ReLU(name=f"relu{stage + 1}_{j + 1}")(x)
        if stage < len(widths) - 1:
            x = layers.MaxPooling2D(2, name=f"pool{stage + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(len(EMOTIONS), name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="cnn")


def _mobilenetv2(size: int, alpha: float, weights: str | None, dropout: float):
    """MobileNetV2 on grey input: the grey channel is repeated to three so ImageNet weights fit."""
    import keras
    from keras import layers

    if weights not in (None, "imagenet"):
        raise UsageError(f"unknown --weights {weights!r}: use imagenet or none")
    inputs = keras.Input((size, size, 1), name="pixels")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
    x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    try:
        backbone = keras.applications.MobileNetV2(
            input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=weights)
    except ValueError as exc:
        raise UsageError(f"mobilenetv2: {exc}") from None
    except Exception as exc:  # urllib/HTTP errors: no internet or a blocked host
        raise FerEdgeError(
            f"could not download ImageNet weights for MobileNetV2 (alpha {alpha}, size {size}): {exc}; "
            "train from scratch with --weights none") from None
    if weights is None:
        # Keras ships BatchNorm momentum 0.999, tuned for fine-tuning; from scratch at ~225 steps an epoch the
        # moving statistics lag the weights for epochs and PublicTest accuracy sits at the majority class.
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = 0.99
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(len(EMOTIONS), name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=f"mobilenetv2_{alpha:g}_{size}")


def _dscnn(size: int, widths: tuple[int, ...], blocks: tuple[int, ...], dropout: float, se: int = 0):
    """Depthwise-separable CNN for the Pi's budget: about 32 M MACs per face at 48x48 with the defaults.

    A 3x3 stem (widths[0]), then per stage (widths[1:], blocks per stage) a max-pool (not before the
    first) and depthwise 3x3 + pointwise 1x1 blocks, residual where shapes match. Spending the pointwise
    width at 6x6 and 3x3, where a MAC buys the most parameters, keeps it under 1 MB int8 and cheap on a Pi.
    `se` > 0 adds squeeze-and-excitation (reduction `se`) to the blocks of the middle stages, those of 96 to
    384 channels: channel attention for about 0.1 M MACs (the last stage's would cost 0.15 MB of weights).
    """
    import keras
    from keras import layers

    if len(widths) != len(blocks) + 1 or min(blocks) < 1:
        raise UsageError(f"dscnn: --widths needs a stem width plus one per stage ({len(blocks)} stages in --blocks)")
    inputs = keras.Input((size, size, 1), name="pixels")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, (width, n) in enumerate(zip(widths[1:], blocks)):
        if stage:
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        for j in range(n):
            name = f"s{stage + 1}_{j + 1}"
            shortcut = x
            x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
            x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
            x = layers.ReLU(name=f"{name}_dw_relu")(x)
            x = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_pw")(x)
            x = layers.BatchNormalization(name=f"{name}_pw_bn")(x)
            x = layers.ReLU(name=f"{name}_pw_relu")(x)
            if se and 96 <= width <= 384:
                x = _squeeze_excite(layers, x, width, se, name)
            if shortcut.shape[-1] == width:
                x = layers.Add(name=f"{name}_add")([x, shortcut])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(len(EMOTIONS), name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="dscnn")


def _squeeze_excite(layers, x, width: int, reduction: int, name: str):
    """Hu et al. 2018: scale each channel by a gate computed from the block's own global average."""
    g = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    g = layers.Conv2D(max(8, width // reduction), 1, activation="relu", name=f"{name}_se_reduce")(g)
    g = layers.Conv2D(width, 1, activation="sigmoid", name=f"{name}_se_expand")(g)
    return layers.Multiply(name=f"{name}_se_scale")([x, g])
