"""The model zoo through the public API: names, published figures, hand-derived counts, options, errors.

The torchvision-named networks are also checked row by row against real torchvision in
test_zoo_golden.py; this file holds what the golden file cannot: the paper AlexNet, LeNet-5, the
tutorial networks, the options and the registry's behaviour.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import ShapeError
from cnncalc.zoo import describe


def analyze(network, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnncalc.ShapeWarning)  # stride-2 1x1 shortcuts skip pixels by design
        return cnncalc.analyze(network, shape)


def run(name, **options):
    return analyze(cnncalc.model(name, **options), describe(name).default_input)


def row(report, name):
    (found,) = [r for r in report.layers if r.name == name]
    return found


# --- the registry -------------------------------------------------------------------------------


def test_models_lists_the_contract_names_sorted():
    contract = {
        "lenet5", "alexnet", "alexnet_torchvision", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
        "vgg16_bn", "vgg19_bn", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "densenet121", "densenet169", "densenet201", "mobilenet_v2", "squeezenet1_0", "squeezenet1_1",
        "cifar_net", "simple_cnn", "mnist_cnn",
    }
    extensions = {"mobilenet_v3_large", "mobilenet_v3_small",  # beyond the contract's list
                  "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3"}
    transformers = {"convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
                    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14",
                    "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b", "maxvit_t"}
    torchvision_more = {"resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
                        "densenet161", "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
                        "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
                        "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
                        "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
                        "inception_v3", *(f"regnet_{kind}_{flops}" for kind in "xy"
                                          for flops in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
                        "regnet_y_128gf"}
    segmentation = {"fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                    "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"}
    video = {"r3d_18", "mc3_18", "r2plus1d_18", "s3d"}
    assert cnncalc.models() == sorted(contract | extensions | transformers | torchvision_more | segmentation | video)


def _expected_output(name, input_shape, num_classes):
    """What a network returns: class scores, or for segmentation a score map of the input's size."""
    if describe(name).family == "segmentation":
        return (num_classes, *input_shape[1:])
    return (num_classes,)


@pytest.mark.parametrize("name", cnncalc.models())
def test_every_name_analyses_at_its_default_input(name):
    entry = describe(name)
    report = run(name)
    assert report.input_shape == entry.default_input
    assert report.output_shape == _expected_output(name, entry.default_input, entry.options["num_classes"])
    assert report.to_dict()["model"] == name
    assert entry.name == name and entry.description.strip()
    assert callable(getattr(importlib.import_module(f"cnncalc.zoo.{entry.family}"), name))


@pytest.mark.parametrize(
    ("name", "default_input"),
    [("alexnet", (3, 227, 227)), ("resnet50", (3, 224, 224)), ("lenet5", (1, 32, 32)),
     ("cifar_net", (3, 32, 32)), ("simple_cnn", (3, 32, 32)), ("mnist_cnn", (1, 28, 28))],
    ids=lambda v: str(v),
)
def test_default_inputs(name, default_input):
    assert describe(name).default_input == default_input


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("alexnet", {"num_classes": 1000, "in_channels": 3, "groups": 1, "dropout": 0.5}),
        ("vgg16", {"batch_norm": False, "num_classes": 1000, "in_channels": 3, "dropout": 0.5}),
        ("vgg16_bn", {"batch_norm": True, "num_classes": 1000, "in_channels": 3, "dropout": 0.5}),
        ("lenet5", {"num_classes": 10, "in_channels": 1, "c3_table": False}),
        ("mobilenet_v2", {"num_classes": 1000, "in_channels": 3, "width_mult": 1.0, "round_nearest": 8, "dropout": 0.2}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_describe_lists_the_options_and_their_defaults(name, options):
    assert describe(name).options == options


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [("resnet-18", "resnet18"), ("alexnett", "alexnet"), ("VGG16", "vgg16"), ("mobilenetv2", "mobilenet_v2")],
    ids=["dash", "typo", "case", "underscore"],
)
def test_unknown_name_suggests_close_names(typed, suggestion):
    with pytest.raises(ShapeError, match=rf"unknown model '{typed}': did you mean .*\b{suggestion}\b"):
        cnncalc.model(typed)


def test_unknown_name_without_close_match_points_to_the_zoo_list():
    """One short line (the zoo's 95 names would make it thousands of characters): where to look instead."""
    with pytest.raises(ShapeError, match=r"unknown model 'transformer': not one of the zoo's \d+ networks "
                                         r"\(cnncalc models lists them\), nor a model file") as raised:
        describe("transformer")
    assert len(str(raised.value)) < 300


