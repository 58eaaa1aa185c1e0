"""Every 2D layer against PyTorch itself: same constructor arguments, same output shape, same refusals.

For each hypothesis-generated configuration the layer is built twice, by ``cnncalc`` and by ``torch.nn``
with the same arguments, and run on one input: cnncalc through ``analyze``, torch on
``torch.zeros(1, C, H, W)``. Either both accept and agree on the output shape, the parameter and buffer
counts (and, for convolutions and Linear, the MACs against ``torch.utils.flop_counter``), or both
refuse: cnncalc with ``ShapeError`` (at construction or in ``analyze``), torch with any exception (at
construction or in forward).

One deliberate reading: where torch returns an *empty* tensor (a zero-size axis, e.g.
``AdaptiveAvgPool2d(0)`` or ``ZeroPad2d`` cropping everything away), CONTRACT.md asks cnncalc to refuse
("a non-positive output size" is impossible), so an empty torch output counts as a refusal.
Known deliberate differences, not generated: ``Flatten`` over the batch dimension (start_dim 0 or -4)
is outside the unbatched shape model; ``True``/``False`` as sizes (torch reads them as 1/0, cnncalc
refuses booleans); ``ZeroPad2d`` with six values (torch would pad the channels too); BatchNorm2d
without running statistics on a 1x1 map (refused by torch only for batch 1, see below).
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import ShapeError

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.integers(1, 40)
small = st.integers(1, 6)


def int_or_pair(values):
    """An int or a 2-tuple drawn from ``values`` (non-square kernels, strides, paddings)."""
    return st.one_of(values, st.tuples(values, values))


class Refused(Exception):
    """Marks a side that refused the configuration."""


def _torch_run(name, kwargs, shape):
    """(output shape without the batch, params, buffers, flops) or Refused; empty outputs count as refusals."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = getattr(torch.nn, name)(**kwargs).eval()
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                out = module(torch.zeros((1,) + tuple(shape)))
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise Refused(f"torch: {type(exc).__name__}: {exc}") from None
    if isinstance(out, tuple):  # return_indices=True
        out = out[0]
    if out.numel() == 0:
        raise Refused(f"torch: empty output {tuple(out.shape)}")
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked"))
    return tuple(out.shape[1:]), params, buffers, counter.get_total_flops()


def _cnncalc_run(name, kwargs, shape):
    try:
        layer = getattr(cnncalc, name)(**kwargs)
        report = cnncalc.analyze(layer, shape, warn=False)
    except ShapeError as exc:
        raise Refused(f"cnncalc: {exc}") from None
    return report.output_shape, report.params, report.buffers, report.flops


def both_run(label, torch_side, cnncalc_side):
    """(torch's result, cnncalc's) when both accept, None when both refuse (``Refused``); a test failure
    naming ``label`` when only one side refuses."""
    try:
        expected = torch_side()
    except Refused as torch_refusal:
        with pytest.raises(Refused, match="cnncalc: "):
            got = cnncalc_side()
            pytest.fail(f"{label}: cnncalc gives {got} but {torch_refusal}")
        return None
    try:
        return expected, cnncalc_side()
    except Refused as refusal:
        pytest.fail(f"{label}: torch gives {expected[0]} but {refusal}")


def check(name, kwargs, shape, flops=False):
    """Both sides accept with equal results, or both refuse."""
    results = both_run(f"{name}({kwargs}) on {shape}", lambda: _torch_run(name, kwargs, shape),
                       lambda: _cnncalc_run(name, kwargs, shape))
    if results is None:
        return
    expected, got = results
    assert got[:3] == expected[:3], f"{name}({kwargs}) on {shape}: (shape, params, buffers)"
    if flops:
        assert got[3] == expected[3], f"{name}({kwargs}) on {shape}: flops"


def _channels(draw, c):
    """Usually the expected channel count, sometimes a mismatch."""
    return draw(st.one_of(st.just(c), st.just(c), st.just(c), small))


