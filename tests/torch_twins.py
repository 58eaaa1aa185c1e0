"""The torch twin of a cnncalc network: the same data flow (``graph.flow``), each leaf a torch module built
from the layer's constructor arguments, each merge the torch operation it stands for.

``twin(model)`` returns the module and ``names``: cnncalc's parameter name (``runner.parameter_names``)
-> the twin's. The twin replays the flow node by node, so one module object used twice is called twice
(shared parameters), as in PyTorch.
"""

from __future__ import annotations

import dataclasses
import math

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


class WindowAttention(nn.Module):
    """torchvision's ShiftedWindowAttention (Swin V1) and V2, and their shifted_window_attention, written out: pad,
    roll, windows, qkv, scores (V1: scaled queries, + the bias table; V2: cosine, scaled by exp(logit_scale), + 16
    sigmoid of the bias MLP's output, which the side merge hands in with x), the shift's mask, softmax, proj."""

    def __init__(self, layer):
        super().__init__()
        self.window, self.shift, self.heads = list(layer.window_size), list(layer.shift_size), layer.num_heads
        self.qkv, self.proj = nn.Linear(layer.dim, 3 * layer.dim), nn.Linear(layer.dim, layer.dim)
        self.v2 = layer.type == "ShiftedWindowAttentionV2"
        self.dropouts = (layer.attention_dropout, layer.dropout)
        rows = (2 * self.window[0] - 1) * (2 * self.window[1] - 1)
        if self.v2:
            self.logit_scale = nn.Parameter(torch.ones(self.heads, 1, 1))
        else:
            self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, self.heads))
        self.register_buffer("relative_position_index", torch.arange(layer.window_tokens ** 2) % rows)

    def _bias(self, table, n):
        bias = table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        return 16 * torch.sigmoid(bias) if self.v2 else bias

    def forward(self, x):
        x, table = x if self.v2 else (x, self.relative_position_bias_table)
        (wh, ww), heads, (b, h, w, c) = self.window, self.heads, x.shape
        n = wh * ww
        bias = self._bias(table.reshape(-1, heads), n)
        x = TF.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        _, ph, pw, _ = x.shape
        shift = [0 if wh >= ph else self.shift[0], 0 if ww >= pw else self.shift[1]]
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = (ph // wh) * (pw // ww)
        x = x.view(b, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * windows, n, c)
        qkv_bias = self.qkv.bias
        if self.v2:
            qkv_bias = qkv_bias.clone()
            qkv_bias[c:2 * c].zero_()
        q, k, v = TF.linear(x, self.qkv.weight, qkv_bias).reshape(x.size(0), n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        if self.v2:
            attn = TF.normalize(q, dim=-1) @ TF.normalize(k, dim=-1).transpose(-2, -1)
            attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        else:
            attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1))
        attn = attn + bias
        if sum(shift) > 0:
            mask = x.new_zeros((ph, pw))
            for i, hs in enumerate(((0, -wh), (-wh, -shift[0]), (-shift[0], None))):
                for j, ws in enumerate(((0, -ww), (-ww, -shift[1]), (-shift[1], None))):
                    mask[hs[0]:hs[1], ws[0]:ws[1]] = 3 * i + j
            mask = mask.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(windows, n)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = (attn.view(b, windows, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, n, n)
        attn = TF.dropout(TF.softmax(attn, dim=-1), self.dropouts[0], self.training)
        x = TF.dropout(self.proj(attn.matmul(v).transpose(1, 2).reshape(x.size(0), n, c)), self.dropouts[1], self.training)
        x = x.view(b, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class Buffer(nn.Module):
    """A module's buffer as a row (cnncalc's Buffer): its value, whatever the input."""

    def __init__(self, layer):
        super().__init__()
        self.register_buffer("value", torch.linspace(-1.0, 1.0, math.prod(layer.shape)).view(layer.shape))

    def forward(self, x):
        return self.value


class RelativeAttention(nn.Module):
    """The attention of torchvision's RelativePositionalMultiHeadAttention (MaxViT) between its to_qkv and merge
    Linears, written out."""

    def __init__(self, layer):
        super().__init__()
        self.heads, self.head_dim, self.tokens = layer.num_heads, layer.head_dim, layer.max_seq_len
        rows = (2 * layer.size - 1) ** 2
        self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, self.heads))
        self.register_buffer("relative_position_index", torch.arange(self.tokens ** 2).view(self.tokens, -1) % rows)

    def forward(self, qkv):
        b, g, p, _ = qkv.shape
        q, k, v = (t.reshape(b, g, p, self.heads, self.head_dim).permute(0, 1, 3, 2, 4) for t in torch.chunk(qkv, 3, -1))
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(p, p, -1)
        scores = torch.einsum("BGHID,BGHJD->BGHIJ", q, k * self.head_dim ** -0.5)
        attn = TF.softmax(scores + bias.permute(2, 0, 1).contiguous().unsqueeze(0), dim=-1)
        return torch.einsum("BGHIJ,BGHJD->BGHID", attn, v).permute(0, 1, 3, 2, 4).reshape(b, g, p, -1)


def _window_partition(layer, x):
    b, c, h, w, p = *x.shape, layer.p
    return x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p, c)


def _window_departition(layer, x):
    hp, wp, p = layer.h_partitions, layer.w_partitions, layer.p
    b, c = x.shape[0], x.shape[-1]
    return x.reshape(b, hp, wp, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, hp * p, wp * p)


def _patch_merging_pad(x):
    h, w = x.shape[-3:-1]
    x = TF.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    return torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)


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
    "WindowPartition": lambda layer: lambda x: _window_partition(layer, x),
    "WindowDepartition": lambda layer: lambda x: _window_departition(layer, x),
    "SwapAxes": lambda layer: lambda x: torch.swapaxes(x, layer.a, layer.b),
    "PatchMergingPad": lambda layer: _patch_merging_pad,
}
_BLOCKS = {"ShiftedWindowAttention": WindowAttention, "ShiftedWindowAttentionV2": WindowAttention,
           "RelativePositionalAttention": RelativeAttention, "Buffer": Buffer}


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
    if layer.type in _BLOCKS:
        return _BLOCKS[layer.type](layer)
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
    if kind == "Side":  # the first branch and what the next layer reads besides it (Swin V2's attention)
        return tuple(values)
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
