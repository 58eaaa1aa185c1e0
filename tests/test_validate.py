"""validate.verify: the analytic numbers agree with what the reference executes, and a wrong number fails."""

from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import ShapeError, formulas
from cnncalc.reference import runner
from cnncalc.validate import format_table, verify


def branchy():
    """Residual and concat branches, dilation, ceil_mode pooling, truncation (odd sizes), padding layers."""
    return cnncalc.Sequential(OrderedDict(
        pad=cnncalc.ZeroPad2d((1, 0, 2, 1)),
        conv=cnncalc.Conv2d(2, 6, 3, stride=2),
        bn=cnncalc.BatchNorm2d(6),
        relu=cnncalc.ReLU(),
        res=cnncalc.Residual(
            cnncalc.Sequential(cnncalc.Conv2d(6, 6, 3, padding=2, dilation=2), cnncalc.LeakyReLU(0.1)),
            post=cnncalc.ReLU6(),
        ),
        pool=cnncalc.MaxPool2d(3, 2, 1, ceil_mode=True),
        mix=cnncalc.Concat(OrderedDict(
            a=cnncalc.Conv2d(6, 3, 1),
            b=cnncalc.Sequential(cnncalc.Conv2d(6, 2, (1, 3), padding=(0, 1)), cnncalc.Sigmoid()),
            c=cnncalc.Sequential(cnncalc.AvgPool2d(3, 1, 1, count_include_pad=False), cnncalc.Conv2d(6, 2, 1, groups=2)),
        )),
        up=cnncalc.ConvTranspose2d(7, 4, 3, stride=2, padding=1, output_padding=1),
        lrn=cnncalc.LocalResponseNorm(3),
        gap=cnncalc.AdaptiveMaxPool2d((2, 3)),
        flat=cnncalc.Flatten(),
        drop=cnncalc.Dropout(0.2),
        fc=cnncalc.Linear(24, 5),
    ))


def upsampling():
    """Nearest and bilinear upsampling by whole factors (traced receptive fields), a size, align_corners."""
    return cnncalc.Sequential(
        cnncalc.Conv2d(2, 4, 3, stride=2, padding=1), cnncalc.Upsample(scale_factor=2), cnncalc.Conv2d(4, 4, 3),
        cnncalc.Upsample(scale_factor=(2, 4), mode="bilinear"), cnncalc.Conv2d(4, 2, 3, stride=2, padding=1),
        cnncalc.Upsample(size=(30, 40), mode="bilinear"), cnncalc.UpsamplingBilinear2d(scale_factor=2),
    )


def gated():
    """A squeeze-and-excitation gate (Mul merge, broadcast) after a residual block."""
    se = cnncalc.Sequential(cnncalc.AdaptiveAvgPool2d(1), cnncalc.Conv2d(4, 2, 1), cnncalc.ReLU(),
                            cnncalc.Conv2d(2, 4, 1), cnncalc.Sigmoid())
    return cnncalc.Sequential(cnncalc.Conv2d(2, 4, 3, padding=1), cnncalc.Residual(se, op="mul"),
                              cnncalc.Conv2d(4, 3, 3, stride=2))


CASES = [
    ("branchy", branchy, (2, 17, 15)),
    ("gated", gated, (2, 9, 10)),
    ("upsampling", upsampling, (2, 13, 11)),
    ("lenet5", lambda: cnncalc.model("lenet5"), (1, 32, 32)),
    ("resnet18", lambda: cnncalc.model("resnet18"), (3, 32, 32)),
    ("squeezenet1_1", lambda: cnncalc.model("squeezenet1_1"), (3, 35, 33)),
    ("mobilenet_v2", lambda: cnncalc.model("mobilenet_v2"), (3, 32, 32)),
]


