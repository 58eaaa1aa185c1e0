"""Model files written the way public repositories write them (tests/fixtures/real, tests/fixtures/project),
one or more per root cause of issue 12, read statically and compared with torch's own numbers."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest

import cnncalc as c
from cnncalc import ShapeError
from cnncalc.frontends import analyze_file, load_file

REAL = Path(__file__).parent / "fixtures" / "real"
PROJECT = Path(__file__).parent / "fixtures" / "project"


def analyse(path, shape=None, cls=None, args=(), kwargs=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", c.ShapeWarning)
        return analyze_file(path, shape, cls=cls, args=args, kwargs=kwargs)


def definitions(path):
    """The torch namespace of a fixture: its imports of torch/math/functools/sys and its definitions,
    without the script code around them (data loading, training), which needs what tests do not have."""
    import torch  # noqa: F401

    tree = ast.parse(path.read_text())
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if all(n.split(".")[0] in ("torch", "math", "functools", "sys", "collections") for n in names):
                keep.append(node)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            keep.append(node)
    namespace = {"__name__": "fixture"}
    exec(compile(ast.Module(keep, []), str(path), "exec"), namespace)  # our own fixture, in tests only
    return namespace


def project_module(name):
    """A module of tests/fixtures/project imported as its package (torch truth for local imports)."""
    sys.path.insert(0, str(PROJECT))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(PROJECT))
        for key in [k for k in sys.modules if k.split(".")[0] in ("unet", "models")]:
            del sys.modules[key]


def torch_numbers(module, shape):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    module = module.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.zeros((1,) + c.parse_shape(shape)))
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


# (id, file, shape, cls, args, kwargs, how torch builds the same model)
SOURCES = [
    # 1. built-ins: int(nb_layers) of a float, `and/or`, hasattr, math.floor, sum, reversed(range), size unpacking
    ("wide_resnet_args", REAL / "wide_resnet.py", "3x32x32", "WideResNet", (16, 10), {"widen_factor": 4},
     lambda: definitions(REAL / "wide_resnet.py")["WideResNet"](16, 10, widen_factor=4)),
    ("preact_hasattr_floor_sum", REAL / "preact_builtins.py", "3x32x32", None, (), None,
     lambda: definitions(REAL / "preact_builtins.py")["PreActResNet18"]()),
    ("unet_reversed_range", REAL / "unet_reversed.py", "1x64x64", None, (), None,
     lambda: definitions(REAL / "unet_reversed.py")["UNet"]()),
    # 2. script code around the model: argparse/device in main(), module-level device and training loop
    ("mnist_main_script", REAL / "mnist_main.py", "1x28x28", None, (), None,
     lambda: definitions(REAL / "mnist_main.py")["Net"]()),
    # 3. operations in forward: log_softmax, x.size(2), reflection padding, partial norm layers
    ("efficientnet_size2", REAL / "efficientnet_size.py", "3x32x32", None, (), None,
     lambda: definitions(REAL / "efficientnet_size.py")["EfficientNetB0"]()),
    ("reflection_pad_generator", REAL / "resnet_generator.py", "3x64x64", None, (), None,
     lambda: definitions(REAL / "resnet_generator.py")["define_G"]()),
    ("channel_slices_chunk_shuffle", REAL / "shufflenet_split.py", "3x32x32", None, (), None,
     lambda: definitions(REAL / "shufflenet_split.py")["Net"]()),
    ("option_a_shortcut_pads_channels", REAL / "resnet_cifar_option_a.py", "3x32x32", "resnet20", (), None,
     lambda: definitions(REAL / "resnet_cifar_option_a.py")["resnet20"]()),
    ("option_a_resnet56", REAL / "resnet_cifar_option_a.py", "3x32x32", "resnet56", (), None,
     lambda: definitions(REAL / "resnet_cifar_option_a.py")["resnet56"]()),
    ("audio_m5_1d", REAL / "m5_audio.py", "1x8000", None, (), None,
     lambda: definitions(REAL / "m5_audio.py")["M5"]()),
    # 4. choosing the model: a test() helper, partial builders set at import, constructor arguments
    ("lenet_with_test_helper", REAL / "lenet_test_helper.py", "3x32x32", None, (), None,
     lambda: definitions(REAL / "lenet_test_helper.py")["LeNet"]()),
    ("partial_builder_small", REAL / "partial_builders.py", "3x32x32", "net_small", (), None,
     lambda: definitions(REAL / "partial_builders.py")["SimpleNet"](width=16, depth=2)),
    ("partial_builder_large", REAL / "partial_builders.py", "3x32x32", "net_large", (), None,
     lambda: definitions(REAL / "partial_builders.py")["SimpleNet"](width=64, depth=3)),
    ("vgg_as_test_builds_it", REAL / "vgg_cfg.py", "3x32x32", None, (), None,
     lambda: definitions(REAL / "vgg_cfg.py")["VGG"]("VGG11")),
    ("vgg16_by_args", REAL / "vgg_cfg.py", "3x32x32", "VGG", ("VGG16",), None,
     lambda: definitions(REAL / "vgg_cfg.py")["VGG"]("VGG16")),
    # 5. control flow in builders: continue, break, while repeat - 1
    ("continue_break_while", REAL / "mobilenet_control_flow.py", "3x32x32", None, (), None,
     lambda: definitions(REAL / "mobilenet_control_flow.py")["MobileNet"]()),
    # local imports: from .unet_parts import *, from models import * (a package of the project)
    ("unet_package_star_import", PROJECT / "unet" / "unet_model.py", "3x64x64", None, (), None,
     lambda: project_module("unet.unet_model").UNet()),
    ("train_script_imports_models", PROJECT / "train.py", "3x32x32", None, (), None,
     lambda: project_module("models").ResNet20()),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,path,shape,cls,args,kwargs,make", SOURCES, ids=[s[0] for s in SOURCES])
def test_real_files_give_torchs_numbers(name, path, shape, cls, args, kwargs, make):
    pytest.importorskip("torch")
    report = analyse(path, shape, cls, args, kwargs)
    assert (report.params, report.macs, report.output_shape) == torch_numbers(make(), shape)


@pytest.mark.torch
def test_vit_style_source_parameters_and_attention():
    """Class token, position embedding, x.flatten(2).transpose(1, 2), self-attention, x[:, 0]: torch's
    parameters and output; torch's flop counter (train mode, so attention is not fused) sees the
    projections and MLPs but not the two attention products per block, L*L*E MACs each."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    report = analyse(REAL / "vit_tiny.py", "3x32x32")
    module = definitions(REAL / "vit_tiny.py")["ViT"]().train()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.zeros(1, 3, 32, 32))
    tokens, dim, blocks = 17, 64, 2
    assert (report.params, report.output_shape) == (sum(p.numel() for p in module.parameters()), tuple(out.shape[1:]))
    assert report.macs == counter.get_total_flops() // 2 + blocks * 2 * tokens * tokens * dim
    assert [(r.name, r.type) for r in report.layers if r.type in ("ParameterOp", "MultiheadAttention", "Index")] == [
        ("cls_token", "ParameterOp"), ("pos_embed", "ParameterOp"), ("blocks.0.attn", "MultiheadAttention"),
        ("blocks.1.attn", "MultiheadAttention"), ("getitem", "Index")]


