"""Layers of any rank and token layers against PyTorch itself: same constructor arguments, same output
shape, parameter and buffer counts, MACs (``torch.utils.flop_counter`` FLOPs / 2) and refusals.

As in tests/test_torch_shapes.py, each hypothesis-generated configuration is built by ``cnncalc`` and by
``torch.nn`` and run on one sample; either both accept and agree, or both refuse (an empty torch output
counts as a refusal: the contract calls a non-positive size impossible).
"""

from __future__ import annotations

import contextlib
import math
import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import ShapeError

torch = pytest.importorskip("torch")
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from test_torch_shapes import Refused, both_run  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
small = st.integers(1, 5)


def _call(module, name, x):
    if name == "MultiheadAttention":
        return module(x, x, x, need_weights=False)[0]
    return module(x)


def counted(module, name):
    """Where torch's FLOP counter sees every product: attention through the math kernel, and
    MultiheadAttention off its fused inference path (which the counter does not see on the CPU)."""
    if name == "MultiheadAttention":
        return contextlib.ExitStack()
    return torch.no_grad()


def torch_run(name, kwargs, shape, dtype=None):
    """(output shape without the batch, params, buffers, MACs) or Refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = getattr(torch.nn, name)(**kwargs).eval()
            x = torch.zeros((1,) + tuple(shape), dtype=dtype or torch.float32)
            with counted(module, name), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
                out = _call(module, name, x)
    except (RuntimeError, ValueError, IndexError, TypeError, AssertionError, NotImplementedError) as exc:
        raise Refused(f"torch: {type(exc).__name__}: {exc}") from None
    if isinstance(out, tuple):
        out = out[0]
    if out.numel() == 0:
        raise Refused(f"torch: empty output {tuple(out.shape)}")
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))
    return tuple(out.shape[1:]), params, buffers, counter.get_total_flops() // 2


def cnncalc_run(name, kwargs, shape):
    try:
        report = cnncalc.analyze(getattr(cnncalc, name)(**kwargs), shape, warn=False)
    except ShapeError as exc:
        raise Refused(f"cnncalc: {exc}") from None
    return report.output_shape, report.params, report.buffers, report.macs


def check(name, kwargs, shape, dtype=None):
    """Both sides accept with equal shapes, params, buffers and MACs, or both refuse."""
    results = both_run(f"{name}({kwargs}) on {shape}", lambda: torch_run(name, kwargs, shape, dtype),
                       lambda: cnncalc_run(name, kwargs, shape))
    if results is None:
        return
    expected, got = results
    assert got == expected, f"{name}({kwargs}) on {shape}: (shape, params, buffers, MACs)"


def per_axis(values, rank):
    """An int or one value per axis."""
    return st.one_of(values, st.tuples(*[values] * rank))


def spatial(draw, rank, low=1, high=12):
    return tuple(draw(st.integers(low, high)) for _ in range(rank))


def channels(draw, c):
    return draw(st.one_of(st.just(c), st.just(c), small))


ranks = st.sampled_from([1, 3])


@given(st.data(), ranks)
@SETTINGS
def test_convolutions_of_any_rank(data, rank):
    draw = data.draw
    groups = draw(st.integers(1, 2))
    c_in = groups * draw(st.integers(1, 2))
    kwargs = dict(
        in_channels=c_in, out_channels=groups * draw(st.integers(1, 2)),
        kernel_size=draw(per_axis(st.integers(1, 4), rank)), stride=draw(per_axis(st.integers(1, 3), rank)),
        padding=draw(st.one_of(per_axis(st.integers(0, 3), rank), st.sampled_from(["same", "valid"]))),
        dilation=draw(per_axis(st.integers(1, 2), rank)), groups=groups, bias=draw(st.booleans()),
        padding_mode=draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])),
    )
    check(f"Conv{rank}d", kwargs, (channels(draw, c_in),) + spatial(draw, rank, high=9 if rank == 3 else 30))


@given(st.data(), ranks)
@SETTINGS
def test_transposed_convolutions_of_any_rank(data, rank):
    draw = data.draw
    c_in = draw(st.integers(1, 3))
    kwargs = dict(
        in_channels=c_in, out_channels=draw(st.integers(1, 3)), kernel_size=draw(per_axis(st.integers(1, 3), rank)),
        stride=draw(per_axis(st.integers(1, 3), rank)), padding=draw(per_axis(st.integers(0, 2), rank)),
        output_padding=draw(per_axis(st.integers(0, 2), rank)), dilation=draw(per_axis(st.integers(1, 2), rank)),
    )
    check(f"ConvTranspose{rank}d", kwargs, (channels(draw, c_in),) + spatial(draw, rank, high=6))


@given(st.data(), ranks, st.sampled_from(["Max", "Avg"]))
@SETTINGS
def test_pools_of_any_rank(data, rank, kind):
    draw = data.draw
    kwargs = dict(kernel_size=draw(per_axis(st.integers(1, 4), rank)),
                  stride=draw(st.one_of(st.none(), per_axis(st.integers(1, 3), rank))),
                  padding=draw(per_axis(st.integers(0, 2), rank)), ceil_mode=draw(st.booleans()))
    if kind == "Max":
        kwargs["dilation"] = draw(per_axis(st.integers(1, 2), rank))
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
    check(f"{kind}Pool{rank}d", kwargs, (draw(small),) + spatial(draw, rank, high=9 if rank == 3 else 20))


@given(st.data(), ranks, st.sampled_from(["Avg", "Max"]))
@SETTINGS
def test_adaptive_pools_of_any_rank(data, rank, kind):
    draw = data.draw
    size = draw(st.one_of(st.integers(1, 6), st.tuples(*[st.one_of(st.none(), st.integers(1, 6))] * rank)))
    check(f"Adaptive{kind}Pool{rank}d", dict(output_size=size), (draw(small),) + spatial(draw, rank, high=8))


@given(st.data(), st.sampled_from([1, 3]))
@SETTINGS
def test_batch_norms_of_any_rank(data, rank):
    draw = data.draw
    c = draw(small)
    shape = (channels(draw, c),) + (spatial(draw, draw(st.sampled_from([0, 1]))) if rank == 1 else spatial(draw, 3, 2, 4))
    track = draw(st.booleans())
    assume(track or math.prod(shape[1:]) > 1)  # batch statistics of one value per channel: a property of the batch size
    check(f"BatchNorm{rank}d", dict(num_features=c, affine=draw(st.booleans()), track_running_stats=track), shape)


@given(st.data(), st.sampled_from([1, 2, 3]))
@SETTINGS
def test_instance_norms(data, rank):
    draw = data.draw
    c = draw(small)
    affine, track = draw(st.booleans()), draw(st.booleans())
    shape = (channels(draw, c),) + spatial(draw, rank, 1, 4)
    check(f"InstanceNorm{rank}d", dict(num_features=c, affine=affine, track_running_stats=track), shape)


@given(st.data())
@SETTINGS
def test_group_norm(data):
    draw = data.draw
    groups = draw(st.integers(1, 3))
    c = draw(st.sampled_from([groups, 2 * groups, draw(small)]))
    shape = (channels(draw, c),) + spatial(draw, draw(st.integers(1, 3)), 1, 4)
    assume(shape[0] // groups * math.prod(shape[1:]) > 1)  # torch counts the batch in: one value per group for N = 1
    check("GroupNorm", dict(num_groups=groups, num_channels=c, affine=draw(st.booleans())), shape)


@given(st.data())
@SETTINGS
def test_layer_norm(data):
    draw = data.draw
    shape = spatial(draw, draw(st.integers(1, 3)), 1, 6)
    tail = shape[len(shape) - draw(st.integers(1, len(shape))):]
    normalized = draw(st.sampled_from([tail, tail[-1:], (draw(small),)]))
    check("LayerNorm", dict(normalized_shape=normalized, elementwise_affine=draw(st.booleans()),
                            bias=draw(st.booleans())), shape)


@given(st.integers(1, 8), st.integers(1, 8), st.booleans(), st.tuples(small, small, small, st.integers(1, 8)))
@SETTINGS
def test_linear_on_the_last_axis_of_any_rank(in_features, out_features, bias, shape):
    check("Linear", dict(in_features=in_features, out_features=out_features, bias=bias), shape[4 - len(shape):])


@given(st.integers(1, 20), st.integers(1, 8), st.tuples(st.integers(1, 6)) | st.tuples(small, small))
@SETTINGS
def test_embedding(num, dim, shape):
    check("Embedding", dict(num_embeddings=num, embedding_dim=dim), shape, dtype=torch.long)


@given(st.data())
@SETTINGS
def test_multihead_attention(data):
    draw = data.draw
    heads = draw(st.integers(1, 4))
    embed = draw(st.sampled_from([heads * draw(st.integers(1, 4)), draw(st.integers(1, 9))]))
    kwargs = dict(embed_dim=embed, num_heads=heads, bias=draw(st.booleans()), add_bias_kv=draw(st.booleans()),
                  add_zero_attn=draw(st.booleans()), batch_first=True)
    check("MultiheadAttention", kwargs, (draw(st.integers(1, 7)), draw(st.sampled_from([embed, embed, 4]))))


@given(st.sampled_from(["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad"]), st.sampled_from([1, 2, 3]),
       st.data())
@SETTINGS
def test_pads_of_any_rank(kind, rank, data):
    draw = data.draw
    pads = st.integers(-2, 3)
    padding = draw(st.one_of(st.integers(0, 3), st.tuples(*[pads] * (2 * rank))))
    kwargs = dict(padding=padding, **({"value": 1.5} if kind == "ConstantPad" else {}))
    check(f"{kind}{rank}d", kwargs, (draw(small),) + spatial(draw, rank, 1, 6))


@pytest.mark.parametrize("kind", ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad"])
def test_pads_crop_as_torch_does(kind):
    """Every crop and pad of a short signal: constant padding crops first (the crops must fit), reflection
    and replication pad and crop in one step (ReplicationPad1d((3, -4)) keeps one sample of three)."""
    kwargs = {"value": 1.5} if kind == "ConstantPad" else {}
    for n in range(1, 5):
        for before in range(-4, 5):
            for after in range(-4, 5):
                check(f"{kind}1d", dict(padding=(before, after), **kwargs), (2, n))


@given(st.integers(1, 3), st.integers(1, 12), st.integers(1, 6), st.integers(1, 6))
@SETTINGS
def test_pixel_shuffles(r, c, h, w):
    check("PixelShuffle", dict(upscale_factor=r), (c, h, w))
    check("PixelUnshuffle", dict(downscale_factor=r), (c, h, w))


@given(st.integers(1, 4), st.integers(1, 12), small, small)
@SETTINGS
def test_channel_shuffle(groups, c, h, w):
    check("ChannelShuffle", dict(groups=groups), (c, h, w))


ELEMENTWISE = [
    ("SELU", {}), ("CELU", {"alpha": 0.5}), ("Mish", {}), ("Softplus", {"beta": 2.0}), ("Hardtanh", {}),
    ("Softsign", {}), ("LogSigmoid", {}), ("PReLU", {}), ("PReLU", {"num_parameters": 3}), ("LogSoftmax", {"dim": 1}),
    ("Softmin", {"dim": -1}), ("Dropout1d", {"p": 0.2}), ("Dropout3d", {"p": 0.2}), ("AlphaDropout", {"p": 0.2}),
]


@pytest.mark.parametrize("name, kwargs", ELEMENTWISE, ids=[f"{n}-{kw}" for n, kw in ELEMENTWISE])
@given(shape=st.tuples(st.sampled_from([3, 4]), small, small))
@settings(max_examples=5, deadline=None)
def test_elementwise_layers(name, kwargs, shape):
    check(name, kwargs, shape)


# --- refusals and receptive fields of the layers that move axes ------------------------------------------


@pytest.mark.parametrize(("layer", "shape", "match"), [
    (cnncalc.Permute((0, 2, 1, 1)), (2, 3, 4), "duplicate dims"),
    (cnncalc.Permute((1, 0, 2, 3)), (2, 3, 4), "moves the batch"),
    (cnncalc.Permute((0, 1, 2)), (2, 3, 4), "number of dims"),
    (cnncalc.Transpose(0, 1), (2, 3), "batch dimension"),
    (cnncalc.Unflatten(1, (4, 3)), (10, 5), "don't multiply up"),
    (cnncalc.Index.of((slice(None), 7)), (5, 2), "out of bounds"),
    (cnncalc.Index.of((0,)), (5, 2), "indexes the batch"),
    (cnncalc.Reduce("mean", (1, 1)), (5, 2), "multiple times"),
    (cnncalc.LayerNorm(8), (5, 7), r"normalized_shape=\[8\]"),
], ids=["permute-dup", "permute-batch", "permute-rank", "transpose-batch", "unflatten", "index", "index-batch",
        "reduce-dup", "layernorm"])
def test_tensor_operations_refuse_what_torch_refuses(layer, shape, match):
    with pytest.raises(ShapeError, match=match):
        cnncalc.analyze(layer, shape)


@pytest.mark.parametrize(("layer", "shape", "torch_op"), [
    (cnncalc.Permute((0, 2, 3, 1)), (2, 3, 4), lambda x: x.permute(0, 2, 3, 1)),
    (cnncalc.Transpose(-1, 1), (2, 3, 4), lambda x: x.transpose(-1, 1)),
    (cnncalc.Unflatten(2, (2, -1)), (2, 6, 4), lambda x: x.unflatten(2, (2, -1))),
    (cnncalc.Squeeze(), (2, 1, 4), lambda x: x.squeeze(2)),
    (cnncalc.Unsqueeze(-1), (2, 3), lambda x: x.unsqueeze(-1)),
    (cnncalc.Index.of((slice(None), 0)), (5, 4), lambda x: x[:, 0]),
    (cnncalc.Index.of((slice(None), slice(None, 3), slice(1, None, 2))), (5, 4, 6), lambda x: x[:, :3, 1::2]),
    (cnncalc.Index.of((Ellipsis, slice(0, None, 2), None)), (5, 4, 7), lambda x: x[..., 0::2, None]),
    (cnncalc.Reduce("mean", (2, 3)), (5, 4, 6), lambda x: x.mean((2, 3))),
    (cnncalc.Reduce("sum", -1, keepdim=True), (5, 4, 6), lambda x: x.sum(-1, keepdim=True)),
    (cnncalc.Reduce("amax", None), (5, 4), lambda x: x.amax((1, 2))),
    (cnncalc.ParameterOp("cat", (1, 1, 6)), (4, 6), lambda x: torch.cat([torch.zeros(1, 1, 6), x], dim=1)),
    (cnncalc.ParameterOp("add", (1, 5, 6)), (5, 6), lambda x: x + torch.zeros(1, 5, 6)),
    (cnncalc.ParameterOp("mul", (3, 1, 1)), (3, 4, 4), lambda x: x * torch.zeros(3, 1, 1)),
], ids=["permute", "transpose", "unflatten", "squeeze", "unsqueeze", "index-int", "index-slices", "index-ellipsis",
        "mean", "sum-keepdim", "amax-all", "cat-param", "add-param", "mul-param"])
def test_tensor_operations_give_torchs_shapes(layer, shape, torch_op):
    assert cnncalc.analyze(layer, shape).output_shape == tuple(torch_op(torch.zeros((1,) + shape)).shape[1:])


def test_the_field_survives_a_channels_last_stretch():
    """ConvNeXt's block: depthwise 7x7, then LayerNorm and Linear on channels last, then back."""
    block = cnncalc.Sequential(
        cnncalc.Conv2d(8, 8, 7, padding=3, groups=8), cnncalc.Permute((0, 2, 3, 1)), cnncalc.LayerNorm(8),
        cnncalc.Linear(8, 32), cnncalc.GELU(), cnncalc.Linear(32, 8), cnncalc.Permute((0, 3, 1, 2)),
        cnncalc.Conv2d(8, 8, 3, padding=1),
    )
    report = cnncalc.analyze(block, "8x32x32")
    assert report.receptive_field.size == (9, 9) and report.receptive_field.start == (-4, -4)
    assert [r.receptive_field.size for r in report.layers][3] == (7, 7)  # the Linear on channels passes it on


