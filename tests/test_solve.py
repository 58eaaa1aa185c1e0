"""Solving for sizes: every answer is checked by brute force against the concrete engine."""

import pytest

import cnncalc
from cnncalc import AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Residual, Sequential, ShapeError
from cnncalc.solve import SizeSet, conv_settings, input_for_output, input_sizes, padding_for, same_padding

from test_symbolic import small_resnet, small_vgg


def _out(n, k, s, p, d=1):
    """The concrete engine's output size along one axis, or None when PyTorch refuses."""
    try:
        return cnncalc.analyze(Conv2d(1, 1, (k, 1), (s, 1), (p, 0), (d, 1)), (1, n, 1), warn=False).output_shape[1]
    except ShapeError:
        return None


# --- SizeSet ---------------------------------------------------------------------------------------

SETS = [
    ("ray", SizeSet(32, None, name="H"), "{H : H >= 32}"),
    ("congruence", SizeSet(32, None, 32, (0,), "H"), "{H : H >= 32, H = 32m}"),
    ("shifted", SizeSet(33, None, 2, (1,), "H"), "{H : H >= 33, H = 2m + 1}"),
    ("interval", SizeSet(227, 258, name="H"), "{H : 227 <= H <= 258}"),
    ("single", SizeSet(5, 5), "{5}"),
    ("empty", SizeSet.empty(), "{} (no size)"),
    ("listed", SizeSet.of([3, 5, 9]), "{3, 5, 9}"),
]


@pytest.mark.parametrize("sizes, text", [c[1:] for c in SETS], ids=[c[0] for c in SETS])
def test_size_set_text(sizes, text):
    assert str(sizes) == text


def test_size_set_membership():
    congruence = SizeSet(32, None, 32, (0,))
    assert [n for n in range(100) if n in congruence] == [32, 64, 96]
    assert list(SizeSet.of([3, 5, 9])) == [3, 5, 9]
    with pytest.raises(ValueError, match="infinite"):
        list(congruence)


# --- padding ------------------------------------------------------------------------------------------

GRID = [(k, s, d) for k in range(1, 8) for s in range(1, 4) for d in range(1, 3)]


