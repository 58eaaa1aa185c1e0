"""Closed forms: symbolic sizes are one floor/ceiling per dimension and equal the concrete engine everywhere."""

from collections import OrderedDict

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy import ceiling, floor

import cnncalc
from cnncalc import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    Linear,
    MaxPool2d,
    AvgPool2d,
    ReLU,
    Reshape,
    Residual,
    Sequential,
    ShapeError,
    symbol,
)
from cnncalc.symbolic import pretty, simplify_dim

H, W, T = symbol("H"), symbol("W"), symbol("T")
n = symbol("n")


def _roundings(expr):
    return len(sympy.sympify(expr).atoms(floor, ceiling))


def _value(expr, **values):
    """An expression evaluated at integer values (ints pass through)."""
    if isinstance(expr, int):
        return expr
    got = expr.subs({symbol(k): v for k, v in values.items()})
    assert got.is_Integer, (expr, values, got)
    return int(got)


# --- the identities ------------------------------------------------------------------------------

IDENTITIES = [
    ("floor-floor", floor((floor((n + 3) / 4) - 2) / 3), floor((n + 3 - 8) / 12)),
    ("ceil-ceil", ceiling((ceiling((n - 1) / 2) + 5) / 7), ceiling((n - 1 + 10) / 14)),
    ("floor-ceil", floor(ceiling(n / 2) / 2), floor((n + 1) / 4)),
    ("ceil-floor", ceiling(floor(n / 3) / 2), ceiling((n - 2) / 6)),
    ("floor-plus-one", floor((n - 1) / 2) + 1, ceiling(n / 2)),
    ("common-factor", floor((2 * n + 3) / 4), floor((n + 1) / 2)),
    ("three-deep", floor((floor((floor(n / 2) + 1) / 3) - 1) / 5), floor((n - 4) / 30)),
]


@pytest.mark.parametrize("expr, expected", [c[1:] for c in IDENTITIES], ids=[c[0] for c in IDENTITIES])
def test_identity_folds_to_one_rounding(expr, expected):
    simple = simplify_dim(expr)
    assert _roundings(simple) == 1
    for v in range(1, 400):
        assert simple.subs(n, v) == expr.subs(n, v) == expected.subs(n, v)


def test_symbolic_denominators_fold():
    s, t = symbol("s"), symbol("t")
    expr = simplify_dim(floor((floor((n - 1) / s) + 1 - 1) / t) + 1)
    assert _roundings(expr) == 1
    for sv in range(1, 5):
        for tv in range(1, 5):
            for v in range(1, 60):
                assert expr.subs({n: v, s: sv, t: tv}) == (v - 1) // sv // tv + 1


def test_ints_and_plain_expressions_pass_through():
    assert simplify_dim(7) == 7
    assert simplify_dim(n + 1) == n + 1
    assert simplify_dim(floor((2 * n + 2) / 2)) == n + 1


# --- networks: one rounding per dimension, equal to the concrete engine ----------------------------


def _basic(c_in, c_out, stride):
    main = Sequential(
        OrderedDict(
            conv1=Conv2d(c_in, c_out, 3, stride, 1, bias=False), bn1=BatchNorm2d(c_out), relu=ReLU(),
            conv2=Conv2d(c_out, c_out, 3, 1, 1, bias=False), bn2=BatchNorm2d(c_out),
        )
    )
    down = None
    if stride != 1 or c_in != c_out:
        down = Sequential(Conv2d(c_in, c_out, 1, stride, bias=False), BatchNorm2d(c_out))
    return Residual(main, down, ReLU(), shortcut_name="downsample", post_name="relu")


def _bottleneck(c_in, width, stride):
    c_out = 4 * width
    main = Sequential(
        Conv2d(c_in, width, 1, bias=False), BatchNorm2d(width), ReLU(),
        Conv2d(width, width, 3, stride, 1, bias=False), BatchNorm2d(width), ReLU(),
        Conv2d(width, c_out, 1, bias=False), BatchNorm2d(c_out),
    )
    down = None
    if stride != 1 or c_in != c_out:
        down = Sequential(Conv2d(c_in, c_out, 1, stride, bias=False), BatchNorm2d(c_out))
    return Residual(main, down, ReLU())


def small_resnet(bottleneck=False):
    """A ResNet-like net with torchvision's stem and one block per stage."""
    layers = [Conv2d(3, 8, 7, 2, 3, bias=False), BatchNorm2d(8), ReLU(), MaxPool2d(3, 2, 1)]
    c = 8
    for i, width in enumerate((8, 16, 32, 64)):
        stride = 1 if i == 0 else 2
        block = _bottleneck(c, width, stride) if bottleneck else _basic(c, width, stride)
        c = 4 * width if bottleneck else width
        layers.append(block)
    return Sequential(*layers, AdaptiveAvgPool2d(1), Flatten(), Linear(c, 10))


