"""The MAC and parameter counter: per-operator arithmetic, a small built model against hand arithmetic, and the
shipped models against the figures counted when issue 9 was filed."""

from __future__ import annotations

import contextlib
import io

import pytest
from conftest import ROOT

from fer_edge.bundled import bundled_models
from fer_edge.classification.cost import count_cost, detector_macs, format_macs, loop_macs_per_frame, model_cost, op_macs
from fer_edge.classification.sidecar import read_sidecar
from fer_edge.runtime import GraphOp


def _op(name, inputs, outputs):
    return GraphOp(name, tuple(inputs), tuple(outputs))


def test_each_counted_kind_by_hand():
    # 3x3 conv, 16 -> 32 channels, 10x10 output: 10*10*32 outputs x 3*3*16
    assert op_macs("CONV_2D", [(0, (1, 12, 12, 16)), (1, (32, 3, 3, 16)), (2, (32,))], [(3, (1, 10, 10, 32))]) == 460_800
    # depthwise 5x5 on 8 channels, 4x4 output: 4*4*8 x 25
    assert op_macs("DEPTHWISE_CONV_2D", [(0, (1, 4, 4, 8)), (1, (1, 5, 5, 8)), (-1, None)], [(3, (1, 4, 4, 8))]) == 3_200
    # fully connected 256 -> 7
    assert op_macs("FULLY_CONNECTED", [(0, (1, 256)), (1, (7, 256)), (2, (7,))], [(3, (1, 7))]) == 1_792
    # transpose conv: a 6x6x4 input (144 elements), each spread over 3x3 x 2 outputs
    assert op_macs("TRANSPOSE_CONV", [(0, (4,)), (1, (2, 3, 3, 4)), (2, (1, 6, 6, 4))], [(3, (1, 12, 12, 2))]) == 2_592
    assert op_macs("ADD", [(0, (1, 8)), (1, (1, 8))], [(2, (1, 8))]) == 0


def test_shared_weights_count_once_and_absent_bias_is_skipped():
    conv = [(0, (1, 4, 4, 1)), (5, (2, 3, 3, 1)), (-1, None)]
    ops = [_op("CONV_2D", conv, [(1, (1, 4, 4, 2))]), _op("REVERSE_V2", [(0, (1, 4, 4, 1))], [(2, (1, 4, 4, 1))]),
           _op("CONV_2D", [(2, (1, 4, 4, 1)), *conv[1:]], [(3, (1, 4, 4, 2))])]
    cost = count_cost(ops)
    assert cost.macs == 2 * 32 * 9 and cost.params == 18 and cost.layers == 2


def test_loop_macs_per_frame_spreads_the_detector():
    # BlazeFace back on every second frame, a 40 M classifier on 4 faces: 189/2 + 160
    assert loop_macs_per_frame(189_000_000, 2, 40_000_000, 4.0) == 254_500_000
    assert loop_macs_per_frame(None, 1, 40_000_000, 1.0) is None  # YuNet or Haar: not counted
    assert detector_macs("blazeface") == detector_macs("blazeface-back") == 188_749_824
    assert detector_macs("yunet") is None and detector_macs("haar") is None


def test_format_macs():
    assert format_macs(234_900_992) == "235 M" and format_macs(420_000) == "0.42 M" and format_macs(None) == "unknown"


# Counted when issue 9 was filed (../shared/FACTS.md), in millions; the FER+ default when it shipped (issue 18).
EXPECTED_M = {"cnn_fer2013_int8.tflite": 235, "mobilenetv2_fer2013_int8.tflite": 76, "dscnn_ferplus_int8.tflite": 36.9,
              "face_detection_back.tflite": 189, "face_detection_full_range_sparse.tflite": 117,
              "face_detection_short_range.tflite": 31}


@pytest.mark.parametrize("model", bundled_models() + sorted((ROOT / "edge/models/blazeface").glob("*.tflite")),
                         ids=lambda p: p.name)
def test_shipped_models_cost_and_sidecars(model):
    cost = model_cost(model)
    assert cost.macs / 1e6 == pytest.approx(EXPECTED_M[model.name], abs=0.5)
    side = read_sidecar(model)
    if model.suffix == ".tflite" and model.parent.name == "models":
        assert side["macs"] == cost.macs and side["params"] == cost.params
        assert cost.params > 500_000


@pytest.mark.tf
def test_counter_on_a_built_model_against_hand_arithmetic(tmp_path, tf_available):
    import tensorflow as tf

    keras = tf.keras
    x = keras.Input((8, 8, 3), batch_size=1)
    bias = {"bias_initializer": "random_normal"}  # zero biases would be merged into one tensor or dropped
    y = keras.layers.Conv2D(4, 3, padding="same", **bias)(x)             # 8*8*4 outputs x 3*3*3        = 6,912
    y = keras.layers.DepthwiseConv2D(3, padding="same", **bias)(y)       # 8*8*4 outputs x 3*3          = 2,304
    y = keras.layers.Conv2DTranspose(2, 2, strides=2, **bias)(y)         # 8*8*4 inputs x 2*2*2         = 2,048
    y = keras.layers.Dense(5, **bias)(keras.layers.Flatten()(y))         # 16*16*2 inputs x 5           = 2,560
    mirrored = keras.layers.Dense(5, **bias)                             # applied twice: 8*8*3 x 5 x 2 = 1,920
    flat = keras.layers.Flatten()
    z = mirrored(flat(x)) + mirrored(flat(keras.ops.flip(x, axis=2)))
    model = keras.Model(x, [y, z])
    with contextlib.redirect_stdout(io.StringIO()):
        flat_buffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp_path / "small.tflite"
    path.write_bytes(flat_buffer)
    cost = model_cost(path)
    assert cost.macs == 6_912 + 2_304 + 2_048 + 2_560 + 1_920
    assert cost.layers == 6
    # weights and biases: conv 108+4, depthwise 36+4, transpose 32+2, dense 2560+5, the mirrored dense once 960+5
    assert cost.params == 112 + 40 + 34 + 2_565 + 965 == model.count_params()
