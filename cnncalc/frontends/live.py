"""Convert an instantiated ``torch.nn.Module`` into cnncalc layers (needs torch).

The data flow comes from tracing (``torch.fx``), never from the order modules were registered in:
``torch.nn`` layers (and subclasses that keep their ``forward``, and modules such as torchvision's
``StochasticDepth``) are kept whole and converted from their attributes; everything else is traced
through, its tensor operations mapped by the tables of ``torch_names``; residual adds, products and
concatenations become ``Residual``/``Concat``. With the input shape known, ``x.size(2)``,
``x.shape[-2:]`` and ``torch._assert`` on sizes are evaluated. A forward returning a tuple, list or
dict of one tensor gives that tensor.

Nothing is dropped silently: a layer cnncalc has no conversion for, a parameter or buffer read in
``forward`` that no layer accounts for, or a converted layer whose parameter count differs from
torch's is an error naming it; modules that ``forward`` never uses (an Inception's auxiliary heads
in eval mode) are named in a warning with their parameter count, which the report does not include.

``from_torch(module, trace=False)`` keeps the old walk over the module tree (children in order), for
modules that cannot be traced; it warns about every module whose ``forward`` it did not read.
"""

from __future__ import annotations

import dataclasses
import operator
import warnings
from collections import OrderedDict

from .. import layers as L
from ..dims import as_shape
from ..errors import ShapeError, ShapeWarning
from ..graph import Sequential
from .dataflow import FlowNode, Recorder, build, shape_of, to_network
from .torch_names import MERGES, SPLITS, TORCH_LAYERS, known_op, merge_op, ops_for, scalar_layer, split_layers
from .values import BATCH

_SKIP = {"device", "dtype", "trainable"}

# modules outside torch.nn cnncalc has a layer for: qualified class name -> converter
def _window_attention(m):
    """torchvision's ShiftedWindowAttention; V2's as the zoo writes it (its bias MLP on the coordinates
    buffer as rows of their own, then the attention)."""
    from ..zoo.swin import attention_v2

    kwargs = dict(qkv_bias=m.qkv.bias is not None, proj_bias=m.proj.bias is not None,
                  attention_dropout=m.attention_dropout, dropout=m.dropout)
    args = (m.qkv.in_features, list(m.window_size), list(m.shift_size), m.num_heads)
    if hasattr(m, "cpb_mlp"):
        return attention_v2(*args, **kwargs)
    return L.ShiftedWindowAttention(*args, **kwargs)


def _relative_attention(m):
    """MaxViT's RelativePositionalMultiHeadAttention as the zoo writes it (to_qkv, the attention, merge)."""
    from ..zoo.maxvit import relative_attention

    return relative_attention(m.n_heads * m.head_dim, m.head_dim, m.max_seq_len)


SPECIAL = {
    "torchvision.ops.stochastic_depth.StochasticDepth": lambda m: L.StochasticDepth(m.p, m.mode),
    "torchvision.models.convnext.LayerNorm2d": lambda m: _from_attributes(L.LayerNorm2d, m),
    "torchvision.models.swin_transformer.ShiftedWindowAttention": _window_attention,
    "torchvision.models.swin_transformer.ShiftedWindowAttentionV2": _window_attention,
}
# modules whose forward takes sizes besides the tensor (MaxViT's partitions): qualified name -> (module, sizes) -> layer
SPECIAL_CALLS = {
    "torchvision.models.maxvit.WindowPartition": lambda m, p: L.WindowPartition(p),
    "torchvision.models.maxvit.WindowDepartition": lambda m, p, h, w: L.WindowDepartition(p, h, w),
}
SPECIAL.update({
    "torchvision.models.maxvit.SwapAxes": lambda m: L.SwapAxes(m.a, m.b),
    "torchvision.models.maxvit.RelativePositionalMultiHeadAttention": _relative_attention,
})
# functions outside torch cnncalc has a layer for: qualified name -> the layer
SPECIAL_FUNCTIONS = {
    "torchvision.models.swin_transformer._patch_merging_pad": L.PatchMergingPad,
}