def small_vgg():
    layers, c = [], 3
    for width, convs in ((8, 1), (16, 1), (16, 2), (32, 2), (32, 2)):
        for _ in range(convs):
            layers += [Conv2d(c, width, 3, padding=1), ReLU()]
            c = width
        layers.append(MaxPool2d(2, 2))
    return Sequential(*layers)


def small_alexnet():
    return Sequential(
        Conv2d(3, 8, 11, 4, 2), ReLU(), MaxPool2d(3, 2), Conv2d(8, 8, 5, padding=2), MaxPool2d(3, 2),
        Conv2d(8, 8, 3, padding=1), MaxPool2d(3, 2),
    )


def _last_map(report):
    return [r.output_shape for r in report.layers if len(r.output_shape) == 3 and r.type != "AdaptiveAvgPool2d"][-1]


NETS = [
    ("resnet-basic", small_resnet, ceiling(H / 32), 1),
    ("resnet-bottleneck", lambda: small_resnet(True), ceiling(H / 32), 1),
    ("vgg", small_vgg, floor(H / 32), 32),
    ("alexnet", small_alexnet, floor((H - 31) / 32), 63),
]


@pytest.mark.parametrize("build, expected, smallest", [c[1:] for c in NETS], ids=[c[0] for c in NETS])
def test_last_feature_map_is_one_rounding(build, expected, smallest):
    model = build()
    report = cnncalc.analyze(model, "3xHxW", warn=False)
    last = _last_map(report)
    assert last[1] == expected and last[2] == expected.subs(H, W)
    # every symbolic size of every layer is at most one rounding
    assert all(_roundings(d) <= 1 for r in report.layers for d in r.output_shape)
    for h in range(smallest, smallest + 300):
        concrete = cnncalc.analyze(model, (3, h, smallest), warn=False)
        for sym_row, row in zip(report.layers, concrete.layers):
            assert tuple(_value(d, H=h, W=smallest) for d in sym_row.output_shape) == row.output_shape
        assert _value(report.macs, H=h, W=smallest) == concrete.macs


ZOO_LAST = [("resnet18", ceiling(H / 32)), ("resnet34", ceiling(H / 32)), ("resnet50", ceiling(H / 32)),
            ("resnet101", ceiling(H / 32)), ("resnet152", ceiling(H / 32)), ("vgg16", floor(H / 32)),
            ("vgg19_bn", floor(H / 32))]


@pytest.mark.parametrize("name, expected", ZOO_LAST, ids=[c[0] for c in ZOO_LAST])
def test_zoo_last_feature_map(name, expected):
    if not hasattr(cnncalc, "model"):
        pytest.skip("model zoo not available")
    report = cnncalc.analyze(cnncalc.model(name), "3xHxW", warn=False)
    maps = [r.output_shape for r in report.layers if len(r.output_shape) == 3 and not r.type.startswith("Adaptive")]
    assert maps[-1][1:] == (expected, expected.subs(H, W))


# --- random chains: symbolic == concrete for every size ------------------------------------------

_window = st.tuples(
    st.sampled_from(["conv", "max", "max_ceil", "avg_ceil", "convT"]),
    st.integers(1, 5), st.integers(1, 3), st.integers(0, 3), st.integers(1, 2),
)