def test_unknown_option_names_it_and_the_accepted_ones():
    with pytest.raises(ShapeError, match=r"resnet18: unknown option 'classes'; accepted options: num_classes=1000, in_channels=3"):
        cnncalc.model("resnet18", classes=10)


def test_importing_cnncalc_builds_nothing_and_the_zoo_needs_neither_sympy_nor_numpy():
    code = (
        "import sys, cnncalc\n"
        "assert not [m for m in sys.modules if m.startswith('cnncalc.zoo.')], 'a zoo family was imported'\n"
        "for name in cnncalc.models():\n"
        "    cnncalc.analyze(cnncalc.model(name), cnncalc.zoo.describe(name).default_input, warn=False)\n"
        "assert 'sympy' not in sys.modules and 'numpy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- AlexNet --------------------------------------------------------------------------------------


def test_alexnet_paper_single_tower():
    report = run("alexnet")
    assert report.params == 62_378_344
    first = report.layers[0]
    assert (first.name, first.type, first.output_shape, first.params) == ("features.0", "Conv2d", (96, 55, 55), 34_944)
    assert first.macs == 96 * 55 * 55 * 3 * 11 * 11
    assert [r.output_shape for r in report.layers if r.type == "MaxPool2d"] == [(96, 27, 27), (256, 13, 13), (256, 6, 6)]
    assert [r.type for r in report.layers].count("LocalResponseNorm") == 2


def test_alexnet_two_gpu_groups():
    """groups=2 halves the kernels' depth of conv2, conv4 and conv5 (the paper's two-GPU split)."""
    one, two = run("alexnet"), run("alexnet", groups=2)
    assert two.params == 60_965_224
    saved = {r.name: a.params - r.params for a, r in zip(one.layers, two.layers) if a.params != r.params}
    assert saved == {"features.4": 48 * 256 * 25, "features.10": 192 * 384 * 9, "features.12": 192 * 256 * 9}
    # each saved weight was applied at every output pixel: conv2 at 27x27, conv4 and conv5 at 13x13
    assert one.macs - two.macs == 27 * 27 * saved["features.4"] + 13 * 13 * (saved["features.10"] + saved["features.12"])


def test_alexnet_groups_must_divide_channels():
    with pytest.raises(ShapeError, match=r"^alexnet\(groups=3\): Conv2d: out_channels \(256\) must be divisible by groups \(3\)"):
        cnncalc.model("alexnet", groups=3)


def test_alexnet_torchvision_figures():
    report = run("alexnet_torchvision")
    assert (report.params, report.macs) == (61_100_840, 714_188_480)


# --- LeNet-5 --------------------------------------------------------------------------------------


def test_lenet5_full_connection():
    """C1 6*(25+1)=156, C3 16*(6*25+1)=2,416, C5 120*(16*25+1)=48,120, F6 84*121=10,164, output 10*85=850."""
    report = run("lenet5")
    params = {r.name: r.params for r in report.layers if r.params}
    assert params == {"c1": 156, "c3": 2_416, "c5": 48_120, "f6": 10_164, "output": 850}
    assert report.params == 61_706
    shapes = {r.name: r.output_shape for r in report.layers}
    assert (shapes["c1"], shapes["s2"], shapes["c3"], shapes["s4"], shapes["c5"]) == (
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1)
    )


def test_lenet5_c3_connection_table():
    """The paper's Table I: six C3 maps see 3 S2 maps, six see 4 adjacent, three see 4 non-adjacent,
    one sees all six: 6*3 + 6*4 + 3*4 + 6 = 60 kernels of 5x5, so C3 has 60*25 + 16 biases = 1,516
    params (the paper's figure) instead of 2,416, and LeNet-5 has 61,706 - 900 = 60,806."""
    report = run("lenet5", c3_table=True)
    c3 = row(report, "c3")
    assert (c3.type, c3.params, c3.output_shape) == ("ConnectionTableConv2d", 1_516, (16, 10, 10))
    assert c3.macs == 10 * 10 * 25 * 60
    assert report.params == 60_806


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([(0, 1)] * 15, r"table has 15 entries, one per output channel \(16\) expected"),
        ([(0, 6)] * 16, r"table entry 0 \(0, 6\) names a channel outside 0..5"),
        ([(1, 1)] * 16, r"table entry 0 \(1, 1\) must list distinct input channels"),
        ([()] * 16, r"table entry 0 \(\) must list distinct input channels"),
    ],
    ids=["length", "range", "duplicate", "empty"],
)
def test_connection_table_is_validated(table, message):
    with pytest.raises(ShapeError, match=message):
        cnncalc.ConnectionTableConv2d(6, 16, 5, table=table)


