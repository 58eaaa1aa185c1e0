"""Receptive fields against brute-force back-tracing of input coordinates, row by row and for the model.

The oracle never uses a receptive-field formula. It walks the network itself and keeps, per axis, a
function mapping a set of output coordinates to the set of input coordinates their windows read:
a window at output o of a (k, s, p, d) layer reads o*s - p + t*d for t < k. Padding coordinates stay
in the set as negative or past-the-end indices and are traced further back as if every feature map
extended without end, which is what the receptive-field convention measures (``start`` is minus the
effective padding). A residual add reads the union of both paths, a concat the union over its branches.
From the sets of output pixels 0 and 1: size = extent of pixel 0's set, start = its first coordinate,
stride = how far pixel 1's set is shifted.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    Concat,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    Sequential,
    Upsample,
    ZeroPad2d,
)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _window_back(k, s, p, d):
    return lambda coords: {o * s - p + t * d for o in coords for t in range(k)}


def _layer_back(layer):
    """Per-axis (h, w) back-maps of one leaf layer, from its constructor arguments only."""
    if isinstance(layer, (Conv2d, MaxPool2d, AvgPool2d)):
        k, s = _pair(layer.kernel_size), _pair(layer.stride)
        d = _pair(getattr(layer, "dilation", 1))
        if layer.padding == "same":
            p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))  # the smaller half goes before
        elif layer.padding == "valid":
            p = (0, 0)
        else:
            p = _pair(layer.padding)
        return tuple(_window_back(*args) for args in zip(k, s, p, d))
    if isinstance(layer, ConvTranspose2d):
        k, s, p, d = (_pair(getattr(layer, a)) for a in ("kernel_size", "stride", "padding", "dilation"))

        def back(k, s, p, d):
            # output o receives input i through tap t when i*s + t*d - p == o
            return lambda coords: {(o + p - t * d) // s for o in coords for t in range(k) if (o + p - t * d) % s == 0}

        return tuple(back(*args) for args in zip(k, s, p, d))
    if isinstance(layer, Upsample):  # whole factors only (else the analysis ends the receptive field)
        def up(s):
            if layer.mode == "nearest":
                return lambda coords: {o // s for o in coords}
            # bilinear, align_corners=False: x = (o + 1/2)/s - 1/2 reads floor(x) and, unless x is whole, the next
            return lambda coords: {i for o in coords for x in [Fraction(2 * o + 1, 2 * s) - Fraction(1, 2)]
                                   for i in (math.floor(x), math.ceil(x))}

        return tuple(up(s) for s in _pair(layer.scale_factor))
    if isinstance(layer, ZeroPad2d):
        left, _, top, _ = layer.padding
        return (lambda c: {o - top for o in c}), (lambda c: {o - left for o in c})
    if isinstance(layer, (AdaptiveAvgPool2d, Flatten, Linear)):
        return None  # the spatial mapping ends
    return (lambda c: set(c)), (lambda c: set(c))


def _compose(outer, inner):
    return tuple((lambda c, f=f, g=g: g(f(c))) for f, g in zip(inner, outer))


def trace(model):
    """Back-maps from every report row's output to the model input, in the report's row order."""
    rows = []

    def walk(node, back):
        if isinstance(node, Sequential):
            for child in node:
                back = walk(child, back)
            return back
        if isinstance(node, Residual):
            main = walk(node.main, back)
            short = back if node.shortcut is None else walk(node.shortcut, back)
            merged = _union([main, short])
            rows.append(merged)
            return merged if node.post is None else walk(node.post, merged)
        if isinstance(node, Concat):
            merged = _union([walk(branch, back) for branch in node])
            rows.append(merged)
            return merged
        layer_back = _layer_back(node)
        back = None if back is None or layer_back is None else _compose(back, layer_back)
        rows.append(back)
        return back

    walk(model, (lambda c: set(c), lambda c: set(c)))
    return rows


def _union(backs):
    if any(b is None for b in backs):
        return None
    return tuple((lambda c, axis=axis: set().union(*(b[axis](c) for b in backs))) for axis in range(2))


def brute_rf(back, period=(1, 1)):
    """(size, stride, start), each an (h, w) pair, from the coordinate sets of output pixels 0 .. 2P.

    After transposed convolutions output pixels read regions of different extents, repeating with a
    period P (a multiple of the product of the up-strides): size is the largest extent over one
    period, stride how far pixel P's set is shifted, divided by P.
    """
    size, stride, start = [], [], []
    for axis in range(2):
        P = period[axis]
        sets = [back[axis]({o}) for o in range(2 * P)]
        if not any(sets):  # every output pixel reads nothing (bias only): size 0, no stride or start
            size.append(0)
            stride.append(None)
            start.append(None)
            continue
        size.append(max(max(r) - min(r) + 1 for r in sets[:P] if r))
        o0 = next(o for o in range(P) if sets[o])  # a transposed conv with k < s leaves pixels unread
        step = Fraction(min(sets[o0 + P]) - min(sets[o0]), P)
        stride.append(int(step) if step.denominator == 1 else step)
        start.append(min(sets[0]) if sets[0] else math.floor(min(sets[o0]) - o0 * step))  # aligned
    return tuple(size), tuple(stride), tuple(start)


def up_period(model):
    """Per axis, the product of the transposed convolutions' strides (a multiple of the true period)."""
    if isinstance(model, ConvTranspose2d):
        return _pair(model.stride)
    if isinstance(model, Upsample):
        return _pair(model.scale_factor)
    if isinstance(model, Residual):
        parts = [model.main, model.shortcut, model.post]
    elif isinstance(model, (Sequential, Concat)):
        parts = list(model)
    else:
        return (1, 1)
    period = (1, 1)
    for part in parts:
        if part is not None:
            period = tuple(P * q for P, q in zip(period, up_period(part)))
    return period