@pytest.mark.torch
def test_module_level_model_with_a_size_from_the_data():
    """D = Discriminator(num_classes=len(classes)).to(device), classes from a dataset: the model the
    script builds, with num_classes a symbol; at 10 classes it is torch's network."""
    report = analyse(REAL / "train_script.py", "3x32x32")
    assert report.name == "Discriminator" and str(report.output_shape[0]) == "num_classes"
    ten = {c.symbol("num_classes"): 10}
    expected = torch_numbers(definitions(REAL / "train_script.py")["Discriminator"](num_classes=10), "3x32x32")
    assert (report.params.subs(ten), report.macs.subs(ten)) == expected[:2]


KERAS = [
    # file, input (None: the file's own), params + buffers (Keras's "Total params"), buffers, output
    ("keras_mnist_convnet.py", None, 34_826, 0, (10,)),  # the Keras example's summary
    ("keras_cifar10_cnn.py", "3x32x32", 1_250_858, 0, (10,)),  # input_shape=x_train.shape[1:]: given on the command line
    ("keras_functional_xception.py", None, 82_145, 1_344, (1,)),  # functional API, layers.add branches
]


@pytest.mark.parametrize("path,shape,total,buffers,out", KERAS, ids=[k[0] for k in KERAS])
def test_keras_scripts_with_training_code(path, shape, total, buffers, out):
    report = analyse(REAL / path, shape)
    assert (report.params + report.buffers, report.buffers, report.output_shape) == (total, buffers, out)