@st.composite
def conv2d_cases(draw):
    groups = draw(st.integers(1, 3))
    c_in = draw(st.sampled_from([groups, 2 * groups, draw(small)]))
    kwargs = dict(
        in_channels=c_in,
        out_channels=draw(st.sampled_from([groups, 2 * groups, draw(small)])),
        kernel_size=draw(int_or_pair(st.integers(1, 7))),
        stride=draw(int_or_pair(st.integers(1, 4))),
        padding=draw(st.one_of(int_or_pair(st.integers(0, 5)), st.sampled_from(["same", "valid"]))),
        dilation=draw(int_or_pair(st.integers(1, 3))),
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])),
    )
    return kwargs, (_channels(draw, c_in), draw(sizes), draw(sizes))


@given(conv2d_cases())
@SETTINGS
def test_conv2d_matches_torch(case):
    kwargs, shape = case
    check("Conv2d", kwargs, shape, flops=True)


@st.composite
def conv_transpose2d_cases(draw):
    groups = draw(st.integers(1, 3))
    c_in = draw(st.sampled_from([groups, 2 * groups, draw(small)]))
    kwargs = dict(
        in_channels=c_in,
        out_channels=draw(st.sampled_from([groups, 2 * groups, draw(small)])),
        kernel_size=draw(int_or_pair(st.integers(1, 5))),
        stride=draw(int_or_pair(st.integers(1, 4))),
        padding=draw(int_or_pair(st.integers(0, 5))),
        output_padding=draw(int_or_pair(st.integers(0, 3))),
        groups=groups,
        bias=draw(st.booleans()),
        dilation=draw(int_or_pair(st.integers(1, 3))),
    )
    return kwargs, (_channels(draw, c_in), draw(st.integers(1, 12)), draw(st.integers(1, 12)))


@given(conv_transpose2d_cases())
@SETTINGS
def test_conv_transpose2d_matches_torch(case):
    kwargs, shape = case
    check("ConvTranspose2d", kwargs, shape, flops=True)


def _pool_common(draw):
    return dict(
        kernel_size=draw(int_or_pair(st.integers(1, 6))),
        stride=draw(st.one_of(st.none(), int_or_pair(st.integers(1, 4)))),
        padding=draw(int_or_pair(st.integers(0, 4))),
        ceil_mode=draw(st.booleans()),
    )


@st.composite
def max_pool_cases(draw):
    kwargs = _pool_common(draw)
    kwargs.update(dilation=draw(int_or_pair(st.integers(1, 3))), return_indices=draw(st.booleans()))
    return kwargs, (draw(small), draw(sizes), draw(sizes))


@st.composite
def avg_pool_cases(draw):
    kwargs = _pool_common(draw)
    kwargs.update(
        count_include_pad=draw(st.booleans()),
        divisor_override=draw(st.one_of(st.none(), st.integers(0, 3))),
    )
    return kwargs, (draw(small), draw(sizes), draw(sizes))


@given(max_pool_cases())
@SETTINGS
def test_max_pool2d_matches_torch(case):
    kwargs, shape = case
    check("MaxPool2d", kwargs, shape)


@given(avg_pool_cases())
@SETTINGS
def test_avg_pool2d_matches_torch(case):
    kwargs, shape = case
    check("AvgPool2d", kwargs, shape)


@pytest.mark.parametrize(
    "n, k, s, p, expected",
    [
        (5, 2, 2, 0, 3),  # ceil keeps the half window starting inside the input
        (5, 3, 2, 1, 3),  # ceil would give 4, but window 3 would start at 6 = n + p: dropped
        (6, 3, 3, 1, 3),  # ceil would give 3 windows, the last starts at 5 < n + p = 7: kept
        (4, 2, 3, 1, 2),  # (2 - 1)*3 = 3 < 5: kept
        (2, 2, 4, 1, 1),  # ceil would give 2, second window starts at 4 >= n + p = 3: dropped
    ],
    ids=["half-window-kept", "last-window-in-padding", "kept-with-pad", "kept-stride3", "dropped-stride4"],
)
def test_ceil_mode_last_window_rule(n, k, s, p, expected):
    for name in ("MaxPool2d", "AvgPool2d"):
        kwargs = dict(kernel_size=k, stride=s, padding=p, ceil_mode=True)
        assert cnncalc.analyze(getattr(cnncalc, name)(**kwargs), (1, n, n)).output_shape == (1, expected, expected)
        check(name, kwargs, (1, n, n))


