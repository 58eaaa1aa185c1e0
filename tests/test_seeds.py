"""The seed tutorials' worked examples (docs in /work/shared/seeds), as literal tests through the public API."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest

import cnncalc
from cnncalc import (
    BatchNorm2d,
    Conv2d,
    MaxPool2d,
    ReLU,
    Sequential,
    ShapeError,
    ShapeWarning,
    ZeroPad2d,
)

CASES = [
    # (layer, input, output shape, params)
    (Conv2d(3, 96, 11, 4), (3, 227, 227), (96, 55, 55), 34_944),  # AlexNet conv1
    (Conv2d(3, 64, 3), (3, 32, 32), (64, 30, 30), 1_792),  # 64 filters of 3x3x3: (27 + 1)*64
    (Conv2d(3, 64, 3, padding=1), (3, 32, 32), (64, 32, 32), 1_792),  # padding 1 keeps 32x32
    (Conv2d(1, 1, 3, stride=2), (1, 32, 32), (1, 15, 15), 10),  # floor((32 - 3)/2) + 1 = 15
    (MaxPool2d(2, 2), (8, 16, 16), (8, 8, 8), 0),  # 2x2 max pool, stride 2 halves 16x16
    (Conv2d(256, 64, 1, 1, 0), (256, 56, 56), (64, 56, 56), 16_448),  # the 1x1 bottleneck: 256*64 + 64
    (ZeroPad2d(1), (1, 4, 4), (1, 6, 6), 0),  # a 4x4 input with padding 1 becomes 6x6
]


@pytest.mark.parametrize(
    "layer, shape, output, params",
    CASES,
    ids=["alexnet-conv1", "64-3x3-filters", "64-3x3-padding-1", "3x3-stride-2", "maxpool-2-2", "1x1-256-64", "pad-1"],
)
def test_worked_example(layer, shape, output, params):
    report = cnncalc.analyze(layer, shape, warn=False)
    assert report.output_shape == output
    assert report.params == params


def test_alexnet_conv1_macs():
    # every one of the 96*55*55 outputs is a dot product over 3*11*11 inputs
    assert cnncalc.analyze(Conv2d(3, 96, 11, 4), "3x227x227").macs == 96 * 55 * 55 * 3 * 11 * 11 == 105_415_200


@pytest.mark.parametrize("n, size", [(1, 3), (2, 5), (3, 7)], ids=["one-3x3", "two-3x3", "three-3x3"])
def test_stacked_3x3_receptive_field(n, size):
    net = Sequential(*[Conv2d(8, 8, 3, padding=1) for _ in range(n)])
    assert cnncalc.analyze(net, (8, 32, 32)).receptive_field.size == (size, size)


def test_two_3x3_have_18_weights_against_25_for_one_5x5():
    two = Sequential(Conv2d(1, 1, 3, bias=False), Conv2d(1, 1, 3, bias=False))
    one = Conv2d(1, 1, 5, bias=False)
    a, b = cnncalc.analyze(two, (1, 9, 9)), cnncalc.analyze(one, (1, 9, 9))
    assert (a.params, b.params) == (18, 25)
    assert a.receptive_field.size == b.receptive_field.size == (5, 5)
    assert a.output_shape == b.output_shape == (1, 5, 5)


@pytest.mark.parametrize("c", [1, 64, 256], ids=["C1", "C64", "C256"])
def test_batch_norm_has_2c_params_and_2c_buffers(c):
    report = cnncalc.analyze(BatchNorm2d(c), (c, 7, 7))
    assert (report.params, report.buffers) == (2 * c, 2 * c)


def test_int8_makes_the_model_75_percent_smaller():
    report = cnncalc.analyze(Sequential(Conv2d(3, 96, 11, 4), ReLU(), Conv2d(96, 256, 5, padding=2)), "3x227x227")
    fp32, int8 = report.memory("float32"), report.memory("int8")
    assert fp32.params_bytes == 4 * report.params
    assert int8.params_bytes * 4 == fp32.params_bytes  # 25% of the size: 75% smaller


def test_truncation_warning_7x7_kernel_3_stride_3():
    # windows start at 0 and 3 and cover 0..5: row and column 6 are never read
    with pytest.warns(ShapeWarning, match=r"floor truncation drops the last 1 row of height 7 and the last 1 column"):
        report = cnncalc.analyze(Conv2d(1, 1, 3, stride=3), (1, 7, 7))
    assert report.output_shape == (1, 2, 2)


def test_no_warning_when_windows_fit(recwarn):
    cnncalc.analyze(Conv2d(3, 96, 11, 4), (3, 227, 227))  # (227 - 11)/4 is exact
    assert not [w for w in recwarn if issubclass(w.category, ShapeWarning)]


def test_error_message_names_the_layer_the_rule_and_the_numbers():
    # AlexNet-like features on a 35x35 input: 7 after conv1, 3 after pool, 1 after the second pool,
    # and the pool at index 10 then has nothing to slide over.
    features = Sequential(
        Conv2d(3, 96, 11, 4),
        ReLU(),
        MaxPool2d(3, 2),
        Conv2d(96, 256, 5, padding=2),
        ReLU(),
        MaxPool2d(3, 2),
        Conv2d(256, 384, 3, padding=1),
        ReLU(),
        Conv2d(384, 256, 3, padding=1),
        ReLU(),
        MaxPool2d(3, 2),
    )
    model = Sequential(OrderedDict(features=features))
    expected = "features.10 (MaxPool2d): output height would be 0: floor((1 + 2*0 - 3)/2) + 1"
    with pytest.raises(ShapeError, match=re.escape(expected)):
        cnncalc.analyze(model, (3, 35, 35))
