"""Reading PyTorch and Keras models from source (cnncalc.frontends.source/keras) and the file:line diagnosis."""

from __future__ import annotations

import re
import runpy
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc as c
from cnncalc import ShapeError
from cnncalc.frontends import analyze_file, load_file

FIXTURES = Path(__file__).parent / "fixtures"


def rows(report):
    return [(r.type, r.output_shape, r.params, r.macs) for r in report.layers]


def analyse(path, shape=None, cls=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", c.ShapeWarning)
        return analyze_file(FIXTURES / path, shape, cls=cls)


# --- the fixtures: numbers a reader can check by hand --------------------------------------------

GOOD = [
    # file, input, class, params, buffers, macs, output
    ("cifar_net.py", "3x32x32", None, 62006, 0, 651720, (10,)),
    ("simple_cnn.py", "3x32x32", None, 526154, 0, 967936, (10,)),
    ("mnist_keras.py", None, None, 121930, 0, 2528000, (10,)),
    ("resnet_cifar.py", "3x32x32", "ResNet18", 11173962, 9600, 555422720, (10,)),
    ("inception_cat.py", "3x28x28", None, 171642, 0, 132115968, (10,)),
    ("keras_same.py", None, None, 57034, 64, None, (10,)),
    ("densenet_cat.py", "3x32x32", None, 29978, 1140, 1549540, (10,)),
]


@pytest.mark.parametrize("path,shape,cls,params,buffers,macs,out", GOOD, ids=[g[0] for g in GOOD])
def test_fixture_totals(path, shape, cls, params, buffers, macs, out):
    report = analyse(path, shape, cls)
    assert (report.params, report.buffers, report.output_shape) == (params, buffers, out)
    if macs is not None:
        assert report.macs == macs


def test_cifar_net_equals_the_hand_built_network():
    report = analyse("cifar_net.py", "3x32x32")
    pool = c.MaxPool2d(2, 2)
    hand = c.Sequential(
        c.Conv2d(3, 6, 5), c.ReLU(), pool, c.Conv2d(6, 16, 5), c.ReLU(), pool, c.Reshape(-1, 400),
        c.Linear(400, 120), c.ReLU(), c.Linear(120, 84), c.ReLU(), c.Linear(84, 10),
    )
    assert rows(report) == rows(c.analyze(hand, "3x32x32"))
    assert [r.name for r in report.layers] == [
        "conv1", "relu", "pool", "conv2", "relu_1", "pool", "view", "fc1", "relu_2", "fc2", "relu_3", "fc3"
    ]
    assert [r.shared for r in report.layers].count(True) == 1  # self.pool applied twice: one module


def test_resnet_block_names_and_projection_shortcut():
    report = analyse("resnet_cifar.py", "3x32x32", "ResNet18")
    names = [r.name for r in report.layers]
    assert names[:10] == ["conv1", "bn1", "relu", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu",
                          "layer1.0.conv2", "layer1.0.bn2", "layer1.0", "layer1.0.relu_1"]
    add = report.layers[names.index("layer2.0")]
    assert (add.type, add.input_shape, add.output_shape) == ("Add", (64, 32, 32), (128, 16, 16))
    assert names[names.index("layer2.0") - 2 : names.index("layer2.0")] == ["layer2.0.shortcut.0", "layer2.0.shortcut.1"]
    assert report.layers[-2].type == "Reshape" and report.layers[-2].output_shape == (512,)


def test_resnet_equals_the_zoo_style_hand_built_block():
    """The first block of layer2 read from source equals a cnncalc Residual with a projection."""
    report = analyse("resnet_cifar.py", "3x32x32", "ResNet18")
    block = c.Residual(
        c.Sequential(c.Conv2d(64, 128, 3, 2, 1, bias=False), c.BatchNorm2d(128), c.ReLU(),
                     c.Conv2d(128, 128, 3, 1, 1, bias=False), c.BatchNorm2d(128)),
        c.Sequential(c.Conv2d(64, 128, 1, 2, bias=False), c.BatchNorm2d(128)),
        c.ReLU(),
    )
    names = [r.name for r in report.layers]
    start, end = names.index("layer2.0.conv1"), names.index("layer2.0.relu_1") + 1
    assert rows(report)[start:end] == rows(c.analyze(block, (64, 32, 32)))


def test_inception_concat_rows():
    report = analyse("inception_cat.py", "3x28x28")
    cat = next(r for r in report.layers if r.type == "Concat")
    assert (cat.name, cat.output_shape) == ("inception3a", (256, 28, 28))
    assert [r.name for r in report.layers if r.name.startswith("inception3a.branch3")] == [
        "inception3a.branch3.reduce", "inception3a.branch3.relu", "inception3a.branch3.conv"
    ]


def test_keras_mnist_rows_and_names():
    loaded = load_file(FIXTURES / "mnist_keras.py")
    assert (loaded.name, loaded.input_shape) == ("model", (1, 28, 28))
    report = analyse("mnist_keras.py")
    assert [(r.name, r.output_shape) for r in report.layers if r.type != "ReLU" and r.type != "Softmax"] == [
        ("conv2d", (32, 26, 26)), ("max_pooling2d", (32, 13, 13)), ("conv2d_1", (64, 11, 11)),
        ("max_pooling2d_1", (64, 5, 5)), ("flatten", (1600,)), ("dense", (64,)), ("dense_1", (10,)),
    ]


@pytest.mark.parametrize("size,after_first,after_pool", [(32, 16, 8), (31, 16, 8), (29, 15, 8), (7, 4, 2)],
                         ids=["32", "31", "29", "7"])
def test_keras_same_padding_is_ceil_n_over_s(size, after_first, after_pool):
    report = analyse("keras_same.py", f"3x{size}x{size}")
    shapes = {r.name: r.output_shape for r in report.layers}
    assert shapes["conv2d"] == (32, after_first, after_first)
    assert shapes["max_pooling2d"] == (64, after_pool, after_pool)
    assert shapes["conv2d_2"][1] == -(-after_pool // 2)
    # Keras's summary: Total params = params + buffers (BN moving statistics are non-trainable)
    assert report.params + report.buffers == 57098


def test_keras_same_symbolic_output_simplifies():
    report = analyse("keras_same.py", "3xHxW")
    assert str(report.layers[1].output_shape[1]) == "ceiling(H/2)"


def test_keras_without_input_shape_needs_one():
    text = "from keras import Sequential\nfrom keras.layers import Dense\nmodel = Sequential([Dense(4), Dense(2)])\n"
    with pytest.raises(ShapeError, match=r"<source>:3: the Keras model gives no input_shape"):
        c.from_source(text)
    assert c.analyze(c.from_source(text, input_shape=(8,)), (8,)).params == 8 * 4 + 4 + 4 * 2 + 2


# --- the diagnosis: first layer that breaks, file:line, incoming shape, the value that fits ---------

BROKEN = [
    ("alexnet_buggy.py", "3x224x224", None, 25,
     "fc3 (Linear) given input 4096: expects 9216 input features, receives 4096: use nn.Linear(4096, num_cls)"),
    ("cifar_net_bad_view.py", "3x32x32", None, 34,
     "view (Reshape) given input 16x6x6: view(-1, 400) expects a multiple of 400 elements, receives 576: "
     "use x.view(-1, 576)"),
    ("simple_cnn_bad_channels.py", "3x32x32", None, 11,
     "conv2 (Conv2d) given input 16x32x32: expects 8 input channels, receives 16: use nn.Conv2d(16, 32, 3, padding=1)"),
    ("resnet_cifar_bad_shortcut.py", "3x32x32", "ResNet18", 29,
     "layer2.0 (Add): residual add of mismatched shapes (128, 16, 16) and (64, 32, 32): "
     "use a 1x1 projection shortcut Conv2d(64, 128, kernel_size=1, stride=2)"),
    ("inception_cat_bad.py", "3x28x28", None, 38,
     "inception3a (Concat): cannot concatenate (64, 28, 28) and (128, 14, 14) along channels"),
    ("mnist_keras_bad.py", None, None, 11,
     "max_pooling2d_2 (MaxPooling2D) given input 128x1x1: output height would be 0: floor((1 + 2*0 - 2)/2) + 1"),
    ("spec_bad_shape.json", None, None, 8,
     "fc (Linear) given input 3136: expects 3200 input features, receives 3136: use Linear(3136, 10)"),
    ("spec_bad_argument.yaml", "3x8x8", None, 5,
     "layers[2].Conv2d: arguments not understood: Conv2d.__init__() got an unexpected keyword argument 'kernal_size'"),
]


@pytest.mark.parametrize("path,shape,cls,line,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_fixture_diagnosis(path, shape, cls, line, message):
    if path.endswith(".yaml"):
        pytest.importorskip("yaml")
    with pytest.raises(ShapeError, match="^" + re.escape(f"{FIXTURES / path}:{line}: {message}")):
        analyse(path, shape, cls)


def test_fixing_the_alexnet_line_makes_it_analyse(tmp_path):
    text = (FIXTURES / "alexnet_buggy.py").read_text().replace("nn.Linear(9216, num_cls)", "nn.Linear(4096, num_cls)")
    path = tmp_path / "alexnet.py"
    path.write_text(text)
    report = analyze_file(path, "3x224x224")
    assert str(report.output_shape[0]) == "num_cls"  # an __init__ argument without a default is a symbol
    # torchvision's AlexNet layout: 61,100,840 params at 1000 classes = 57,003,840 + 4097*1000
    assert str(report.params) == "4097*num_cls + 57003840"


def test_analyze_file_passes_analysis_options():
    report = analyze_file(FIXTURES / "simple_cnn.py", "3x32x32", batch=4)
    assert report.batch == 4 and report.name == "SimpleCNN"


# --- PyTorch patterns, one snippet each ------------------------------------------------------------

HEADERS = {
    "import torch.nn as nn": "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n",
    "from torch import nn": "import torch\nfrom torch import nn\nfrom torch.nn import functional as F\n",
}


def _module(body, forward, header="import torch.nn as nn"):
    return (HEADERS[header] + "\n\nclass M(nn.Module):\n    def __init__(self, num_classes=10):\n"
            "        super().__init__()\n" + body + "\n    def forward(self, x):\n" + forward + "\n")


@pytest.mark.parametrize("header", list(HEADERS), ids=list(HEADERS))
def test_import_spellings(header):
    text = _module("        self.conv = nn.Conv2d(in_channels=3, out_channels=8, kernel_size=3, padding=1)\n",
                   "        return F.relu(self.conv(x))", header)
    assert rows(c.analyze(c.from_source(text), "3x8x8")) == rows(c.analyze(c.Sequential(c.Conv2d(3, 8, 3, padding=1), c.ReLU()), "3x8x8"))


def test_direct_imports_and_constants():
    text = (
        "from torch.nn import Module, Conv2d, Linear, Flatten\n"
        "WIDTH = 4\nKERNEL = (3, 3)\nFEATURES = WIDTH * 2 * (6 - 2) ** 2\n"
        "class M(Module):\n"
        "    def __init__(self, num_classes=10):\n"
        "        super().__init__()\n"
        "        self.conv = Conv2d(3, WIDTH * 2, KERNEL)\n"
        "        self.flat = Flatten()\n"
        "        self.fc = Linear(FEATURES, num_classes)\n"
    )
    hand = c.Sequential(c.Conv2d(3, 8, 3), c.Flatten(), c.Linear(128, 10))
    assert rows(c.analyze(c.from_source(text), "3x6x6")) == rows(c.analyze(hand, "3x6x6"))


FORWARDS = [
    ("view_size0", "        x = self.conv(x)\n        return x.view(x.size(0), -1)", (8 * 6 * 6,)),
    ("view_size_index", "        x = self.conv(x)\n        return x.view(x.size()[0], -1)", (288,)),
    ("shape_index", "        x = self.conv(x)\n        return x.reshape(x.shape[0], 8, 36)", (8, 36)),
    ("flatten", "        return torch.flatten(self.conv(x), 1)", (288,)),
    ("method_flatten", "        return self.conv(x).flatten(1)", (288,)),
    ("functional_pools", "        x = F.max_pool2d(self.conv(x), 2)\n        x = F.avg_pool2d(x, kernel_size=3, stride=1)\n"
                         "        return F.adaptive_avg_pool2d(x, 1)", (8, 1, 1)),
    ("dropout_training", "        return F.dropout(self.conv(x), p=0.2, training=self.training)", (8, 6, 6)),
    ("residual_plus", "        out = self.conv(x)\n        out = out + self.same(out)\n        return out", (8, 6, 6)),
    ("residual_iadd", "        out = self.conv(x)\n        identity = out\n        out = self.same(out)\n"
                      "        out += identity\n        return F.relu(out)", (8, 6, 6)),
    ("torch_add", "        out = self.conv(x)\n        return torch.add(self.same(out), out)", (8, 6, 6)),
    ("cat", "        out = self.conv(x)\n        return torch.cat([out, self.same(out)], dim=1)", (16, 6, 6)),
    ("loop_module_list", "        for layer in self.stack:\n            x = layer(x)\n        return x", (8, 6, 6)),
    ("helper_method", "        return self._body(self.conv(x))", (8, 3, 3)),
]
BODY = (
    "        self.conv = nn.Conv2d(3, 8, 3)\n"
    "        self.same = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))\n"
    "        self.stack = nn.ModuleList([nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True)])\n"
)
HELPER = "    def _body(self, x):\n        return F.max_pool2d(x, 2)\n"


@pytest.mark.parametrize("name,forward,out", FORWARDS, ids=[f[0] for f in FORWARDS])
def test_forward_patterns(name, forward, out):
    text = _module(BODY, forward) + HELPER
    assert c.analyze(c.from_source(text), "3x8x8").output_shape == out


def test_residual_structure_and_params():
    text = _module(BODY, "        out = self.conv(x)\n        out = out + self.same(out)\n        return out")
    model = c.from_source(text)
    hand = c.Sequential(c.Conv2d(3, 8, 3), c.Residual(c.Sequential(c.Conv2d(8, 8, 3, padding=1), c.BatchNorm2d(8))))
    assert rows(c.analyze(model, "3x8x8")) == rows(c.analyze(hand, "3x8x8"))
    # the ModuleList is registered but unused: like torch, its parameters are not in the forward
    assert c.analyze(model, "3x8x8").params == 224 + 584 + 16


def test_no_forward_takes_modules_in_order_and_sequential_subclass():
    text = (
        "import torch.nn as nn\n"
        "class Features(nn.Sequential):\n"
        "    def __init__(self, width):\n"
        "        super().__init__(nn.Conv2d(3, width, 3), nn.ReLU())\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.features = Features(4)\n"
        "        self.pool = nn.AdaptiveAvgPool2d(1)\n"
    )
    report = c.analyze(c.from_source(text), "3x8x8")
    assert [(r.name, r.output_shape) for r in report.layers] == [
        ("features.0", (4, 6, 6)), ("features.1", (4, 6, 6)), ("pool", (4, 1, 1))
    ]


def test_module_level_sequential_with_ordered_dict():
    text = (
        "from collections import OrderedDict\nimport torch.nn as nn\n"
        "net = nn.Sequential(OrderedDict([('conv', nn.Conv2d(1, 4, 3)), ('act', nn.ReLU())]))\n"
    )
    assert [r.name for r in c.analyze(c.from_source(text), "1x5x5").layers] == ["conv", "act"]


def test_choosing_among_several_models():
    text = _module("        self.a = nn.Conv2d(3, 4, 1)\n", "        return self.a(x)") + (
        "class N(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.b = nn.Conv2d(3, 5, 1)\n"
    )
    with pytest.raises(ShapeError, match=r"^<source>: several models: M, N: choose one"):
        c.from_source(text)
    assert c.analyze(c.from_source(text, cls="N"), "3x2x2").output_shape == (5, 2, 2)
    with pytest.raises(ShapeError, match=r"no class, function or variable named 'X' \(found: M, N\)"):
        c.from_source(text, cls="X")


UNSUPPORTED = [
    ("lstm", "        self.rnn = nn.LSTM(10, 20)\n", "        return self.rnn(x)",
     r"^<source>:9: nn.LSTM \(torch.nn.LSTM\) is not supported by cnncalc$"),
    ("generator", "        self.c = nn.Conv2d(3, 3, 1)\n", "        yield self.c(x)",
     r"^<source>:12: cannot evaluate \(yield self.c\(x\)\)$"),
    ("size_condition", "        self.c = nn.Conv2d(3, 3, 1)\n", "        if x.size(1) > 3:\n            x = self.c(x)\n        return x",
     r"^<source>:12: cannot follow x.size\(1\): x.size\(1\) needs the input shape \(give one\); without it only "
     r"the batch size x.size\(0\) is understood"),
    ("floor_division", "        self.c = nn.Conv2d(3, 3, 1)\n", "        return self.c(x) // 2",
     r"^<source>:12: cannot follow self.c\(x\) // 2: only tensor \+ tensor"),
    ("cat_not_a_list", "        self.c = nn.Conv2d(3, 3, 1)\n", "        return torch.cat(self.c(x), 1)",
     r"^<source>:12: torch.cat\(self.c\(x\), 1\): expected a list of tensors"),
    ("unknown_name", "        self.c = nn.Conv2d(3, WIDTH, 1)\n", "        return self.c(x)",
     r"^<source>:9: unknown name 'WIDTH'$"),
    ("bad_layer_args", "        self.c = nn.Conv2d(3, 8)\n", "        return self.c(x)",
     r"^<source>:9: nn.Conv2d\(3, 8\): Conv2d.__init__\(\) missing 1 required positional argument: 'kernel_size'"),
    ("layer_rule", "        self.c = nn.Conv2d(3, 8, 3, groups=2)\n", "        return self.c(x)",
     r"^<source>:9: nn.Conv2d\(3, 8, 3, groups=2\): Conv2d: in_channels \(3\) must be divisible by groups \(2\)"),
    ("grid_sample", "        self.c = nn.Conv2d(3, 4, 1)\n", "        return F.grid_sample(self.c(x), x)",
     r"^<source>:12: F.grid_sample\(self.c\(x\), x\) is not understood"),
]


@pytest.mark.parametrize("name,body,forward,message", UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_not_understood_is_an_error_with_line(name, body, forward, message):
    with pytest.raises(ShapeError, match=message):
        c.from_source(_module(body, forward))


KERAS_ERRORS = [
    ("unknown_layer", "model = Sequential([layers.LSTM(4)])",
     r"^<source>:3: keras.layers.LSTM is not supported by cnncalc"),
    ("unknown_argument", "model = Sequential([layers.Conv2D(4, 3, paddin='same', input_shape=(8, 8, 1))])",
     r"^<source>:3: Conv2D\(\): argument paddin='same' is not understood"),
    ("functional_two_inputs", "a = keras.Input(shape=(8, 8, 1))\nb = keras.Input(shape=(8, 8, 1))\n"
     "x = layers.add([layers.Conv2D(4, 3)(a), layers.Conv2D(4, 3)(b)])\nmodel = keras.Model([a, b], x)",
     r"^<source>:6: keras.Model\(inputs, outputs\) is understood with one input and one output tensor"),
    ("causal_padding", "model = Sequential([layers.Conv2D(4, 3, padding='causal', input_shape=(8, 8, 1))])",
     r"^<source>:3: conv2d \(Conv2D\) given input 1x8x8: padding='causal' is not supported"),
]


@pytest.mark.parametrize("name,code,message", KERAS_ERRORS, ids=[k[0] for k in KERAS_ERRORS])
def test_keras_not_understood(name, code, message):
    text = "from tensorflow import keras\nfrom tensorflow.keras import Sequential, layers\n" + code + "\n"
    with pytest.raises(ShapeError, match=message):
        c.from_source(text)


def test_keras_dense_on_a_map_is_a_1x1_convolution_and_bn_split():
    text = (
        "import keras\n"
        "model = keras.Sequential()\n"
        "model.add(keras.layers.InputLayer(input_shape=(4, 4, 3)))\n"
        "model.add(keras.layers.BatchNormalization())\n"
        "model.add(keras.layers.Dense(5))\n"
        "model.add(keras.layers.ZeroPadding2D(((1, 0), (2, 3))))\n"
    )
    report = c.analyze(c.from_source(text), (3, 4, 4))
    assert [(r.type, r.output_shape, r.params) for r in report.layers] == [
        ("BatchNorm2d", (3, 4, 4), 6), ("Conv2d", (5, 4, 4), 20), ("ZeroPad2d", (5, 5, 9), 0)
    ]
    assert report.buffers == 6  # Keras: 12 params for this BN, 6 of them non-trainable


def test_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ShapeError, match=r"^<source>:1: not valid Python"):
        c.from_source("class (:\n")
    with pytest.raises(ShapeError, match=r"nope.py: cannot read"):
        c.from_source(str(tmp_path / "nope.py"))
    with pytest.raises(ShapeError, match=r"unknown model file type .txt"):
        load_file(tmp_path / "model.txt")


def test_no_model_found():
    with pytest.raises(ShapeError, match=r"^<source>: no model found"):
        c.from_source("import torch\nx = 1\n")


def test_source_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    text = _module("        self.c = nn.Conv2d(3, 3, 1)\n", "        return self.c(x)") + (
        f"open({str(marker)!r}, 'w').write('executed')\nimport os\nos.system('touch {marker}')\n"
    )
    c.analyze(c.from_source(text), "3x2x2")
    assert not marker.exists()


def test_import_cnncalc_does_not_import_the_frontends():
    import subprocess

    code = "import sys, cnncalc; print('cnncalc.frontends' in sys.modules, 'ast' in sys.modules and 'cnncalc.frontends.source' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_builder_function_is_the_model_and_its_classes_are_not():
    loaded = load_file(FIXTURES / "resnet_cifar.py")
    assert loaded.name == "ResNet18"
    assert analyse("resnet_cifar.py", "3x32x32").params == 11173962
    with pytest.raises(ShapeError, match=re.escape(
            f"{FIXTURES / 'resnet_cifar.py'}:40: num_blocks[0] needs the value of num_blocks, a constructor argument "
            "without a default: give it (--args, or args=/kwargs= in Python)")):
        c.from_source(FIXTURES / "resnet_cifar.py", cls="ResNet")


def test_recursion_is_refused():
    text = (
        "import torch.nn as nn\n"
        "def width(n):\n    return width(n)\n"
        "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.c = nn.Conv2d(3, width(3), 1)\n"
    )
    with pytest.raises(ShapeError, match=r"^<source>:3: stopped: more than 50 nested calls of functions defined in the "
                                         r"file \(the limit; raise it with CNNCALC_MAX_CALLS=N\)$"):
        c.from_source(text)


def test_view_fix_uses_the_code_s_own_variable(tmp_path):
    path = tmp_path / "resnet.py"
    path.write_text((FIXTURES / "resnet_cifar.py").read_text().replace("out.view(out.size(0), -1)", "out.view(out.size(0), 256)"))
    with pytest.raises(ShapeError, match=re.escape(
            f"{path}:61: view (Reshape) given input 512x1x1: view(out.size(0), 256) expects 256 elements per sample, "
            "receives 512: use out.view(out.size(0), 512)")):
        analyze_file(path, "3x32x32")


def test_keras_builder_function_without_a_call_is_the_model():
    text = (FIXTURES / "keras_same.py").read_text().split("model = build_model()")[0]
    loaded = c.frontends.source.load_source(text)
    assert (loaded.name, loaded.input_shape) == ("same_net", (3, 32, 32))
    assert loaded.analyze().params == 57034


def test_loaded_analyze_without_any_input_shape():
    with pytest.raises(ShapeError, match=r"cifar_net.py: the model does not give its input shape: pass one"):
        load_file(FIXTURES / "cifar_net.py").analyze()


# --- property: generated PyTorch source reads back to the network it was generated from -----------

_STEP = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 8), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1)),
    st.tuples(st.just("pool"), st.integers(1, 2)),
    st.tuples(st.just("relu")),
)


