"""cnncalc.memory: the bytes autograd saves for backward, against PyTorch's own count on the same network.

Every network is built in cnncalc and converted to torch.nn (layers share PyTorch's constructor
arguments); PyTorch runs one forward pass in train mode and ``torch.autograd.graph.saved_tensors_hooks``
sees every tensor autograd saves: one count per storage (its whole nbytes, however many nodes or
views save it), parameters excluded. cnncalc's ``report.memory(batch=b).saved_for_backward`` must be
exactly that number, at batch 1 and 2.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from pathlib import Path

import pytest
from tool_loader import load_tool

import cnncalc
from cnncalc import ShapeError

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

pytestmark = pytest.mark.torch


class StochasticDepth(torch.nn.Module):
    """torchvision.ops.StochasticDepth's forward, written out (torchvision is not a test dependency)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise


class Branches(torch.nn.Module):
    """cnncalc's Residual (add or mul, then post) and Concat."""

    def __init__(self, block):
        super().__init__()
        self.kind = block.merge_kind()
        if self.kind == "Concat":
            self.branches = torch.nn.ModuleList(to_torch(child) for child in block.children())
        else:
            self.main = to_torch(block.main)
            self.shortcut = None if block.shortcut is None else to_torch(block.shortcut)
            self.post = None if block.post is None else to_torch(block.post)

    def forward(self, x):
        if self.kind == "Concat":
            return torch.cat([branch(x) for branch in self.branches], 1)
        other = x if self.shortcut is None else self.shortcut(x)
        y = self.main(x) + other if self.kind == "Add" else self.main(x) * other
        return y if self.post is None else self.post(y)


class Shared(torch.nn.Module):
    """cnncalc reuses a layer object; so does torch (one module called twice)."""


def to_torch(layer, memo=None):
    memo = {} if memo is None else memo
    if id(layer) in memo:
        return memo[id(layer)]
    if isinstance(layer, cnncalc.Sequential):
        module = torch.nn.Sequential(OrderedDict((name, to_torch(child, memo)) for name, child in layer.named_children()))
    elif isinstance(layer, (cnncalc.Residual, cnncalc.Concat)):
        module = Branches(layer)
    elif layer.type == "Identity":
        module = torch.nn.Identity()
    elif layer.type == "StochasticDepth":
        module = StochasticDepth(layer.p, layer.mode)
    else:
        skip = {"trainable", "device", "dtype"}
        kwargs = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.init and f.name not in skip}
        module = getattr(torch.nn, layer.type)(**kwargs)
        if not getattr(layer, "trainable", True):
            module.requires_grad_(False)
    memo[id(layer)] = module
    return module


def saved_by_torch(module, shape, batch, dtype=torch.float32):
    """Bytes autograd saves in one train-mode forward pass: one count per storage, parameters excluded."""
    torch.manual_seed(0)
    module.train()
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    x = torch.randn((batch,) + tuple(shape), dtype=dtype)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x)
    return sum(seen.values())


class C:
    """cnncalc's layers and containers (the rank-1 and rank-3 layers live in cnncalc.layers)."""

    def __getattr__(self, name):
        return getattr(cnncalc, name, None) or getattr(cnncalc.layers, name)


C = C()


