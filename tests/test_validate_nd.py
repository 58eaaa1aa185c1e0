"""validate.verify on networks of one to three spatial axes, tokens and every merge op: every check agrees on
correct networks (receptive fields measured along each axis, channels-last stretches included), and a planted
bug in a new operation, shape rule or receptive-field rule makes it fail."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import layers as L
from cnncalc.reference import functional
from cnncalc.validate import WHATS, format_table, verify

def audio():
    """A 1-D audio net: strided convolutions, reflection padding, group and instance norms, pooling of every kind."""
    return cnncalc.Sequential(OrderedDict(
        pad=L.ReflectionPad1d(3),
        conv1=L.Conv1d(1, 8, 7, stride=2),
        norm1=L.GroupNorm(2, 8),
        act1=L.PReLU(8),
        pool1=L.MaxPool1d(3, 2, 1, ceil_mode=True),
        block=cnncalc.Residual(cnncalc.Sequential(OrderedDict(
            conv=L.Conv1d(8, 8, 5, padding="same", dilation=2, padding_mode="replicate"),
            norm=L.InstanceNorm1d(8, affine=True), act=L.Mish()))),
        conv2=L.Conv1d(8, 6, 3, stride=2, padding=1, groups=2),
        norm2=L.BatchNorm1d(6),
        act2=L.SELU(),
        drop=L.Dropout1d(0.2),
        avg=L.AvgPool1d(3, 1, 1, count_include_pad=False),
        up=L.ConvTranspose1d(6, 4, 4, stride=2, padding=1),
        act3=L.Softplus(),
        pool=L.AdaptiveMaxPool1d(3),
        flat=cnncalc.Flatten(),
        fc=cnncalc.Linear(12, 5),
        out=L.LogSoftmax(dim=1),
    ))


def video():
    """A 3-D video net: (2+1)-D style convolutions, 3-D norms, pads and pools, a trilinear upsampling."""
    return cnncalc.Sequential(OrderedDict(
        conv1=L.Conv3d(3, 4, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
        bn1=L.BatchNorm3d(4),
        act1=L.Hardtanh(-2, 2),
        conv2=L.Conv3d(4, 4, (3, 1, 1), padding=(1, 0, 0), groups=2),
        pad=L.ReplicationPad3d((1, 0, 0, 1, 1, 0)),
        pool=L.MaxPool3d((2, 2, 2), stride=(1, 2, 2)),
        norm=L.InstanceNorm3d(4, affine=True),
        act2=L.CELU(0.5),
        zero=L.ConstantPad3d(1, 0.25),
        avg=L.AvgPool3d(2, stride=1),
        up=cnncalc.Upsample(scale_factor=(1, 2, 2), mode="trilinear"),
        deconv=L.ConvTranspose3d(4, 2, (1, 2, 2), stride=(1, 2, 2)),
        drop=L.Dropout3d(0.1),
        gap=L.AdaptiveAvgPool3d((1, 2, 2)),
        flat=cnncalc.Flatten(),
        fc=cnncalc.Linear(8, 3),
    ))


def vit():
    """A tiny ViT: patches by a strided convolution, a class token and position embedding, two pre-norm encoder
    blocks (self-attention, MLP), the class token's head."""
    def block(e, heads, **kw):
        return cnncalc.Sequential(OrderedDict(
            attn=cnncalc.Residual(cnncalc.Sequential(OrderedDict(ln=L.LayerNorm(e), mha=L.MultiheadAttention(e, heads, **kw)))),
            mlp=cnncalc.Residual(cnncalc.Sequential(OrderedDict(
                ln=L.LayerNorm(e), fc1=cnncalc.Linear(e, 2 * e), act=cnncalc.GELU(), fc2=cnncalc.Linear(2 * e, e)))),
        ))

    return cnncalc.Sequential(OrderedDict(
        patch=cnncalc.Conv2d(3, 8, 4, stride=4),
        flat=cnncalc.Flatten(2),
        tokens=L.Transpose(1, 2),
        cls=L.ParameterOp("cat", (1, 1, 8), dim=1),
        pos=L.ParameterOp("add", (1, 5, 8)),
        drop=cnncalc.Dropout(0.1),
        enc0=block(8, 2),
        enc1=block(8, 4, add_bias_kv=True, add_zero_attn=True, dropout=0.1),
        ln=L.LayerNorm(8),
        first=L.Index.of((slice(None), 0)),
        head=cnncalc.Linear(8, 3),
    ))


