"""The layers the frontends need: Reshape (x.view / x.reshape) and SamePad2d (TensorFlow padding='same')."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc as c
from cnncalc import ShapeError

RESHAPES = [
    ("view_minus1_n", (-1, 400), (16, 5, 5), (400,)),
    ("size0_minus1", (None, -1), (16, 5, 5), (400,)),
    ("size0_map", (None, 16, 25), (16, 5, 5), (16, 25)),
    ("size0_infer_middle", (None, 4, -1, 5), (16, 5, 5), (4, 20, 5)),
    ("batch_minus1_map", (-1, 16, 5, 5), (400,), (16, 5, 5)),
]


@pytest.mark.parametrize("args,shape,out", [r[1:] for r in RESHAPES], ids=[r[0] for r in RESHAPES])
def test_reshape_shapes(args, shape, out):
    assert c.analyze(c.Reshape(*args), shape).output_shape == out


RESHAPE_ERRORS = [
    ("not_a_multiple", (-1, 400), (16, 6, 6),
     r"view\(-1, 400\) expects a multiple of 400 elements, receives 576: use x.view\(-1, 576\)"),
    ("mixes_samples", (-1, 400), (16, 10, 10),
     r"view\(-1, 400\) mixes samples: each has 1600 elements, not 400, so the batch size would change: use x.view\(-1, 1600\)"),
    ("per_sample_count", (None, 300), (16, 5, 5),
     r"view\(x.size\(0\), 300\) expects 300 elements per sample, receives 400: use x.view\(x.size\(0\), 400\)"),
    ("per_sample_multiple", (None, -1, 7), (16, 5, 5),
     r"view\(x.size\(0\), -1, 7\) expects a multiple of 7 elements per sample, receives 400"),
]


@pytest.mark.parametrize("args,shape,message", [r[1:] for r in RESHAPE_ERRORS], ids=[r[0] for r in RESHAPE_ERRORS])
def test_reshape_errors(args, shape, message):
    with pytest.raises(ShapeError, match=message):
        c.analyze(c.Reshape(*args), shape)


@pytest.mark.parametrize("args,message", [
    ((4, -1), r"reshape\(4, -1\): the first size is the batch: write -1 or x.size\(0\)"),
    ((-1, -1), r"only one dimension can be inferred"),
    ((None, -1, -1), r"only one dimension can be inferred"),
], ids=["fixed_batch", "two_inferred", "two_inferred_size0"])
def test_reshape_refused_at_construction(args, message):
    with pytest.raises(ShapeError, match=message):
        c.Reshape(*args, method="reshape")


def test_reshape_symbolic_and_equality():
    report = c.analyze(c.Reshape(None, -1), "16xHxW")
    assert str(report.output_shape[0]) == "16*H*W"
    assert c.Reshape(-1, 400) == c.Reshape(-1, 400) != c.Reshape(-1, 400, method="reshape")
    assert report.layers[0].receptive_field is None  # the spatial mapping ends, as with Flatten


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 80), k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3))
def test_same_pad_then_conv_gives_ceil_n_over_s(n, k, s, d):
    """TensorFlow's rule: output ceil(n/s), the odd pixel of padding after, no padding beyond the need."""
    pad = c.SamePad2d(k, s, d)
    k_eff = d * (k - 1) + 1
    total = max((-(-n // s) - 1) * s + k_eff - n, 0)
    assert pad.pads((1, n, n)) == ((total // 2, total - total // 2),) * 2
    report = c.analyze(c.Sequential(pad, c.Conv2d(1, 1, k, s, dilation=d)), (1, n, n), warn=False)
    assert report.output_shape == (1, -(-n // s), -(-n // s))
    assert report.receptive_field.start == (-(total // 2), -(total // 2))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 5), s=st.integers(1, 3))
def test_same_pad_symbolic_substitutes_to_concrete(n, k, s):
    model = c.Sequential(c.SamePad2d(k, s), c.MaxPool2d(k, s))
    H = c.symbol("H")
    symbolic = c.analyze(model, (2, H, n), warn=False).output_shape[1]
    value = int(symbolic.subs(H, n)) if hasattr(symbolic, "subs") else symbolic
    assert value == c.analyze(model, (2, n, n), warn=False).output_shape[1] == -(-n // s)


def test_same_pad_rejects_bad_arguments():
    with pytest.raises(ShapeError, match=r"SamePad2d: stride must be positive"):
        c.SamePad2d(3, 0)