def test_full_connection_table_is_conv2d():
    table = [tuple(range(6))] * 16
    full, conv = cnncalc.ConnectionTableConv2d(6, 16, 5, table=table), cnncalc.Conv2d(6, 16, 5)
    a, b = cnncalc.analyze(full, "6x14x14"), cnncalc.analyze(conv, "6x14x14")
    assert (a.params, a.macs, a.output_shape) == (b.params, b.macs, b.output_shape)


# --- tutorial networks ------------------------------------------------------------------------------


def test_mnist_cnn():
    """conv 1->32 3x3: 320; conv 32->64: 18,496; dense 64*5*5->64: 102,464; dense 64->10: 650."""
    report = run("mnist_cnn")
    assert [r.params for r in report.layers if r.params] == [320, 18_496, 102_464, 650]
    assert report.params == 121_930
    assert row(report, "flatten").output_shape == (1600,)


def test_cifar_net():
    report = run("cifar_net")
    assert [r.params for r in report.layers if r.params] == [456, 2_416, 48_120, 10_164, 850]
    assert report.params == 62_006
    assert row(report, "flatten").output_shape == (400,)


def test_simple_cnn_by_hand():
    conv = 3 * 16 * 3 * 3 + 16  # 448
    fc1 = 16 * 16 * 16 * 128 + 128  # pooled 16x16x16 = 4,096 features
    fc2 = 128 * 10 + 10
    macs = 16 * 32 * 32 * 3 * 3 * 3 + 4096 * 128 + 128 * 10
    report = run("simple_cnn")
    assert (report.params, report.macs) == (conv + fc1 + fc2, macs) == (526_154, 967_936)
    assert row(report, "pool").output_shape == (16, 16, 16)


# --- torchvision-named networks: the published figures ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "gmacs"),
    [
        ("resnet18", 11_689_512, 1.814), ("resnet50", 25_557_032, 4.089), ("vgg16", 138_357_544, 15.47),
        ("densenet121", 7_978_856, 2.834), ("googlenet", 6_624_904, 1.498), ("mobilenet_v2", 3_504_872, 0.301),
        ("alexnet_torchvision", 61_100_840, 0.714), ("mobilenet_v3_large", 5_483_032, 0.217),
        ("mobilenet_v3_small", 2_542_856, 0.057), ("efficientnet_b0", 5_288_548, 0.386),
        ("resnext50_32x4d", 25_028_904, 4.230), ("wide_resnet50_2", 68_883_240, 11.40), ("densenet161", 28_681_000, 7.728),
        ("inception_v3", 23_834_568, 5.713), ("shufflenet_v2_x1_0", 2_278_604, 0.145), ("mnasnet1_0", 4_383_312, 0.314),
        ("regnet_x_400mf", 5_495_976, 0.414), ("regnet_y_16gf", 83_590_140, 15.91), ("efficientnet_b7", 66_347_960, 37.75),
        ("efficientnet_v2_s", 21_458_488, 8.366), ("lraspp_mobilenet_v3_large", 3_221_538, 2.086),
        ("r3d_18", 33_371_472, 40.70), ("mc3_18", 11_695_440, 43.34), ("r2plus1d_18", 31_505_325, 40.52),
        ("s3d", 8_320_048, 17.98),
    ],
    ids=lambda v: str(v),
)
def test_published_figures(name, params, gmacs):
    report = run(name)
    assert report.params == params
    assert round(report.macs / 1e9, 3 if gmacs < 10 else 2) == gmacs


@pytest.mark.parametrize(
    ("name", "published_params", "published_gmacs", "aux_in"),
    [("fcn_resnet50", 35_322_218, 152.717, 1024), ("deeplabv3_resnet101", 60_996_202, 258.743, 1024),
     ("deeplabv3_mobilenet_v3_large", 11_029_328, 10.452, 40)],
    ids=lambda v: str(v),
)
def test_segmentation_published_figures_add_the_auxiliary_head(name, published_params, published_gmacs, aux_in):
    """torchvision publishes its segmentation weights with the auxiliary FCNHead (on layer3, 1024 channels,
    or MobileNetV3's features.4, 40 channels, both at 1/8 of 520); the zoo builds aux_loss=False."""
    from cnncalc.zoo.segmentation import fcn_head

    report, aux = run(name), analyze(fcn_head(aux_in, 21), (aux_in, 65, 65))
    assert report.params + aux.params == published_params
    assert round((report.macs + aux.macs) / 1e9, 3) == published_gmacs