@pytest.mark.parametrize("name, build, shape", CASES, ids=[c[0] for c in CASES])
def test_verify_passes_on_correct_networks(name, build, shape):
    model = build()
    result = verify(model, shape)
    assert result.ok, format_table(result)
    report = cnncalc.analyze(model, shape, warn=False)
    kinds = [c.what for c in result.checks]
    assert kinds.count("shape") == len(report.layers)
    leaves = [r for r in report.layers if not r.is_merge]
    assert kinds.count("params") == len(leaves) and kinds.count("macs") == len(report.layers)  # merges' MACs too
    assert kinds.count("gradient") == len(report.layers) + 1  # every row, and the whole network on the input row
    linear = {"Conv2d", "ConvTranspose2d", "Linear", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "Dropout", "ZeroPad2d",
              "Upsample", "UpsamplingBilinear2d"}
    assert kinds.count("finite_difference") == sum(r.type not in linear for r in report.layers)
    assert kinds.count("receptive_field") == sum(r.receptive_field is not None for r in report.layers)
    # ResNet-18 and MobileNetV2 at 32x32 end in 1x1 maps: BatchNorm over one value per channel outputs its bias, so
    # ReLU inputs sit exactly on the kink, where no finite difference can agree: those are skipped
    assert all("on a kink" in c.note and c.what == "finite_difference" for c in result.skipped)
    one_value = any(r.type == "BatchNorm2d" and r.output_shape[1:] == (1, 1) for r in report.layers)
    assert bool(result.skipped) == one_value == (name in ("resnet18", "mobilenet_v2"))


def test_every_receptive_field_of_a_branchy_net_is_measured_exactly():
    result = verify(branchy(), (2, 17, 15), gradients=False)
    rf = [c for c in result.checks if c.what == "receptive_field"]
    assert len(rf) == 17 and all(c.ok for c in rf)  # every row up to the adaptive pooling
    by_layer = {c.layer: c for c in rf}
    # conv: 3x3 stride 2 on the padded 20x16 map gives 9x7; the centre output (row 4, col 3) reads rows
    # 8-10 and columns 6-8 of the padded map, i.e. input rows 6-8 and columns 5-7
    assert by_layer["conv"].actual == ((6, 8), (5, 7))
    assert by_layer["mix"].actual == by_layer["mix"].expected


def unet():
    """An encoder-decoder with concat skips: the receptive fields after upsampling are traced regions."""
    conv = lambda c_in, c_out: cnncalc.Sequential(cnncalc.Conv2d(c_in, c_out, 3, padding=1), cnncalc.ReLU())
    inner = cnncalc.Sequential(cnncalc.MaxPool2d(2), conv(4, 4), cnncalc.ConvTranspose2d(4, 4, 2, stride=2))
    middle = cnncalc.Sequential(
        cnncalc.Conv2d(4, 4, 3, stride=2, padding=1), cnncalc.Concat(cnncalc.Identity(), inner), conv(8, 4),
        cnncalc.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1),
    )
    return cnncalc.Sequential(conv(1, 4), cnncalc.Concat(cnncalc.Identity(), middle), conv(8, 2))


def test_encoder_decoder_receptive_fields_are_measured_exactly():
    result = verify(unet(), (1, 20, 20), gradients=False)
    assert result.ok, format_table(result)
    report = cnncalc.analyze(unet(), (1, 20, 20))
    assert [r.traced for r in report.layers].count(True) >= 5
    assert sum(c.what == "receptive_field" for c in result.checks) == len(report.layers)


def test_a_wrong_trace_fails(monkeypatch):
    from cnncalc import trace

    real = trace._read
    monkeypatch.setattr(trace, "_read", lambda w, iv, spend: tuple((lo - w.up, hi) for lo, hi in real(w, iv, spend)))  # one too wide
    failure = first_failure(verify(unet(), (1, 20, 20), gradients=False))
    assert (failure.layer, failure.type, failure.what) == ("1.1.1.1.2", "ConvTranspose2d", "receptive_field")
    assert failure.expected[0][0] < failure.actual[0][0]


def first_failure(result):
    return next(c for c in result.checks if not c.ok)


