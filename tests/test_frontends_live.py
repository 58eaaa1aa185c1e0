"""from_torch: live torch modules converted to cnncalc, compared with hand-built networks, the zoo and the source reader."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import cnncalc as c  # noqa: E402
from cnncalc import ShapeError  # noqa: E402
from cnncalc.frontends.live import convert_layer  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def numbers(report):
    return [(r.type, r.output_shape, r.params, r.macs) for r in report.layers]


def quiet_analyze(model, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", c.ShapeWarning)
        return c.analyze(model, shape)


LAYERS = [
    ("conv", nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2, bias=False), (4, 9, 11)),
    ("conv_same", nn.Conv2d(4, 6, 4, padding="same"), (4, 9, 11)),
    ("deconv", nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (4, 5, 6)),
    ("maxpool", nn.MaxPool2d(3, 2, 1, ceil_mode=True), (4, 10, 11)),
    ("avgpool", nn.AvgPool2d(3, 2, 1, count_include_pad=False), (4, 10, 11)),
    ("adaptive_avg", nn.AdaptiveAvgPool2d((2, 3)), (4, 10, 11)),
    ("adaptive_max", nn.AdaptiveMaxPool2d(3), (4, 10, 11)),
    ("bn", nn.BatchNorm2d(4, affine=False), (4, 5, 5)),
    ("lrn", nn.LocalResponseNorm(3), (4, 5, 5)),
    ("linear", nn.Linear(7, 3), (7,)),
    ("leaky", nn.LeakyReLU(0.2), (4, 5, 5)),
    ("softmax", nn.Softmax(dim=1), (7,)),
    ("flatten", nn.Flatten(), (4, 5, 5)),
    ("pad", nn.ZeroPad2d((1, 2, 0, 3)), (4, 5, 5)),
    ("dropout", nn.Dropout(0.3), (4, 5, 5)),
    ("upsample", nn.Upsample(scale_factor=(2, 1.5), mode="bilinear"), (4, 5, 6)),
    ("upsample_size", nn.Upsample(size=(7, 9)), (4, 5, 6)),
    ("upsampling_bilinear", nn.UpsamplingBilinear2d(scale_factor=3), (4, 5, 6)),
]


@pytest.mark.parametrize("name,module,shape", LAYERS, ids=[x[0] for x in LAYERS])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # torch's own note
def test_each_layer_converts_with_torch_numbers(name, module, shape):
    layer = convert_layer(module)
    assert layer.params == sum(p.numel() for p in module.parameters())
    assert layer.buffers == sum(b.numel() for b in module.buffers() if b.dtype.is_floating_point)
    with torch.no_grad():
        expected = tuple(module.eval()(torch.zeros((1,) + shape)).shape[1:])
    assert quiet_analyze(layer, shape).output_shape == expected


def test_sequential_converts_to_the_equal_hand_built_network():
    module = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    hand = c.Sequential(c.Conv2d(3, 8, 3), c.BatchNorm2d(8), c.ReLU(), c.Flatten(), c.Linear(288, 10))
    model = c.from_torch(module)
    assert model == hand and model.unconverted == ()


def test_frozen_parameters_are_not_trainable():
    module = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(4, 2))
    module[0].requires_grad_(False)
    report = c.analyze(c.from_torch(module), (3, 6, 6))
    assert (report.params, report.trainable_params) == (224 + 10, 10)


def fixture_class(path, name):
    """One class of a fixture file, defined with torch's names (the file's other code is not run)."""
    import ast

    tree = ast.parse((FIXTURES / path).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    namespace = {"torch": torch, "nn": nn, "F": F}
    exec(compile(ast.Module([node], []), str(FIXTURES / path), "exec"), namespace)  # our own fixture
    return namespace[name]


CifarNet = fixture_class("cifar_net.py", "Net")  # the seeds' CIFAR Net; its file also loads CIFAR-10


def test_traced_cifar_net_equals_hand_built_and_zoo():
    report = c.analyze(c.from_torch(CifarNet(), trace=True), "3x32x32")
    pool = c.MaxPool2d(2, 2)
    hand = c.Sequential(c.Conv2d(3, 6, 5), c.ReLU(), pool, c.Conv2d(6, 16, 5), c.ReLU(), pool, c.Reshape(-1, 400),
                        c.Linear(400, 120), c.ReLU(), c.Linear(120, 84), c.ReLU(), c.Linear(84, 10))
    assert numbers(report) == numbers(c.analyze(hand, "3x32x32"))
    assert report.params == sum(p.numel() for p in CifarNet().parameters()) == c.analyze(c.model("cifar_net"), "3x32x32").params


def test_walking_a_custom_module_warns_and_lists_it():
    with pytest.warns(c.ShapeWarning, match=r"forward not read for Net \(Net\)"):
        model = c.from_torch(CifarNet(), trace=False)
    assert model.unconverted == ("Net (Net)",)


def test_unknown_modules_are_listed():
    module = nn.Sequential(nn.Conv2d(3, 4, 1), nn.LSTM(3, 3), nn.Sequential(nn.Unfold(2)))
    with pytest.raises(ShapeError, match=r"cannot convert 1 \(LSTM\): cnncalc has no such layer; 2.0 \(Unfold\)"):
        c.from_torch(module)


class Interp(nn.Module):
    def forward(self, x):
        return F.grid_sample(x, x)


def test_trace_refuses_unknown_functions():
    with pytest.raises(ShapeError, match=r"^grid_sample: grid_sample\(\) is not understood$"):
        c.from_torch(Interp(), trace=True)


# --- torchvision's ResNet-18 layout, written out (torchvision itself is not used in tests) ---------


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, inplanes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            stages.append(nn.Sequential(BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


@pytest.mark.parametrize("shape", ["3x224x224", "3x97x131"], ids=["224", "97x131"])
def test_traced_resnet18_gives_the_zoo_numbers(shape):
    converted = quiet_analyze(c.from_torch(ResNet18(), trace=True), shape)
    zoo = quiet_analyze(c.model("resnet18"), shape)
    assert (converted.params, converted.buffers, converted.macs, converted.output_shape) == (
        zoo.params, zoo.buffers, zoo.macs, zoo.output_shape)
    assert converted.params == 11689512
    leaf = [n for n in numbers(converted) if n[0] not in ("Add",)]
    assert leaf == [n for n in numbers(zoo) if n[0] not in ("Add",)]
    merges = [r.name for r in converted.layers if r.type == "Add"]
    assert merges[:2] == ["layer1.0", "layer1.1"]


# --- the static source reader agrees with torch.fx on the same files ------------------------------

SOURCES = [
    ("resnet_cifar.py", lambda ns: ns["ResNet18"](), None, "3x32x32"),
    ("inception_cat.py", lambda ns: ns["TinyGoogLeNet"](), None, "3x28x28"),
    ("simple_cnn.py", lambda ns: ns["SimpleCNN"](), None, "3x32x32"),
    ("densenet_cat.py", lambda ns: ns["TinyDenseNet"](), None, "3x32x32"),
    ("upsample_net.py", lambda ns: ns["Net"](), None, "3x16x16"),
    ("se_net.py", lambda ns: ns["Net"](), None, "3x16x16"),
]


@pytest.mark.parametrize("path,make,cls,shape", SOURCES, ids=[s[0] for s in SOURCES])
def test_source_reader_matches_fx_trace(path, make, cls, shape):
    namespace = runpy.run_path(str(FIXTURES / path))  # our own fixture, run only here to get a live module
    module = make(namespace)
    traced = quiet_analyze(c.from_torch(module, trace=True), shape)
    static = quiet_analyze(c.from_source(FIXTURES / path, cls="ResNet18" if path.startswith("resnet") else None), shape)
    assert numbers(static) == numbers(traced)
    assert static.params == sum(p.numel() for p in module.parameters())
    with torch.no_grad():
        out = module.eval()(torch.zeros((1,) + c.parse_shape(shape)))
    assert static.output_shape == tuple(out.shape[1:])


# --- torchvision's DenseNet layout (tests/fixtures/densenet_cat.py): every layer concatenates the whole list ---


def test_traced_densenet121_gives_the_zoo_numbers():
    namespace = runpy.run_path(str(FIXTURES / "densenet_cat.py"))
    densenet121 = namespace["TinyDenseNet"](growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                                           bn_size=4, num_classes=1000)
    converted = quiet_analyze(c.from_torch(densenet121, trace=True), "3x224x224")
    zoo = quiet_analyze(c.model("densenet121"), "3x224x224")
    assert converted.params == 7978856
    assert (converted.params, converted.buffers, converted.macs, converted.output_shape) == (
        zoo.params, zoo.buffers, zoo.macs, zoo.output_shape)
    assert [n for n in numbers(converted) if n[0] != "Concat"] == [n for n in numbers(zoo) if n[0] != "Concat"]
    assert sum(r.type == "Concat" for r in converted.layers) == sum(r.type == "Concat" for r in zoo.layers) == 58


# --- live modules by default: cnncalc.analyze(module, shape) follows the traced data flow -------------


def torch_numbers(module, shape):
    from torch.utils.flop_counter import FlopCounterMode

    module = module.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.zeros((1,) + c.parse_shape(shape)))
    if isinstance(out, dict):
        out = out["out"]
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


def test_analyze_accepts_a_torch_module_and_follows_data_flow_not_module_order():
    """torchvision registers `downsample` after the convolutions it runs beside: module order would feed
    layer2.0.downsample.0 the 128 channels of conv2 (issue 12); the data flow gives torch's numbers."""
    module = ResNet18()
    report = quiet_analyze(module, "3x224x224")
    assert (report.params, report.macs, report.output_shape) == torch_numbers(module, "3x224x224")
    assert report.name == "ResNet18"
    assert c.from_torch(module).params == report.params  # from_torch's default traces too


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, as torchvision writes it (its module name marks it as that class)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, input):
        return input  # the identity at inference