def _axis_layer(kind, k, s, p, d):
    if kind == "conv":
        return Conv2d(1, 1, (k, 1), s, (p, 0), (d, 1))
    if kind == "convT":
        return ConvTranspose2d(1, 1, (k, 1), s, (min(p, k - 1), 0), (min(p, s - 1, d - 1) if s > 1 else 0, 0), dilation=(d, 1))
    p = min(p, k // 2)
    if kind == "avg_ceil":
        return AvgPool2d((k, 1), s, (p, 0), ceil_mode=True)
    return MaxPool2d((k, 1), s, (p, 0), (d, 1), ceil_mode=kind == "max_ceil")


@settings(max_examples=60, deadline=None)
@given(st.lists(_window, min_size=1, max_size=5))
def test_random_chain_matches_concrete(spec):
    model = Sequential(*[_axis_layer(*w) for w in spec])
    expr = cnncalc.analyze(model, "1xHx1", warn=False).output_shape[1]
    assert _roundings(expr) <= sum(w[0] == "convT" for w in spec) + 1
    for h in range(1, 150):
        try:
            want = cnncalc.analyze(model, (1, h, 1), warn=False).output_shape[1]
        except ShapeError:
            continue
        assert _value(expr, H=h) == want, (model, expr, h)


# --- symbols anywhere -------------------------------------------------------------------------------


def test_symbolic_hyperparameters_match_concrete():
    k, s, p, d = (symbol(x) for x in "kspd")
    layer = Conv2d(symbol("C"), symbol("K"), k, s, p, d)
    report = cnncalc.analyze(layer, (symbol("C"), H, W))
    out_h = report.output_shape[1]
    assert _roundings(out_h) == 1
    for kv in range(1, 4):
        for sv in range(1, 4):
            for pv in range(0, 3):
                for dv in range(1, 3):
                    for h in range(1, 25):
                        try:
                            want = cnncalc.analyze(Conv2d(2, 3, kv, sv, pv, dv), (2, h, h), warn=False).output_shape[1]
                        except ShapeError:
                            continue
                        assert _value(out_h, k=kv, s=sv, p=pv, d=dv, H=h) == want


def test_params_and_macs_are_polynomials_factored_for_reading():
    c_in, c_out, k = symbol("C"), symbol("K"), symbol("k")
    layer = Conv2d(c_in, c_out, k, padding=1)
    assert pretty(layer.params) == "K*(C*k^2 + 1)"
    report = cnncalc.analyze(layer, (c_in, H, W))
    macs = report.macs
    assert _value(macs, C=3, K=64, k=3, H=32, W=32) == cnncalc.analyze(Conv2d(3, 64, 3, padding=1), (3, 32, 32)).macs
    assert "ceil" not in pretty(floor((n - 1) / 2) + 1) or pretty(floor((n - 1) / 2) + 1) == "ceil(n/2)"


def test_pretty_of_a_network_total():
    report = cnncalc.analyze(small_vgg(), "3xHxW", warn=False)
    text = pretty(report.params)
    assert text == str(report.params)  # a number stays a number
    macs = pretty(report.macs)
    assert "floor(H/2)*floor(W/2)" in macs.replace(" ", "")


def test_ceil_mode_pool_has_no_case_split():
    out = cnncalc.analyze(MaxPool2d(3, 2, ceil_mode=True), "1xHxW").output_shape[1]
    assert not out.has(sympy.Piecewise) and _roundings(out) == 1
    k, s = symbol("k"), symbol("s")
    general = cnncalc.analyze(MaxPool2d(k, s, ceil_mode=True), "1xHxW").output_shape[1]
    for kv in range(1, 5):
        for sv in range(1, 4):
            for h in range(kv, 30):
                want = cnncalc.analyze(MaxPool2d(kv, sv, ceil_mode=True), (1, h, h)).output_shape[1]
                assert _value(general, k=kv, s=sv, H=h) == want


# Zoo networks built for one input size: the symbolic analysis assumes it (Report.assumptions), its rows
# are compared at the default size, and the other sizes tried must be refused, with torch's reason.
_VIT = r"Wrong image height! Expected 224"  # VisionTransformer asserts image_size before its patch projection
ONE_SIZE = {name: _VIT for name in ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14")}
ONE_SIZE["maxvit_t"] = r"not a multiple of the partition size 7"  # windows fixed for 224 (torch runs 221..224)


@pytest.mark.skipif(not hasattr(cnncalc, "model"), reason="model zoo not available")
def test_every_zoo_model_symbolic_equals_concrete():
    from cnncalc import zoo

    for name in zoo.models():
        model = zoo.model(name)
        c, *frames, h, w = zoo.describe(name).default_input  # a video clip has T frames: (C, T, H, W)
        report = cnncalc.analyze(model, (c, *(T for _ in frames), H, W), warn=False)
        assert all(_roundings(d) <= 1 for r in report.layers for d in r.output_shape[1:]), name
        values = {}
        for dh, dw in ((0, 0), (1, 3), (7, 2), (32, 33)):
            if name in ONE_SIZE and (dh, dw) != (0, 0):
                with pytest.raises(ShapeError, match=ONE_SIZE[name]):
                    cnncalc.analyze(model, (c, h + dh, w + dw), warn=False)
                continue
            sizes = dict(T=frames[0] + dw if frames else None, H=h + dh, W=w + dw)
            try:
                concrete = cnncalc.analyze(model, (c, *(sizes["T"] for _ in frames), h + dh, w + dw), warn=False)
            except ShapeError:
                if (dh, dw) == (0, 0):
                    raise
                continue  # e.g. a fixed Linear after Flatten accepts only a range of sizes
            for sym_row, row in zip(report.layers, concrete.layers):
                for d, want in zip(sym_row.output_shape, row.output_shape):
                    key = (d, dh, dw)
                    if key not in values:
                        values[key] = _value(d, **{k: v for k, v in sizes.items() if v is not None})
                    assert values[key] == want, (name, sym_row.name, d)


def test_unsettled_sizes_are_recorded_as_assumptions():
    # fc1 = Linear(400, 120) fits 16 x (H/4 - 3) x (W/4 - 3) features only for some H, W: the
    # analysis goes on with 400 and says what it assumed
    report = cnncalc.analyze(cnncalc.model("cifar_net"), "3xHxW")
    assert report.assumptions == ["fc1 (Linear): 16*(floor(H/4) - 3)*(floor(W/4) - 3) = 400"]
    fc1 = next(r for r in report.layers if r.name == "fc1")
    assert fc1.macs == 400 * 120
    assert report.to_dict()["assumptions"] == report.assumptions
    concrete = cnncalc.analyze(cnncalc.model("cifar_net"), "3x32x32")
    assert concrete.assumptions == [] and "assumptions" not in concrete.to_dict()
    for h, w in ((32, 32), (35, 33)):  # where the assumption holds, the symbolic totals are the concrete ones
        values = {cnncalc.symbol("H"): h, cnncalc.symbol("W"): w}
        assert report.macs.subs(values) == cnncalc.analyze(cnncalc.model("cifar_net"), (3, h, w), warn=False).macs


def test_symbolic_channels_are_assumed_equal_and_provably_equal_ones_are_not():
    C = cnncalc.symbol("C")
    net = Sequential(Conv2d(C, 8, 3), BatchNorm2d(8), Conv2d(8, C, 1), BatchNorm2d(C))
    assert cnncalc.analyze(net, "3x8x8").assumptions == ["0 (Conv2d): 3 = C"]
    assert cnncalc.analyze(net, "Cx8x8").assumptions == []
    assert cnncalc.analyze(Sequential(Flatten(), Reshape(-1, 48)), "3xHx4").assumptions == ["1 (Reshape): 12*H = 48"]


def test_merges_of_unsettled_sizes_are_assumptions():
    # a U-Net level: the skip keeps H, the pooled-and-upsampled branch has 2*floor(H/2): even H only
    level = Sequential(Conv2d(3, 4, 3, padding=1), cnncalc.Concat(
        cnncalc.Identity(), Sequential(MaxPool2d(2), Conv2d(4, 4, 3, padding=1), ConvTranspose2d(4, 4, 2, stride=2))))
    report = cnncalc.analyze(level, "3xHxH")
    assert report.assumptions == ["1 (Concat): 2*floor(H/2) = H"]  # once, though both axes need it
    # residual blocks whose shapes are provably equal assume nothing
    assert cnncalc.analyze(cnncalc.model("resnet50"), "3xHxW").assumptions == []


def test_a_rounding_argument_reads_as_one_fraction():
    from cnncalc.symbolic import over_one

    H = symbol("H")
    distributed = sympy.Mul(sympy.Rational(1, 4), H - 7, evaluate=False)  # what sympy.factor hands back
    assert over_one(distributed) == (H - 7, 4)
    assert over_one((H - symbol("k") + 2) / symbol("s")) == (H - symbol("k") + 2, symbol("s"))
    assert pretty(32 * floor(distributed) * 3) == "96*floor((H - 7)/4)"


def test_one_printer_for_closed_forms_in_text_and_latex():
    """The notebook's LaTeX and the command line's text write a rounding alike: over one fraction, ceil not ceiling."""
    import sympy

    from cnncalc.render.notebook import report_latex
    from cnncalc.symbolic import latex, pretty

    H = cnncalc.symbol("H")
    value = sympy.ceiling((H - 1) / 4)
    assert pretty(value) == "ceil((H - 1)/4)"
    assert latex(value) == r"\left\lceil{\frac{H - 1}{4}}\right\rceil"
    report = cnncalc.analyze(cnncalc.Conv2d(1, 1, 4, 4, 1), "1xHxW")
    assert "ceiling" not in report_latex(report) and r"\frac{H}{4} - " not in report_latex(report)


def test_no_needless_common_factor():
    from cnncalc.symbolic import pretty

    H, W, C, k = (cnncalc.symbol(n) for n in ("H", "W", "C", "k"))
    assert pretty(432 * H * W + 288 * H) == "432*H*W + 288*H"
    assert pretty(64 * C * k**2 + 64) == "64*(C*k^2 + 1)"  # a structural factor (filters) stays