@pytest.mark.parametrize("k, s, d", GRID, ids=[f"k{k}s{s}d{d}" for k, s, d in GRID])
def test_same_padding_for_every_size(k, s, d):
    answer = same_padding(k, s, d)
    keeps = [p for p in range(0, 12) if all(_out(n, k, s, p, d) in (None, -(-n // s)) for n in range(1, 60))
             and any(_out(n, k, s, p, d) is not None for n in range(1, 60))]
    assert (answer.paddings.values(12) if not answer.paddings.is_empty else []) == keeps
    if answer.padding is None:
        assert "no symmetric padding" in str(answer)


@pytest.mark.parametrize("n, out, k, s", [(227, 55, 11, 4), (224, 112, 7, 2), (32, 32, 5, 1), (10, 3, 3, 3), (7, 9, 3, 1)],
                         ids=["alexnet", "resnet-stem", "same5", "stride3", "impossible"])
def test_padding_for_is_exact(n, out, k, s):
    answer = padding_for(n, out, k, s)
    brute = [p for p in range(0, 3 * n) if _out(n, k, s, p) == out]
    assert answer.paddings.values(3 * n) == brute


def test_padding_rejects_bad_numbers():
    with pytest.raises(ShapeError, match="kernel_size must be an integer >= 1, got 0"):
        same_padding(0)


# --- input sizes ----------------------------------------------------------------------------------------


def _accepts(model, shape, full=False):
    try:
        report = cnncalc.analyze(model, shape, warn=False)
    except ShapeError:
        return False
    return not (full and report.warnings)


def _lenet_like():
    return Sequential(Conv2d(1, 6, 5), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5), ReLU(), MaxPool2d(2), Flatten(),
                      Linear(16 * 5 * 5, 10))


def _mismatched_residual():
    """A residual whose branches agree only for even sizes: floor(n/2) (k2 s2) against ceil(n/2) (1x1 s2)."""
    return Sequential(Residual(Conv2d(4, 4, 2, 2), Conv2d(4, 4, 1, 2)), AdaptiveAvgPool2d(1))


NETS = [
    ("vgg-like", small_vgg, "3xHxH", "{H : H >= 32}", "{H : H >= 32, H = 32m}"),
    ("resnet-like", small_resnet, "3xHxH", "{H : H >= 1}", None),
    ("lenet-like", _lenet_like, "1xHxH", "{H : 32 <= H <= 35}", "{32}"),
    ("residual-even", _mismatched_residual, "4xHx8", "{3} ∪ {H : H >= 2, H = 2m}", "{H : H >= 2, H = 2m}"),
]


@pytest.mark.parametrize("build, shape, accepted, full", [c[1:] for c in NETS], ids=[c[0] for c in NETS])
def test_input_sizes_by_brute_force(build, shape, accepted, full):
    model = build()
    sizes = input_sizes(model, shape)
    covering = input_sizes(model, shape, full_coverage=True)
    assert str(sizes) == accepted
    if full is not None:
        assert str(covering) == full
    c, _, w = shape.split("x")
    for n in range(1, 300):
        concrete = (int(c), n, n if w == "H" else int(w))
        assert (n in sizes) == _accepts(model, concrete), n
        assert (n in covering) == _accepts(model, concrete, full=True), n


@pytest.mark.parametrize("name, accepted, full", [("vgg16", "{H : H >= 32}", "{H : H >= 32, H = 32m}"),
                                                  ("alexnet", "{H : 227 <= H <= 258}", "{227}")],
                         ids=["vgg16", "alexnet"])
def test_zoo_input_sizes(name, accepted, full):
    if not hasattr(cnncalc, "model"):
        pytest.skip("model zoo not available")
    model = cnncalc.model(name)
    assert str(input_sizes(model, "3xHxH")) == accepted
    assert str(input_sizes(model, "3xHxH", full_coverage=True)) == full


def test_input_sizes_needs_one_unknown():
    with pytest.raises(ShapeError, match="name exactly one unknown size"):
        input_sizes(small_vgg(), "3xHxW")


@pytest.mark.parametrize("build, shape, output", [(small_vgg, "3xHxH", 7), (small_resnet, "3xHxH", 7),
                                                  (_mismatched_residual, "4xHx8", 4)],
                         ids=["vgg-7", "resnet-7", "residual-4"])
def test_input_for_output_by_brute_force(build, shape, output):
    model = build()
    found = input_for_output(model, shape, output)
    c, _, w = shape.split("x")
    brute = []
    for n in range(1, 400):
        try:
            report = cnncalc.analyze(model, (int(c), n, n if w == "H" else int(w)), warn=False)
        except ShapeError:
            continue
        maps = [r.output_shape for r in report.layers if len(r.output_shape) == 3 and r.type != "AdaptiveAvgPool2d"]
        if maps[-1][1] == output:
            brute.append(n)
    assert found.values(400) == brute


def test_input_for_output_of_vgg_is_224_to_255():
    assert str(input_for_output(small_vgg(), "3xHxH", 7)) == "{H : 224 <= H <= 255}"


# --- kernel/stride settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("n, out", [(227, 55), (224, 112), (32, 16), (13, 1), (9, 9)], ids=str)
def test_conv_settings_by_brute_force(n, out):
    settings = {(c.kernel_size, c.padding): c.strides for c in conv_settings(n, out, max_kernel=7)}
    for k in range(1, 8):
        for p in range(0, k // 2 + 1):
            brute = [s for s in range(1, 2 * n + 5) if _out(n, k, s, p) == out]
            got = settings[(k, p)].values(2 * n + 4) if (k, p) in settings else []
            assert got == brute, (k, p)


def test_conv_settings_alexnet_first_layer():
    assert "k=11, p=0: s in {4}" in [str(c) for c in conv_settings(227, 55)]


def test_one_entry_point_like_the_command_line():
    assert cnncalc.solve("padding", 3, stride=2) == cnncalc.same_padding(3, stride=2)
    answer = cnncalc.solve("padding", kernel_size=3, stride=2, size=32, output=16)
    assert answer == cnncalc.padding_for(32, 16, 3, stride=2) and str(answer.paddings) == "{1}"
    assert str(cnncalc.solve("input", cnncalc.model("vgg16"), "3xHxH", full_coverage=True)) == "{H : H >= 32, H = 32m}"
    assert str(cnncalc.solve("output", cnncalc.model("resnet18"), "3xHxH", 7)) == "{H : 193 <= H <= 224}"
    assert cnncalc.solve("conv", 227, 55) == cnncalc.conv_settings(227, 55)
    with pytest.raises(cnncalc.ShapeError, match="unknown question 'stride'"):
        cnncalc.solve("stride", 3)


def test_tensorflow_same_padding_for_one_size():
    from cnncalc.solve import tf_same_padding

    answer = tf_same_padding(32, 3, 2)
    assert answer.padding == 1
    assert str(answer) == ("padding 'same' (TensorFlow): total max((ceil(n/s) - 1)*s + k_eff - n, 0) = 1 for n = 32: "
                           "0 before, 1 after, output ceil(32/2) = 16")
    assert tf_same_padding(225, 3, 2).padding == 2


@pytest.mark.parametrize("answer, text", [
    (lambda: cnncalc.same_padding(3, 2, lang="zh"), "p = (k_eff - 1)/2 = (3 - 1)/2 = 1：对任意 n 输出为 ceil(n/2)"),
    (lambda: cnncalc.same_padding(4, lang="zh"),
     "没有对称的填充能对任意 n 输出 n：2p = k_eff - 1 = 3 是奇数（像 padding='same' 那样，前面填充 1，后面填充 2）"),
    (lambda: cnncalc.padding_for(227, 55, 11, 4, lang="zh"), "{p : 0 <= p <= 1} 把 227 变为 55（卷积核 11，步长 4）"),
    (lambda: cnncalc.padding_for(8, 20, 3, lang="zh"), "{7} 把 8 变为 20（卷积核 3，步长 1）"),
], ids=["same-stride", "no-symmetric", "range", "one"])
def test_solve_speaks_chinese(answer, text):
    assert str(answer()) == text


def test_sets_and_settings_in_chinese_and_latex():
    from cnncalc.solve import SizeSet, conv_settings

    assert SizeSet.empty("H").text("zh") == "{}（无解）"
    assert SizeSet(1, 16, 16, (1, 3), "H").text("zh") == "{1, 3}"
    assert SizeSet(1, None, 16, (1, 3, 5), "H").text("zh") == "{H : H >= 1, H mod 16 ∈ {1, 3, 5}}"
    assert SizeSet(32, None, 32, (0,), "H")._repr_latex_() == r"$\{H : H \ge 32,\ H = 32m\}$"
    assert [s.text("zh") for s in conv_settings(32, 16, max_kernel=2)] == ["k=1，p=0：s ∈ {2}", "k=2，p=0：s ∈ {2}"]


def test_solving_reads_a_channels_last_shape_when_told():
    vgg = cnncalc.model("vgg16")
    assert cnncalc.input_sizes(vgg, "HxHx3", layout="hwc", full_coverage=True) == cnncalc.input_sizes(vgg, "3xHxH", full_coverage=True)
    assert str(cnncalc.input_for_output(vgg, "HxHx3", 7, layer="features.30", layout="hwc")) == "{H : 224 <= H <= 255}"
