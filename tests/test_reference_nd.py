"""The NumPy reference beyond the 2-D layers, against torch autograd in float64.

First the functional ops of one to three spatial axes (convolution, transposed convolution, pooling,
interpolation, padding) on hypothesis-drawn configurations; then every leaf layer type and every Merge op
through the runner against the same network in torch (``torch_twins``): the output, the input gradient,
every parameter's gradient (by its state_dict name) and the derivative along random tangents of the input
and of every parameter (``runner.linearize`` against ``torch.func.jvp``, or double backward where torch
has no forward-mode rule). Relative error max |a - b| / max |b| at most 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import layers as L
from cnncalc import reference as R
from cnncalc.formulas import effective_kernel
from cnncalc.reference import runner

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
from test_reference import windows_read_pixels  # noqa: E402
from torch_twins import twin  # noqa: E402

pytestmark = pytest.mark.torch

TOLERANCE = 1e-10
FEW = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rel_error(actual, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    finite = np.isfinite(expected)
    assert np.array_equal(np.asarray(actual)[~finite], expected[~finite])
    actual, expected = np.asarray(actual)[finite], expected[finite]
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-30)
    return float(np.abs(actual - expected).max(initial=0.0)) / scale


def assert_close(actual, expected, what=""):
    assert rel_error(actual, expected) <= TOLERANCE, what


def check_functional(ours, backward, theirs, arrays, seed, **kwargs):
    """Forward and the gradients of every array against torch, float64; the backward takes the arrays and grad_out."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = theirs(*tensors, **kwargs)
    got = ours(*arrays, **kwargs)
    assert_close(got, expected, "forward")
    g = np.random.default_rng(seed).standard_normal(got.shape)
    expected.backward(torch.tensor(g))
    grads = backward(*arrays, g, **kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for grad, tensor in zip(grads, tensors):
        assert_close(grad, tensor.grad, "gradient")


# --- convolution and pooling of one to three spatial axes ----------------------------------------

ranks = st.sampled_from([1, 3])


@st.composite
def conv_configs(draw, transpose=False):
    rank = draw(ranks)
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(rank))
    extra = {}
    if transpose:
        size = tuple(draw(st.integers(1, 4)) for _ in range(rank))
        extra["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    else:
        size = tuple(max(1, effective_kernel(k, d) - 2 * p + draw(st.integers(0, 3))) for k, d, p in zip(kernel, dilation, padding))
    return dict(rank=rank, groups=groups, c_in=c_in, c_out=c_out, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, size=size, **extra)


@SOME
@given(conv_configs(), st.booleans(), st.integers(0, 2**16))
def test_conv1d_and_conv3d_match_torch(cfg, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cfg["c_in"]) + cfg["size"])
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"]) + cfg["kernel"])
    arrays = [x, w] + ([rng.standard_normal(cfg["c_out"])] if bias else [])
    ours, backward = {1: (R.conv1d, R.conv1d_backward), 3: (R.conv3d, R.conv3d_backward)}[cfg["rank"]]
    theirs = {1: TF.conv1d, 3: TF.conv3d}[cfg["rank"]]
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    check_functional(ours, lambda x, w, *rest, **k: backward(x, w, rest[-1], **k), theirs, arrays, seed, **kw)


@SOME
@given(conv_configs(transpose=True), st.integers(0, 2**16))
def test_conv_transpose1d_and_3d_match_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cfg["c_in"]) + cfg["size"])
    w = rng.standard_normal((cfg["c_in"], cfg["c_out"] // cfg["groups"]) + cfg["kernel"])
    b = rng.standard_normal(cfg["c_out"])
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"], groups=cfg["groups"],
              dilation=cfg["dilation"])
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in zip(
        cfg["size"], cfg["stride"], cfg["padding"], cfg["dilation"], cfg["kernel"], cfg["output_padding"])]
    assume(min(out) > 0)
    ours, backward = {1: (R.conv_transpose1d, R.conv_transpose1d_backward),
                      3: (R.conv_transpose3d, R.conv_transpose3d_backward)}[cfg["rank"]]
    theirs = {1: TF.conv_transpose1d, 3: TF.conv_transpose3d}[cfg["rank"]]
    check_functional(ours, lambda x, w, b, g, **k: backward(x, w, g, **k), theirs, [x, w, b], seed, **kw)