StochasticDepth.__module__ = "torchvision.ops.stochastic_depth"


class MBConv(nn.Module):
    def __init__(self, channels, expand=4):
        super().__init__()
        hidden = channels * expand
        self.block = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.SiLU(),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels),
        )
        self.stochastic_depth = StochasticDepth(0.2, "row")

    def forward(self, input):
        result = self.block(input)
        result = self.stochastic_depth(result)
        result += input
        return result


class Segmenter(nn.Module):
    """FCN-style: the input size read from x.shape[-2:], an upsampling back to it, a dict output."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), MBConv(8),
                                      nn.Conv2d(8, 8, 3, stride=2, padding=1))
        self.classifier = nn.Conv2d(8, 5, 1)
        self.aux_classifier = nn.Conv2d(8, 5, 1)  # built, not used by forward (aux_loss off)

    def forward(self, x):
        input_shape = x.shape[-2:]
        features = self.backbone(x)
        out = self.classifier(features)
        out = F.interpolate(out, size=input_shape, mode="bilinear", align_corners=False)
        return {"out": out}


def test_dict_output_sizes_read_in_forward_and_stochastic_depth():
    module = Segmenter()
    with pytest.warns(c.ShapeWarning, match=r"Segmenter: 45 parameters of aux_classifier are not used by forward"):
        report = c.analyze(module, "3x40x56")
    params, macs, out = torch_numbers(module, "3x40x56")
    assert (report.params + 45, report.macs, report.output_shape) == (params, macs, out) == (params, macs, (5, 40, 56))
    assert "StochasticDepth" in [r.type for r in report.layers]
    assert [r.name for r in report.layers if r.type == "Add"] == ["backbone.2"]


class Scaled(nn.Module):
    """Parameters read directly in forward: SSD's scale_weight, a class token, a position embedding."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.scale_weight = nn.Parameter(torch.ones(4, 1, 1))
        self.class_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embedding = nn.Parameter(torch.zeros(1, 17, 4))

    def forward(self, x):
        x = self.conv(x) * self.scale_weight
        x = x.flatten(2).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return (x + self.pos_embedding)[:, 0]


