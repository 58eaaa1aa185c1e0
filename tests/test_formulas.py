"""The size formulas against brute force: windows counted one by one with plain loops, never the formula.

Also the symbolic path: a net analysed at ``3xHxW`` and then substituted with numbers must give
exactly the concrete analysis at those numbers (shapes, parameters, MACs, receptive fields).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import ShapeError
from cnncalc import formulas as F

SETTINGS = settings(max_examples=300, deadline=None)

n_ = st.integers(1, 60)
k_ = st.integers(1, 9)
s_ = st.integers(1, 6)
p_ = st.integers(0, 6)
d_ = st.integers(1, 4)


def window_starts(n, k, s, p, d):
    """Start coordinates of the windows that fit the padded axis [-p, n + p): start at -p, step s."""
    span = d * (k - 1) + 1
    starts = []
    start = -p
    while start + span <= n + p:
        starts.append(start)
        start += s
    return starts


def ceil_mode_starts(n, k, s, p, d):
    """PyTorch's ceil_mode, from its documentation rather than its formula.

    Windows are laid from -p every s pixels; rounding up lets the last window hang past the padded
    end by less than one stride; and a window that would start in the right padding is ignored
    ("sliding windows that would start in the right padded region are ignored").
    """
    span = d * (k - 1) + 1
    starts = []
    start = -p
    while start + span - (n + p) < s and start < n:
        starts.append(start)
        start += s
    return starts


@given(n_, k_, s_, p_, d_)
@SETTINGS
def test_conv_out_counts_the_windows(n, k, s, p, d):
    count = len(window_starts(n, k, s, p, d))
    out = F.conv_out(n, k, s, p, d)
    assert type(out) is int
    if count:
        assert out == count
    else:  # no window fits: the formula says so with a non-positive size
        assert out <= 0


@given(n_, k_, s_, p_, d_, st.booleans())
@SETTINGS
def test_pool_out_counts_the_windows(n, k, s, p, d, ceil_mode):
    assume(p <= k // 2)  # PyTorch's pooling precondition
    starts = ceil_mode_starts(n, k, s, p, d) if ceil_mode else window_starts(n, k, s, p, d)
    out = F.pool_out(n, k, s, p, d, ceil_mode)
    if starts:
        assert out == len(starts)
    else:
        assert out <= 0


@pytest.mark.parametrize(
    "n, k, s, p, ceil_mode, expected",
    [
        (5, 2, 2, 0, False, 2),
        (5, 2, 2, 0, True, 3),
        (5, 3, 2, 1, True, 3),
        (6, 3, 3, 1, True, 3),
        (16, 2, 2, 0, True, 8),
    ],
    ids=["floor", "ceil-half-window", "ceil-drops-window-in-padding", "ceil-keeps", "even"],
)
def test_pool_out_table(n, k, s, p, ceil_mode, expected):
    assert F.pool_out(n, k, s, p, 1, ceil_mode) == expected == len(
        (ceil_mode_starts if ceil_mode else window_starts)(n, k, s, p, 1)
    )


@given(st.integers(1, 20), k_, s_, p_, st.integers(0, 5), d_)
@SETTINGS
def test_conv_transpose_out_by_scattering(n, k, s, p, op, d):
    # Every input pixel i writes through every tap t to (uncropped) position i*s + t*d; the output
    # spans the written positions, grows by output_padding at the end and loses p at each side.
    written = {i * s + t * d for i in range(n) for t in range(k)}
    assert F.conv_transpose_out(n, k, s, p, op, d) == max(written) + 1 + op - 2 * p


@given(st.integers(1, 20), k_, s_, p_, d_, st.data())
@SETTINGS
def test_conv_transpose_is_the_adjoint_size_of_conv(n, k, s, p, d, data):
    # The sizes x whose convolution has n outputs are s consecutive sizes; output_padding op < s picks one.
    sizes = [x for x in range(1, n * s + d * k + 2 * p + 2) if len(window_starts(x, k, s, p, d)) == n]
    assert sizes == list(range(sizes[0], sizes[0] + len(sizes))) if sizes else True
    # Fewer than s sizes only when the run is cut at size 1 (the formula then reaches below 1).
    assume(len(sizes) == s and sizes[0] > 1)
    op = data.draw(st.integers(0, s - 1))
    assert F.conv_transpose_out(n, k, s, p, op, d) == sizes[0] + op


@given(st.integers(1, 50), st.integers(1, 20))
@SETTINGS
def test_adaptive_windows_cover_every_input_index(n, out):
    windows = [F.adaptive_window(i, n, out) for i in range(out)]
    for i, (start, end) in enumerate(windows):
        # Independent definition: input cell [j, j+1) overlaps output cell [i*n/out, (i+1)*n/out).
        brute = [j for j in range(n) if j * out < (i + 1) * n and (j + 1) * out > i * n]
        assert list(range(start, end)) == brute
        assert end > start
    assert set().union(*(range(a, b) for a, b in windows)) == set(range(n))
    assert windows[0][0] == 0 and windows[-1][1] == n


def untouched_pixels(n, k, s, p, d):
    """Real input pixels (0..n-1) outside every window's span."""
    span = d * (k - 1) + 1
    covered = set()
    for start in window_starts(n, k, s, p, d):
        covered.update(range(start, start + span))
    return [j for j in range(n) if j not in covered]