def _torch_base(module):
    """The torch.nn class whose behaviour ``module`` has: its own class, or a base class whose
    ``forward`` it does not override (torchvision's Conv3DSimple is an nn.Conv3d)."""
    for klass in type(module).__mro__:
        if klass.__module__.startswith("torch.nn") and klass.__name__ in TORCH_LAYERS:
            if getattr(type(module), "forward", None) is getattr(klass, "forward", None):
                return klass
            return None
    return None


def convert_layer(module):
    """The cnncalc layer for one torch.nn layer module, from its attributes (None if there is none)."""
    qualname = f"{type(module).__module__}.{type(module).__qualname__}"
    if qualname in SPECIAL:
        return SPECIAL[qualname](module)
    base = _torch_base(module)
    if base is None:
        return None
    cls = TORCH_LAYERS[base.__name__]
    if cls is L.Identity:
        return L.Identity()
    return _from_attributes(cls, module)


def _from_attributes(cls, module):
    """A cnncalc layer built from the module's attributes of the same names as its constructor's."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in _SKIP or not hasattr(module, f.name):
            continue
        value = getattr(module, f.name)
        if f.name == "bias" and not isinstance(value, bool):
            value = value is not None
        if f.name == "_qkv_same_embed_dim":
            continue
        kwargs[f.name] = value
    layer = cls(**kwargs)
    params = list(module.parameters(recurse=False))
    if params and not any(p.requires_grad for p in params):
        layer = layer.freeze()
    return layer


def _is_container(module):
    import torch

    return isinstance(module, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict))


def from_torch(module, trace=True, input_shape=None):
    """A cnncalc network equivalent to ``module``, following its traced data flow (see the module
    docstring). ``input_shape`` is needed when ``forward`` reads sizes (``x.size(2)``, ``x.shape``);
    ``trace=False`` walks the module tree instead (children in order, with a warning)."""
    if not trace:
        return _walked(module)
    shape = None if input_shape is None else as_shape(input_shape)
    return convert(module, shape)


def is_torch_module(value):
    """True for a torch.nn.Module, without importing torch when it was never imported."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


# --- tracing ------------------------------------------------------------------------------------


def _tracer():
    import torch.fx

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            if _is_container(m):
                return False
            qualname = f"{type(m).__module__}.{type(m).__qualname__}"
            if qualname in SPECIAL or qualname in SPECIAL_CALLS or _torch_base(m) is not None:
                return True
            return type(m).__module__.startswith("torch.nn")  # a torch.nn layer cnncalc has no conversion for

    return Tracer()


def convert(module, input_shape=None):
    """The cnncalc network (a Sequential) of ``module``'s traced forward, its parameters accounted for."""
    layer = convert_layer(module)
    if layer is not None:  # a single layer: nothing to trace
        model = Sequential(layer)
        model.unconverted = ()
        return model
    was_training = module.training
    module.eval()
    try:
        graph = _tracer().trace(module)
    except Exception as exc:  # fx raises many kinds of errors for untraceable control flow
        raise ShapeError(f"torch.fx cannot trace {type(module).__name__}: {first_line(exc)}") from None
    finally:
        module.train(was_training)
    converter = _Converter(module, input_shape)
    network = converter.run(graph)
    _account(module, network.model, converter.called, converter.params_used)
    network.model.unconverted = ()
    return network.model


class _Param:
    """A parameter or buffer read directly in ``forward`` (``self.class_token``, ``self.scale``)."""

    def __init__(self, target, tensor, expanded=False):
        self.target = target
        self.tensor = tensor
        self.expanded = expanded

    def refuse(self, use):
        kind = "parameter" if getattr(self.tensor, "requires_grad", False) else "buffer"
        raise ShapeError(f"{self.target} ({kind} of {self.tensor.numel():,} values, read in forward) is used by {use}: "
                         "cnncalc cannot account for it there")