def test_a_wrong_mac_count_fails(monkeypatch):
    monkeypatch.setattr(cnncalc.Conv2d, "macs", lambda self, i, o: 7)
    result = verify(branchy(), (2, 17, 15), receptive_field=False, gradients=False)
    failure = first_failure(result)
    assert not result.ok and (failure.layer, failure.what, failure.expected) == ("conv", "macs", 7)
    assert failure.actual == 6 * 9 * 7 * 2 * 3 * 3  # C_out*H_out*W_out*C_in*kh*kw, executed
    assert "FAIL expected 7, got 6804" in format_table(result)


def test_a_wrong_parameter_count_fails(monkeypatch):
    monkeypatch.setattr(cnncalc.Linear, "params", property(lambda self: self.in_features * self.out_features))
    failure = first_failure(verify(branchy(), (2, 17, 15), receptive_field=False, gradients=False))
    assert (failure.layer, failure.what, failure.expected, failure.actual) == ("fc", "params", 120, 125)


def test_a_wrong_output_shape_fails(monkeypatch):
    real = cnncalc.Linear.infer
    monkeypatch.setattr(cnncalc.Linear, "infer", lambda self, shape: real(self, shape)[:-1] + (6,))
    failure = first_failure(verify(branchy(), (2, 17, 15), receptive_field=False, gradients=False))
    assert (failure.layer, failure.what, failure.expected, failure.actual) == ("fc", "shape", (6,), (5,))


def test_a_wrong_receptive_field_formula_fails(monkeypatch):
    real = formulas.rf_conv
    monkeypatch.setattr(formulas, "rf_conv", lambda size, stride, start, k, s, p, d=1: real(size, stride, start, k, s, p, d)[:2] + (real(size, stride, start, k, s, p, d)[2] + 1,))
    failure = first_failure(verify(branchy(), (2, 17, 15), gradients=False))
    # padding moves the field through the same window recurrence (a 1x1 window at stride 1), so the
    # planted bug shows first at the pad
    assert (failure.layer, failure.what) == ("pad", "receptive_field")
    assert failure.expected == ((9, 9), (8, 8)) and failure.actual == ((8, 8), (7, 7))


def test_a_wrong_element_wise_derivative_fails_by_finite_differences(monkeypatch):
    # The sigmoid's Jacobian is diagonal, so its forward-mode derivative is its backward: a wrong slope passes
    # the adjoint test and is caught by the finite difference at the sigmoid.
    op = runner._LAYERS["Sigmoid"]
    wrong = lambda *a: (op.backward(*a)[0] * 1.001, {})  # noqa: E731
    jvp = lambda layer, x, t, p, u, b, mode, i: wrong(layer, x, p, b, t, mode, i)[0]  # noqa: E731
    monkeypatch.setitem(runner._LAYERS, "Sigmoid", op._replace(backward=wrong, jvp=jvp))
    result = verify(branchy(), (2, 17, 15), receptive_field=False)
    assert {(c.layer, c.what) for c in result.failures} == {("mix.b.1", "finite_difference")}


def test_a_wrong_backward_fails_the_adjoint_test_at_its_layer(monkeypatch):
    op = runner._LAYERS["ConvTranspose2d"]
    monkeypatch.setitem(runner._LAYERS, "ConvTranspose2d", op._replace(
        backward=lambda *a: (op.backward(*a)[0], {k: v * 1.001 for k, v in op.backward(*a)[1].items()})))
    result = verify(branchy(), (2, 17, 15), receptive_field=False)
    assert {(c.layer, c.what) for c in result.failures} == {("input", "gradient"), ("up", "gradient")}
    assert "FAIL expected" in format_table(result)


def test_verify_needs_a_concrete_shape():
    with pytest.raises(ShapeError, match="concrete input shape"):
        verify(branchy(), "2xHxW")