def test_a_linear_over_a_spatial_axis_ends_the_field():
    report = cnncalc.analyze(cnncalc.Sequential(cnncalc.Conv2d(3, 4, 3), cnncalc.Linear(30, 5)), "3x32x32")
    assert report.layers[1].receptive_field is None and report.receptive_field.size == (3, 3)


def test_attention_ends_the_field_and_the_local_field_follows_the_convolutions():
    """A gate and an attention branch see everything; the local field keeps to the convolutions."""
    se = cnncalc.Residual(cnncalc.Sequential(cnncalc.AdaptiveAvgPool2d(1), cnncalc.Conv2d(4, 4, 1), cnncalc.Sigmoid()),
                          op="mul")
    net = cnncalc.Sequential(cnncalc.Conv2d(3, 4, 3), se, cnncalc.Conv2d(4, 4, 3), cnncalc.Conv2d(4, 4, 3))
    report = cnncalc.analyze(net, "3x32x32")
    assert report.receptive_field.size == (3, 3)  # the gate's global pool ends the field at the first conv
    assert report.local_receptive_field.size == (7, 7)  # the convolution path: 3 + 2 + 2


@given(st.tuples(*[st.integers(-2, 3)] * 6), st.tuples(small, small, small))
@SETTINGS
def test_constant_pad_of_any_axis_matches_f_pad(pad, shape):
    """F.pad(x, pad) on the channels too (a CIFAR ResNet's option-A shortcut)."""
    try:
        out = torch.nn.functional.pad(torch.zeros((1,) + shape), pad)
        expected = None if out.numel() == 0 else tuple(out.shape[1:])
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(ShapeError):
            cnncalc.analyze(cnncalc.Pad(pad), shape)
    else:
        assert cnncalc.analyze(cnncalc.Pad(pad), shape).output_shape == expected


def test_strided_slicing_moves_the_field_like_a_window():
    """x[:, :, ::2, ::2] reads every other pixel: a 1x1 window of stride 2; x[:, :, 1::2] starts one later."""
    conv = cnncalc.Conv2d(3, 8, 3, padding=1)
    every_other = cnncalc.analyze(cnncalc.Sequential(conv, cnncalc.Index.of((slice(None),) * 2 + (slice(None, None, 2),) * 2)), "3x32x32")
    assert every_other.receptive_field == cnncalc.ReceptiveField((3, 3), (2, 2), (-1, -1))
    shifted = cnncalc.analyze(cnncalc.Sequential(conv, cnncalc.Index.of((slice(None), slice(None), slice(1, None, 2)))), "3x32x32")
    assert shifted.receptive_field == cnncalc.ReceptiveField((3, 3), (2, 1), (0, -1))
    cut = cnncalc.analyze(cnncalc.Sequential(conv, cnncalc.Index.of((slice(None), slice(None), 0))), "3x32x32")
    assert cut.layers[1].receptive_field is None  # a spatial axis indexed away