def conv(c_in=4, c_out=4, k=3, **kw):
    return C.Conv2d(c_in, c_out, k, padding=k // 2, **kw)


def after_conv(*layers, c=4):
    """A convolution first, so the layer under test reads a tensor that requires a gradient."""
    return C.Sequential(conv(3, c), *layers)


SE = C.Residual(C.Sequential(C.AdaptiveAvgPool2d(1), C.Conv2d(4, 2, 1), C.ReLU(), C.Conv2d(2, 4, 1), C.Hardsigmoid()),
                op="mul")
SHARED_CONV = conv()

CASES = {
    # every layer type, in place or not
    "conv": (C.Sequential(conv(3, 4), conv(bias=False)), (3, 9, 9)),
    "conv strided dilated grouped": (after_conv(C.Conv2d(4, 6, 3, stride=2, dilation=2, groups=2)), (3, 11, 11)),
    "conv transpose": (after_conv(C.ConvTranspose2d(4, 3, 3, stride=2, output_padding=1)), (3, 6, 6)),
    "conv1d": (C.Sequential(C.Conv1d(3, 4, 3), C.ReLU(), C.MaxPool1d(2), C.AvgPool1d(2), C.Conv1d(4, 2, 1)), (3, 20)),
    "conv3d": (C.Sequential(C.Conv3d(3, 4, 3), C.BatchNorm3d(4), C.ReLU(True), C.MaxPool3d(2), C.AdaptiveAvgPool3d(1)),
               (3, 6, 6, 6)),
    "batchnorm": (after_conv(C.BatchNorm2d(4)), (3, 8, 8)),
    "batchnorm no affine": (after_conv(C.BatchNorm2d(4, affine=False)), (3, 8, 8)),
    "batchnorm no running stats": (after_conv(C.BatchNorm2d(4, track_running_stats=False)), (3, 8, 8)),
    "batchnorm first": (C.Sequential(C.BatchNorm2d(3), conv(3, 4)), (3, 8, 8)),
    "batchnorm first no affine": (C.Sequential(C.BatchNorm2d(3, affine=False), conv(3, 4)), (3, 8, 8)),
    "batchnorm1d": (C.Sequential(C.Conv1d(3, 4, 3), C.BatchNorm1d(4), C.ReLU(), C.Flatten(), C.Linear(16, 6), C.ReLU()),
                    (3, 6)),
    "relu": (after_conv(C.ReLU(), conv()), (3, 8, 8)),
    "relu inplace": (after_conv(C.ReLU(inplace=True), conv()), (3, 8, 8)),
    "relu6": (after_conv(C.ReLU6(), conv()), (3, 8, 8)),
    "relu6 inplace": (after_conv(C.ReLU6(inplace=True), conv()), (3, 8, 8)),
    "leaky relu": (after_conv(C.LeakyReLU(0.1), conv()), (3, 8, 8)),
    "leaky relu inplace": (after_conv(C.LeakyReLU(0.1, inplace=True), conv()), (3, 8, 8)),
    "elu": (after_conv(C.ELU(), C.ELU(inplace=True)), (3, 8, 8)),
    "gelu": (after_conv(C.GELU(), C.GELU("tanh")), (3, 8, 8)),
    "silu": (after_conv(C.SiLU(), conv(), C.SiLU(inplace=True), conv()), (3, 8, 8)),
    "hardswish": (after_conv(C.Hardswish(), conv(), C.Hardswish(inplace=True)), (3, 8, 8)),
    "hardsigmoid": (after_conv(C.Hardsigmoid(), conv(), C.Hardsigmoid(inplace=True)), (3, 8, 8)),
    "sigmoid tanh softmax": (after_conv(C.Sigmoid(), conv(), C.Tanh(), conv(), C.Softmax(dim=1)), (3, 8, 8)),
    "dropout": (after_conv(C.Dropout(0.3), conv(), C.Dropout(0.3, inplace=True), conv()), (3, 8, 8)),
    "dropout p=0 and p=1": (after_conv(C.Dropout(0.0), conv(), C.Dropout(1.0), conv()), (3, 8, 8)),
    "dropout2d": (after_conv(C.Dropout2d(0.5), conv()), (3, 8, 8)),
    "stochastic depth": (C.Sequential(conv(3, 4), C.Residual(C.Sequential(conv(), C.StochasticDepth(0.2, "row"))),
                                      C.Residual(C.Sequential(conv(), C.StochasticDepth(0.3, "batch"))),
                                      C.Residual(C.Sequential(conv(), C.StochasticDepth(0.0, "row")))), (3, 8, 8)),
    "max pool": (after_conv(C.MaxPool2d(3, 2, 1, ceil_mode=True), conv()), (3, 9, 9)),
    "avg pool": (after_conv(C.AvgPool2d(2), conv()), (3, 8, 8)),
    "adaptive pools": (after_conv(C.AdaptiveAvgPool2d(3), conv(), C.AdaptiveMaxPool2d((2, 1)), conv(), C.AdaptiveAvgPool2d(1),
                                  C.Flatten(), C.Linear(4, 3)), (3, 8, 8)),
    "adaptive max 1x1": (after_conv(C.AdaptiveMaxPool2d(1), C.Flatten(), C.Linear(4, 3)), (3, 8, 8)),
    "upsample": (after_conv(C.Upsample(scale_factor=2), conv(), C.Upsample(scale_factor=2, mode="bilinear"), conv()),
                 (3, 4, 4)),
    "local response norm": (after_conv(C.LocalResponseNorm(3), conv(), C.LocalResponseNorm(4)), (3, 6, 6)),
    "pads": (after_conv(C.ZeroPad2d(1), conv(), C.ConstantPad2d((1, 0, 2, 1), 0.5), conv(), C.ReflectionPad2d(1), conv(),
                        C.ReplicationPad2d((0, 1, 1, 0))), (3, 6, 6)),
    "linear": (C.Sequential(C.Flatten(), C.Linear(12, 6), C.ReLU(True), C.Linear(6, 4, bias=False)), (3, 2, 2)),
    "linear on the last axis": (after_conv(C.Linear(5, 3)), (3, 4, 5)),
    "identity and flatten": (after_conv(C.Identity(), C.Flatten(), C.Identity(), C.Linear(4 * 36, 2)), (3, 6, 6)),
    # branches and shared storages
    "residual": (C.Sequential(conv(3, 4), C.Residual(C.Sequential(conv(), C.BatchNorm2d(4), C.ReLU(True), conv()),
                                                    post=C.ReLU(inplace=True))), (3, 8, 8)),
    "residual projection": (C.Sequential(conv(3, 4), C.Residual(C.Sequential(conv(4, 6, stride=2), C.BatchNorm2d(6)),
                                                                C.Conv2d(4, 6, 1, stride=2), C.ReLU(True))), (3, 8, 8)),
    "concat reading one storage": (C.Sequential(conv(3, 4), C.ReLU(True), C.Concat(conv(4, 2, 1), conv(4, 2), C.Sequential(
        C.MaxPool2d(3, 1, 1), conv(4, 2, 1)))), (3, 8, 8)),
    "dense block": (C.Sequential(conv(3, 4), C.Concat(C.Sequential(), C.Sequential(C.BatchNorm2d(4), C.ReLU(True), conv(4, 2))),
                                 C.Concat(C.Sequential(), C.Sequential(C.BatchNorm2d(6), C.ReLU(True), conv(6, 2)))),
                    (3, 8, 8)),
    "squeeze and excitation": (C.Sequential(conv(3, 4), C.Hardswish(), SE, conv()), (3, 8, 8)),
    "gate on the input": (C.Sequential(C.Residual(C.Sequential(C.AdaptiveAvgPool2d(1), C.Conv2d(3, 3, 1), C.Sigmoid()),
                                                  op="mul"), conv(3, 4)), (3, 8, 8)),
    "shared layer": (C.Sequential(conv(3, 4), SHARED_CONV, C.ReLU(), SHARED_CONV), (3, 8, 8)),
    # frozen parameters: nothing before the first trained layer needs a gradient
    "frozen stem": (C.Sequential(conv(3, 4).freeze(), C.BatchNorm2d(4).freeze(), C.ReLU(True), conv(), C.ReLU()), (3, 8, 8)),
    "frozen linear": (C.Sequential(conv(3, 4), C.Flatten(), C.Linear(4 * 16, 3).freeze()), (3, 4, 4)),
}


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("name", list(CASES))
def test_saved_for_backward_is_what_pytorch_saves(name, batch):
    model, shape = CASES[name]
    report = cnncalc.analyze(model, shape, warn=False)
    assert report.memory(batch=batch).saved_for_backward == saved_by_torch(to_torch(model), shape, batch)


def test_float64_doubles_and_16_bit_keeps_float32_statistics():
    model, shape = CASES["batchnorm"]
    report = cnncalc.analyze(model, shape, warn=False)
    f32, f64, f16 = (report.memory(dtype).saved for dtype in ("float32", "float64", "float16"))
    assert f64.total == 2 * f32.total == saved_by_torch(to_torch(model).double(), shape, 1, torch.float64)
    assert f16.activations == f32.activations // 2 + 2 * 4 * 2  # the batch mean and inverse std stay float32 (4 channels)
    assert report.memory("int8").saved_for_backward is None and report.memory("int8").training_step("adam") is None


@pytest.mark.parametrize("optimizer, states", [("sgd", 0), ("momentum", 1), ("adam", 2)])
def test_training_step_is_parameters_gradients_optimizer_state_and_saved(optimizer, states):
    model, shape = CASES["residual projection"]
    module = to_torch(model)
    report = cnncalc.analyze(model, shape, warn=False)
    memory = report.memory(batch=2)
    build = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1), "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
             "adam": lambda p: torch.optim.Adam(p)}[optimizer]
    optim = build(module.parameters())
    module(torch.randn((2,) + shape)).sum().backward()
    optim.step()
    state = sum(t.untyped_storage().nbytes() for s in optim.state.values() for t in s.values() if torch.is_tensor(t))
    grads = sum(p.grad.untyped_storage().nbytes() for p in module.parameters())
    params = sum(p.untyped_storage().nbytes() for p in module.parameters())
    buffers = sum(b.untyped_storage().nbytes() for b in module.buffers())  # running stats and num_batches_tracked
    assert memory.optimizer_state(optimizer) == state and memory.gradient_bytes == grads
    assert memory.params == params and state == states * params + (8 * 4 if optimizer == "adam" else 0)
    inputs = 2 * 3 * 8 * 8 * 4
    assert memory.training_step(optimizer) == params + buffers + grads + state + memory.saved_for_backward + inputs \
        - memory.saved.input - memory.saved.buffers


