"""cnncalc.memory: the bytes autograd saves for backward, against PyTorch's own count on the same network.

Every network is built in cnncalc and converted to torch.nn (layers share PyTorch's constructor
arguments); PyTorch runs one forward pass in train mode and ``torch.autograd.graph.saved_tensors_hooks``
sees every tensor autograd saves: one count per storage (its whole nbytes, however many nodes or
views save it), parameters excluded. cnncalc's ``report.memory(batch=b).saved_for_backward`` must be
exactly that number, at batch 1 and 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_loader import load_tool

import cnncalc
from cnncalc import ShapeError
from cnncalc.zoo.swin import attention_v2

torch = pytest.importorskip("torch")
import torch_twins  # noqa: E402
from torch_twins import twin  # noqa: E402

pytestmark = pytest.mark.torch


def to_torch(model):
    """The torch twin: the same data flow, each layer its torch module (``torch_twins``)."""
    return twin(model)[0]


def saved_by_torch(module, shape, batch, dtype=torch.float32, ids=None):
    """Bytes autograd saves in one train-mode forward pass: one count per storage, parameters excluded
    (``ids``: the input is integer ids below it)."""
    torch.manual_seed(0)
    module.train()
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    x = torch.randint(0, ids, (batch,) + tuple(shape)) if ids else torch.randn((batch,) + tuple(shape), dtype=dtype)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x)
    return sum(seen.values())


class C:
    """cnncalc's layers and containers (the rank-1 and rank-3 layers live in cnncalc.layers)."""  # noqa: D101

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

L = cnncalc.layers


def tokens(*layers, features=8):
    """A Linear first, so the layer under test reads a tensor that requires a gradient."""
    return C.Sequential(C.Linear(4, features), *layers)


