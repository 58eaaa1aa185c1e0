"""The torch twin of a cnncalc network: the same data flow (``graph.flow``), each leaf a torch module built
from the layer's constructor arguments, each merge the torch operation it stands for.

``twin(model)`` returns the module and ``names``: cnncalc's parameter name (``runner.parameter_names``)
-> the twin's. The twin replays the flow node by node, so one module object used twice is called twice
(shared parameters), as in PyTorch.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as TF
from torch import nn

from cnncalc.graph import INPUT, flow
from cnncalc.reference import runner


class StochasticDepth(nn.Module):
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


class LayerNorm2d(nn.LayerNorm):
    """torchvision.models.convnext.LayerNorm2d."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = TF.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class SelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention on (N, L, E) with query = key = value, its output only."""

    def forward(self, x):
        return super().forward(x, x, x, need_weights=False)[0]


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class ParameterOp(nn.Module):
    """A module using its own nn.Parameter in forward: x + p, x * p or cat([p expanded over the batch, x])."""

    def __init__(self, layer):
        super().__init__()
        self.op, self.dim = layer.op, layer.dim
        self.param = nn.Parameter(torch.zeros(layer.shape))

    def forward(self, x):
        if self.op == "add":
            return x + self.param
        if self.op == "mul":
            return x * self.param
        return torch.cat([self.param.expand((x.shape[0],) + tuple(self.param.shape[1:])), x], dim=self.dim)


def _index_key(layer):
    return tuple(slice(*e) if isinstance(e, tuple) else e for e in layer.key)


def _squeeze(layer, x):
    if layer.dim is None:
        return x.squeeze(tuple(i for i in range(1, x.ndim) if x.shape[i] == 1))
    return x.squeeze(layer.dim)


def _reduce(layer, x):
    dim = tuple(range(1, x.ndim)) if layer.dim is None else layer.dim
    if layer.op == "prod":  # torch.prod takes one dim
        for d in sorted((dim if isinstance(dim, tuple) else (dim,)), key=lambda d: d % x.ndim, reverse=True):
            x = x.prod(dim=d, keepdim=layer.keepdim)
        return x
    return getattr(torch, layer.op)(x, dim=dim, keepdim=layer.keepdim)


_SCALAR = {"add": lambda x, c: x + c, "sub": lambda x, c: x - c, "rsub": lambda x, c: c - x, "mul": lambda x, c: x * c,
           "div": lambda x, c: x / c, "rdiv": lambda x, c: c / x, "pow": lambda x, c: x**c, "neg": lambda x, c: -x}

_FUNCTIONS = {  # layers torch.nn has no class for (or not with these arguments)
    "Permute": lambda layer: lambda x: x.permute(*layer.dims),
    "Transpose": lambda layer: lambda x: x.transpose(layer.dim0, layer.dim1),
    "Unflatten": lambda layer: lambda x: x.unflatten(layer.dim, layer.unflattened_size),
    "Squeeze": lambda layer: lambda x: _squeeze(layer, x),
    "Unsqueeze": lambda layer: lambda x: x.unsqueeze(layer.dim),
    "Index": lambda layer: lambda x: x[_index_key(layer)],
    "Reduce": lambda layer: lambda x: _reduce(layer, x),
    "ScalarOp": lambda layer: lambda x: _SCALAR[layer.op](x, layer.value),
    "Reshape": lambda layer: lambda x: x.reshape((x.shape[0],) + tuple(layer.infer(tuple(x.shape[1:])))),
    "Pad": lambda layer: lambda x: TF.pad(x, layer.pad, value=0.0 if layer.value is None else layer.value),
    "SamePad2d": lambda layer: lambda x: TF.pad(x, [v for pair in reversed(layer.pads(tuple(x.shape[1:]))) for v in pair]),
}


def leaf_module(layer):
    """A torch module computing ``layer``, its parameters named as cnncalc names them (ParameterOp's: "param")."""
    if layer.type in _FUNCTIONS:
        return Lambda(_FUNCTIONS[layer.type](layer))
    if layer.type == "Identity":
        return nn.Identity()
    if layer.type == "ParameterOp":
        return ParameterOp(layer)
    if layer.type == "StochasticDepth":
        return StochasticDepth(layer.p, layer.mode)
    skip = {"trainable", "device", "dtype", "table"}
    kwargs = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.init and f.name not in skip}
    if layer.type == "MultiheadAttention":
        module = SelfAttention(**{**kwargs, "batch_first": True})
    elif layer.type == "LayerNorm2d":
        module = LayerNorm2d(**kwargs)
    else:
        module = getattr(nn, layer.type)(**kwargs)
    if not getattr(layer, "trainable", True):
        module.requires_grad_(False)
    return module


def _interpolate(x, like, mode):
    size = tuple(like.shape[like.ndim - (x.ndim - 2):])
    return TF.interpolate(x, size=size, mode=mode)


def merge(block, values):
    """The torch operation of a merge node."""
    kind = block.merge_kind()
    if kind == "Concat":
        return torch.cat(values, dim=block.dim)
    if kind == "Stack":
        return torch.stack(values, dim=block.dim)
    if kind == "MatMul":
        return values[0] @ values[1]
    if kind == "Attention":
        return TF.scaled_dot_product_attention(*values)
    if kind == "Resize":
        return _interpolate(*values, block.mode)
    combine = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[kind]
    out = values[0]
    for v in values[1:]:
        out = combine(out, v)
    return out


class FlowModule(nn.Module):
    """Replays ``graph.flow(model)`` in torch."""

    def __init__(self, model):
        super().__init__()
        self.nodes = flow(model)
        self.leaves = nn.ModuleDict()
        self.use = {}  # node index -> key of its module in ``leaves`` (a shared layer's first use)
        first = {}
        for i, node in enumerate(self.nodes):
            if node.is_merge:
                continue
            key = first.setdefault(id(node.layer), str(i))
            if key == str(i):
                self.leaves[key] = leaf_module(node.layer)
            self.use[i] = key

    def forward(self, x):
        values = []
        for i, node in enumerate(self.nodes):
            inputs = [x if q == INPUT else values[q] for q in node.inputs]
            values.append(merge(node.layer, inputs) if node.is_merge else self.leaves[self.use[i]](inputs[0]))
        return values[-1] if values else x


def twin(model):
    """(the torch twin, {cnncalc parameter name: the twin's parameter name})."""
    module = FlowModule(model)
    names = {}
    for i, owned in runner.parameter_names(model).items():
        for full, local in owned.items():
            names[full] = f"leaves.{module.use[i]}.{local or 'param'}"
    return module, names