def assert_matches_brute_force(model, shape):
    report = cnncalc.analyze(model, shape, warn=False)
    backs = trace(model)
    period = up_period(model)
    assert len(backs) == len(report.layers)
    last_rf = None
    for row, back in zip(report.layers, backs):
        rf = row.receptive_field
        if back is None:
            assert rf is None, row.name
            continue
        last, last_rf = brute_rf(back, period), rf
        for axis in (0, 1):
            if last[0][axis] == 0:
                assert rf.size[axis] == 0
            else:
                assert (rf.size[axis], rf.stride[axis], rf.start[axis]) == tuple(v[axis] for v in last), f"row {row.name} ({row.type})"
    assert report.receptive_field == last_rf  # the last row that still has a spatial mapping
    return report


def conv3(c_in=4, c_out=4, **kw):
    return Conv2d(c_in, c_out, 3, **kw)


NETS = {
    "one-3x3": (conv3(), ((3, 3), (1, 1), (0, 0))),
    "two-stacked-3x3": (Sequential(conv3(), ReLU(), conv3()), ((5, 5), (1, 1), (0, 0))),
    "three-stacked-3x3": (Sequential(conv3(), conv3(), conv3()), ((7, 7), (1, 1), (0, 0))),
    "padded-3x3-pair": (Sequential(conv3(padding=1), conv3(padding=1)), ((5, 5), (1, 1), (-2, -2))),
    "alexnet-stem": (
        Sequential(Conv2d(3, 8, 11, 4), ReLU(), MaxPool2d(3, 2), Conv2d(8, 8, 5, padding=2), MaxPool2d(3, 2)),
        ((67, 67), (16, 16), (-16, -16)),  # conv2's padding 2 at jump 8
    ),
    "dilated-strided-pooled": (
        Sequential(
            Conv2d(4, 4, 3, dilation=2),
            Conv2d(4, 4, 3, stride=2, padding=1),
            MaxPool2d(3, 2, 1, dilation=2),
            AvgPool2d(2),
            Conv2d(4, 4, (1, 3), stride=(1, 2), padding=(0, 1), dilation=(1, 3)),
        ),
        None,
    ),
    "non-square-and-zero-pad": (
        Sequential(ZeroPad2d((1, 2, 3, 0)), Conv2d(4, 4, (5, 3), stride=(2, 3), padding=(2, 0)), BatchNorm2d(4)),
        None,
    ),
    "same-even-kernel": (Sequential(Conv2d(4, 4, 4, padding="same", dilation=2), conv3(stride=2)), None),
    "residual-projection": (
        Sequential(
            conv3(padding=1),
            Residual(
                Sequential(conv3(stride=2, padding=1), ReLU(), conv3(padding=1)),
                Conv2d(4, 4, 1, stride=2),
                ReLU(),
            ),
            Residual(Sequential(Conv2d(4, 4, 3, padding=2, dilation=2), ReLU())),
        ),
        None,
    ),
    "inception-concat": (
        Sequential(
            Conv2d(4, 4, 3, stride=2),
            Concat(
                Conv2d(4, 2, 1),
                Sequential(Conv2d(4, 2, 1), Conv2d(2, 2, 3, padding=1)),
                Sequential(Conv2d(4, 2, 1), Conv2d(2, 2, 5, padding=2)),
                Sequential(MaxPool2d(3, 1, 1), Conv2d(4, 2, 1)),
            ),
            MaxPool2d(2),
            Conv2d(8, 4, 3),
        ),
        None,
    ),
    "head-after-global-pool": (
        Sequential(conv3(stride=2), conv3(), AdaptiveAvgPool2d(1), Flatten(), Linear(4, 10)),
        ((7, 7), (2, 2), (0, 0)),
    ),
    "stride-1-transposed-in-the-middle": (
        Sequential(conv3(stride=2), ConvTranspose2d(4, 4, 3, padding=1), ConvTranspose2d(4, 4, 2, dilation=3), conv3()),
        None,
    ),
}