def test_progress_is_reported_per_job():
    seen = []
    verify(cnncalc.model("lenet5"), (1, 32, 32), progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == len(seen)


# --- the command line ---------------------------------------------------------------------------


def run_cli(*args):
    from click.testing import CliRunner

    from cnncalc.cli import cli

    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


def test_cli_verify_prints_the_table_and_exits_0_when_everything_agrees():
    result = run_cli("verify", "lenet5", "--input", "1x32x32")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["layer", "type", "shape", "params", "macs", "receptive_field", "gradient", "finite_difference"]
    assert lines[1].split()[:2] == ["input", "Input"]
    assert lines[2].split()[:7] == ["c1", "Conv2d", "ok", "ok", "ok", "ok", "ok"]
    assert lines[-1] == "lenet5 1x32x32: all checks agree"


def test_cli_verify_exits_1_naming_the_disagreeing_layer(monkeypatch):
    monkeypatch.setattr(cnncalc.Linear, "macs", lambda self, i, o: 1)
    result = run_cli("verify", "lenet5")
    assert result.exit_code == 1
    f6 = next(line for line in result.stdout.splitlines() if line.startswith("f6 "))
    assert "FAIL expected 1, got 10080" in f6  # 120*84 executed
    assert result.stdout.splitlines()[-1] == "lenet5 1x32x32: 2 of 61 checks disagree"


@pytest.mark.parametrize("args, match", [(["verify"], "either a MODEL or --all"),
                                         (["verify", "lenet5", "--all"], "either a MODEL or --all"),
                                         (["verify", "lenet5", "--input", "1xHx32"], "concrete input shape")],
                         ids=["nothing", "both", "symbolic"])
def test_cli_verify_refuses_bad_requests(args, match):
    result = run_cli(*args)
    assert result.exit_code == 2
    assert re.search(match, result.output)


# --- planted bugs: every one makes verify fail, on every generated network ---------------------


@st.composite
def networks(draw):
    """A small network that exercises every planted bug: a padded, biased square convolution (kernel >= 2), an
    activation with a kink, max pooling, BatchNorm, a random middle (a residual block, a concatenation or a gate) and a linear
    head; random channels, strides and odd input sizes."""
    c_in, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    k = draw(st.integers(2, 4))
    pad = draw(st.integers(1, k - 1)) if k > 2 else 1
    stride = draw(st.integers(1, 2))
    size = (draw(st.integers(12, 19)), draw(st.integers(12, 19)))
    act = draw(st.sampled_from([cnncalc.ReLU(), cnncalc.ReLU6(), cnncalc.LeakyReLU(0.1), cnncalc.Hardswish()]))
    middle = draw(st.sampled_from(["residual", "concat", "gate"]))
    if middle == "residual":
        mid = cnncalc.Residual(cnncalc.Sequential(cnncalc.Conv2d(c, c, 3, padding=1), cnncalc.BatchNorm2d(c)), post=cnncalc.ReLU())
        c_out = c
    elif middle == "concat":
        mid = cnncalc.Concat(cnncalc.Conv2d(c, 2, 1), cnncalc.Sequential(cnncalc.Conv2d(c, 3, 3, padding=1), cnncalc.Tanh()))
        c_out = 5
    else:
        mid = cnncalc.Residual(cnncalc.Sequential(cnncalc.AdaptiveAvgPool2d(1), cnncalc.Conv2d(c, c, 1), cnncalc.Sigmoid()), op="mul")
        c_out = c
    model = cnncalc.Sequential(
        cnncalc.Conv2d(c_in, c, k, stride=stride, padding=pad), act,  # no BatchNorm right after: it would cancel the bias
        cnncalc.MaxPool2d(draw(st.integers(2, 3)), stride=draw(st.integers(1, 2)), padding=1), cnncalc.BatchNorm2d(c), mid,
        cnncalc.AdaptiveAvgPool2d(2), cnncalc.Flatten(), cnncalc.Linear(4 * c_out, 3),
    )
    return model, (c_in,) + size


def _wrap(monkeypatch, name, change):
    from cnncalc.reference import functional

    real = getattr(functional, name)
    monkeypatch.setattr(functional, name, lambda *a, **kw: change(real, *a, **kw))


def _conv_grads(real, x, w, g, **kw):
    return list(real(x, w, g, **kw))


def _shifted_input_gradient(real, x, w, g, **kw):
    grads = _conv_grads(real, x, w, g, **kw)
    grads[0] = None if grads[0] is None else np.roll(grads[0], 1, axis=2)  # unpadded one row off
    return tuple(grads)


def _transposed_weight(real, x, w, g, **kw):
    grads = _conv_grads(real, x, w, g, **kw)
    grads[0] = real(x, w.swapaxes(2, 3), g, **kw)[0]
    return tuple(grads)


def _no_bias_gradient(real, x, w, g, **kw):
    grads = _conv_grads(real, x, w, g, **kw)
    grads[2] = None if grads[2] is None else np.zeros_like(grads[2])
    return tuple(grads)


def _bn_without_mean_term(real, x, mean, var, w, b, g, training=False, **kw):
    grad_x, grad_w, grad_b = real(x, mean, var, w, b, g, training=training, **kw)
    axes = (0, 2, 3)
    return grad_x + (g * w.reshape(1, -1, 1, 1)).mean(axis=axes, keepdims=True) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5), grad_w, grad_b