adaptive_size = st.one_of(st.integers(0, 9), st.tuples(st.one_of(st.none(), st.integers(0, 9)), st.integers(1, 9)))


@given(st.sampled_from(["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]), adaptive_size, small, sizes, sizes)
@SETTINGS
def test_adaptive_pools_match_torch(name, output_size, c, h, w):
    check(name, dict(output_size=output_size), (c, h, w))


@given(small, st.booleans(), st.booleans(), small, st.integers(1, 8), st.integers(1, 8))
@SETTINGS
def test_batch_norm2d_matches_torch(num_features, affine, track, c, h, w):
    # Without running statistics torch normalises with batch statistics, which need more than one value
    # per channel: a property of the batch size, which the unbatched analysis does not fix.
    assume(track or h * w > 1)
    check("BatchNorm2d", dict(num_features=num_features, affine=affine, track_running_stats=track), (c, h, w))


@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.booleans(),
    st.one_of(st.tuples(st.integers(1, 12)), st.tuples(small, small, st.integers(1, 12))),
)
@SETTINGS
def test_linear_matches_torch(in_features, out_features, bias, shape):
    check("Linear", dict(in_features=in_features, out_features=out_features, bias=bias), shape, flops=True)


flatten_dims = st.sampled_from([1, 2, 3, -1, -2, -3])


@given(flatten_dims, flatten_dims, small, small, small)
@SETTINGS
def test_flatten_matches_torch(start_dim, end_dim, c, h, w):
    check("Flatten", dict(start_dim=start_dim, end_dim=end_dim), (c, h, w))


pads = st.integers(-6, 4)


@given(st.one_of(pads, st.tuples(pads, pads, pads, pads)), small, st.integers(1, 8), st.integers(1, 8))
@SETTINGS
def test_zero_pad2d_matches_torch(padding, c, h, w):
    check("ZeroPad2d", dict(padding=padding), (c, h, w))


@given(st.one_of(st.fixed_dictionaries({"scale_factor": st.one_of(st.integers(1, 4), st.floats(0.2, 3.5),
                                                                    st.tuples(st.integers(1, 3), st.floats(0.3, 2.5)))}),
                 st.fixed_dictionaries({"size": st.one_of(st.integers(1, 20), st.tuples(st.integers(1, 20), st.integers(1, 20)))})),
       st.sampled_from([{"mode": "nearest"}, {"mode": "bilinear"}, {"mode": "bilinear", "align_corners": True}]),
       small, st.integers(1, 8), st.integers(1, 8))
@SETTINGS
def test_upsample_matches_torch(how, mode, c, h, w):
    check("Upsample", {**how, **mode}, (c, h, w))


ACTIVATIONS = [
    ("ReLU", {}),
    ("ReLU6", {}),
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {"alpha": 0.5}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("GELU", {"approximate": "cubic"}),
    ("SiLU", {}),
    ("Hardswish", {}),
    ("Hardsigmoid", {}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": -1}),
    ("Softmax", {"dim": -4}),
    ("Softmax", {"dim": 3}),
    ("Softmax", {"dim": 4}),
    ("Softmax", {"dim": -5}),
    ("Dropout", {"p": 0.3}),
    ("Dropout", {"p": 1.5}),
    ("Dropout", {"p": -0.1}),
    ("Dropout2d", {"p": 0.3}),
    ("Identity", {}),
    ("LocalResponseNorm", {"size": 3}),
    ("LocalResponseNorm", {"size": 0}),
]


@pytest.mark.parametrize(
    "name, kwargs", ACTIVATIONS, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in ACTIVATIONS]
)
@given(shape=st.tuples(small, small, small))
@settings(max_examples=10, deadline=None)
def test_elementwise_layers_match_torch(name, kwargs, shape):
    check(name, kwargs, shape)


EDGE_CASES = [
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3, stride=2, padding="same"), (1, 8, 8)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=4, padding="same", dilation=3), (1, 8, 5)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding="full"), (1, 8, 8)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=7, padding="same", padding_mode="reflect"), (1, 3, 9)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding=-1), (1, 8, 8)),
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), (4, 8, 8)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding_mode="mirror"), (1, 8, 8)),
    ("ConvTranspose2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding="same"), (1, 8, 8)),
    ("ConvTranspose2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding="valid"), (1, 8, 8)),
    ("ConvTranspose2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding_mode="reflect"), (1, 8, 8)),
    ("ConvTranspose2d", dict(in_channels=1, out_channels=1, kernel_size=3, stride=(2, 1), output_padding=(0, 1)),
     (1, 4, 4)),
    ("ConvTranspose2d", dict(in_channels=1, out_channels=1, kernel_size=3, output_padding=1, dilation=2), (1, 4, 4)),
    ("MaxPool2d", dict(kernel_size=3, stride=[]), (1, 4, 4)),
    ("AvgPool2d", dict(kernel_size=3, stride=()), (1, 4, 4)),
    ("MaxPool2d", dict(kernel_size=3, padding=2, dilation=2), (1, 9, 9)),
    ("AvgPool2d", dict(kernel_size=3, padding=-1), (1, 9, 9)),
    ("AvgPool2d", dict(kernel_size=2, divisor_override=-1), (1, 4, 4)),
    ("AdaptiveAvgPool2d", dict(output_size=(None, 3)), (1, 4, 5)),
    ("AdaptiveMaxPool2d", dict(output_size=(7, 1)), (2, 3, 5)),
    ("AdaptiveMaxPool2d", dict(output_size=-1), (2, 3, 5)),
    ("Softmax", dict(), (2, 3, 5)),
    ("Flatten", dict(start_dim=3, end_dim=3), (2, 3, 5)),
    ("Linear", dict(in_features=5, out_features=7), (2, 3, 5)),
    ("BatchNorm2d", dict(num_features=3, affine=False), (2, 3, 5)),
    ("BatchNorm2d", dict(num_features=3, track_running_stats=False), (2, 3, 5)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3, stride=(2,), dilation=[2]), (2, 9, 9)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=(3,)), (2, 9, 9)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3, padding=(1,)), (2, 9, 9)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3, padding=(1,), padding_mode="reflect"), (2, 9, 9)),
    ("ConvTranspose2d", dict(in_channels=2, out_channels=2, kernel_size=(3,)), (2, 9, 9)),
    ("ConvTranspose2d", dict(in_channels=2, out_channels=2, kernel_size=3, stride=(2,), output_padding=[1]), (2, 9, 9)),
    ("MaxPool2d", dict(kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,)), (2, 9, 9)),
    ("AvgPool2d", dict(kernel_size=(3,), stride=(2,), padding=(1,)), (2, 9, 9)),
    ("AdaptiveAvgPool2d", dict(output_size=(3,)), (2, 9, 9)),
    ("ZeroPad2d", dict(padding=(1, 2)), (2, 4, 4)),
    ("ZeroPad2d", dict(padding=(-4, 2)), (2, 4, 4)),
    ("ZeroPad2d", dict(padding=(1, 2, 3)), (2, 4, 4)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3.0), (2, 9, 9)),
    ("AvgPool2d", dict(kernel_size=2, stride=2.0), (2, 9, 9)),
]