@st.composite
def pool_configs(draw, dilated=True):
    rank = draw(ranks)
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank)) if dilated else (1,) * rank
    size = tuple(max(1, effective_kernel(k, d) - 2 * p + draw(st.integers(0, 3))) for k, d, p in zip(kernel, dilation, padding))
    return dict(rank=rank, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, size=size,
                ceil_mode=draw(st.booleans()))


@SOME
@given(pool_configs(), st.integers(0, 2**16))
def test_max_pool1d_and_3d_match_torch(cfg, seed):
    assume(windows_read_pixels(cfg))
    x = np.random.default_rng(seed).standard_normal((2, 2) + cfg["size"])
    kw = {k: cfg[k] for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")}
    theirs = {1: TF.max_pool1d, 3: TF.max_pool3d}[cfg["rank"]]
    check_functional(getattr(R, f"max_pool{cfg['rank']}d"), getattr(R, f"max_pool{cfg['rank']}d_backward"), theirs, [x], seed, **kw)


@SOME
@given(pool_configs(dilated=False), st.booleans(), st.integers(0, 2**16))
def test_avg_pool1d_and_3d_match_torch(cfg, count_include_pad, seed):
    x = np.random.default_rng(seed).standard_normal((2, 2) + cfg["size"])
    kw = {k: cfg[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    theirs = {1: TF.avg_pool1d, 3: TF.avg_pool3d}[cfg["rank"]]
    if cfg["rank"] == 3:  # torch's avg_pool3d also needs every axis at least as large as the kernel
        assume(all(n >= k for n, k in zip(cfg["size"], cfg["kernel_size"])))
    check_functional(getattr(R, f"avg_pool{cfg['rank']}d"), getattr(R, f"avg_pool{cfg['rank']}d_backward"), theirs, [x], seed,
                     count_include_pad=count_include_pad, **kw)


@SOME
@given(ranks, st.data(), st.integers(0, 2**16))
def test_adaptive_pools_of_any_rank_match_torch(rank, data, seed):
    size = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    out = tuple(data.draw(st.integers(1, 7)) for _ in range(rank))
    x = np.random.default_rng(seed).standard_normal((2, 2) + size)
    for kind in ("avg", "max"):
        theirs = getattr(TF, f"adaptive_{kind}_pool{rank}d")
        check_functional(getattr(R, f"adaptive_{kind}_pool{rank}d"), getattr(R, f"adaptive_{kind}_pool{rank}d_backward"),
                         theirs, [x], seed, output_size=out)


INTERPOLATIONS = [
    (1, dict(scale_factor=2.5, mode="linear")),
    (1, dict(size=7, mode="linear", align_corners=True)),
    (1, dict(scale_factor=3, mode="nearest")),
    (3, dict(scale_factor=(2, 1.5, 0.5), mode="trilinear")),
    (3, dict(size=(3, 5, 2), mode="nearest")),
    (2, dict(scale_factor=2, mode="bicubic")),
    (2, dict(size=(7, 3), mode="bicubic", align_corners=True)),
    (2, dict(scale_factor=0.6, mode="bicubic")),
    (2, dict(size=(3, 2), mode="area")),
    (3, dict(size=(2, 3, 3), mode="area")),
]


@pytest.mark.parametrize("rank, kwargs", INTERPOLATIONS, ids=[f"{r}d-{'-'.join(map(str, k.values()))}" for r, k in INTERPOLATIONS])
@FEW
@given(st.integers(0, 2**16))
def test_interpolate_of_any_rank_and_mode_matches_torch(rank, kwargs, seed):
    x = np.random.default_rng(seed).standard_normal((2, 2) + (4, 5, 3)[:rank])
    check_functional(R.interpolate, R.interpolate_backward, TF.interpolate, [x], seed, **kwargs)


PADS = [(mode, pad) for mode in ("constant", "reflect", "replicate", "circular")
        for pad in ((1, 2), (2, 0, 1, 1), (1, 1, 0, 2, 2, 1))] + [("constant", (-1, 2, 1, -2))]


@pytest.mark.parametrize("mode, pad", PADS, ids=[f"{m}-{p}" for m, p in PADS])
def test_pad_of_every_mode_and_rank_matches_torch(mode, pad):
    x = np.random.default_rng(len(pad)).standard_normal((2, 2) + (4, 5, 3)[: len(pad) // 2])
    kw = dict(mode=mode, value=0.5) if mode == "constant" else dict(mode=mode)
    check_functional(R.pad, R.pad_backward, TF.pad, [x], 0, pad=pad, **kw)


# --- every layer type and merge through the runner, against its torch twin ----------------------


def torch_jvp(module, names, x, params, tangent, param_tangents):
    """The derivative of module(x) along the tangents, by torch.func.jvp, or by double backward (d/dv of
    <J^T v, tangents>) where torch has no forward-mode rule."""
    from torch.func import functional_call, jvp
    from torch.nn.attention import SDPBackend, sdpa_kernel

    integer = not torch.is_floating_point(x)
    keys = list(params)

    def f(*args):
        xs, ps = (x, args) if integer else (args[0], args[1:])
        return functional_call(module, {names[k]: p for k, p in zip(keys, ps)}, (xs,))

    primals = tuple(params[k] for k in keys) if integer else (x,) + tuple(params[k] for k in keys)
    tangents = tuple(param_tangents[k] for k in keys) if integer else (tangent,) + tuple(param_tangents[k] for k in keys)
    try:
        with sdpa_kernel(SDPBackend.MATH):  # the composite attention, which has forward-mode rules
            return jvp(f, primals, tangents)[1]
    except (RuntimeError, NotImplementedError):
        leaves = [p.detach().requires_grad_() for p in primals]
        y = f(*leaves)
        v = torch.zeros_like(y, requires_grad=True)
        grads = torch.autograd.grad(y, leaves, v, create_graph=True, allow_unused=True)
        total = sum((g * t).sum() for g, t in zip(grads, tangents) if g is not None)
        return torch.autograd.grad(total, v)[0]


def check_against_twin(model, shape, seed, training=True, ids=None, batch=2, held=None):
    """Output, gradients and derivative of ``model`` run by the reference and by its torch twin, float64.
    ``held``: {parameter name: row} whose tangent is zero (a row torch's backward freezes)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, ids, (batch,) + shape) if ids else rng.standard_normal((batch,) + shape)
    params = {name: rng.standard_normal(a.shape) for name, a in R.init_parameters(model, dtype=np.float64).items()}
    grad_out = []
    trace = R.forward_backward(model, x, lambda y: grad_out.append(rng.standard_normal(y.shape)) or grad_out[0],
                               params=params, training=training, keep=True, dtype=np.float64)
    module, names = twin(model)
    module.double().train(training)
    tp = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    with torch.no_grad():
        for name, theirs in module.named_parameters():
            theirs.copy_(tp[next(k for k, v in names.items() if v == name)])
    tx = torch.tensor(x, requires_grad=not ids)
    from torch.func import functional_call

    expected = functional_call(module, {names[k]: v for k, v in tp.items()}, (tx,))
    assert_close(trace.output, expected, "output")
    expected.backward(torch.tensor(grad_out[0]))
    if not ids:
        assert_close(trace.grad_input, tx.grad, "input gradient")
    else:
        assert trace.grad_input is None
    assert trace.grads.keys() == params.keys()
    for name, grad in trace.grads.items():  # torch leaves None where no gradient flows (a resize's size branch)
        assert_close(grad, torch.zeros(grad.shape) if tp[name].grad is None else tp[name].grad, f"gradient of {name}")
    tangent = None if ids else rng.standard_normal(x.shape)
    param_tangents = {name: rng.standard_normal(a.shape) for name, a in params.items()}
    for name, row in (held or {}).items():
        param_tangents[name][row] = 0
    ours = runner.linearize(model, trace, np.zeros(x.shape) if ids else tangent, param_tangents)[-1]
    module.train(training)
    theirs = torch_jvp(module, names, torch.tensor(x), {k: torch.tensor(v) for k, v in params.items()},
                       None if ids else torch.tensor(tangent), {k: torch.tensor(v) for k, v in param_tangents.items()})
    assert_close(ours, theirs, "derivative")


LAYERS = [
    # convolutions of any rank, with padding modes
    (L.Conv1d(3, 4, 3, stride=2, padding=1), (3, 9)),
    (L.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=(1, 0, 1), groups=2), (2, 4, 5, 3)),
    (L.Conv1d(2, 4, 4, padding="same", dilation=2, padding_mode="reflect", bias=False), (2, 9)),
    (cnncalc.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate"), (2, 5, 4)),
    (L.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1), (3, 5)),
    (L.ConvTranspose3d(2, 4, 2, stride=2, groups=2, bias=False), (2, 2, 3, 2)),
    # pooling
    (L.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 8)),
    (L.MaxPool3d(2, stride=(1, 2, 2), dilation=(2, 1, 1)), (2, 4, 4, 5)),
    (L.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 9)),
    (L.AvgPool3d(2, ceil_mode=True, divisor_override=3), (2, 3, 4, 5)),
    (L.AdaptiveAvgPool1d(3), (2, 7)),
    (L.AdaptiveAvgPool3d((2, None, 3)), (2, 3, 4, 5)),
    (L.AdaptiveMaxPool1d(4), (2, 6)),
    (L.AdaptiveMaxPool3d(2), (2, 3, 4, 3)),
    (cnncalc.Upsample(scale_factor=2, mode="linear"), (2, 5)),
    (cnncalc.Upsample(size=(3, 5, 4), mode="trilinear", align_corners=True), (2, 2, 3, 2)),
    (cnncalc.Upsample(scale_factor=(1, 2, 3)), (2, 2, 3, 2)),
    # normalisation
    (L.BatchNorm1d(4), (4,)),
    (L.BatchNorm1d(4, affine=False), (4, 6)),
    (L.BatchNorm3d(2), (2, 3, 2, 3)),
    (L.InstanceNorm1d(3, affine=True), (3, 7)),
    (L.InstanceNorm2d(3), (3, 4, 5)),
    (L.InstanceNorm3d(2, affine=True, track_running_stats=True), (2, 3, 2, 3)),
    (L.GroupNorm(2, 4), (4, 3, 5)),
    (L.GroupNorm(4, 4, affine=False), (4, 6)),
    (L.LayerNorm(6), (5, 6)),
    (L.LayerNorm((3, 4), bias=False), (2, 3, 4)),
    (L.LayerNorm2d(4), (4, 3, 5)),
    (L.RMSNorm(5), (3, 5)),
    (L.RMSNorm((2, 5), eps=1e-3), (2, 5)),
    # activations
    (L.SELU(), (3, 5)), (L.CELU(0.7), (3, 5)), (L.Mish(), (3, 5)), (L.Softplus(2.0, 3.0), (3, 5)),
    (L.Hardtanh(-0.5, 0.8), (3, 5)), (L.Softsign(), (3, 5)), (L.LogSigmoid(), (3, 5)), (L.PReLU(), (3, 5)),
    (L.PReLU(3), (3, 5, 2)), (L.LogSoftmax(dim=1), (3, 5)), (L.LogSoftmax(dim=-1), (2, 3, 5)), (L.Softmin(dim=2), (3, 5)),
    (L.Dropout1d(0.3), (3, 5)), (L.Dropout3d(0.3), (2, 2, 2, 2)), (L.AlphaDropout(0.3), (3, 5)),
    # padding
    (L.ZeroPad1d((1, 2)), (2, 5)), (L.ZeroPad3d(1), (2, 2, 3, 2)), (L.ConstantPad1d((2, -1), 0.5), (2, 5)),
    (L.ConstantPad2d(1, -2.0), (2, 3, 4)), (L.ConstantPad3d((1, 0, 0, 1, 1, 0), 3.0), (2, 2, 3, 2)),
    (L.ReflectionPad1d(2), (2, 5)), (L.ReflectionPad2d((1, 2, 0, 1)), (2, 3, 4)), (L.ReflectionPad3d(1), (2, 2, 3, 2)),
    (L.Pad((1, 2, 0, 0, 2, 1), value=0.5), (2, 3, 4)), (L.Pad((-1, 1)), (2, 5)),
    (L.Index.of((slice(None), slice(None), slice(1, None, 2), slice(None, None, 3))), (2, 5, 7)),
    (L.ReplicationPad1d((0, 3)), (2, 5)), (L.ReplicationPad2d(1), (2, 3, 4)), (L.ReplicationPad3d((1, 0, 2, 1, 0, 1)), (2, 2, 3, 2)),
    # tensor operations
    (L.Permute((0, 2, 3, 1)), (2, 3, 4)), (L.Transpose(1, -1), (2, 3, 4)), (L.Unflatten(1, (2, -1)), (6, 4)),
    (L.Squeeze(2), (3, 1, 4)), (L.Squeeze(), (1, 3, 1)), (L.Unsqueeze(-1), (3, 4)),
    (L.Index.of((slice(None), 0)), (3, 4)), (L.Index.of((slice(None), slice(1, None, 2), ..., None)), (5, 3, 2)),
    (L.Reduce("mean", (2, 3)), (2, 3, 4)), (L.Reduce("sum", keepdim=True), (2, 3)), (L.Reduce("amax", -1), (3, 4)),
    (L.Reduce("amin", 1, keepdim=True), (3, 4)), (L.Reduce("prod", 2), (2, 3, 4)), (L.Reduce("prod", (1, 2)), (2, 3)),
    (L.ScalarOp("add", 1.5), (3, 4)), (L.ScalarOp("sub", 2), (3, 4)), (L.ScalarOp("rsub", 1.0), (3, 4)),
    (L.ScalarOp("mul", -3.0), (3, 4)), (L.ScalarOp("div", 4.0), (3, 4)), (L.ScalarOp("rdiv", 2.0), (3, 4)),
    (L.ScalarOp("pow", 3), (3, 4)), (L.ScalarOp("pow", 2.0), (3, 4)), (L.ScalarOp("neg"), (3, 4)),
    (L.PixelShuffle(2), (8, 2, 3)), (L.PixelUnshuffle(2), (2, 4, 6)), (L.ChannelShuffle(3), (6, 2, 2)),
    # tokens and parameters
    (L.MultiheadAttention(8, 2), (5, 8)),
    (L.MultiheadAttention(6, 3, bias=False, add_bias_kv=True, add_zero_attn=True), (4, 6)),
    (L.MultiheadAttention(4, 1, add_zero_attn=True), (3, 4)),
    (L.ParameterOp("add", (1, 1, 4)), (3, 4)), (L.ParameterOp("mul", (4, 1, 1)), (4, 3, 3)),
    (L.ParameterOp("cat", (1, 1, 4), dim=1), (3, 4)), (L.ParameterOp("cat", (1, 3, 2, 1), dim=-1), (3, 2, 4)),
]
TRAINING = {"Dropout1d", "Dropout3d", "AlphaDropout"}  # their masks are seeded here and random in torch: in evaluation


@pytest.mark.parametrize("layer, shape", LAYERS, ids=[f"{layer!r}-{shape}" for layer, shape in LAYERS])
@FEW
@given(st.integers(0, 2**16))
def test_every_layer_matches_torch_through_the_runner(layer, shape, seed):
    check_against_twin(layer, shape, seed, training=layer.type not in TRAINING)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_running_statistics_are_used_in_evaluation(training):
    check_against_twin(cnncalc.Sequential(L.Conv1d(2, 3, 3, bias=False), L.InstanceNorm1d(3, track_running_stats=True),
                                          L.BatchNorm1d(3)), (2, 6), 0, training=training)


@pytest.mark.parametrize("layer, shape", [(L.Embedding(10, 4), (5,)), (L.Embedding(7, 3, padding_idx=2), (2, 6))],
                         ids=["embedding", "padding_idx"])
def test_embedding_takes_integer_ids_and_trains_its_table_only(layer, shape):
    # torch's backward gives the padding row no gradient, but its forward mode moves it: the reference holds it
    # fixed both ways (its derivative is the adjoint of its gradient), so the row's tangent is 0 here
    held = {} if layer.padding_idx is None else {"weight": layer.padding_idx}
    check_against_twin(layer, shape, 0, ids=layer.num_embeddings, held=held)



MERGES = [
    (cnncalc.Merge(L.Conv1d(2, 3, 1), L.Conv1d(2, 3, 1), L.Conv1d(2, 3, 1, bias=False), op="sub"), (2, 5)),
    (cnncalc.Merge(L.Conv1d(2, 3, 1), cnncalc.Sequential(L.AdaptiveAvgPool1d(1), L.Conv1d(2, 3, 1)), op="div"), (2, 5)),
    (cnncalc.Merge(L.Linear(4, 4), cnncalc.Sequential(L.Reduce("mean", 1, keepdim=True), L.Sigmoid()), op="mul"), (3, 4)),
    (cnncalc.Merge(L.Linear(4, 4), L.Linear(4, 4), L.Identity(), op="add"), (3, 4)),
    (cnncalc.Merge(L.Linear(4, 3), L.Linear(4, 2), op="cat", dim=-1), (3, 4)),
    (cnncalc.Merge(L.Linear(4, 4), L.Identity(), op="stack", dim=2), (3, 4)),
    (cnncalc.Merge(L.Linear(4, 5), cnncalc.Sequential(L.Linear(4, 5), L.Transpose(1, 2)), op="matmul"), (3, 4)),
    # a bias on the keys moves every score of a query alike, which softmax ignores: its gradient is 0 up to rounding
    (cnncalc.Merge(L.Linear(4, 4), L.Linear(4, 4, bias=False), L.Linear(4, 6), op="attention"), (3, 4)),
    (cnncalc.Merge(cnncalc.Sequential(L.Unflatten(2, (2, 2)), L.Linear(2, 2)),
                   cnncalc.Sequential(L.Unflatten(2, (2, 2)), L.Linear(2, 2, bias=False)),
                   L.Unflatten(2, (2, 2)), op="attention"), (5, 4)),
    (cnncalc.Merge(L.Conv1d(2, 3, 3, stride=2), L.Conv1d(2, 1, 1), op="resize", mode="linear"), (2, 7)),
    (cnncalc.Merge(cnncalc.Conv2d(2, 3, 3, stride=2), cnncalc.Conv2d(2, 1, 1), op="resize", mode="bicubic"), (2, 7, 6)),
    (cnncalc.Merge(L.Conv3d(2, 3, 2, stride=2), L.Conv3d(2, 1, 1), op="resize", mode="nearest"), (2, 4, 5, 3)),
    (cnncalc.Merge(cnncalc.Conv2d(2, 3, 1), cnncalc.MaxPool2d(2), op="resize", mode="area"), (2, 6, 4)),
]


@pytest.mark.parametrize("model, shape", MERGES, ids=[f"{m.op}-{m.mode}-{len(m)}" for m, _ in MERGES])
@FEW
@given(st.integers(0, 2**16))
def test_every_merge_op_matches_torch_through_the_runner(model, shape, seed):
    check_against_twin(model, shape, seed)


def test_merge_macs_are_counted_as_the_analysis_counts_them():
    for model, shape in MERGES:
        trace = R.forward_backward(model, np.ones((1,) + shape), backward=False)
        report = cnncalc.analyze(model, shape, warn=False)
        assert [s.macs for s in trace.steps] == [r.macs for r in report.layers], model.op


@pytest.mark.parametrize("name, shape, mask", [("dropout1d", (4, 6), (4, 1)), ("dropout1d", (4, 3, 6), (4, 3, 1)),
                                               ("dropout3d", (4, 3, 2, 2), (4, 1, 1, 1)),
                                               ("dropout3d", (4, 3, 2, 2, 2), (4, 3, 1, 1, 1))],
                         ids=["1d-unbatched", "1d", "3d-unbatched", "3d"])
def test_channel_dropout_masks_whole_channels_as_torch_reads_the_input(name, shape, mask):
    x = np.random.default_rng(0).standard_normal(shape) + 10  # no zeros of its own
    y = getattr(R, name)(x, 0.5, seed=3)
    kept = y != 0
    assert np.array_equal(kept, np.broadcast_to(kept[tuple(slice(None) if n > 1 else slice(0, 1) for n in mask)], shape))
    assert 0 < kept.mean() < 1 and np.allclose(y[kept], 2 * x[kept])
    with torch.no_grad():  # torch's mask has the same shape: constant over the axes the mask leaves out
        theirs = getattr(TF, name)(torch.tensor(x), 0.5, True).numpy() != 0
    assert np.array_equal(theirs, np.broadcast_to(theirs[tuple(slice(None) if n > 1 else slice(0, 1) for n in mask)], shape))
    g = np.random.default_rng(1).standard_normal(shape)
    assert np.array_equal(getattr(R, f"{name}_backward")(x, g, 0.5, seed=3), g * 2 * kept)


def alpha_parts(x, y):
    """Alpha dropout's output read back: which entries were dropped (all one value), and (that value, a, c) with
    y = a*x + c on the kept entries."""
    values, counts = np.unique(y, return_counts=True)
    dropped = y == values[counts.argmax()]
    slope, shift = np.polyfit(x[~dropped], y[~dropped], 1)
    assert np.allclose(y[~dropped], slope * x[~dropped] + shift, atol=1e-12)
    return dropped, np.array([values[counts.argmax()], slope, shift])


def test_alpha_dropout_maps_kept_and_dropped_entries_as_torch_does():
    x = np.random.default_rng(0).standard_normal((8, 50))
    ours = R.alpha_dropout(x, 0.2, training=True, seed=1)
    dropped, constants = alpha_parts(x, ours)
    assert 0.1 < dropped.mean() < 0.3
    assert np.allclose(constants, alpha_parts(x, TF.alpha_dropout(torch.tensor(x), 0.2, training=True).numpy())[1], rtol=1e-12)
    g = np.random.default_rng(2).standard_normal(x.shape)
    assert np.allclose(R.alpha_dropout_backward(x, g, 0.2, training=True, seed=1), g * constants[1] * ~dropped)
    assert R.alpha_dropout(x, 0.2) is x and np.array_equal(R.alpha_dropout(x, 1.0, training=True), np.zeros_like(x))