def test_keras_functional_names_and_residual_adds():
    report = analyse(REAL / "keras_functional_xception.py")
    adds = [r for r in report.layers if r.type == "Add"]
    assert [(r.name, r.output_shape) for r in adds] == [("add", (64, 16, 16)), ("add_1", (128, 8, 8))]
    names = [r.name for r in report.layers]
    assert names[:3] == ["rescaling", "conv2d.pad", "conv2d"] and "separable_conv2d_4.pointwise" in names
    assert load_file(REAL / "keras_functional_xception.py").input_shape == (3, 64, 64)


def test_keras_input_shape_from_data_needs_one():
    with pytest.raises(ShapeError, match=r"keras_cifar10_cnn.py: the model does not give its input shape: pass one"):
        analyse(REAL / "keras_cifar10_cnn.py")


# --- messages: one line, at most 300 characters, the root cause by name ---------------------------

MESSAGES = [
    ("missing_depth", REAL / "wide_resnet.py", "3x32x32", None, (),
     r"wide_resnet.py:43: range\(int\(nb_layers\)\) needs the value of depth, a constructor argument without a "
     r"default: give it \(--args"),
    ("missing_builder_args", REAL / "partial_builders.py", "3x32x32", "_net", (),
     r"partial_builders.py:\d+: _net\(\) needs the argument 'width', 'depth': give it with --args"),
    ("several_partials", REAL / "partial_builders.py", "3x32x32", None, (),
     r"partial_builders.py: several models: net_small, net_large: choose one \(--class NAME\)$"),
    ("wrong_channels_in_a_helper_file", PROJECT / "unet" / "unet_model.py", "1x64x64", None, (),
     r"unet_parts.py:16: inc.double_conv.0 \(Conv2d\) given input 1x64x64: expects 3 input channels, receives 1"),
    ("bad_vgg_name", REAL / "vgg_cfg.py", "3x32x32", "VGG", ("VGG17",),
     r"vgg_cfg.py:17: cannot evaluate cfg\[vgg_name\]: 'VGG17'$"),
    ("unknown_layer_before_a_size", REAL / "unet_reversed.py", "3x64x64", None, (),
     r"unet_reversed.py:46: down_path.0.block.0 \(Conv2d\) given input 3x64x64: expects 1 input channels, "
     r"receives 3: use nn.Conv2d\(3, out_size"),
]


@pytest.mark.parametrize("name,path,shape,cls,args,message", MESSAGES, ids=[m[0] for m in MESSAGES])
def test_messages_name_the_root_cause(name, path, shape, cls, args, message):
    with pytest.raises(ShapeError, match=message) as info:
        analyse(path, shape, cls, args)
    text = str(info.value)
    assert "\n" not in text and len(text) <= 300 and " object at 0x" not in text