@pytest.mark.parametrize(
    "name, kwargs, shape",
    EDGE_CASES,
    ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}-{'x'.join(map(str, s))}" for n, kw, s in EDGE_CASES],
)
def test_edge_cases_match_torch(name, kwargs, shape):
    check(name, kwargs, shape)


# --- whole networks: every row's shape, the totals and the MACs against a torch mirror ----------


class _TorchResidual(torch.nn.Module):
    def __init__(self, main, shortcut, post):
        super().__init__()
        self.main, self.shortcut, self.post = main, shortcut, post

    def forward(self, x):
        y = self.main(x) + (x if self.shortcut is None else self.shortcut(x))
        return y if self.post is None else self.post(y)


class _TorchConcat(torch.nn.Module):
    def __init__(self, branches):
        super().__init__()
        self.branches = torch.nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def to_torch(node):
    """The torch module a cnncalc graph describes, built from the layers' own (normalised) arguments."""
    if isinstance(node, cnncalc.Sequential):
        return torch.nn.Sequential(*[to_torch(child) for child in node])
    if isinstance(node, cnncalc.Residual):
        parts = (node.main, node.shortcut, node.post)
        return _TorchResidual(*(None if part is None else to_torch(part) for part in parts))
    if isinstance(node, cnncalc.Concat):
        return _TorchConcat([to_torch(child) for child in node])
    if not dataclasses.is_dataclass(node):
        return getattr(torch.nn, node.type)()
    skip = {"trainable", "device", "dtype"}
    kwargs = {f.name: getattr(node, f.name) for f in dataclasses.fields(node) if f.init and f.name not in skip}
    return getattr(torch.nn, node.type)(**kwargs)