@pytest.mark.parametrize("name", list(NETS), ids=list(NETS))
def test_receptive_field_matches_back_tracing(name):
    model, expected = NETS[name]
    report = assert_matches_brute_force(model, (4 if name != "alexnet-stem" else 3, 67, 71))
    if expected is not None:  # the seeds' and textbook facts, stated as numbers
        rf = report.receptive_field
        assert (rf.size, rf.stride, rf.start) == expected


def test_stacked_3x3_versus_one_large_kernel():
    # n stacked 3x3 convs see as far as one (2n + 1)x(2n + 1) conv
    for n in range(1, 6):
        stacked = cnncalc.analyze(Sequential(*[conv3() for _ in range(n)]), (4, 32, 32)).receptive_field
        single = cnncalc.analyze(Conv2d(4, 4, 2 * n + 1), (4, 32, 32)).receptive_field
        assert stacked == single
        assert stacked.size == (2 * n + 1, 2 * n + 1)


# --- transposed convolution ---------------------------------------------------------------------
#
# A transposed convolution with stride s places input pixel i at output i*s - p and spreads it over
# taps i*s - p + t*d, t < k. Neighbouring output pixels are 1/s input pixels apart (stride 1/s) and
# read regions whose extents vary with the output pixel, with period s: the receptive field's size is
# the largest of them (cnncalc.trace), its start the first pixel output pixel 0 reads.


@pytest.mark.parametrize(
    "k, s, p, d", [(3, 1, 0, 1), (3, 1, 1, 2), (4, 2, 1, 1), (3, 2, 0, 1), (5, 2, 2, 1), (3, 3, 1, 1), (1, 2, 0, 1),
                   (2, 3, 0, 2), (4, 2, 1, 3)],
    ids=lambda v: str(v),
)
def test_conv_transpose_alone(k, s, p, d):
    layer = ConvTranspose2d(1, 1, k, stride=s, padding=p, dilation=d)
    rf = cnncalc.analyze(layer, (1, 9, 9)).receptive_field
    back = _layer_back(layer)[0]
    regions = [back({o}) for o in range(s)]
    assert rf.size[0] == max(max(r) - min(r) + 1 for r in regions if r)
    assert rf.stride[0] == Fraction(1, s)
    assert rf.start[0] == min(back({0}))


def test_conv_transpose_stride_2_upsampler():
    # k=4, s=2, p=1 (the usual 2x upsampler): every output pixel reads exactly 2 input pixels
    layer = ConvTranspose2d(1, 1, 4, stride=2, padding=1)
    back = _layer_back(layer)[0]
    assert [sorted(back({o})) for o in range(4)] == [[-1, 0], [0, 1], [0, 1], [1, 2]]
    rf = cnncalc.analyze(layer, (1, 8, 8)).receptive_field
    assert rf.size == (2, 2)
    assert rf.stride == (Fraction(1, 2), Fraction(1, 2))
    assert rf.start == (-1, -1)


