"""The single-layer calculators: any rank, 'same'/'valid' with PyTorch's rules and TensorFlow's 'same', the answers
checked against PyTorch, the derivation printed by explain's printer (textbook form, floor step, per filter)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc import ShapeError, calculators, symbol
from cnncalc.formulas import tf_same_padding

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note


def _torch_conv_shape(shape, out, k, s, p, d):
    conv = [None, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d][len(shape) - 1]
    return tuple(conv(shape[0], out, k, stride=s, padding=p, dilation=d)(torch.zeros(1, *shape)).shape[1:])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 3), st.integers(5, 20))
def test_same_padding_is_pytorchs(rank, k, d, n):
    shape = (2,) + (n,) * rank
    calc = calculators.conv(shape, 3, k, padding="same", dilation=d)
    assert calc.report.output_shape == _torch_conv_shape(shape, 3, k, 1, "same", d) == (3,) + (n,) * rank
    assert calculators.conv(shape, 3, k, padding="valid", dilation=d).report.output_shape == \
        _torch_conv_shape(shape, 3, k, 1, "valid", d) if n >= d * (k - 1) + 1 else True


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2), st.integers(1, 7), st.integers(1, 4), st.integers(1, 2), st.integers(3, 40))
def test_tf_same_is_ceil_n_over_s_and_pads_as_tensorflow(rank, k, s, d, n):
    shape = (2,) + (n,) * rank
    calc = calculators.conv(shape, 4, k, s, dilation=d, tf_same=True)
    assert calc.report.output_shape == (4,) + (-(-n // s),) * rank
    before, after = tf_same_padding(n, k, s, d)
    padded = torch.nn.functional.pad(torch.zeros(1, *shape), (before, after) * rank)
    conv = [None, torch.nn.Conv1d, torch.nn.Conv2d][rank]
    assert tuple(conv(2, 4, k, stride=s, dilation=d)(padded).shape[1:]) == calc.report.output_shape
    text = calc.render()
    assert f"({before} before, {after} after)" in text


@pytest.mark.parametrize("call, message", [
    (lambda: calculators.conv("3x32x32", 8, 3, 2, "same"), "padding='same' is not supported for strided convolutions"),
    (lambda: calculators.pool("3x32x32", 3, 1, "same"), "PyTorch pooling takes no padding='same'"),
    (lambda: calculators.conv_transpose("3x32x32", 8, 3, 2, "same"), "padding='same' is not supported for transposed"),
    (lambda: calculators.conv("3x32x32", 8, 3, padding=1, tf_same=True), "--tf-same replaces --padding"),
    (lambda: calculators.conv("3x32x32x32x32", 8, 3), "conv takes a CxL, CxHxW or CxDxHxW map, got 3x32x32x32x32"),
    (lambda: calculators.pool("3x8x8", 2, kind="min"), "pooling kind must be 'max' or 'avg'"),
], ids=["strided-same", "pool-same", "transpose-same", "tf-and-padding", "rank", "pool-kind"])
def test_refusals(call, message):
    with pytest.raises(ShapeError, match=re.escape(message)):
        call()


def test_valid_pooling_is_no_padding_and_says_so():
    calc = calculators.pool("3x7x7", 2, padding="valid")
    assert calc.report.output_shape == (3, 3, 3) and "Note: padding 'valid' means no padding (p = 0)." in calc.notices


def test_the_derivation_is_the_textbook_form_with_every_step():
    text = calculators.conv("3x227x227", 96, 11, 4).render()
    assert "H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = floor((227 - 11 + 2*0)/4) + 1 = floor(216/4) + 1 = 54 + 1 = 55" in text
    assert "parameters per filter: C_in*k^2 + 1 = 3*11^2 + 1 = 364" in text
    assert "parameters: C_out*(C_in*k^2 + 1) = 96*(3*11^2 + 1) = 96*364 = 34944" in text
    assert "ceiling" not in text and "d*(k - 1)" not in text  # no PyTorch form, no sympy spelling


def test_a_dilated_same_padding_gets_no_false_warning():
    text = calculators.conv("16x32x32", 16, 3, padding=2, dilation=2).render()
    assert "more than half" not in text
    assert "! padding 3 is more than half the kernel span (3)" in calculators.conv("16x32x32", 16, 3, padding=3).render()


def test_linear_after_a_map_flattens_first():
    calc = calculators.linear("64x5x5", 120)
    text = calc.render()
    assert calc.layer.in_features == 1600 and calc.report.params == 192120
    assert "flattened: F_out = C_in*H_in*W_in = 64*5*5 = 1600" in text
    assert "parameters: F_out*(F_in + 1) = 120*(1600 + 1) = 120*1601 = 192120" in text


@pytest.mark.parametrize("shape, layer, params, buffers", [
    ("64", "BatchNorm1d(64)", 128, 128), ("64x100", "BatchNorm1d(64)", 128, 128), ("64x56x56", "BatchNorm2d(64)", 128, 128),
    ("32x8x16x16", "BatchNorm3d(32)", 64, 64),
])
def test_batchnorm_calculator(shape, layer, params, buffers):
    calc = calculators.batchnorm(shape)
    assert (calc.name, calc.report.params, calc.report.buffers) == (layer, params, buffers)
    assert "buffers (running mean and variance, not learned): 2*C" in calc.render()


@pytest.mark.parametrize("shape, padding, layer, output, line", [
    ("3x32x32", 1, "ZeroPad2d(1)", (3, 34, 34), "H_out = W_out = H_in + 2*p = 32 + 2*1 = 34"),
    ("3x32x32", (1, 2), "ZeroPad2d((2, 2, 1, 1))", (3, 34, 36), "W_out = W_in + 2*p_w = 32 + 2*2 = 36"),
    ("3x100", 3, "ZeroPad1d(3)", (3, 106), "L_out = L_in + 2*p = 100 + 2*3 = 106"),
])
def test_pad_calculator(shape, padding, layer, output, line):
    calc = calculators.pad(shape, padding)
    assert calc.name == layer and calc.report.output_shape == output and line in calc.render()


def test_symbols_in_options_are_announced():
    calc = calculators.conv("3x32x32", 8, symbol("k"), padding=symbol("sam"))
    assert calc.notices[:2] == [
        "Note: k, sam are symbols (unknown positive integers), not numbers: the results are formulas in them.",
        "Note: --padding 'sam' is read as a symbol; did you mean 'same'?",
    ]
    one = calculators.conv("3x32x32", 8, 3, padding=symbol("p"))
    assert one.notices == ["Note: p is a symbol (an unknown positive integer), not a number: the results are formulas in it."]
    assert calculators.conv("3xHxW", 8, 3).notices == []  # a symbolic input is what the student asked for


def test_the_calculation_displays_in_jupyter():
    html = calculators.conv("3x32x32", 64, 3, 2, tf_same=True)._repr_html_()
    assert "<th style='text-align:left'>Params</th><td>1,792</td>" in html
    assert r"\left\lceil{\frac{H_{in}}{s}}\right\rceil" in html and r"\left\lfloor \frac{30}{2} \right\rfloor" in html


def test_a_linear_layer_on_an_unflattened_map_says_flatten_not_a_wrong_size():
    import cnncalc

    with pytest.raises(ShapeError, match=re.escape("receives a 512x7x7 map: flatten it first (512*7*7 = 25088)")):
        cnncalc.analyze(cnncalc.Linear(25088, 4096), "512x7x7")
    with pytest.raises(ShapeError, match=re.escape("receives 7: use Linear(7, 4096) (flatten first: 512x7x7 has 25088")):
        cnncalc.analyze(cnncalc.Linear(100, 4096), "512x7x7")