def test_video_macs_follow_the_frames():
    """R3D-18 halves time in stages 2-4 like space: every convolution of 8 frames costs half of 16, of 32
    twice; the classifier (Linear(512, 400) after the global pool) costs 204,800 whatever the clip."""
    fc = 512 * 400
    conv = {t: analyze(cnncalc.model("r3d_18"), (3, t, 112, 112)).macs - fc for t in (8, 16, 32)}
    assert conv[16] == 2 * conv[8] and conv[32] == 2 * conv[16] == 81_392_697_344


def test_resnet_rows_read_like_torchvision():
    names = [r.name for r in run("resnet50").layers[4:20]]
    assert names == [
        "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu", "layer1.0.conv2", "layer1.0.bn2", "layer1.0.relu",
        "layer1.0.conv3", "layer1.0.bn3", "layer1.0.downsample.0", "layer1.0.downsample.1", "layer1.0",
        "layer1.0.relu", "layer1.1.conv1", "layer1.1.bn1", "layer1.1.relu", "layer1.1.conv2",
    ]
    assert row(run("resnet50"), "layer1.0").type == "Add"


def test_densenet_rows_read_like_torchvision():
    """A dense layer is Concat(its input, new features): the pass-through branch has no row."""
    report = run("densenet121")
    layer = [r for r in report.layers if r.name.startswith("features.denseblock1.denselayer2")]
    assert [(r.name.rsplit(".", 1)[-1], r.type) for r in layer] == [
        ("norm1", "BatchNorm2d"), ("relu1", "ReLU"), ("conv1", "Conv2d"),
        ("norm2", "BatchNorm2d"), ("relu2", "ReLU"), ("conv2", "Conv2d"), ("denselayer2", "Concat"),
    ]
    assert (layer[0].input_shape, layer[-1].output_shape) == ((96, 56, 56), (128, 56, 56))


def test_symbolic_input_substitutes_to_the_concrete_answer():
    concrete = run("resnet18")
    symbolic = analyze(cnncalc.model("resnet18"), "3xHxW")
    values = {s: 224 for s in symbolic.macs.free_symbols}
    assert int(symbolic.macs.subs(values)) == concrete.macs


# --- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", cnncalc.models())
def test_num_classes_changes_only_the_classifier(name):
    base = run(name)
    default = describe(name).options["num_classes"]
    other = run(name, num_classes=7)
    assert other.output_shape == _expected_output(name, describe(name).default_input, 7)
    # the classifier: the rows whose parameters change (LR-ASPP has two, low_classifier and high_classifier)
    changed = [i for i, (a, b) in enumerate(zip(base.layers, other.layers)) if a.params != b.params]
    assert changed and len(base.layers) == len(other.layers)
    first = changed[0]
    before = lambda report: [(r.name, r.type, r.output_shape, r.params, r.macs) for r in report.layers[:first]]  # noqa: E731
    assert before(other) == before(base)
    assert all(not r.params for r in base.layers[changed[-1] + 1:])  # nothing learnable after it
    # weights and bias of the classifier scale with the number of classes: (fan_in + 1) * classes
    for i in changed:
        assert base.layers[i].params * 7 == other.layers[i].params * default


@pytest.mark.parametrize(
    ("name", "message"),
    [("resnet18", r"Linear: out_features must be positive"), ("squeezenet1_0", r"Conv2d: out_channels must be positive, got 0")],
    ids=["linear-head", "conv-head"],
)
def test_impossible_option_values_name_the_model_and_call(name, message):
    with pytest.raises(ShapeError, match=rf"^{name}\(num_classes=0\): {message}"):
        cnncalc.model(name, num_classes=0)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5000))
def test_num_classes_is_linear_in_params(classes):
    """ResNet-18's fc is Linear(512, classes): 512 weights and one bias per class."""
    assert cnncalc.model("resnet18", num_classes=classes).params == 11_689_512 + 513 * (classes - 1000)


