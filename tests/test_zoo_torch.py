"""The zoo networks torchvision does not have (paper AlexNet, LeNet-5, the tutorial nets) run in PyTorch.

Each network is rebuilt in torch.nn from its own cnncalc definition (layers share PyTorch's constructor
arguments, so every leaf converts by name and fields) and run on zeros; every leaf's output shape and
parameter count, the row names and the total FLOPs (torch.utils.flop_counter) must equal cnncalc's.
The torchvision-named networks are checked against torchvision itself in test_zoo_golden.py.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import OrderedDict

import pytest

import cnncalc
from cnncalc import ShapeError

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

pytestmark = pytest.mark.torch


def to_torch(layer):
    """The same network in torch.nn (Sequential trees of leaf layers)."""
    if isinstance(layer, cnncalc.Sequential):
        return torch.nn.Sequential(OrderedDict((name, to_torch(child)) for name, child in layer.named_children()))
    skip = {"trainable", "device", "dtype"}
    kwargs = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.init and f.name not in skip}
    return getattr(torch.nn, layer.type)(**kwargs)


def torch_rows(module, shape):
    """[(name, type, output shape, params)] per leaf call, and the total FLOPs."""
    rows = []
    hooks = [
        child.register_forward_hook(
            lambda m, args, out, name=name: rows.append(
                (name, type(m).__name__, tuple(out.shape[1:]), sum(p.numel() for p in m.parameters()))
            )
        )
        for name, child in module.named_modules()
        if not list(child.children())
    ]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module.eval()(torch.zeros((1,) + tuple(shape)))
    for hook in hooks:
        hook.remove()
    return rows, counter.get_total_flops()


CASES = [
    ("alexnet", {}, (3, 227, 227)),
    ("alexnet", {"groups": 2, "num_classes": 10}, (3, 227, 227)),
    ("lenet5", {}, (1, 32, 32)),
    ("lenet5", {}, (1, 35, 34)),
    ("cifar_net", {}, (3, 32, 32)),
    ("simple_cnn", {}, (3, 32, 32)),
    ("mnist_cnn", {}, (1, 28, 28)),
    ("mnist_cnn", {"num_classes": 3, "in_channels": 2}, (2, 29, 29)),
]


@pytest.mark.parametrize(("name", "options", "shape"), CASES, ids=[f"{n}{o or ''}-{s}" for n, o, s in CASES])
def test_zoo_network_equals_torch(name, options, shape):
    network = cnncalc.model(name, **options)
    report = cnncalc.analyze(network, shape, warn=False)
    expected, flops = torch_rows(to_torch(network), shape)
    got = [(r.name, r.type, r.output_shape, r.params) for r in report.layers]
    assert got == expected
    assert report.flops == flops


REFUSED = [
    ("alexnet", (3, 250, 301), r"classifier.1 \(Linear\): expects 9216 input features, receives 12288"),
    ("alexnet", (3, 66, 66), r"features.14 \(MaxPool2d\): output height would be 0"),
    ("lenet5", (1, 47, 33), r"f6 \(Linear\): expects 120 input features, receives 480"),
    ("mnist_cnn", (1, 9, 9), r"pool2 \(MaxPool2d\): output height would be 0"),
]


@pytest.mark.parametrize(("name", "shape", "message"), REFUSED, ids=[f"{n}-{s}" for n, s, _ in REFUSED])
def test_zoo_network_refuses_what_torch_refuses(name, shape, message):
    network = cnncalc.model(name)
    with pytest.raises(ShapeError, match=message):
        cnncalc.analyze(network, shape, warn=False)
    with warnings.catch_warnings(), pytest.raises(RuntimeError):
        warnings.simplefilter("ignore")
        torch_rows(to_torch(network), shape)