def trailing_untouched(n, k, s, p, d):
    """The untouched real pixels after the last window: what floor truncation drops."""
    last_end = window_starts(n, k, s, p, d)[-1] + d * (k - 1) + 1
    return [j for j in untouched_pixels(n, k, s, p, d) if j >= last_end]


@given(n_, k_, s_, p_, d_)
@SETTINGS
def test_dropped_pixels_by_brute_force(n, k, s, p, d):
    assume(window_starts(n, k, s, p, d))
    trailing = trailing_untouched(n, k, s, p, d)
    assert F.dropped_pixels(n, k, s, p, d) == len(trailing)
    if s <= d * (k - 1) + 1:  # windows overlap or abut: truncation is the only way to miss a pixel
        assert untouched_pixels(n, k, s, p, d) == trailing


@given(n_, k_, s_, p_, d_)
@SETTINGS
def test_ceil_mode_reaches_the_last_pixel_when_windows_tile(n, k, s, p, d):
    # why pooling with ceil_mode never warns about truncation: with k_eff >= s its windows tile the axis
    # up to the last real pixel (with k_eff < s there are gaps anyway, and no truncation warning)
    span = d * (k - 1) + 1
    assume(p <= k // 2 and span >= s)
    starts = ceil_mode_starts(n, k, s, p, d)
    assume(starts)
    assert starts[-1] + span >= n


@pytest.mark.parametrize(
    "n, k, s, p, expected",
    [(7, 3, 3, 0, 1), (227, 11, 4, 0, 0), (32, 3, 2, 0, 1), (8, 3, 2, 1, 0), (10, 3, 4, 0, 3), (9, 4, 3, 1, 0),
     (1, 1, 5, 2, 1)],
    ids=["7x7-k3-s3", "alexnet-conv1", "32-k3-s2", "padded-absorbs", "stride-4-gap-and-tail", "pad-covers-tail",
         "only-window-in-left-padding"],
)
def test_dropped_pixels_table(n, k, s, p, expected):
    # (10, 3, 4): windows [0, 3) and [4, 7) miss pixel 3 (a gap, not truncation) and the tail 7, 8, 9.
    assert F.dropped_pixels(n, k, s, p) == expected == len(trailing_untouched(n, k, s, p, 1))


# --- symbolic == concrete -----------------------------------------------------------------------


def small_net():
    return cnncalc.Sequential(
        cnncalc.Conv2d(3, 8, 3, stride=2, padding=1),
        cnncalc.BatchNorm2d(8),
        cnncalc.ReLU(),
        cnncalc.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        cnncalc.Residual(
            cnncalc.Sequential(cnncalc.Conv2d(8, 8, 3, padding=1), cnncalc.ReLU(), cnncalc.Conv2d(8, 8, 3, padding=1))
        ),
        cnncalc.Concat(cnncalc.Conv2d(8, 4, 1), cnncalc.Conv2d(8, 4, (3, 5), padding=(1, 2))),
        cnncalc.Conv2d(8, 16, (3, 5), stride=(2, 1), dilation=2),
        cnncalc.ConvTranspose2d(16, 8, 3, stride=2, output_padding=1),
        cnncalc.AvgPool2d(2),
        cnncalc.AdaptiveAvgPool2d((2, 3)),
        cnncalc.Flatten(),
        cnncalc.Linear(48, 10),
    )


def _sub(value, values):
    """A size (int), a receptive-field Fraction, or an expression with ``values`` substituted."""
    if isinstance(value, (int, Fraction)):
        return value
    result = value.subs(values)
    assert result.is_Rational, f"{value} with {values} is {result}"
    return int(result) if result.is_Integer else Fraction(int(result.p), int(result.q))


def _rows(report, values=None):
    def conv(x):
        return x if values is None else _sub(x, values)

    out = []
    for row in report.layers:
        rf = row.receptive_field
        out.append(
            (
                row.name,
                tuple(conv(d) for d in row.output_shape),
                conv(row.params),
                conv(row.macs),
                None if rf is None else tuple(conv(v) for v in rf.size + rf.stride + rf.start),
            )
        )
    return out


@given(st.integers(1, 200), st.integers(1, 200))
@settings(max_examples=40, deadline=None)
def test_symbolic_analysis_substituted_equals_concrete(h, w):
    net = small_net()
    try:
        concrete = cnncalc.analyze(net, (3, h, w), warn=False)
    except ShapeError:
        assume(False)
    symbolic = cnncalc.analyze(net, "3xHxW", warn=False)
    H, W = cnncalc.symbol("H"), cnncalc.symbol("W")
    values = {H: h, W: w}
    assert _rows(symbolic, values) == _rows(concrete)
    assert _sub(symbolic.macs, values) == concrete.macs
    assert symbolic.params == concrete.params  # independent of the input size
    assert tuple(_sub(d, values) for d in symbolic.output_shape) == concrete.output_shape


def test_symbolic_output_size_formula():
    report = cnncalc.analyze(cnncalc.Conv2d(3, 8, 3, stride=2, padding=1), "3xHxW")
    sympy = pytest.importorskip("sympy")
    H, W = cnncalc.symbol("H"), cnncalc.symbol("W")
    # floor((H + 2 - 3)/2) + 1 == ceil(H/2) for every positive integer H
    assert report.output_shape == (8, sympy.ceiling(H / 2), sympy.ceiling(W / 2))
    assert report.macs == 8 * 27 * sympy.ceiling(H / 2) * sympy.ceiling(W / 2)


@st.composite
def random_chain(draw):
    """A few windowed layers with random (mostly legal) hyperparameters on 2 channels."""
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
        s = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        kind = draw(st.sampled_from(["conv", "max", "avg", "convT", "pad"]))
        if kind == "conv":
            layers.append(cnncalc.Conv2d(2, 2, k, s, p, dilation=draw(st.integers(1, 2))))
        elif kind == "max":
            layers.append(cnncalc.MaxPool2d(k, s, p, ceil_mode=draw(st.booleans())))
        elif kind == "avg":
            layers.append(cnncalc.AvgPool2d(k, s, p, ceil_mode=draw(st.booleans())))
        elif kind == "convT":
            layers.append(cnncalc.ConvTranspose2d(2, 2, k, s, p, output_padding=(s[0] - 1, 0)))
        else:
            layers.append(cnncalc.ZeroPad2d(draw(st.tuples(*[st.integers(-1, 2)] * 4))))
    return cnncalc.Sequential(*layers)


@given(random_chain(), st.integers(1, 30), st.integers(1, 30))
@settings(max_examples=60, deadline=None)
def test_random_chains_symbolic_substituted_equals_concrete(net, h, w):
    symbolic = cnncalc.analyze(net, "2xHxW", warn=False)
    values = {cnncalc.symbol("H"): h, cnncalc.symbol("W"): w}
    try:
        concrete = cnncalc.analyze(net, (2, h, w), warn=False)
    except ShapeError:
        # where the concrete analysis refuses, the symbolic sizes reach a non-positive value on the way
        # (or a crop larger than the map, which ZeroPad2d refuses before the size turns negative)
        sizes = [_sub(d, values) for row in symbolic.layers for d in row.output_shape[1:]]
        crops = any(isinstance(r.layer, cnncalc.ZeroPad2d) and min(r.layer.padding) < 0 for r in symbolic.layers)
        assert min(sizes) <= 0 or crops
        return
    assert _rows(symbolic, values) == _rows(concrete)
    assert _sub(symbolic.macs, values) == concrete.macs