@pytest.mark.parametrize("snippet,message", [
    ("model = Net(5)\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n",
     r"^<source>:1: unknown name 'Net'"),
    ("import torch.nn as nn\nx = foo(\n  1,\n  2)\nmodel = nn.Sequential(nn.Linear(x, 2))\n",
     r"^<source>:2: unknown name 'foo'$"),
    ("import torch.nn as nn\nclass N(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        self.c = nn.Conv2d(3, 3, 1)\n    def forward(self, x):\n        return self.c(x) % x\n",
     r"^<source>:7: cannot follow self.c\(x\) % x: only tensor \+ tensor"),
], ids=["name_before_definition", "multi_line_statement", "modulo"])
def test_message_shapes(snippet, message):
    with pytest.raises(ShapeError, match=message) as info:
        c.analyze(c.from_source(snippet), "3x4x4")
    assert "\n" not in str(info.value) and "object at" not in str(info.value)


# --- constructor arguments and choices, through the public API ------------------------------------

def test_from_source_with_arguments_matches_the_file_s_own_call():
    default = analyse(REAL / "vgg_cfg.py", "3x32x32")  # VGG('VGG11'), as test() builds it
    explicit = analyse(REAL / "vgg_cfg.py", "3x32x32", "VGG", ("VGG11",))
    assert (default.params, default.macs) == (explicit.params, explicit.macs) == (9_231_114, 152_769_536)
    wide = c.from_source(REAL / "wide_resnet.py", cls="WideResNet", kwargs={"depth": 28, "num_classes": 10,
                                                                           "widen_factor": 10})
    assert c.analyze(wide, "3x32x32").params == 36_479_194  # WRN-28-10, as its paper and torch count it


def test_test_helper_is_not_the_model_and_builders_are():
    assert load_file(REAL / "lenet_test_helper.py").name == "LeNet"
    assert load_file(REAL / "preact_builtins.py").name == "PreActResNet18"
    assert load_file(REAL / "resnet_generator.py").name == "define_G"
    assert load_file(PROJECT / "train.py").name == "ResNet"  # net = ResNet20(): the network's class


def test_reader_never_imports_the_local_modules(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "parts.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nimport torch.nn as nn\n"
                                       "class Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                       "        self.c = nn.Conv2d(3, 4, 1)\n    def forward(self, x):\n"
                                       "        return self.c(x)\n")
    (tmp_path / "model.py").write_text("from parts import Block\nmodel = Block()\n")
    assert c.analyze(c.from_source(tmp_path / "model.py"), "3x2x2").params == 16
    assert not marker.exists() and "parts" not in sys.modules


def test_a_missing_local_module_is_named():
    text = "from .missing import Block\nmodel = Block()\n"
    with pytest.raises(ShapeError, match=re.escape("<source>:1: unknown name") + "|cannot find"):
        c.from_source(text)


@pytest.mark.parametrize(("path", "typed", "expected"), [
    (REAL / "m5_audio.py", "8000x1",  # a waveform written length x channels
     "m5_audio.py:16: conv1 (Conv1d) given input 8000x1: expects 1 input channels, receives 8000; 8000x1 looks "
     "channels last: with --layout hwc it is 1x8000, giving 1x35 and 26,915 params"),
    (Path(__file__).parent / "fixtures" / "cifar_net.py", "32x32x3",
     "cifar_net.py:24: conv1 (Conv2d) given input 32x32x3: expects 3 input channels, receives 32: use "
     "nn.Conv2d(32, 6, 5); 32x32x3 looks channels last: with --layout hwc it is 3x32x32, giving 10 and 62,006 params"),
])
def test_a_channels_last_input_to_a_file_is_one_line_with_the_other_reading(path, typed, expected):
    """file:line, the layer and its reason once, and the channels-first reading's result."""
    from click.testing import CliRunner

    from cnncalc.cli import cli

    result = CliRunner().invoke(cli, [str(path), "--input", typed])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path.parent}/{expected}"