@pytest.mark.parametrize(
    ("name", "stem_params_per_channel"),
    [("resnet18", 64 * 7 * 7), ("vgg16", 64 * 3 * 3), ("alexnet", 96 * 11 * 11), ("lenet5", 6 * 5 * 5),
     ("mobilenet_v2", 32 * 3 * 3), ("densenet121", 64 * 7 * 7), ("googlenet", 64 * 7 * 7),
     ("inception_v3", 32 * 3 * 3), ("regnet_y_400mf", 32 * 3 * 3), ("shufflenet_v2_x0_5", 24 * 3 * 3),
     ("mnasnet0_5", 16 * 3 * 3), ("efficientnet_v2_s", 24 * 3 * 3), ("deeplabv3_resnet50", 64 * 7 * 7),
     ("lraspp_mobilenet_v3_large", 16 * 3 * 3), ("r3d_18", 64 * 3 * 7 * 7), ("r2plus1d_18", 45 * 7 * 7),
     ("s3d", 64 * 7 * 7)],
    ids=lambda v: str(v),
)
def test_in_channels_changes_the_stem(name, stem_params_per_channel):
    channels = describe(name).default_input[0]
    base = cnncalc.model(name).params
    assert cnncalc.model(name, in_channels=channels + 2).params - base == 2 * stem_params_per_channel


def test_replace_stride_with_dilation_keeps_the_weights_and_the_map():
    """The segmentation backbones' option: stages 3 and 4 dilate instead of striding (output stride 8)."""
    plain, dilated = run("resnet50"), run("resnet50", replace_stride_with_dilation=[False, True, True])
    assert dilated.params == plain.params
    assert row(dilated, "layer4.2.conv3").output_shape == (2048, 28, 28)
    assert row(dilated, "layer4.0.conv2").layer.dilation == (2, 2) and row(dilated, "layer4.1.conv2").layer.dilation == (4, 4)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("resnet18", (False, False, True), r"Dilation > 1 not supported in BasicBlock"),
     ("resnet50", (True, True), r"replace_stride_with_dilation should be None or a 3-element tuple, got \(True, True\)")],
    ids=["basic-block", "length"],
)
def test_replace_stride_with_dilation_refusals(name, value, message):
    with pytest.raises(ShapeError, match=rf"^{name}\(replace_stride_with_dilation=.*\): {message}"):
        cnncalc.model(name, replace_stride_with_dilation=value)


def test_vgg_batch_norm_option_is_the_bn_model():
    assert cnncalc.model("vgg16", batch_norm=True) == cnncalc.model("vgg16_bn")
    assert cnncalc.model("vgg11_bn", batch_norm=False) == cnncalc.model("vgg11")
    assert cnncalc.model("vgg16_bn").buffers == 2 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512)


@pytest.mark.parametrize(
    ("width_mult", "stem", "last"),
    [(0.5, 16, 1280), (0.75, 24, 1280), (1.0, 32, 1280), (1.4, 48, 1792)],
    ids=["0.5", "0.75", "1.0", "1.4"],
)
def test_mobilenet_width_mult(width_mult, stem, last):
    """Channels are rounded to multiples of 8 (torchvision's _make_divisible); the head never narrows."""
    report = run("mobilenet_v2", width_mult=width_mult)
    assert row(report, "features.0.0").output_shape[0] == stem
    assert row(report, "features.18.0").output_shape[0] == last
    assert row(report, "classifier.1").params == (last + 1) * 1000


def test_mobilenet_width_mult_must_be_positive():
    with pytest.raises(ShapeError, match=r"^mobilenet_v2\(width_mult=0\): width_mult must be a positive number, got 0"):
        cnncalc.model("mobilenet_v2", width_mult=0)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_torchvision", "vgg13", "googlenet", "squeezenet1_1", "mobilenet_v2"])
def test_dropout_option(name):
    report = run(name, dropout=0.25)
    assert {r.layer.p for r in report.layers if r.type == "Dropout"} == {0.25}
    with pytest.raises(ShapeError, match=r"dropout probability has to be between 0 and 1, but got 1.5"):
        cnncalc.model(name, dropout=1.5)


def test_densenet_drop_rate_adds_dropout_rows_only():
    base, dropped = run("densenet121"), run("densenet121", drop_rate=0.1)
    extra = [r for r in dropped.layers if r.type == "Dropout"]
    assert len(extra) == 6 + 12 + 24 + 16
    assert extra[0].name == "features.denseblock1.denselayer1.dropout"
    assert (dropped.params, dropped.macs) == (base.params, base.macs)


def test_unknown_name_in_chinese():
    from click.testing import CliRunner

    from cnncalc.cli import cli

    out = CliRunner().invoke(cli, ["transformer", "--lang", "zh"]).output
    assert out.startswith("错误：未知的模型 'transformer'：不在模型库的 ") and "cnncalc models" in out
    assert "未知的模型 'resnet'：是不是 resnet50" in CliRunner().invoke(cli, ["resnet", "--lang", "zh"]).output
