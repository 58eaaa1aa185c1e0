"""analyze() and Report: exactness at huge sizes, very deep networks, symbols, the parser's refusals,
parameter bookkeeping, the table's invariants, the JSON contract and the lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict

import pytest

import cnncalc
from cnncalc import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Concat,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    Sequential,
    ShapeError,
)

# --- exact integers -----------------------------------------------------------------------------


def test_exact_integers_at_a_10_to_the_18_pixel_input():
    n = 10**9 + 7  # odd, so the pool truncates and the products have no trailing zeros
    net = Sequential(Conv2d(3, 64, 3, padding=1), MaxPool2d(2), Conv2d(64, 8, 3, stride=2, padding=1))
    report = cnncalc.analyze(net, (3, n, n), warn=False)
    half = n // 2
    quarter = (half + 2 - 3) // 2 + 1
    assert report.output_shape == (8, quarter, quarter) == (8, 250_000_002, 250_000_002)
    expected = 64 * n * n * 3 * 9 + 8 * quarter * quarter * 64 * 9  # pooling has no MACs
    assert report.macs == expected == 1_728_000_024_192_000_084_672 + 8 * 250_000_002**2 * 576
    assert int(float(expected)) != expected  # a float anywhere on the way would have lost the last digits
    assert all(type(v) is int for v in (report.macs, report.flops, report.params) + report.output_shape)
    assert report.layers[1].output_shape == (64, half, half)
    memory = report.memory("float32")
    assert memory.input_bytes == 3 * n * n * 4
    assert type(memory.total_bytes) is int


# --- depth --------------------------------------------------------------------------------------


def test_sequential_of_10000_layers():
    net = Sequential(*[ReLU() if i % 2 else Conv2d(4, 4, 1) for i in range(10_000)])
    report = cnncalc.analyze(net, (4, 3, 3))
    assert len(report.layers) == 10_000
    assert report.params == 5_000 * (16 + 4)
    assert report.macs == 5_000 * 16 * 9
    assert report.layers[-1].name == "9999"


def _nested(depth):
    model = Conv2d(2, 2, 1)
    for i in range(depth):
        model = Sequential(model) if i % 2 else Residual(model)
    return model


def test_10000_deep_nesting_of_sequential_and_residual():
    model = _nested(10_000)
    report = cnncalc.analyze(model, (2, 4, 4))
    assert len(report.layers) == 1 + 5_000  # the conv and one Add per residual
    assert report.params == 6 and report.macs == 4 * 16
    assert report.layers[0].name.count(".") == 4_999  # residual mains are hidden, sequentials are not
    twin = _nested(10_000)
    assert model == twin and hash(model) == hash(twin)
    assert model != _nested(9_999)
    frozen = model.freeze()
    assert frozen == model and cnncalc.analyze(frozen, (2, 4, 4)).trainable_params == 0
    assert model.params == 6


def test_repr_of_a_deep_nesting():
    text = repr(_nested(2_000))  # beyond Python's recursion limit; the text itself grows quadratically
    assert text.startswith("Sequential(\n  (0): Residual(\n    (main): Sequential(")
    assert text.count("Residual(") == 1_000


# --- symbols and the parser ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, names",
    [("3xhöhex_w2", ("höhe", "_w2")), ("3,höhe,lambda_", ("höhe", "lambda_")), ("3×H_1×W", ("H_1", "W"))],
    ids=["unicode-and-underscore", "commas-keyword-like", "times-sign"],
)
def test_unusual_symbol_names(text, names):
    report = cnncalc.analyze(Conv2d(3, 4, 3, stride=2), text)
    h, w = (cnncalc.symbol(name) for name in names)
    concrete = cnncalc.analyze(Conv2d(3, 4, 3, stride=2), (3, 11, 8), warn=False)
    values = {h: 11, w: 8}
    assert tuple(int(d.subs(values)) if not isinstance(d, int) else d for d in report.output_shape) == (4, 5, 3)
    assert report.macs.subs(values) == concrete.macs


@pytest.mark.parametrize(
    "text, match",
    [
        ("3x-1x2", r"'-1' is neither a positive integer nor a name"),
        ("3x2.5x4", r"'2.5' is neither a positive integer nor a name"),
        ("__import__('os')", r"is neither a positive integer nor a name"),
        ("3xx4", r"empty dimension"),
        ("", r"empty dimension"),
        ("3x0x4", r"'0' must be positive"),
    ],
    ids=["negative", "fraction", "code", "double-separator", "empty", "zero"],
)
def test_parser_rejects(text, match):
    with pytest.raises(ShapeError, match=match):
        cnncalc.parse_shape(text)
    with pytest.raises(ShapeError, match=match):
        cnncalc.analyze(ReLU(), text)


def test_symbolic_hyperparameters():
    sympy = pytest.importorskip("sympy")
    c_in, k, p = cnncalc.symbol("Cin"), cnncalc.symbol("k"), cnncalc.symbol("p")
    H, W = cnncalc.symbol("H"), cnncalc.symbol("W")
    report = cnncalc.analyze(Conv2d(c_in, 64, k, padding=p), "CinxHxW")
    assert sympy.expand(report.params - (k * k * c_in + 1) * 64) == 0
    assert report.output_shape == (64, H + 2 * p - k + 1, W + 2 * p - k + 1)
    assert sympy.expand(report.macs - 64 * (H + 2 * p - k + 1) * (W + 2 * p - k + 1) * c_in * k * k) == 0


# --- parameter bookkeeping ----------------------------------------------------------------------


def test_frozen_layers_are_not_trainable():
    net = Sequential(Conv2d(3, 8, 3).freeze(), BatchNorm2d(8).freeze(), Conv2d(8, 4, 1))
    report = cnncalc.analyze(net, (3, 8, 8))
    assert report.params == (27 + 1) * 8 + 16 + (8 + 1) * 4
    assert report.trainable_params == (8 + 1) * 4
    assert report.non_trainable_params == (27 + 1) * 8 + 16
    assert report.to_dict()["totals"]["trainable_params"] == 36
    whole = cnncalc.analyze(net.freeze(), (3, 8, 8))
    assert (whole.params, whole.trainable_params) == (report.params, 0)


@pytest.mark.parametrize(
    "layer, weight, bias, buffers",
    [
        (Conv2d(4, 6, (3, 5), groups=2), 6 * 2 * 15, 6, 0),
        (Conv2d(4, 6, 3, bias=False), 6 * 4 * 9, 0, 0),
        (BatchNorm2d(4), 4, 4, 8),
        (BatchNorm2d(4, affine=False), 0, 0, 8),
        (BatchNorm2d(4, track_running_stats=False), 4, 4, 0),
        (Linear(16, 3), 48, 3, 0),
    ],
    ids=["grouped-conv", "conv-no-bias", "bn", "bn-no-affine", "bn-no-stats", "linear"],
)
def test_weight_bias_and_buffer_split(layer, weight, bias, buffers):
    shape = (16,) if isinstance(layer, Linear) else (4, 8, 8)
    report = cnncalc.analyze(layer, shape)
    assert (report.weight_params, report.bias_params, report.buffers) == (weight, bias, buffers)
    assert report.params == weight + bias


def _branchy_net():
    shared = Conv2d(8, 8, 3, padding=1)
    return Sequential(
        OrderedDict(
            stem=Sequential(Conv2d(3, 8, 3, stride=2, padding=1), BatchNorm2d(8), ReLU()),
            block=Residual(Sequential(shared, ReLU(), shared), Conv2d(8, 8, 1), ReLU()),
            mix=Concat(Conv2d(8, 4, 1), Sequential(MaxPool2d(3, 1, 1), Conv2d(8, 4, 1))),
            pool=AdaptiveAvgPool2d(1),
            flat=Flatten(),
            fc=Linear(8, 10),
        )
    )


def test_rows_add_up_to_the_totals():
    report = cnncalc.analyze(_branchy_net(), "3x32x32")
    assert sum(r.params for r in report.layers) == report.params
    assert sum(r.macs for r in report.layers) == report.macs
    assert sum(r.buffers for r in report.layers) == report.buffers == 16
    assert report.flops == 2 * report.macs
    # the shared conv's weights count once, like sum(p.numel() for p in model.parameters())
    expected = (27 + 1) * 8 + 16 + (72 + 1) * 8 + (8 + 1) * 8 + 2 * (8 + 1) * 4 + (8 + 1) * 10
    assert report.params == _branchy_net().params == expected
    conv_rows = [r for r in report.layers if r.name.startswith("block.") and r.type == "Conv2d"]
    assert [r.params for r in conv_rows] == [73 * 8, 0, 72]  # shared second use, then the shortcut


def test_to_dict_is_json_and_matches_the_contract():
    report = cnncalc.analyze(_branchy_net(), "3x32x32", name="branchy")
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"model", "input_shape", "layers", "totals", "receptive_field", "memory"}
    assert data["memory"] == report.memory().to_dict()
    assert data["model"] == "branchy" and data["input_shape"] == [3, 32, 32]
    assert set(data["totals"]) == {"params", "trainable_params", "buffers", "macs", "flops", "output_shape"}
    assert data["totals"]["output_shape"] == [10]
    assert data["totals"]["params"] == report.params
    for row in data["layers"]:
        assert set(row) == {"name", "type", "input_shape", "output_shape", "params", "macs", "receptive_field"}
    first = data["layers"][0]
    assert first["name"] == "stem.0" and first["output_shape"] == [8, 16, 16]
    assert first["receptive_field"] == {"size": [3, 3], "stride": [2, 2], "start": [-1, -1]}
    assert set(data["receptive_field"]) == {"size", "stride", "start"}


def test_symbolic_to_dict_uses_strings():
    sympy = pytest.importorskip("sympy")
    report = cnncalc.analyze(Conv2d(3, 8, 3, stride=2), "3xHxW")
    data = json.loads(json.dumps(report.to_dict()))
    h_out = data["totals"]["output_shape"][1]
    assert isinstance(h_out, str) and data["totals"]["params"] == 224
    H = cnncalc.symbol("H")
    # the string is sympy syntax: read back (trusted text in a test), it is the same expression
    assert sympy.sympify(h_out, locals={"H": H}) == report.output_shape[1]
    assert [report.output_shape[1].subs(H, h) for h in range(3, 40)] == [(h - 3) // 2 + 1 for h in range(3, 40)]


def test_concrete_analysis_imports_neither_sympy_nor_numpy():
    code = (
        "import sys, cnncalc\n"
        "r = cnncalc.analyze(cnncalc.Sequential(cnncalc.Conv2d(3, 8, 3), cnncalc.MaxPool2d(2, ceil_mode=True),"
        " cnncalc.Flatten()), '3x32x32')\n"
        "r.to_dict(); r.memory('int8')\n"
        "print(sorted(m for m in ('sympy', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _named(**children):
    return Sequential(OrderedDict(children))


@pytest.mark.parametrize(
    "model, match",
    [
        (
            _named(block=Residual(Sequential(Conv2d(4, 8, 3, stride=2, padding=1)))),
            r"^block \(Add\): residual add of mismatched shapes \(8, 8, 8\) and \(4, 16, 16\): "
            r"use a 1x1 projection shortcut Conv2d\(4, 8, kernel_size=1, stride=2\)$",
        ),
        (
            _named(mix=Concat(Conv2d(4, 2, 1), Conv2d(4, 2, 3))),
            r"^mix \(Concat\): cannot concatenate \(2, 16, 16\) and \(2, 14, 14\) along channels",
        ),
        (
            _named(block=Residual(Sequential(Conv2d(4, 8, 3, padding=1)), Conv2d(8, 8, 1))),
            r"^block\.shortcut \(Conv2d\): expects 8 input channels, receives 4$",
        ),
        (
            _named(head=Sequential(Flatten(), Linear(100, 10))),
            r"^head\.1 \(Linear\): expects 100 input features, receives 1024",
        ),
    ],
    ids=["residual-needs-projection", "concat-spatial-mismatch", "shortcut-channels", "linear-features"],
)
def test_errors_name_the_layer_path_the_rule_and_the_numbers(model, match):
    with pytest.raises(ShapeError, match=match):
        cnncalc.analyze(model, (4, 16, 16))


def test_batch_scales_macs_and_activations_not_parameters():
    one = cnncalc.analyze(Conv2d(3, 8, 3), "3x10x10")
    four = cnncalc.analyze(Conv2d(3, 8, 3), "3x10x10", batch=4)
    assert (one.macs, four.macs) == (8 * 64 * 27, 4 * 8 * 64 * 27)
    assert four.params == one.params == 224
    assert four.memory().input_bytes == 4 * 300 * 4
    assert four.memory().forward_bytes == 4 * 8 * 64 * 4
    assert four.memory().params_bytes == one.memory().params_bytes == 224 * 4