@st.composite
def networks(draw):
    c = c_in = draw(st.integers(1, 4))
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "bn-relu", "pool", "residual", "projection", "concat", "upsample"]))
        if kind == "conv":
            groups = draw(st.sampled_from([1, c]))
            out = groups * draw(st.integers(1, 3))
            k = draw(int_or_pair(st.integers(1, 4)))
            layers.append(cnncalc.Conv2d(c, out, k, draw(st.integers(1, 2)), draw(st.integers(0, 2)), groups=groups))
            c = out
        elif kind == "bn-relu":
            layers += [cnncalc.BatchNorm2d(c), cnncalc.ReLU()]
        elif kind == "pool":
            k, p, ceil_mode = draw(st.integers(2, 3)), draw(st.integers(0, 1)), draw(st.booleans())
            layers.append(cnncalc.MaxPool2d(k, 2, p, ceil_mode=ceil_mode))
        elif kind == "upsample":  # an FPN step: upsample, then add a same-size lateral 1x1 branch
            mode = draw(st.sampled_from(["nearest", "bilinear"]))
            up = cnncalc.Upsample(scale_factor=draw(st.sampled_from([2, 3, 1.5])), mode=mode)
            layers.append(cnncalc.Residual(cnncalc.Sequential(up, cnncalc.Conv2d(c, c, 1)), up) if draw(st.booleans()) else up)
        elif kind == "residual":
            main = cnncalc.Sequential(cnncalc.Conv2d(c, c, 3, padding=1), cnncalc.ReLU(), cnncalc.Conv2d(c, c, 1))
            layers.append(cnncalc.Residual(main, post=cnncalc.ReLU()))
        elif kind == "projection":
            out = draw(st.integers(1, 6))
            main = cnncalc.Sequential(cnncalc.Conv2d(c, out, 3, stride=2, padding=1), cnncalc.BatchNorm2d(out))
            layers.append(cnncalc.Residual(main, cnncalc.Conv2d(c, out, 1, stride=2)))
            c = out
        else:
            a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            layers.append(
                cnncalc.Concat(
                    cnncalc.Conv2d(c, a, 1),
                    cnncalc.Sequential(cnncalc.Conv2d(c, b, 3, padding=1), cnncalc.ReLU()),
                    cnncalc.MaxPool2d(3, 1, 1),
                )
            )
            c = a + b + c
    if draw(st.booleans()):
        layers += [cnncalc.AdaptiveAvgPool2d(draw(st.integers(1, 2))), cnncalc.Flatten()]
        layers.append(cnncalc.Linear(c * layers[-2].output_size[0] * layers[-2].output_size[1], 5))
    return cnncalc.Sequential(*layers), (_channels(draw, c_in), draw(st.integers(1, 24)), draw(st.integers(1, 24)))


@given(networks())
@settings(max_examples=60, deadline=None)
def test_networks_match_a_torch_mirror(case):
    net, shape = case
    module = to_torch(net).eval()
    shapes = []
    for sub in module.modules():
        if not list(sub.children()):  # leaves, in execution order by their hooks
            sub.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = module(torch.zeros((1,) + shape))
    except RuntimeError:
        event("torch refuses")
        with pytest.raises(ShapeError, match=r"\w+ \(\w+\): "):
            cnncalc.analyze(net, shape, warn=False)
        return
    event("torch accepts")
    report = cnncalc.analyze(net, shape, warn=False)
    assert [r.output_shape for r in report.layers if not r.is_merge] == shapes
    assert report.output_shape == tuple(out.shape[1:])
    assert report.params == sum(p.numel() for p in module.parameters())
    assert report.flops == counter.get_total_flops()