def _max_pool_next_tap(real, x, g, **kw):
    grad = real(x, g, **kw)
    return np.roll(grad, 1, axis=3)


def _max_pool_jvp_minimum(real, x, t, **kw):
    return -real(-x, -t, **kw)  # the minimum's tangent


def _linear_weight_gradient_halved(real, x, w, g, output_mask=(True, True, True)):
    grad_x, grad_w, grad_b = real(x, w, g, output_mask)
    return grad_x, None if grad_w is None else grad_w / 2, grad_b


BUGS = {
    "input gradient off by one row of padding": lambda mp: _wrap(mp, "conv2d_backward", _shifted_input_gradient),
    "transposed weight in the input gradient": lambda mp: _wrap(mp, "conv2d_backward", _transposed_weight),
    "missing bias gradient": lambda mp: _wrap(mp, "conv2d_backward", _no_bias_gradient),
    "BatchNorm backward without the mean term": lambda mp: _wrap(mp, "batch_norm_backward", _bn_without_mean_term),
    "max-pool gradient to the next pixel": lambda mp: _wrap(mp, "max_pool2d_backward", _max_pool_next_tap),
    "max-pool derivative at the minimum": lambda mp: _wrap(mp, "max_pool2d_jvp", _max_pool_jvp_minimum),
    "linear weight gradient halved": lambda mp: _wrap(mp, "linear_backward", _linear_weight_gradient_halved),
    "conv output size formula off by one": lambda mp: mp.setattr(
        cnncalc.Conv2d, "infer", lambda self, shape, real=cnncalc.Conv2d.infer: real(self, shape)[:1] + (real(self, shape)[1] + 1,) + real(self, shape)[2:]),
    "receptive-field start off by one": lambda mp: mp.setattr(
        formulas, "rf_conv", lambda *a, real=formulas.rf_conv: real(*a)[:2] + (real(*a)[2] + 1,)),
}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_every_planted_bug_makes_verify_fail(net):
    model, shape = net
    result = verify(model, shape)
    assert result.ok, format_table(result)
    for bug, plant in BUGS.items():
        with pytest.MonkeyPatch.context() as mp:
            plant(mp)
            try:
                caught = not verify(model, shape).ok
            except ShapeError as exc:  # a wrong shape formula can make the analysis reject the network outright
                caught = "mismatched shapes" in str(exc) or "cannot concatenate" in str(exc)
            assert caught, bug


# --- every zoo network ---------------------------------------------------------------------------

ODD_SIZES = ((64, 64), (48, 40), (40, 56))
ZOO = cnncalc.models()
TUTORIALS = ("lenet5", "cifar_net", "simple_cnn", "mnist_cnn")  # small enough to verify at their own size
GRADIENT_LAYERS = 6  # per network, besides the whole network's adjoint test
# Deeper members of a family run every layer type of its smallest member (whose gradients are checked),
# and their 60-140M float64 parameters make each gradient pass slow: their shapes, counts and fields are
# checked, their gradients through the smallest member.
SAME_LAYERS_AS = {name: name.split("_")[0][:3] + "11" + ("_bn" if name.endswith("_bn") else "")
                  for name in ZOO if name.startswith("vgg") and not name.startswith("vgg11")}