def test_encoder_decoder_back_to_full_resolution():
    # conv s2 then a 3/2/1 transposed conv: stride 1 again, output pixels read 3 and 5 input pixels
    # in turn, and pixel 0 starts at -1 (the recurrence's real-valued hull would say -2)
    model = Sequential(Conv2d(1, 2, 3, stride=2, padding=1), ConvTranspose2d(2, 1, 3, stride=2, padding=1))
    back = trace(model)[-1][0]
    assert [sorted(back({o})) for o in range(4)] == [[-1, 0, 1], [-1, 0, 1, 2, 3], [1, 2, 3], [1, 2, 3, 4, 5]]
    rf = cnncalc.analyze(model, (1, 16, 16)).receptive_field
    assert (rf.size, rf.stride, rf.start) == ((5, 5), (1, 1), (-1, -1))


def test_symbolic_transposed_keeps_the_recurrence_hull():
    # with a symbolic stride the regions cannot be enumerated: the real-valued hull, 1 + (k - 1)/s
    s = cnncalc.symbol("s")
    rf = cnncalc.analyze(ConvTranspose2d(1, 1, 4, stride=s), (1, 8, 8)).receptive_field
    assert rf.size[0] == 1 + 3 / s


@st.composite
def decoder_layers(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    kind = draw(st.sampled_from(["up", "up", "conv", "pool", "nearest", "bilinear"]))
    if kind == "nearest":
        return Upsample(scale_factor=draw(st.sampled_from([1, 2, 3, (2, 3)])))
    if kind == "bilinear":
        return Upsample(scale_factor=draw(st.sampled_from([1, 2, 4, (2, 4)])), mode="bilinear")
    if kind == "up":
        return ConvTranspose2d(2, 2, k, stride=s, padding=draw(st.integers(0, d * (k - 1))), dilation=d)
    if kind == "conv":
        return Conv2d(2, 2, k, stride=s, padding=draw(st.integers(0, k // 2)), dilation=d)
    return MaxPool2d(k, s, draw(st.integers(0, k // 2)))


@given(st.lists(decoder_layers(), min_size=1, max_size=4), st.sampled_from(["chain", "residual", "concat"]))
@settings(max_examples=80, deadline=None)
def test_random_encoder_decoders_match_back_tracing(layers, shape):
    model = Sequential(*layers)
    if shape == "residual":  # a same-size skip around an upsampler and its inverse
        model = Sequential(*layers, Residual(Sequential(ConvTranspose2d(2, 2, 4, 2, 1), Conv2d(2, 2, 3, 2, 1))))
    elif shape == "concat":
        model = Sequential(*layers, Concat(Conv2d(2, 2, 3, padding=1), Sequential(Conv2d(2, 2, 2, 2), ConvTranspose2d(2, 2, 2, 2))))
    try:
        cnncalc.analyze(model, (2, 24, 24), warn=False)
    except cnncalc.ShapeError:
        assume(False)
    assert_matches_brute_force(model, (2, 24, 24))


@st.composite
def window_layers(draw):
    k = draw(st.tuples(st.integers(1, 5), st.integers(1, 5)))
    s = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    d = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    p = draw(st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)))
    kind = draw(st.sampled_from(["conv", "max", "avg", "pad"]))
    if kind == "conv":
        return Conv2d(2, 2, k, s, p, d)
    if kind == "max":
        return MaxPool2d(k, s, p, d, ceil_mode=draw(st.booleans()))
    if kind == "avg":
        return AvgPool2d(k, s, p)
    return ZeroPad2d(draw(st.tuples(*[st.integers(-2, 3)] * 4)))  # negative values crop


@given(st.lists(window_layers(), min_size=1, max_size=5), st.booleans())
@settings(max_examples=100, deadline=None)
def test_random_chains_match_back_tracing(layers, with_residual):
    model = Sequential(*layers)
    if with_residual:  # a same-size residual block: main is a padded 3x3, shortcut identity
        model = Sequential(*layers, Residual(Sequential(Conv2d(2, 2, 3, padding=1), ReLU())))
    try:
        cnncalc.analyze(model, (2, 90, 90), warn=False)
    except cnncalc.ShapeError:
        assume(False)
    assert_matches_brute_force(model, (2, 90, 90))