class _Converter:
    def __init__(self, module, input_shape):
        self.module = module
        self.input_shape = input_shape
        self.recorder = Recorder()
        self.layers = {}
        self.unknown = []
        self.called = set()
        self.params_used = set()
        self.counts = {}

    def fname(self, base):
        count = self.counts.get(base, 0)
        self.counts[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def new(self, kind, parents, **fields):
        return self.recorder.new(kind, parents, **fields)

    def shape(self, node):
        return None if self.input_shape is None else shape_of(node, self.input_shape)

    def run(self, graph):
        import torch.fx

        values, output = {}, None
        first = True

        def arg(a):
            if isinstance(a, torch.fx.Node):
                return values[a]
            if isinstance(a, (list, tuple)):
                return type(a)(arg(v) for v in a)
            if isinstance(a, dict):
                return {k: arg(v) for k, v in a.items()}
            if isinstance(a, slice):
                return slice(arg(a.start), arg(a.stop), arg(a.step))
            return a

        for n in graph.nodes:
            args = [arg(a) for a in n.args]
            kwargs = {k: arg(v) for k, v in n.kwargs.items()}
            if n.op == "placeholder":
                if first:
                    values[n] = self.new("input", [])
                    first = False
                elif n.args:
                    values[n] = args[0]  # an optional argument: its default
                else:
                    raise ShapeError(f"{type(self.module).__name__}.forward takes more than one input ({n.target})")
            elif n.op == "get_attr":
                values[n] = _Param(n.target, _fetch(self.module, n.target))
            elif n.op == "call_module":
                values[n] = self.call_module(n, args, kwargs)
            elif n.op in ("call_function", "call_method"):
                values[n] = self.call(n, args, kwargs)
            elif n.op == "output":
                output = args[0]
        if self.unknown:
            raise ShapeError("cannot convert " + "; ".join(f"{u}: cnncalc has no such layer" for u in self.unknown))
        out = _single_output(output)
        if not isinstance(out, FlowNode):
            raise ShapeError(f"{type(self.module).__name__}.forward must return one tensor "
                             f"(it returns {_describe(output)})")
        return to_network(build(out, self.recorder.nodes[0]))

    def call_module(self, n, args, kwargs):
        sub = self.module.get_submodule(n.target)
        self.called.add(n.target)
        sizes = SPECIAL_CALLS.get(f"{type(sub).__module__}.{type(sub).__qualname__}")
        if sizes is not None:  # built per call from the sizes it is called with
            layer = self.layers[n.target] = sizes(sub, *args[1:], **kwargs)
            return self.new("leaf", [args[0]], layer=layer, name=n.target)
        if n.target not in self.layers:
            self.layers[n.target] = convert_layer(sub)
        layer = self.layers[n.target]
        if layer is None:
            self.unknown.append(f"{n.target} ({type(sub).__name__})")
            return args[0] if args else None
        tensors = [a for a in list(args) + [kwargs.get(k) for k in ("query", "key", "value")] if isinstance(a, FlowNode)]
        if not tensors or any(t is not tensors[0] for t in tensors):
            raise ShapeError(f"{n.target} ({type(sub).__name__}) is called with {len(tensors)} different tensors: "
                             "only self-attention (query = key = value) is understood" if len(tensors) > 1 else
                             f"{n.target} ({type(sub).__name__}) is called without a tensor")
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, _Param):
                a.refuse(n.target)
        node = self.new("leaf", [tensors[0]], layer=layer, name=n.target)
        if isinstance(layer, L.MultiheadAttention):
            if kwargs.get("need_weights", True) and kwargs.get("average_attn_weights", True) is not None:
                return (node, _NoWeights(n.target))
            return (node, None)
        return node

    def call(self, n, args, kwargs):
        target = n.target if n.op == "call_method" else getattr(n.target, "__name__", str(n.target))
        tensors = [a for a in args if isinstance(a, FlowNode)]
        params = [a for a in list(args) + list(kwargs.values()) if isinstance(a, _Param)]
        if n.op == "call_function" and n.target in _PYTHON and not tensors and not params:
            return self.python(n, args)
        special = SPECIAL_FUNCTIONS.get(f"{getattr(n.target, '__module__', '')}.{target}")
        if special is not None and len(tensors) == 1 and args[0] is tensors[0]:
            return self.new("leaf", tensors, layer=special(), name=self.fname(target.lstrip("_")))
        if target in _MERGE_NAMES and len(args) == 2 and not kwargs:
            return self.arithmetic(n, _MERGE_NAMES[target], args)
        if target == "getattr":
            return self.attribute(n, args)
        if target == "getitem":
            return self.getitem(n, args)
        if target == "size":
            return self.size(n, args[0], args[1] if len(args) > 1 else kwargs.get("dim"))
        if target == "dim":
            return len(self.known_shape(n, args[0])) + 1
        if target == "_assert":
            if args[0] is False:
                raise ShapeError(f"the model refuses this input: {args[1] if len(args) > 1 else 'torch._assert'}")
            return None
        if target in ("expand", "expand_as", "repeat") and params and args[0] is params[0]:
            return _Param(params[0].target, params[0].tensor, expanded=True)
        if target in ("cat", "concat", "concatenate"):
            return self.cat(n, args, kwargs)
        if params and target in ("add", "mul") and len(args) == 2:
            return self.arithmetic(n, target, args)
        if params:
            params[0].refuse(f"{target}()")
        if target == "stack":
            return self.new("merge", list(args[0]), op=merge_op("stack", args[1] if len(args) > 1 else kwargs.get("dim", 0)),
                            scope=None)
        if target in MERGES and len(tensors) >= 2:
            return self.new("merge", tensors, op=merge_op(target), scope=None)
        if not tensors or args[0] is not tensors[0]:
            raise ShapeError(f"{n.name}: {n.op} {target} is not understood")
        if target in ("add", "mul") and len(tensors) == 2:
            return self.new(target, tensors[:2], scope=None)
        if target in SPLITS:
            return self.split(n, target, args, kwargs)
        if target in _SCALAR_METHODS and len(args) == 2 and isinstance(args[1], (int, float)):
            return self.new("leaf", [args[0]], layer=scalar_layer(_SCALAR_METHODS[target], args[1]),
                            name=self.fname(target))
        if target in ("neg", "neg_") and len(args) == 1:
            return self.new("leaf", [args[0]], layer=scalar_layer("neg", None), name=self.fname("neg"))
        if not known_op(target):
            raise ShapeError(f"{n.name}: {target}() is not understood")
        rest = list(args[1:])
        for a in rest + list(kwargs.values()):
            if isinstance(a, FlowNode) or isinstance(a, (list, tuple)) and any(isinstance(v, FlowNode) for v in a):
                raise ShapeError(f"{n.name}: {target}() with a tensor argument is not understood")
        try:
            layers = ops_for(target, rest, kwargs, function=n.op == "call_function", shape=self.shape(args[0]))
        except ShapeError as exc:
            raise ShapeError(f"{n.name}: {target}(): {exc}") from None
        value = args[0]
        for layer in layers:
            value = self.new("leaf", [value], layer=layer, name=self.fname(target.rstrip("_")))
        return value

    def split(self, n, target, args, kwargs):
        try:
            layers = split_layers(target, args[1:], kwargs, self.shape(args[0]))
        except ShapeError as exc:
            raise ShapeError(f"{n.name}: {target}(): {exc}") from None
        return tuple(self.new("leaf", [args[0]], layer=layer, name=self.fname(target)) for layer in layers)

    def python(self, n, args):
        try:
            return _PYTHON[n.target](*args)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ShapeError(f"{n.name}: {getattr(n.target, '__name__', n.target)} of {args}: {exc}") from None

    def arithmetic(self, n, kind, args):
        a, b = args
        if isinstance(a, FlowNode) and isinstance(b, FlowNode):
            if kind in ("add", "mul"):
                return self.new(kind, [a, b], scope=None)
            if kind in ("sub", "truediv", "matmul"):
                return self.new("merge", [a, b], op=merge_op(kind), scope=None)
            raise ShapeError(f"{n.name}: {kind} of two tensors is not understood")
        tensor, other = (a, b) if isinstance(a, FlowNode) else (b, a)
        if isinstance(tensor, FlowNode) and isinstance(other, _Param) and kind in ("add", "mul") and not other.expanded:
            layer = L.ParameterOp(kind, tuple(other.tensor.shape))  # a position embedding, a layer scale
            if not other.tensor.requires_grad:
                layer = layer.freeze()
            self.params_used.add(other.target)
            return self.new("leaf", [tensor], layer=layer, name=other.target)
        for v in (a, b):
            if isinstance(v, _Param):
                v.refuse(f"{kind} with a tensor")
        if isinstance(a, FlowNode) or isinstance(b, FlowNode):
            if isinstance(other, (int, float)) and not isinstance(other, bool) and kind in _SCALAR_KINDS:
                layer = scalar_layer(_SCALAR_KINDS[kind], other, tensor_first=tensor is a)
                return self.new("leaf", [tensor], layer=layer, name=self.fname(kind))
            raise ShapeError(f"{n.name}: {kind} of a tensor and {_describe(other)}")
        if a is BATCH or b is BATCH:
            raise ShapeError(f"{n.name}: arithmetic on the batch size is not understood")
        return _ARITH[kind](a, b)

    def attribute(self, n, args):
        obj, name = args[0], args[1]
        if isinstance(obj, FlowNode):
            if name == "shape":
                return self.size(n, obj, None)
            if name == "ndim":
                return len(self.known_shape(n, obj)) + 1
            raise ShapeError(f"{n.name}: tensor attribute {name} is not understood")
        try:
            return getattr(obj, name)
        except AttributeError:
            raise ShapeError(f"{n.name}: {_describe(obj)} has no attribute {name}") from None

    def getitem(self, n, args):
        obj, key = args
        if isinstance(obj, FlowNode):
            try:
                layers = ops_for("__getitem__", [key], {}, function=False, shape=self.shape(obj))
            except ShapeError as exc:
                raise ShapeError(f"{n.name}: {exc}") from None
            for layer in layers:
                obj = self.new("leaf", [obj], layer=layer, name=self.fname("getitem"))
            return obj
        if isinstance(obj, _Param):
            obj.refuse("indexing")
        try:
            return obj[key]
        except (TypeError, IndexError, KeyError) as exc:
            raise ShapeError(f"{n.name}: indexing {_describe(obj)} with {key!r}: {exc}") from None

    def known_shape(self, n, x):
        shape = self.shape(x)
        if shape is None:
            raise ShapeError(f"{n.name}: the forward reads tensor sizes: give the input shape")
        return shape

    def size(self, n, x, dim):
        shape = self.shape(x)
        if shape is None:
            if dim == 0:
                return BATCH
            raise ShapeError(f"{n.name}: the forward reads tensor sizes (x.size({'' if dim is None else dim})): "
                             "give the input shape")
        full = (BATCH,) + tuple(shape)
        return _Size(full) if dim is None else full[dim]

    def cat(self, n, args, kwargs):
        tensors = list(args[0])
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        params = [t for t in tensors if isinstance(t, _Param)]
        nodes = [t for t in tensors if isinstance(t, FlowNode)]
        if params:  # a class token: cat([token.expand(n, -1, -1), x], dim=1)
            if len(params) != 1 or len(nodes) != 1 or len(tensors) != 2:
                params[0].refuse("torch.cat with several tensors")
            param = params[0]
            layer = L.ParameterOp("cat", tuple(param.tensor.shape), dim)
            self.params_used.add(param.target)
            return self.new("leaf", nodes, layer=layer, name=param.target)
        if len(tensors) == 1:
            return tensors[0]
        shape = self.shape(tensors[0])
        rank = len(shape) + 1 if shape is not None else None
        if dim in (1, -3) and (rank in (None, 4) or dim == 1) or rank is not None and dim < 0 and dim + rank == 1:
            return self.new("cat", tensors, scope=None)
        return self.new("merge", tensors, op={"op": "cat", "dim": dim}, scope=None)