SAME_LAYERS_AS.update(resnet101="resnet50", resnet152="resnet50", densenet169="densenet121", densenet201="densenet121")
# ViT takes only its 224x224 input, where the larger members' float64 forward and backward need minutes and
# gigabytes: vit_b_32 is verified whole; the others through their first encoder layer (every layer type of
# the encoder) at its input.
# S3D likewise takes nothing smaller than 224x224 (its 2x7x7 average pool): its features at a small clip.
BLOCK_OF = {name: ("encoder.layers.encoder_layer_0", None) for name in ("vit_b_16", "vit_l_16", "vit_l_32", "vit_h_14")}
BLOCK_OF["s3d"] = ("features", (3, 8, 64, 64))
# MaxViT's partitions are fixed for 224x224 (each block's map a multiple of 7), where the whole network takes
# 36 s: its last block (MBConv with the strided shortcut, window and grid attention) at its 14x14 input.
BLOCK_OF["maxvit_t"] = ("blocks.3", None)
# Wider or deeper members of the later families, built from the same blocks as a network verified here:
# even without gradients the NumPy reference takes 3-17 s per size on each (wide_resnet101_2: 17 s at
# 32x32), and regnet_y_128gf's 645 million float64 parameters need 5 GB per copy; the suite verifies the
# family through its smallest member and leaves these out.
SAME_BLOCKS_AS = {
    "densenet161": "densenet121", "wide_resnet50_2": "resnet50", "wide_resnet101_2": "resnet50",
    "resnext101_32x8d": "resnext50_32x4d", "resnext101_64x4d": "resnext50_32x4d",
    **{f"efficientnet_b{i}": "efficientnet_b3" for i in range(4, 8)},
    "efficientnet_v2_m": "efficientnet_v2_s", "efficientnet_v2_l": "efficientnet_v2_s",
    **{f"regnet_{kind}_{flops}": f"regnet_{kind}_400mf" for kind in "xy"
       for flops in ("800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")},
    "regnet_y_128gf": "regnet_y_400mf",
    "convnext_small": "convnext_tiny", "convnext_base": "convnext_tiny", "convnext_large": "convnext_tiny",
    "fcn_resnet101": "fcn_resnet50", "deeplabv3_resnet101": "deeplabv3_resnet50",
    # Swin's deeper stages (18 blocks): 7-16 s each at 32x32 and an odd size, gradients or not
    "swin_s": "swin_t", "swin_b": "swin_t", "swin_v2_s": "swin_v2_t", "swin_v2_b": "swin_v2_t",
}



def test_the_verification_tables_name_zoo_networks():
    assert set(SAME_BLOCKS_AS) | set(SAME_BLOCKS_AS.values()) | set(BLOCK_OF) <= set(ZOO)
    verified = set(SAME_BLOCKS_AS.values())
    assert not verified & (set(SAME_BLOCKS_AS) | set(SAME_LAYERS_AS) | set(BLOCK_OF))