def _generate(steps, channels):
    """(source text with a class and forward, the same network built by hand)."""
    init, forward, hand = [], [], []
    for i, step in enumerate(steps):
        if step[0] == "conv":
            _, out, k, s, p = step
            init.append(f"        self.conv{i} = nn.Conv2d({channels}, {out}, kernel_size={k}, stride={s}, padding={p})")
            forward.append(f"        x = self.conv{i}(x)")
            hand.append(c.Conv2d(channels, out, kernel_size=k, stride=s, padding=p))
            channels = out
        elif step[0] == "pool":
            forward.append(f"        x = F.max_pool2d(x, {step[1]})")
            hand.append(c.MaxPool2d(step[1]))
        else:
            forward.append("        x = F.relu(x)")
            hand.append(c.ReLU())
    forward.append("        return torch.flatten(x, 1)")
    hand.append(c.Flatten())
    text = (HEADERS["import torch.nn as nn"] + "class Gen(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            + "\n".join(init or ["        pass"]) + "\n    def forward(self, x):\n" + "\n".join(forward) + "\n")
    return text, c.Sequential(*hand)


@settings(max_examples=30, deadline=None)
@given(steps=st.lists(_STEP, min_size=1, max_size=5), channels=st.integers(1, 4), size=st.integers(8, 40))
def test_generated_source_reads_back(steps, channels, size):
    text, hand = _generate(steps, channels)
    shape = (channels, size, size)
    try:
        expected = rows(c.analyze(hand, shape, warn=False))
    except ShapeError as exc:  # an impossible network: the reader must refuse it the same way, at a line
        with pytest.raises(ShapeError, match=r"^<source>:\d+: \S+ \(\w+\) given input .*" + re.escape(str(exc).split("): ", 1)[1])):
            c.frontends.source.load_source(text).analyze(shape, warn=False)
        return
    assert rows(c.analyze(c.from_source(text), shape, warn=False)) == expected


# --- torchvision's own source layouts give the zoo's numbers -----------------------------------------

TORCHVISION_SOURCES = [
    ("vgg_torchvision.py", "vgg11", "vgg11"),
    ("vgg_torchvision.py", "vgg16_bn", "vgg16_bn"),
    ("mobilenet_v2_torchvision.py", None, "mobilenet_v2"),
]


@pytest.mark.parametrize("path,cls,zoo_name", TORCHVISION_SOURCES, ids=[t[2] for t in TORCHVISION_SOURCES])
def test_torchvision_source_gives_the_zoo_numbers(path, cls, zoo_name):
    """Configuration lists, helper functions, nn.Sequential subclasses, `if self.use_res_connect`,
    and weight-initialisation loops (self.modules(), isinstance, nn.init, m.weight.data.normal_)."""
    report = analyse(path, "3x224x224", cls)
    zoo = c.analyze(c.model(zoo_name), "3x224x224", warn=False)
    assert (report.params, report.buffers, report.macs, report.output_shape) == (
        zoo.params, zoo.buffers, zoo.macs, zoo.output_shape)
    ours = [(r.name, r.type, r.output_shape, r.params) for r in report.layers]
    theirs = [(r.name, r.type, r.output_shape, r.params) for r in zoo.layers]
    assert len(ours) == len(theirs)
    # torchvision 0.5 pools and reshapes with functional calls; the zoo has newer avgpool and flatten rows
    skip = {len(ours) - 4, len(ours) - 3} if zoo_name == "mobilenet_v2" else set()
    assert [row for i, row in enumerate(ours) if i not in skip] == [row for i, row in enumerate(theirs) if i not in skip]


def test_apply_init_and_weights_are_not_sizes():
    body = ("        self.c = nn.Conv2d(3, 4, 3)\n        self.apply(self._init)\n")
    init = ("    def _init(self, m):\n        if isinstance(m, (nn.Conv2d, nn.Linear)):\n"
            "            nn.init.xavier_uniform_(m.weight)\n            m.bias.data.fill_(0.01)\n")
    text = _module(body, "        return self.c(x)") + init
    assert c.analyze(c.from_source(text), "3x5x5").params == 112
    bad = _module("        self.c = nn.Conv2d(3, 4, 3)\n        self.d = nn.Linear(self.c.weight, 2)\n", "        return x")
    with pytest.raises(ShapeError, match=r"^<source>:10: nn.Linear\(self.c.weight, 2\): invalid in_features <a layer's weight or bias>"):
        c.from_source(bad)


def test_main_block_is_read_and_spec_files_take_no_class():
    text = ("from tensorflow import keras\n\nif __name__ == \"__main__\":\n    model = keras.Sequential()\n"
            "    model.add(keras.layers.Dense(3, input_shape=(5,)))\n    model.fit(None)\n")
    assert c.analyze(c.from_source(text), (5,)).params == 18
    with pytest.raises(ShapeError, match=r"small_resnet.json: --class and --args apply to Python files only"):
        load_file(FIXTURES / "small_resnet.json", cls="Net")


def test_unet_with_two_input_up_modules():
    # the numbers PyTorch gives for this file (torch.utils.flop_counter / 2; its 18 BatchNorm counters
    # num_batches_tracked are not counted as buffers here): see test_sources_match_torch
    report = analyse("unet.py", "3x256x256")
    assert (report.params, report.buffers, report.macs) == (31_037_698, 11_776, 48_171_581_440)
    assert report.output_shape == (2, 256, 256)
    assert [r.name for r in report.layers if r.type == "Concat"] == ["up1", "up2", "up3", "up4"]
    assert report.receptive_field.size == (204, 204)  # traced through the four transposed convolutions
    with pytest.raises(ShapeError, match=r"up1 \(Concat\): cannot concatenate"):
        analyse("unet.py", "3x200x200")  # 200 -> 12 -> 6 at the bottom; up1 gives 24, its skip 25


def test_upsampling_layers_and_interpolate():
    report = analyse("upsample_net.py", "3x16x16")
    assert [(r.name, r.type, r.output_shape) for r in report.layers if "Upsampl" in r.type] == [
        ("up", "Upsample", (8, 16, 16)),
        ("interpolate", "Upsample", (8, 32, 32)),
        ("smooth", "UpsamplingBilinear2d", (8, 64, 64)),
        ("interpolate_1", "Upsample", (8, 20, 24)),
    ]
    rows = {r.name: r for r in report.layers}
    assert rows["interpolate"].layer.mode == "bilinear" and rows["smooth"].layer.align_corners is True
    # nearest x2 after a stride-2 conv: stride 1 again; align_corners=True ends the receptive field
    assert rows["up"].receptive_field.stride == (1, 1)
    assert rows["smooth"].receptive_field is None and report.receptive_field == rows["interpolate"].receptive_field


def test_interpolate_with_antialias_is_refused(tmp_path):
    path = tmp_path / "aa.py"
    path.write_text(
        "import torch.nn as nn\nimport torch.nn.functional as F\n\nclass Net(nn.Module):\n"
        "    def forward(self, x):\n        return F.interpolate(x, scale_factor=2, mode='bilinear', antialias=True)\n"
    )
    with pytest.raises(ShapeError, match=r"aa.py:6: .*antialias=True is not supported"):
        analyze_file(path, "3x8x8")


def test_keras_upsampling2d():
    path = FIXTURES / "keras_upsampling.py"
    report = analyze_file(path)
    up = next(r for r in report.layers if r.type == "Upsample")
    assert (up.output_shape, up.layer.mode, up.layer.scale_factor) == ((8, 16, 16), "bilinear", (2, 2))
    assert report.output_shape == (1, 16, 16) and report.params == 233


def test_squeeze_and_excitation_gates_and_mean_pooling():
    report = analyse("se_net.py", "3x32x32")
    gates = [r for r in report.layers if r.type == "Mul"]
    assert [(r.name, r.output_shape) for r in gates] == [("blocks.0", (16, 32, 32)), ("blocks.1", (16, 32, 32))]
    assert gates[0].extra_ops == {"mul": 16 * 32 * 32}
    assert [(r.name, r.type, r.output_shape) for r in report.layers[-3:]] == [
        ("mean", "AdaptiveAvgPool2d", (16, 1, 1)), ("mean_1", "Flatten", (16,)), ("head", "Linear", (10,))]
    # PyTorch: 914 parameters; the stem conv, the four 1x1 convs and the Linear are all the MACs
    assert (report.params, report.macs) == (914, 16 * 32 * 32 * 3 * 9 + 4 * 64 + 160)
    assert report.receptive_field.size == (3, 3)  # the gate's global pool ends the spatial mapping


def test_mobilenet_v3_style_source_gives_torchs_numbers():
    report = analyse("mobilenet_v3_tiny.py", "3x64x64")
    assert (report.params, report.macs, report.output_shape) == (19_490, 1_447_296, (10,))  # as torch counts
    assert [r.name for r in report.layers if r.type in ("Add", "Mul")] == [
        "features.3.block.3", "features.5.block.6", "features.5"]  # two SE gates, one residual add


TORCH_RUN = [("unet.py", "UNet", "3x256x256"), ("mobilenet_v3_tiny.py", "TinyMobileNetV3", "3x64x64"),
             ("se_net.py", "Net", "3x32x32")]


@pytest.mark.torch
@pytest.mark.parametrize("path,cls,shape", TORCH_RUN, ids=[t[0] for t in TORCH_RUN])
def test_sources_match_torch(path, cls, shape):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    module = runpy.run_path(str(FIXTURES / path))[cls]().eval()  # our own fixture, run only here
    report = analyse(path, shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.zeros((1,) + c.parse_shape(shape)))
    assert report.params == sum(p.numel() for p in module.parameters())
    assert report.macs == counter.get_total_flops() // 2
    assert report.output_shape == tuple(out.shape[1:])


def test_tensor_times_a_number_is_a_scalar_op_not_a_gate(tmp_path):
    path = tmp_path / "scale.py"
    path.write_text("import torch.nn as nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
                    "        return (x * 2 + 1) / 6 - x.relu()\n")
    report = analyze_file(path, "3x8x8")
    assert [(r.name, r.type) for r in report.layers if r.type != "Sub"] == [
        ("mul", "ScalarOp"), ("add", "ScalarOp"), ("div", "ScalarOp"), ("relu", "ReLU")]
    assert [r.layer.op for r in report.layers if r.type == "ScalarOp"] == ["mul", "add", "div"]
    assert report.layers[-1].type == "Sub" and report.output_shape == (3, 8, 8)