class _Size(tuple):
    """x.shape / x.size(): the batch marker, then the unbatched sizes."""


class _NoWeights:
    """The attention weights a MultiheadAttention returns beside its output (not followed)."""

    def __init__(self, target):
        self.target = target


_SCALAR_KINDS = {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow"}
_SCALAR_METHODS = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "truediv": "div", "pow": "pow",
                   "add_": "add", "mul_": "mul", "div_": "div", "sub_": "sub", "__add__": "add", "__mul__": "mul",
                   "__sub__": "sub", "__truediv__": "div", "__pow__": "pow"}


_PYTHON = {operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
           operator.floordiv: operator.floordiv, operator.truediv: operator.truediv, operator.mod: operator.mod,
           operator.eq: operator.eq, operator.ne: operator.ne, operator.lt: operator.lt, operator.le: operator.le,
           operator.gt: operator.gt, operator.ge: operator.ge, operator.neg: operator.neg, operator.pow: operator.pow}
_MERGE_NAMES = {"add": "add", "iadd": "add", "__add__": "add", "__radd__": "add", "mul": "mul", "imul": "mul",
                "__mul__": "mul", "__rmul__": "mul", "sub": "sub", "isub": "sub", "truediv": "truediv",
                "itruediv": "truediv", "div": "truediv", "floordiv": "floordiv", "matmul": "matmul", "pow": "pow"}