def convnext():
    """A ConvNeXt-like stage: a depthwise 7x7, LayerNorm and an MLP on channels-last pixels, a layer scale,
    stochastic depth, then a LayerNorm2d and a patchifying downsampling."""
    block = cnncalc.Residual(cnncalc.Sequential(OrderedDict(
        dw=cnncalc.Conv2d(4, 4, 7, padding=3, groups=4),
        to_last=L.Permute((0, 2, 3, 1)),
        ln=L.LayerNorm(4, eps=1e-6),
        fc1=cnncalc.Linear(4, 16),
        act=cnncalc.GELU(),
        fc2=cnncalc.Linear(16, 4),
        scale=L.ParameterOp("mul", (4,)),
        to_first=L.Permute((0, 3, 1, 2)),
        drop=cnncalc.StochasticDepth(0.1),
    )))
    return cnncalc.Sequential(OrderedDict(
        stem=cnncalc.Conv2d(2, 4, 2, stride=2),
        norm=L.LayerNorm2d(4),
        block=block,
        down_norm=L.LayerNorm2d(4),
        down=cnncalc.Conv2d(4, 6, 2, stride=2),
        pool=L.Reduce("mean", (-2, -1)),
        ln=L.LayerNorm(6),
        head=cnncalc.Linear(6, 3),
    ))


def unet():
    """A U-Net-ish net: an encoder, a decoder by pixel shuffle, skip joins, a head resized to its input (Merge resize)."""
    conv = lambda c_in, c_out: cnncalc.Sequential(cnncalc.Conv2d(c_in, c_out, 3, padding=1), L.GroupNorm(2, c_out), cnncalc.SiLU())
    inner = cnncalc.Sequential(L.PixelUnshuffle(2), conv(16, 8), cnncalc.Conv2d(8, 16, 1), L.PixelShuffle(2))
    body = cnncalc.Sequential(conv(2, 4), cnncalc.Merge(cnncalc.Identity(), inner, op="cat"), conv(8, 4),
                              L.ChannelShuffle(2), cnncalc.Conv2d(4, 3, 3, stride=2))
    return cnncalc.Sequential(
        cnncalc.Merge(body, cnncalc.Identity(), op="resize", mode="bilinear"),
        L.Softmin(dim=1),
    )