def unflattened_linear(features):
    return C.Sequential(L.Unflatten(2, (2, features // 2)), C.Linear(features // 2, features // 2))


CASES.update({
    # normalisers of the new kinds
    "layer norm": (tokens(L.LayerNorm(8), C.Linear(8, 6), L.LayerNorm(6, elementwise_affine=False), C.Linear(6, 6),
                          L.LayerNorm(6, bias=False), L.LayerNorm((5, 6))), (5, 4)),
    "layer norm 2d": (after_conv(L.LayerNorm2d(4), conv(), L.LayerNorm2d(4, elementwise_affine=False)), (3, 5, 6)),
    "rms norm": (tokens(L.RMSNorm(8), C.Linear(8, 6), L.RMSNorm(6, elementwise_affine=False), C.Linear(6, 3), L.RMSNorm((5, 3))),
                 (5, 4)),
    "group norm": (after_conv(L.GroupNorm(2, 4), conv(), L.GroupNorm(4, 4, affine=False)), (3, 6, 5)),
    "instance norm 1d and 3d": (C.Sequential(L.Conv1d(3, 4, 3), L.InstanceNorm1d(4), L.Conv1d(4, 4, 1),
                                             L.InstanceNorm1d(4, affine=True), L.Unsqueeze(-1), L.Unsqueeze(-1),
                                             L.InstanceNorm3d(4, affine=True, track_running_stats=True)), (3, 9)),
    "instance norm 2d": (after_conv(L.InstanceNorm2d(4, affine=True), conv(), L.InstanceNorm2d(4, track_running_stats=True)),
                         (3, 5, 4)),
    # activations, in place or not
    "activations": (after_conv(L.SELU(), conv(), L.SELU(True), conv(), L.CELU(0.5), conv(), L.CELU(inplace=True), conv(),
                               L.Mish(), conv(), L.Mish(True), conv(), L.Softplus(2.0), conv(), L.Hardtanh(), conv(),
                               L.Hardtanh(-2, 2, inplace=True), conv(), L.Softsign(), conv(), L.LogSigmoid(), conv(),
                               L.PReLU(), conv(), L.PReLU(4), conv(), L.LogSoftmax(dim=1), conv(), L.Softmin(dim=1)), (3, 5, 5)),
    "channel dropouts": (C.Sequential(L.Conv1d(3, 4, 3), L.Dropout1d(0.3), L.Conv1d(4, 4, 1), L.Dropout1d(0.4, inplace=True),
                                      C.Flatten(), C.Linear(20, 6), L.Dropout1d(0.5), C.Linear(6, 4), L.Unsqueeze(-1),
                                      L.Unsqueeze(-1), L.Dropout3d(0.2), L.Squeeze(), L.AlphaDropout(0.2), C.Linear(4, 4),
                                      L.AlphaDropout(0.0), C.Linear(4, 4), L.AlphaDropout(1.0), C.Linear(4, 2)), (3, 7)),
    "dropout3d of a 4-d input": (after_conv(L.Dropout3d(0.5), conv(), L.Dropout3d(1.0), conv()), (3, 4, 4)),
    # views, reductions, constants, shuffles
    "views": (after_conv(L.Permute((0, 2, 3, 1)), C.Linear(4, 4), C.GELU(), L.Transpose(1, 3), L.Unflatten(1, (2, 2)),
                         L.Index.of((slice(None), 0)), conv(2, 4), L.Unsqueeze(1), L.Squeeze(1), conv()), (3, 5, 6)),
    "reductions": (after_conv(L.Reduce("amax", 2, keepdim=True), conv(4, 4, 1), L.Reduce("prod", -1, keepdim=True),
                              conv(4, 4, 1), L.Reduce("amin", (2, 3), keepdim=True), conv(4, 4, 1), L.Reduce("mean"),
                              L.Unsqueeze(-1), C.Linear(1, 3), L.Reduce("sum", 1)), (3, 5, 6)),
    "scalar ops": (after_conv(L.ScalarOp("add", 1.0), conv(), L.ScalarOp("rsub", 2.0), conv(), L.ScalarOp("mul", 3.0),
                              L.ScalarOp("div", 2.0), L.ScalarOp("rdiv", 1.0), conv(), L.ScalarOp("pow", 2), conv(),
                              L.ScalarOp("neg"), L.ScalarOp("sub", 1.0), conv()), (3, 5, 5)),
    "option-A shortcut": (C.Sequential(conv(3, 4), C.Residual(C.Sequential(conv(4, 8, stride=2), C.ReLU()), C.Sequential(
        L.Index.of((slice(None), slice(None), slice(None, None, 2), slice(None, None, 2))), L.Pad((0, 0, 0, 0, 2, 2))))),
                          (3, 8, 8)),
    "shuffles": (after_conv(L.PixelUnshuffle(2), C.Conv2d(16, 16, 1), L.PixelShuffle(2), L.ChannelShuffle(2), conv()),
                 (3, 6, 4)),
    # tokens, attention and learned tensors
    "vision transformer": (C.Sequential(C.Conv2d(3, 8, 2, stride=2), C.Flatten(2), L.Transpose(1, 2),
                                        L.ParameterOp("cat", (1, 1, 8), dim=1), L.ParameterOp("add", (1, 5, 8)),
                                        C.Residual(C.Sequential(L.LayerNorm(8), L.MultiheadAttention(8, 2, batch_first=True))),
                                        C.Residual(C.Sequential(L.LayerNorm(8), C.Linear(8, 16), C.GELU(), C.Linear(16, 8),
                                                                L.ParameterOp("mul", (8,)))),
                                        L.Index.of((slice(None), 0)), C.Linear(8, 3)), (3, 4, 4)),
    "attention extended": (tokens(L.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True), C.ReLU(),
                                  L.MultiheadAttention(8, 4, bias=False, add_zero_attn=True, batch_first=True),
                                  L.MultiheadAttention(8, 1, add_bias_kv=True, add_zero_attn=True, batch_first=True)), (5, 4)),
    "attention with dropout": (tokens(L.MultiheadAttention(8, 2, dropout=0.1, batch_first=True), C.Tanh(),
                                      L.MultiheadAttention(8, 2, dropout=0.2, add_bias_kv=True, batch_first=True)), (5, 4)),
    "after attention's transposed output": (tokens(L.MultiheadAttention(8, 2, batch_first=True), C.GELU(), C.Linear(8, 8),
                                                   L.MultiheadAttention(8, 2, batch_first=True), L.LayerNorm(8),
                                                   C.Residual(L.MultiheadAttention(8, 2, batch_first=True)), C.Linear(8, 2)), (5, 4)),
    "embedding": (C.Sequential(L.Embedding(20, 8), L.MultiheadAttention(8, 2, batch_first=True), C.Linear(8, 3)), (6,)),
    "frozen embedding": (C.Sequential(L.Embedding(20, 8, padding_idx=0).freeze(), C.Linear(8, 3)), (6,)),
    # merges
    "attention merge, fused": (tokens(C.Merge(unflattened_linear(8), unflattened_linear(8), L.Unflatten(2, (2, 4)), op="attention"),
                                      C.Flatten(2), C.Linear(8, 2)), (5, 4)),
    "attention merge, composite": (tokens(C.Merge(C.Linear(8, 4), C.Linear(8, 4), C.Linear(8, 6), op="attention")), (5, 4)),
    "matmul merge": (tokens(C.Merge(C.Linear(8, 5), C.Sequential(C.Linear(8, 5), L.Transpose(1, 2)), op="matmul")), (5, 4)),
    "products and quotients": (tokens(C.Merge(C.Linear(8, 4), C.Linear(8, 4), C.Sequential(C.Linear(8, 4), C.Sigmoid()), op="mul"),
                                      C.Merge(C.Linear(4, 4), C.Linear(4, 4), C.Linear(4, 4), op="div"),
                                      C.Merge(C.Identity(), C.Tanh(), op="sub"), C.Merge(C.Identity(), C.Tanh(), op="stack")),
                               (5, 4)),
    "resize merges": (after_conv(C.Merge(C.Conv2d(4, 2, 3, stride=2), C.Identity(), op="resize", mode="bilinear"), conv(2, 4),
                                 C.Merge(C.Conv2d(4, 2, 3, stride=2), C.Identity(), op="resize", mode="area")), (3, 8, 6)),
    # torchvision's blocks
    "swin v2 window attention, shifted": (tokens(attention_v2(8, [3, 3], [1, 1], 2)), (6, 4, 4)),
    "swin v2 window attention, one window": (tokens(attention_v2(8, [4, 2], [2, 1], 4)), (4, 2, 4)),
    "swin window attention, padded and shifted": (tokens(L.ShiftedWindowAttention(8, 3, 1, 2)), (5, 7, 4)),
    "swin window attention with dropout": (tokens(L.ShiftedWindowAttention(8, 2, 1, 2, attention_dropout=0.2, dropout=0.1)),
                                           (3, 4, 4)),
    "swin window attention on the model input": (C.Sequential(L.ShiftedWindowAttention(4, 2, 1, 2), C.Linear(4, 3)), (4, 3, 4)),
    "swin v2 window attention with dropout": (tokens(attention_v2(8, [2, 2], [1, 1], 2, attention_dropout=0.1, dropout=0.3)),
                                              (4, 3, 4)),
    "swin window attention, one window": (tokens(L.ShiftedWindowAttention(8, [4, 2], [2, 1], 4)), (4, 2, 4)),
    "swin patch merging": (tokens(L.PatchMergingPad(), L.LayerNorm(32), C.Linear(32, 16, bias=False)), (5, 3, 4)),
    "maxvit window and grid attention": (after_conv(
        L.WindowPartition(2), L.SwapAxes(-2, -3), C.Linear(4, 24), L.RelativePositionalAttention(8, 4, 4), C.Linear(8, 4),
        L.SwapAxes(-2, -3), L.WindowDepartition(2, 2, 2), conv()), (3, 4, 4)),
    "maxvit one window": (after_conv(L.WindowPartition(3), C.Linear(4, 12), L.RelativePositionalAttention(4, 4, 9),
                                     C.Linear(4, 4), L.WindowDepartition(3, 1, 1), conv()), (3, 3, 3)),
})

@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("name", list(CASES))
def test_saved_for_backward_is_what_pytorch_saves(name, batch):
    model, shape = CASES[name]
    report = cnncalc.analyze(model, shape, warn=False)
    ids = next((row.layer.num_embeddings for row in report.layers if row.type == "Embedding" and -1 in row.inputs), None)
    assert report.memory(batch=batch).saved_for_backward == saved_by_torch(to_torch(model), shape, batch, ids=ids)


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


# Blocks whose saved tensors have no rule yet: the prediction is None (the table says "unknown"), never a guess.
NOT_PREDICTED: dict = {}


@needs_golden
@pytest.mark.parametrize("name", sorted(golden_zoo()) or ["none"])
def test_every_torchvision_zoo_network_saves_what_pytorch_saved(name):
    facts = golden_zoo()[name]
    report = cnncalc.analyze(cnncalc.model(name), tuple(facts["input_shape"]), warn=False)
    if name in NOT_PREDICTED:
        assert report.memory(batch=1).saved is None
        assert any(row.type == NOT_PREDICTED[name] for row in report.layers)
        return
    for batch in ("1", "2"):
        measured, mine = facts["batches"][batch], report.memory(batch=int(batch)).saved
        if "error" in measured:  # PyTorch refused to train (one value per BatchNorm channel): no prediction
            assert mine is None and "more than 1 value per channel" in measured["error"]
            continue
        assert (mine.total, mine.input, mine.buffers) == (measured["bytes"], measured["input_bytes"], measured["buffer_bytes"])


@needs_golden
def test_memory_page_table_is_rendered_from_the_measurements():
    tool = load_tool("make_memory_docs")
    page = (Path(__file__).resolve().parent.parent / "docs" / "memory.md").read_text(encoding="utf-8")
    assert page == tool.fill_page(page, json.loads(GOLDEN.read_text(encoding="utf-8")))
    assert "| resnet50 | 3x224x224 | 86,334,464 | 86,334,464 |" in page


def test_attention_without_batch_first_reads_its_sequence_first_input_in_place():
    """(L, N, E) in torch: the in-projection reads the input itself (batch_first copies its transposed view)."""
    model = C.Sequential(C.Linear(4, 8), L.MultiheadAttention(8, 2), C.Linear(8, 3))
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch_twins.SelfAttention(8, 2), torch.nn.Linear(8, 3))
    for batch in (1, 3):
        report = cnncalc.analyze(model, (5, 4), warn=False)
        # saved_by_torch draws (batch, *shape): here (L, N, E) with L = 5 tokens, so the "batch" argument is L
        measured = saved_by_torch(module, (batch, 4), 5)
        assert report.memory(batch=batch).saved_for_backward == measured


def test_an_unmodelled_reader_of_attention_output_gives_no_number():
    model = C.Sequential(C.Linear(4, 8), L.MultiheadAttention(8, 2, batch_first=True), L.Transpose(1, 2), C.Linear(5, 2))
    assert cnncalc.analyze(model, (5, 4), warn=False).memory().saved_for_backward is None