_ARITH = {"add": operator.add, "mul": operator.mul, "sub": operator.sub, "truediv": operator.truediv,
          "floordiv": operator.floordiv, "matmul": operator.matmul, "pow": operator.pow}


def _fetch(module, target):
    obj = module
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _single_output(output):
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        tensors = [v for v in output if isinstance(v, FlowNode)]
        return tensors[0] if len(tensors) == 1 else output
    return output


def _describe(value):
    if isinstance(value, FlowNode):
        return "a tensor"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict of {len(value)} items"
    return type(value).__name__ if not isinstance(value, (int, float, str)) else repr(value)


def first_line(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _account(module, model, called, params_used=()):
    """Every parameter of ``module`` is in ``model`` or in a module forward never calls (a warning);
    anything else is an error naming what is not accounted for."""
    for target in sorted(called):
        sub = module.get_submodule(target)
        expected = sum(p.numel() for p in sub.parameters())
        layer = convert_layer(sub)
        if layer is not None and layer.params != expected:
            raise ShapeError(f"{target} ({type(sub).__name__}): cnncalc counts {layer.params:,} parameters, torch has "
                             f"{expected:,}: not accounted for")
    total = sum(p.numel() for p in module.parameters())
    counted = model.params
    if counted == total:
        return
    used = {id(_fetch(module, target)) for target in params_used}
    for target in called:
        used |= {id(p) for p in module.get_submodule(target).parameters()}
    unused = []
    for name, sub in module.named_modules():
        own = [p for p in sub.parameters(recurse=False) if id(p) not in used]
        if own and name not in called:
            unused.append((name or type(module).__name__, sum(p.numel() for p in own)))
    missing = total - counted
    if sum(n for _, n in unused) != missing:
        raise ShapeError(f"{type(module).__name__}: {missing:,} parameters are not accounted for by the traced forward")
    names = _group([name for name, _ in unused])
    warnings.warn(f"{type(module).__name__}: {missing:,} parameters of {', '.join(names)} are not used by forward "
                  "(eval mode): not counted", ShapeWarning, stacklevel=3)


def _group(names):
    """Module names reduced to their top-most unused ancestors (aux1, not aux1.conv.conv)."""
    out = []
    for name in sorted(names):
        if not any(name.startswith(o + ".") for o in out):
            out.append(name)
    return out


# --- the walk over the module tree (trace=False) ---------------------------------------------------


def _walked(module):
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
            stacklevel=3,
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


__all__ = ["from_torch", "convert", "convert_layer", "is_torch_module", "first_line"]