def test_parameters_read_in_forward_are_counted():
    module = Scaled()
    report = c.analyze(module, "3x4x4")
    assert (report.params, report.macs, report.output_shape) == torch_numbers(module, "3x4x4") == (16 + 4 + 4 + 68, 192, (4,))
    assert [(r.name, r.type, r.params) for r in report.layers if r.type == "ParameterOp"] == [
        ("scale_weight", "ParameterOp", 4), ("class_token", "ParameterOp", 4), ("pos_embedding", "ParameterOp", 68)]


class Weighted(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4, 3, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.weight)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        return x, x.flatten(1)


class WideLinear(nn.Linear):
    """A subclass with an extra parameter and torch's own forward: its count differs from nn.Linear's."""

    def __init__(self):
        super().__init__(4, 2)
        self.extra = nn.Parameter(torch.zeros(3))


NOT_ACCOUNTED = [
    ("parameter_in_forward", Weighted(), "3x4x4",
     r"^weight \(parameter of 12 values, read in forward\) is used by conv2d\(\): cnncalc cannot account for it there$"),
    ("two_outputs", TwoHeads(), "3x4x4", r"^TwoHeads.forward must return one tensor \(it returns a tuple of 2 items\)$"),
    ("subclass_parameters", nn.Sequential(WideLinear()), "4",
     r"^0 \(WideLinear\): cnncalc counts 10 parameters, torch has 13: not accounted for$"),
]


@pytest.mark.parametrize("name,module,shape,message", NOT_ACCOUNTED, ids=[n[0] for n in NOT_ACCOUNTED])
def test_what_cannot_be_accounted_for_is_an_error(name, module, shape, message):
    with pytest.raises(ShapeError, match=message):
        c.analyze(module, shape)


def test_a_single_layer_module():
    report = c.analyze(nn.Conv2d(3, 8, 3), "3x8x8")
    assert (report.params, report.output_shape) == (224, (8, 6, 6))


GOLDEN = Path(__file__).parent / "golden" / "live_torchvision.json"


def test_golden_live_torchvision_agrees_with_the_zoo():
    """tools/live_torchvision.py recorded torchvision's own networks through the live path; where the
    zoo has the same network, its numbers are the live path's (and torch's)."""
    import json

    golden = json.loads(GOLDEN.read_text())
    checked = 0
    zoo_names = {"alexnet": "alexnet_torchvision"}  # the zoo's alexnet is the 2012 paper's layout
    for name, entry in golden.items():
        zoo_name = zoo_names.get(name, name)
        if name.startswith("_") or not entry["exact"] or zoo_name not in c.models():
            continue
        report = quiet_analyze(c.model(zoo_name), tuple(entry["input_shape"]))
        assert (report.params, report.macs, list(report.output_shape)) == (
            entry["torch"]["params"], entry["torch"]["macs"], entry["torch"]["output_shape"]), name
        checked += 1
    assert checked >= 20