def test_contract_names_and_unknown_optimizer():
    report = cnncalc.analyze(cnncalc.model("resnet18"), "3x224x224", warn=False)
    memory = report.memory()
    assert (memory.inputs, memory.params, memory.buffers) == (memory.input_bytes, memory.params_bytes, memory.buffers_bytes)
    assert memory.saved_for_backward == 22_256_640  # torchvision's resnet18, measured as above (tests/golden)
    with pytest.raises(ShapeError, match="unknown optimizer 'lbfgs'"):
        memory.training_step("lbfgs")


def test_torchinfo_estimate_follows_its_rule():
    """torchinfo 1.8.0 prints 177.83 MB for ResNet-50's forward/backward pass, 280.66 MB in total: the outputs of
    leaf layers with parameters, doubled, plus input and parameters."""
    memory = cnncalc.analyze(cnncalc.model("resnet50"), "3x224x224", warn=False).memory()
    assert f"{memory.forward_backward_bytes / 1e6:.2f}" == "177.83"
    assert f"{memory.total_bytes / 1e6:.2f}" == "280.66"


# --- torchvision's networks: the recorded measurements (tools/make_golden_memory.py) ----------

GOLDEN = Path(__file__).resolve().parent / "golden" / "saved_for_backward.json"
needs_golden = pytest.mark.skipif(not GOLDEN.exists(), reason="tests/golden/saved_for_backward.json not recorded yet")


def golden_zoo():
    if not GOLDEN.exists():
        return {}
    data = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return {name: facts for name, facts in data["models"].items() if name in cnncalc.models()}


@needs_golden
@pytest.mark.parametrize("name", sorted(golden_zoo()) or ["none"])
def test_every_torchvision_zoo_network_saves_what_pytorch_saved(name):
    facts = golden_zoo()[name]
    report = cnncalc.analyze(cnncalc.model(name), tuple(facts["input_shape"]), warn=False)
    for batch in ("1", "2"):
        measured, mine = facts["batches"][batch], report.memory(batch=int(batch)).saved
        assert (mine.total, mine.input, mine.buffers) == (measured["bytes"], measured["input_bytes"], measured["buffer_bytes"])


@needs_golden
def test_memory_page_table_is_rendered_from_the_measurements():
    tool = load_tool("make_memory_docs")
    page = (Path(__file__).resolve().parent.parent / "docs" / "memory.md").read_text(encoding="utf-8")
    assert page == tool.fill_page(page, json.loads(GOLDEN.read_text(encoding="utf-8")))
    assert "| resnet50 | 3x224x224 | 86,334,464 | 86,334,464 |" in page