def cifar():
    """A CIFAR ResNet's option-A shortcut: every other pixel (a strided slice), channels padded with zeros (F.pad)."""
    def block(c_in, c_out):
        main = cnncalc.Sequential(cnncalc.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), cnncalc.BatchNorm2d(c_out),
                                  cnncalc.ReLU(), cnncalc.Conv2d(c_out, c_out, 3, padding=1, bias=False), cnncalc.BatchNorm2d(c_out))
        shortcut = cnncalc.Sequential(L.Index.of((slice(None), slice(None), slice(None, None, 2), slice(None, None, 2))),
                                      L.Pad((0, 0, 0, 0, (c_out - c_in) // 2, (c_out - c_in) // 2)))
        return cnncalc.Residual(main, shortcut, post=cnncalc.ReLU())

    return cnncalc.Sequential(cnncalc.Conv2d(3, 4, 3, padding=1), block(4, 8), block(8, 12), cnncalc.AdaptiveAvgPool2d(1),
                              cnncalc.Flatten(), cnncalc.Linear(12, 3))


def tokens():
    """Integer ids: an embedding, attention by a Merge of three projections, a matmul gate, a mean over tokens."""
    return cnncalc.Sequential(OrderedDict(
        embed=L.Embedding(20, 8, padding_idx=0),
        attn=cnncalc.Merge(OrderedDict(q=cnncalc.Linear(8, 8), k=cnncalc.Linear(8, 8, bias=False), v=cnncalc.Linear(8, 6)),
                           op="attention"),
        act=L.LogSigmoid(),
        mix=cnncalc.Merge(OrderedDict(a=L.Transpose(1, 2), b=cnncalc.Linear(6, 6)), op="matmul"),  # (6, L) @ (L, 6)
        scale=L.ScalarOp("div", 2.0),
        pair=cnncalc.Merge(OrderedDict(a=L.Softsign(), b=L.ScalarOp("pow", 2), c=L.ScalarOp("add", 3.0)), op="div"),
        stack=cnncalc.Merge(L.Identity(), L.ScalarOp("neg"), op="stack", dim=1),
        diff=cnncalc.Merge(L.Reduce("amax", 1), L.Reduce("sum", 1), op="sub"),
        pool=L.Reduce("mean", 1),
        norm=L.RMSNorm(6),
        head=cnncalc.Linear(6, 3),
    ))



NETWORKS = {  # name: (builder, strategy of input shapes)
    "audio": (audio, st.tuples(st.just(1), st.integers(40, 70))),
    "video": (video, st.tuples(st.just(3), st.integers(3, 5), st.integers(8, 12), st.integers(8, 12))),
    "vit": (vit, st.just((3, 8, 8))),
    "convnext": (convnext, st.tuples(st.just(2), st.integers(8, 14), st.integers(8, 14))),
    "unet": (unet, st.tuples(st.just(2), st.integers(4, 7).map(lambda n: 2 * n), st.integers(4, 7).map(lambda n: 2 * n))),
    "tokens": (tokens, st.tuples(st.integers(3, 8))),
    "cifar": (cifar, st.tuples(st.just(3), st.integers(9, 16), st.integers(9, 16))),
}


@pytest.mark.parametrize("name", list(NETWORKS))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_verify_passes_on_networks_of_every_rank(name, data):
    build, shapes = NETWORKS[name]
    shape = data.draw(shapes)
    model = build()
    result = verify(model, shape)
    assert result.ok, format_table(result)
    assert not result.skipped
    report = cnncalc.analyze(model, shape, warn=False)
    kinds = [c.what for c in result.checks]
    assert kinds.count("shape") == kinds.count("macs") == len(report.layers)
    assert kinds.count("params") == sum(not r.is_merge for r in report.layers)
    assert kinds.count("gradient") == len(report.layers) + 1
    assert kinds.count("receptive_field") == sum(r.receptive_field is not None for r in report.layers)
    measured = [c for c in result.checks if c.what == "receptive_field"]
    assert all(len(c.actual) == len(shape) - 1 for c in measured)  # one interval per spatial axis


def test_a_channels_last_stretch_is_measured_where_its_axes_are():
    result = verify(convnext(), (2, 12, 8), gradients=False)
    by_layer = {c.layer: c for c in result.checks if c.what == "receptive_field"}
    # after the 2x2 stem (6x4 map) the 7x7 depthwise convolution reads the whole map from the centre pixel (3, 2)
    assert by_layer["block.dw"].actual == by_layer["block.fc2"].actual == ((0, 11), (0, 7))
    assert by_layer["stem"].actual == ((6, 7), (4, 5))
    report = cnncalc.analyze(convnext(), (2, 12, 8))
    assert report.layers[[r.name for r in report.layers].index("block.fc1")].receptive_field.tensor_dims == (0, 1)


def test_the_ids_of_an_embedding_are_integers_without_a_gradient():
    result = verify(tokens(), (5,))
    assert result.ok, format_table(result)
    assert result.by_layer()[("input", "Input")]["gradient"].ok


def test_verify_refuses_an_input_read_as_ids_and_as_numbers():
    model = cnncalc.Merge(L.Embedding(5, 3), L.Unsqueeze(-1), op="add")
    with pytest.raises(cnncalc.ShapeError, match="read by an Embedding"):
        verify(model, (4,))


# --- planted bugs in the new operations ----------------------------------------------------------


def _wrap(mp, name, change):
    real = getattr(functional, name)
    mp.setattr(functional, name, lambda *a, **kw: change(real, *a, **kw))


def _first_scaled(real, *a, **kw):
    grads = list(real(*a, **kw))
    grads[0] = grads[0] * 1.001
    return tuple(grads)


def _group_norm_without_mean_term(real, x, groups, w, b, g, eps=1e-5):
    grad_x, grad_w, grad_b = real(x, groups, w, b, g, eps=eps)
    gw = (g * w.reshape(1, -1, 1)).reshape(x.shape[0], groups, -1)
    inv = 1 / np.sqrt(x.reshape(x.shape[0], groups, -1).var(axis=2, keepdims=True) + eps)
    return grad_x + (gw.mean(axis=2, keepdims=True) * inv * np.ones_like(gw)).reshape(x.shape), grad_w, grad_b


def _reflection_rolled(real, x, g, pad, mode="constant", value=None):
    grad = real(x, g, pad, mode, value)
    return np.roll(grad, 1, axis=-1) if mode == "reflect" else grad


def _padding_one_more(cls):
    real = cls.windows
    return lambda self, shape: tuple(w._replace(p=w.p + 1) for w in real(self, shape))


BUGS = {  # bug: (the network it shows in, how to plant it, the check that must catch it)
    "attention's backward scaled wrong": ("tokens", lambda mp: _wrap(mp, "scaled_dot_product_attention_backward", _first_scaled),
                                          "gradient"),
    "multi-head attention's input gradient scaled wrong": ("vit", lambda mp: _wrap(mp, "multi_head_attention_backward",
                                                                                   _first_scaled), "gradient"),
    "GroupNorm backward without the mean term": ("audio", lambda mp: _wrap(mp, "group_norm_backward",
                                                                           _group_norm_without_mean_term), "gradient"),
    "Mish's slope off by 0.1% (backward and derivative alike)": (
        "audio", lambda mp: _wrap(mp, "mish_backward", lambda real, *a, **kw: real(*a, **kw) * 1.001), "finite_difference"),
    "multi-head attention's MACs without the out-projection": ("vit", lambda mp: mp.setattr(
        L.MultiheadAttention, "macs", lambda self, i, o, real=L.MultiheadAttention.macs: real(self, i, o) - i[0] * i[1] ** 2),
        "macs"),
    "Conv3d's receptive field padded once more": ("video", lambda mp: mp.setattr(L.Conv3d, "windows", _padding_one_more(L.Conv3d)),
                                                  "receptive_field"),
    "Conv1d's receptive field padded once more": ("audio", lambda mp: mp.setattr(L.Conv1d, "windows", _padding_one_more(L.Conv1d)),
                                                  "receptive_field"),
    "a strided slice's receptive field one pixel off": ("cifar", lambda mp: mp.setattr(
        L.Index, "windows", lambda self, shape, real=L.Index.windows: None if real(self, shape) is None else tuple(
            w if w.s == 1 else w._replace(p=w.p - 1) for w in real(self, shape))), "receptive_field"),
    "PixelShuffle's receptive field padded once more": (
        "unet", lambda mp: mp.setattr(L.PixelShuffle, "windows", _padding_one_more(L.PixelShuffle)), "receptive_field"),
    "reflection padding's gradient one sample off": ("audio", lambda mp: _wrap(mp, "pad_backward", _reflection_rolled),
                                                     "gradient"),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_every_planted_bug_in_a_new_operation_makes_verify_fail(bug):
    name, plant, what = BUGS[bug]
    build, _ = NETWORKS[name]
    shape = {"audio": (1, 53), "video": (3, 4, 9, 11), "vit": (3, 8, 8), "convnext": (2, 12, 8), "unet": (2, 12, 10),
             "tokens": (6,), "cifar": (3, 13, 11)}[name]
    assert verify(build(), shape).ok
    with pytest.MonkeyPatch.context() as mp:
        plant(mp)
        result = verify(build(), shape)
    assert not result.ok, bug
    assert what in {c.what for c in result.failures}, format_table(result)
    assert set(WHATS) >= {c.what for c in result.failures}


@pytest.mark.parametrize("layer", [
    cnncalc.ZeroPad1d((0, 3)), cnncalc.ZeroPad1d((-1, 3)), cnncalc.ReplicationPad1d((-1, 3)),
    cnncalc.ConstantPad1d((-1, 2), 1.0), cnncalc.ReflectionPad1d((2, 2)),
])
def test_receptive_field_measured_where_the_output_sees_the_image(layer):
    """Padding longer than the signal leaves the middle output pixel reading padding only: the pixel
    measured moves in among those whose region meets the signal."""
    report = verify(cnncalc.Sequential(layer), (2, 3))
    assert report.ok, report.failures
    assert any(check.what == "receptive_field" for check in report.checks)
