"""Convert an instantiated ``torch.nn.Module`` into cnncalc layers (needs ``cnncalc[torch]``).

Without tracing, the module tree is walked and no forward is run: known ``torch.nn`` layers become
cnncalc's, ``nn.Sequential`` stays a Sequential, and any other module with children is taken as its
children in order; such modules are listed in ``model.unconverted`` (and warned about), because their
``forward`` may do more (a residual add, a functional ``relu``, a ``view``). ``trace=True`` runs
``torch.fx.symbolic_trace`` instead and follows the real data flow, merges included. A leaf module
cnncalc has no layer for is an error naming every such module.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import OrderedDict

from .. import layers as L
from ..errors import ShapeError, ShapeWarning
from ..graph import Sequential
from .dataflow import FlowNode, build, fold_cat, to_network
from .torch_names import FUNCTIONAL, TORCH_LAYERS, layer_arguments, mean_layers

_SKIP = {"device", "dtype", "trainable"}


def convert_layer(module):
    """The cnncalc layer for one torch.nn layer module, from its attributes."""
    name = type(module).__name__
    cls = TORCH_LAYERS.get(name)
    if cls is None or type(module).__module__.split(".")[0] != "torch":
        return None
    if cls is L.Identity:
        return L.Identity()
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in _SKIP or not hasattr(module, f.name):
            continue
        value = getattr(module, f.name)
        if f.name == "bias":
            value = value is not None
        kwargs[f.name] = value
    layer = cls(**kwargs)
    params = list(module.parameters(recurse=False))
    if params and not any(p.requires_grad for p in params):
        layer = layer.freeze()
    return layer


def from_torch(module, trace=False):
    """A cnncalc network equivalent to ``module`` (see the module docstring)."""
    if trace:
        return _traced(module)
    unknown, walked = [], []
    model = _walk(module, "", unknown, walked)
    if unknown:
        raise ShapeError("cannot convert " + "; ".join(unknown))
    if not isinstance(model, Sequential):
        model = Sequential(model)
    model.unconverted = tuple(walked)
    if walked:
        warnings.warn(
            "from_torch: forward not read for " + ", ".join(walked) + ": children taken in order (use trace=True)",
            ShapeWarning,
            stacklevel=2,
        )
    return model


def _walk(module, path, unknown, walked):
    import torch

    layer = convert_layer(module)
    if layer is not None:
        return layer
    children = list(module.named_children())
    label = path or type(module).__name__
    if not children:
        unknown.append(f"{label} ({type(module).__name__}): cnncalc has no such layer")
        return L.Identity()
    if not isinstance(module, torch.nn.Sequential):
        walked.append(f"{label} ({type(module).__name__})")
    pairs = [(name, _walk(child, f"{path}.{name}" if path else name, unknown, walked)) for name, child in children]
    return Sequential(OrderedDict(pairs))


def _traced(module):
    import torch
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as exc:  # fx raises many kinds of errors for untraceable control flow
        raise ShapeError(f"torch.fx cannot trace {type(module).__name__}: {exc}") from None
    values, nodes, layers, unknown = {}, [], {}, []
    counts = {}
    batch, shape_marker = object(), object()

    def new(kind, parents, **fields):
        node = FlowNode(len(nodes), kind, parents, **fields)
        nodes.append(node)
        return node

    def fname(base):
        count = counts.get(base, 0)
        counts[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def arg(a):
        if isinstance(a, torch.fx.Node):
            return values[a]
        if isinstance(a, (list, tuple)):
            return type(a)(arg(v) for v in a)
        return a

    output = None
    for n in graph.nodes:
        args = [arg(a) for a in n.args]
        kwargs = {k: arg(v) for k, v in n.kwargs.items()}
        tensors = [a for a in args if isinstance(a, FlowNode)]
        if n.op == "placeholder":
            values[n] = new("input", [])
        elif n.op == "call_module":
            sub = module.get_submodule(n.target)
            if n.target not in layers:
                layers[n.target] = convert_layer(sub)
            if layers[n.target] is None:
                unknown.append(f"{n.target} ({type(sub).__name__})")
                values[n] = tensors[0]
                continue
            values[n] = new("leaf", [tensors[0]], layer=layers[n.target], name=n.target)
        elif n.op in ("call_function", "call_method"):
            target = n.target if n.op == "call_method" else getattr(n.target, "__name__", str(n.target))
            values[n] = _op(target, args, kwargs, tensors, new, fname, batch, shape_marker, n, nodes)
        elif n.op == "get_attr":
            raise ShapeError(f"{n.name}: reading a parameter or buffer ({n.target}) in forward is not understood")
        elif n.op == "output":
            output = args[0]
    if unknown:
        raise ShapeError("cannot convert " + "; ".join(f"{u}: cnncalc has no such layer" for u in unknown))
    if not isinstance(output, FlowNode):
        raise ShapeError(f"{type(module).__name__}.forward must return one tensor")
    network = to_network(build(output, nodes[0]))
    network.model.unconverted = ()
    return network.model


def _op(target, args, kwargs, tensors, new, fname, batch, shape_marker, n, nodes):
    if target in ("add", "iadd", "__add__") and len(tensors) == 2 and len(args) == 2:
        return new("add", tensors, scope=None)
    if target in ("mul", "imul", "__mul__") and len(tensors) == 2 and len(args) == 2:
        return new("mul", tensors, scope=None)
    if target == "cat":
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if dim not in (1, -3):
            raise ShapeError(f"{n.name}: only concatenation along channels (dim=1) is understood")
        if len(args[0]) == 1:
            return args[0][0]
        return new("cat", fold_cat(list(args[0]), nodes), scope=None)
    if target == "size":
        return batch if args[1:] == [0] or kwargs.get("dim") == 0 else shape_marker
    if target == "getattr" and args[1] == "shape":
        return shape_marker
    if target == "getitem":
        if args[0] is shape_marker and args[1] == 0:
            return batch
        raise ShapeError(f"{n.name}: indexing is understood only as x.shape[0]")
    if target in ("view", "reshape"):
        sizes = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        sizes = [None if s is batch else s for s in sizes]
        return new("leaf", [args[0]], layer=L.Reshape(*sizes, method=target), name=fname(target))
    if target in ("contiguous", "clone", "detach"):
        return args[0]
    if target == "mean" and tensors and args[0] is tensors[0]:
        value = args[0]
        for layer in mean_layers(args[1:], kwargs):
            value = new("leaf", [value], layer=layer, name=fname(target))
        return value
    if target in FUNCTIONAL and tensors and args[0] is tensors[0]:
        cls_name, names = FUNCTIONAL[target]
        bound = dict(zip(names, args[1:]))
        bound = layer_arguments(target, {**bound, **kwargs}, function=n.op == "call_function")
        return new("leaf", [args[0]], layer=getattr(L, cls_name)(**bound), name=fname(target))
    raise ShapeError(f"{n.name}: {n.op} {target} is not understood")


__all__ = ["from_torch", "convert_layer"]