def _block(name, path):
    """The block at ``path`` (dotted) of zoo network ``name`` and its input shape in the network."""
    block = cnncalc.model(name)
    for part in path.split("."):
        block = block[part]
    rows = cnncalc.zoo.describe(name).analyze(warn=False).layers
    return block, next(r.input_shape for r in rows if r.name == path or r.name.startswith(path + "."))


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_network_verifies_at_its_verify_all_size_and_an_odd_size(name):
    """Every shape, parameter, MAC and receptive-field check on every row; the whole network's adjoint
    test; the per-layer adjoint and finite-difference checks on evenly spaced layers."""
    from cnncalc.cli import _small_input

    if name in SAME_BLOCKS_AS:
        pytest.skip(f"the blocks of {SAME_BLOCKS_AS[name]}, verified here; too big for the NumPy reference in the suite")
    if name in BLOCK_OF:
        path, small = BLOCK_OF[name]
        block, shape = _block(name, path)
        result = verify(block, small or shape, gradient_layers=GRADIENT_LAYERS)
        assert result.ok and len(result.checks) > 20, format_table(result)
        return
    assert SAME_LAYERS_AS.get(name, name) in ZOO  # the member whose gradients stand for this one's
    small = _small_input(name)
    n = min(len(small) - 1, 2)  # H and W (a clip keeps its frames)
    odd = small[:len(small) - n] + ODD_SIZES[ZOO.index(name) % len(ODD_SIZES)][:n]
    sizes = (small, odd, cnncalc.zoo.describe(name).default_input) if name in TUTORIALS else (small, odd)
    for shape in dict.fromkeys(sizes):
        try:
            cnncalc.analyze(cnncalc.model(name), shape, warn=False)
        except ShapeError:  # too small for this network (AlexNet's paper layout needs 63 pixels)
            assert shape != small
            continue
        result = verify(cnncalc.model(name), shape, gradient_layers=GRADIENT_LAYERS, gradients=name not in SAME_LAYERS_AS)
        assert result.ok, format_table(result)
        assert all("kink" in c.note for c in result.skipped)


@pytest.mark.parametrize("shape", [(3, 11, 9), (3, 12, 8), (3, 7, 14)])
def test_patch_merging_reads_two_pixels_per_axis_in_the_skeleton(shape):
    """Swin's patch merging on a channels-last map still inside the receptive field: 2x2 windows, stride 2,
    an odd axis padded at its end."""
    model = cnncalc.Sequential(cnncalc.Conv2d(3, 4, 3), cnncalc.Permute((0, 2, 3, 1)), cnncalc.PatchMergingPad(),
                               cnncalc.LayerNorm(16), cnncalc.PatchMergingPad(), cnncalc.Linear(64, 5))
    result = verify(model, shape)
    fields = [c for c in result.checks if c.what == "receptive_field"]
    assert result.ok and len(fields) == 6, format_table(result)


def test_verify_all_goes_on_past_a_network_over_the_memory_limit():
    """--all says which networks it did not run (over --max-memory) and verifies the rest."""
    from click.testing import CliRunner

    from cnncalc.cli import cli
    from cnncalc.validate import memory_estimate

    need = memory_estimate(cnncalc.analyze(cnncalc.model("lenet5"), (1, 32, 32), warn=False))
    result = CliRunner().invoke(cli, ["verify", "--all", "--max-memory", str(need)], prog_name="cnncalc")
    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    assert "lenet5 1x32x32: 61 checks ok" in lines
    assert any(line.startswith("resnet50 3x32x32: not run: ") and "over the limit" in line for line in lines)
    ran = sum(line.endswith(" ok") for line in lines)
    assert lines[-1].startswith(f"{ran} of {len(cnncalc.models())} models agree; not run (over the memory limit): ")


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "Error: verify lenet5 1x32x32: needs about {need} bytes, over the limit of 1,000 (--max-memory or "
           "CNNCALC_MAX_MEMORY); a smaller input needs less"),
    ("zh", "错误：verify lenet5 1x32x32：约需 {need} 字节，超出上限 1,000（--max-memory or CNNCALC_MAX_MEMORY）；"
           "输入小一些，所需内存就少"),
])
def test_verify_over_the_memory_limit_says_how_to_fit(lang, expected):
    from click.testing import CliRunner

    from cnncalc.cli import cli
    from cnncalc.validate import memory_estimate

    need = memory_estimate(cnncalc.analyze(cnncalc.model("lenet5"), (1, 32, 32), warn=False))
    result = CliRunner().invoke(cli, ["verify", "lenet5", "--max-memory", "1000", "--lang", lang])
    assert result.exit_code == 2
    assert result.output.strip() == expected.format(need=f"{need:,}")
