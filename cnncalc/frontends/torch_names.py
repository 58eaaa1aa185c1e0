"""PyTorch's names cnncalc understands, shared by the source interpreter (``interpreter``) and the
live-module converter (``live``): ``torch.nn`` layer classes, and tensor operations (``F.relu(x)``,
``torch.flatten(x, 1)``, ``x.view(...)``, ``F.pad``, ``x.mean((2, 3))``) as cnncalc layers.

Mapping an operation to a layer is one table entry: a ``torch.nn`` class with the same constructor is
found by name in ``cnncalc.layers`` (``TORCH_LAYERS``); a functional call is a row of ``FUNCTIONAL``
(layer class name, the call's argument names after the input); anything else a handler in ``_OPS``.
A name whose layer cnncalc does not have yet is refused with a message saying so.
"""

from __future__ import annotations

from .. import layers as L
from ..errors import ShapeError
from .values import BATCH

__all__ = ["TORCH_LAYERS", "FUNCTIONAL", "ops_for", "known_op", "layer_class", "scalar_layer", "split_layers",
           "SPLITS", "MERGES", "merge_op"]

# torch.nn classes cnncalc implements with the same constructor arguments: every layer that is one.
TORCH_LAYERS = {name: cls for name, cls in L.layer_types().items() if cls.torch_module}


# torch.nn.functional (and torch.*, x.*) calls: layer class name and the argument names after ``input``.
FUNCTIONAL = {
    "relu": ("ReLU", ("inplace",)),
    "relu_": ("ReLU", ()),
    "relu6": ("ReLU6", ("inplace",)),
    "elu": ("ELU", ("alpha", "inplace")),
    "selu": ("SELU", ("inplace",)),
    "celu": ("CELU", ("alpha", "inplace")),
    "leaky_relu": ("LeakyReLU", ("negative_slope", "inplace")),
    "gelu": ("GELU", ("approximate",)),
    "silu": ("SiLU", ("inplace",)),
    "mish": ("Mish", ("inplace",)),
    "hardswish": ("Hardswish", ("inplace",)),
    "hardsigmoid": ("Hardsigmoid", ("inplace",)),
    "hardtanh": ("Hardtanh", ("min_val", "max_val", "inplace")),
    "softplus": ("Softplus", ("beta", "threshold")),
    "softsign": ("Softsign", ()),
    "sigmoid": ("Sigmoid", ()),
    "tanh": ("Tanh", ()),
    "softmax": ("Softmax", ("dim", "_stacklevel", "dtype")),
    "log_softmax": ("LogSoftmax", ("dim", "_stacklevel", "dtype")),
    "max_pool1d": ("MaxPool1d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
    "max_pool2d": ("MaxPool2d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
    "max_pool3d": ("MaxPool3d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
    "avg_pool1d": ("AvgPool1d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
    "avg_pool2d": ("AvgPool2d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
    "avg_pool3d": ("AvgPool3d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
    "adaptive_avg_pool1d": ("AdaptiveAvgPool1d", ("output_size",)),
    "adaptive_avg_pool2d": ("AdaptiveAvgPool2d", ("output_size",)),
    "adaptive_avg_pool3d": ("AdaptiveAvgPool3d", ("output_size",)),
    "adaptive_max_pool1d": ("AdaptiveMaxPool1d", ("output_size", "return_indices")),
    "adaptive_max_pool2d": ("AdaptiveMaxPool2d", ("output_size", "return_indices")),
    "adaptive_max_pool3d": ("AdaptiveMaxPool3d", ("output_size", "return_indices")),
    "dropout": ("Dropout", ("p", "training", "inplace")),
    "dropout1d": ("Dropout1d", ("p", "training", "inplace")),
    "dropout2d": ("Dropout2d", ("p", "training", "inplace")),
    "dropout3d": ("Dropout3d", ("p", "training", "inplace")),
    "alpha_dropout": ("AlphaDropout", ("p", "training", "inplace")),
    "local_response_norm": ("LocalResponseNorm", ("size", "alpha", "beta", "k")),
    "pixel_shuffle": ("PixelShuffle", ("upscale_factor",)),
    "pixel_unshuffle": ("PixelUnshuffle", ("downscale_factor",)),
    "channel_shuffle": ("ChannelShuffle", ("groups",)),
    "interpolate": ("Upsample", ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")),
    "upsample": ("Upsample", ("size", "scale_factor", "mode", "align_corners")),
    "upsample_nearest": ("UpsamplingNearest2d", ("size", "scale_factor")),
    "upsample_bilinear": ("UpsamplingBilinear2d", ("size", "scale_factor")),
    "flatten": ("Flatten", ("start_dim", "end_dim")),
}
_IGNORED_ARGS = {"training", "_stacklevel", "dtype", "recompute_scale_factor"}  # no effect on shapes at inference
# the same operation spelled differently
_ALIASES = {"relu_": "relu", "sigmoid_": "sigmoid", "tanh_": "tanh", "hardtanh_": "hardtanh", "elu_": "elu",
            "leaky_relu_": "leaky_relu", "silu_": "silu"}
# tensor methods that change nothing cnncalc counts
_IDENTITY = {"contiguous", "clone", "detach", "to", "float", "double", "half", "type_as", "cpu", "cuda",
             "requires_grad_", "bfloat16"}


def layer_class(name):
    """The cnncalc layer class called ``name`` (torch's name), or None while cnncalc has none."""
    cls = getattr(L, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, L.Layer) else None


def known_op(name):
    name = _ALIASES.get(name, name)
    return name in FUNCTIONAL or name in _OPS or name in _IDENTITY


def ops_for(name, args, kwargs, *, function, shape=None):
    """The cnncalc layers (in order) for torch operation ``name`` on a tensor whose unbatched shape is
    ``shape`` (None when unknown); ``args``/``kwargs`` are the arguments after the tensor, with
    ``values.BATCH`` for ``x.size(0)``. ``function``: spelled torch.name(x)/F.name(x), not x.name()."""
    name = _ALIASES.get(name, name)
    if name in _IDENTITY:
        return []
    if name in _OPS:
        return _OPS[name](args, kwargs, function=function, shape=shape)
    if name in FUNCTIONAL:
        return [_functional(name, args, kwargs, function)]
    raise ShapeError(f"{name}() is not understood")


def _functional(name, args, kwargs, function):
    cls_name, names = FUNCTIONAL[name]
    if len(args) > len(names):
        raise ShapeError("too many arguments")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise ShapeError(f"unexpected argument {key!r}")
        if key in bound:
            raise ShapeError(f"got multiple values for {key!r}")
        bound[key] = value
    bound = {k: v for k, v in bound.items() if k not in _IGNORED_ARGS}
    if bound.pop("return_indices", False):
        raise ShapeError("return_indices=True is not supported")
    if bound.pop("antialias", False):
        raise ShapeError("antialias=True is not supported")
    if name == "flatten" and function and "start_dim" not in bound:
        bound["start_dim"] = 0  # torch.flatten(x) flattens the batch too, which Flatten refuses
    cls = layer_class(cls_name)
    if cls is None:
        raise ShapeError(f"cnncalc has no {cls_name} layer yet")
    return cls(**bound)


def _spatial_rank(shape, default=2):
    return len(shape) - 1 if shape is not None else default


def _reduce(op):
    def handler(args, kwargs, *, function, shape):
        """x.mean(dim, keepdim) and the other reductions; the mean over every spatial axis of a map is
        global average pooling (then a flatten that drops the 1x1 axes unless keepdim)."""
        dims = args[0] if args else kwargs.get("dim")
        keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        listed = (dims,) if isinstance(dims, int) else dims
        rank = _spatial_rank(shape, None)
        if rank is None and isinstance(listed, (list, tuple)):  # without the shape: the spellings of H, W (D, H, W)
            rank = len(listed) if all(isinstance(d, int) and d >= 2 for d in listed) else None
        if op == "mean" and isinstance(listed, (list, tuple)) and isinstance(keepdim, bool) and rank and 1 <= rank <= 3 \
                and all(isinstance(d, int) for d in listed) and sorted(d % (rank + 2) for d in listed) == list(range(2, rank + 2)):
            pool = layer_class(f"AdaptiveAvgPool{rank}d")
            return [pool(1)] + ([] if keepdim else [L.Flatten()])
        return [L.Reduce(op, tuple(dims) if isinstance(dims, list) else dims, keepdim)]
    return handler


def _permute(args, kwargs, *, function, shape):
    dims = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args if args else kwargs.get("dims")
    return [L.Permute(tuple(dims))]


def _transpose(args, kwargs, *, function, shape):
    d0 = args[0] if args else kwargs.get("dim0")
    d1 = args[1] if len(args) > 1 else kwargs.get("dim1")
    return [L.Transpose(d0, d1)]


def _unflatten(args, kwargs, *, function, shape):
    dim = args[0] if args else kwargs.get("dim")
    sizes = args[1] if len(args) > 1 else kwargs.get("sizes", kwargs.get("unflattened_size"))
    return [L.Unflatten(dim, tuple(sizes))]


def _squeeze(args, kwargs, *, function, shape):
    dim = args[0] if args else kwargs.get("dim")
    return [L.Squeeze(tuple(dim) if isinstance(dim, list) else dim)]


def _unsqueeze(args, kwargs, *, function, shape):
    return [L.Unsqueeze(args[0] if args else kwargs.get("dim"))]


def scalar_layer(op, value, tensor_first=True):
    """``x + 2``, ``2 - x``, ``x / 6``, ``x ** 2``, ``-x`` as a ScalarOp (op: add, sub, mul, div, pow, neg)."""
    if op == "neg":
        return L.ScalarOp("neg")
    if not tensor_first and op in ("sub", "div"):
        op = "r" + op
    elif not tensor_first and op == "pow":
        raise ShapeError("a number to the power of a tensor is not supported")
    return L.ScalarOp(op, value)


# operations whose outputs are several tensors: name -> the Index layers taking each piece of x
SPLITS = {"chunk", "split", "tensor_split", "unbind", "split_with_sizes"}


def split_layers(name, args, kwargs, shape):
    """x.chunk(n, dim), x.split(size or sizes, dim), x.unbind(dim): one Index per piece (the shape is needed)."""
    if shape is None:
        raise ShapeError(f"{name}() needs the input shape to know its pieces")
    full = (None,) + tuple(shape)
    if name == "unbind":
        dim = args[0] if args else kwargs.get("dim", 0)
        count, axis = _axis_size(full, dim)
        return [L.Index.of((slice(None),) * axis + (i,)) for i in range(count)]
    amount = args[0] if args else kwargs.get("chunks", kwargs.get("split_size_or_sections", kwargs.get("sections",
                                                                                            kwargs.get("split_size"))))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    n, axis = _axis_size(full, dim)
    if not isinstance(n, int):
        raise ShapeError(f"{name}() of a symbolic size {n} is not supported")
    if name == "chunk":
        step = -(-n // amount)
        bounds = [(i, min(i + step, n)) for i in range(0, n, step)]
    elif isinstance(amount, (list, tuple)):
        if name == "tensor_split":  # split points
            points = [0] + list(amount) + [n]
            bounds = list(zip(points[:-1], points[1:]))
        else:
            if sum(amount) != n:
                raise ShapeError(f"split sizes {list(amount)} do not add up to {n}")
            starts = [sum(amount[:i]) for i in range(len(amount))]
            bounds = [(a, a + b) for a, b in zip(starts, amount)]
    elif name == "tensor_split":
        q, r = divmod(n, amount)
        sizes = [q + 1] * r + [q] * (amount - r)
        starts = [sum(sizes[:i]) for i in range(amount)]
        bounds = [(a, a + b) for a, b in zip(starts, sizes)]
    else:
        bounds = [(i, min(i + amount, n)) for i in range(0, n, amount)]
    return [L.Index.of((slice(None),) * axis + (slice(a, b),)) for a, b in bounds]


def _axis_size(full, dim):
    rank = len(full)
    if not isinstance(dim, int) or not -rank <= dim < rank or dim % rank == 0:
        raise ShapeError(f"dim {dim} is not an axis of the sample (batched rank {rank})")
    axis = dim % rank
    return full[axis], axis


# tensor-with-tensor operations as graph.Merge ops (add and mul are Residual blocks)
MERGES = {"sub": "sub", "isub": "sub", "__sub__": "sub", "div": "div", "truediv": "div", "__truediv__": "div",
          "matmul": "matmul", "__matmul__": "matmul", "bmm": "matmul", "scaled_dot_product_attention": "attention",
          "stack": "stack"}


def merge_op(name, dim=1):
    op = MERGES[name]
    return {"op": op, "dim": dim} if op in ("stack", "cat") else {"op": op}


def _reshape(method):
    def handler(args, kwargs, *, function, shape):
        sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
        if "shape" in kwargs:
            sizes = list(kwargs["shape"])
        return [L.Reshape(*[None if s is BATCH else s for s in sizes], method=method)]
    return handler


_PAD_MODES = {"constant": "ConstantPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}


def _pad(args, kwargs, *, function, shape):
    """F.pad(x, pad, mode='constant', value=0): the pad layer of the input's rank (sizes for the last
    axes first, as torch lists them)."""
    pad = args[0] if args else kwargs.get("pad")
    mode = args[1] if len(args) > 1 else kwargs.get("mode", "constant")
    value = args[2] if len(args) > 2 else kwargs.get("value")
    if not isinstance(pad, (list, tuple)) or len(pad) % 2 or not pad:
        raise ShapeError("pad must list two sizes per padded axis")
    if mode not in _PAD_MODES:
        raise ShapeError(f"mode={mode!r} is not supported")
    k = len(pad) // 2
    rank = _spatial_rank(shape, k)
    if k > rank:  # the channels too (the CIFAR ResNet's option-A shortcut)
        return [layer_class("Pad")(tuple(pad), mode, value)]
    pad = tuple(pad) + (0, 0) * (rank - k)
    if mode == "constant" and not value:
        name = f"ZeroPad{rank}d"
        arguments = (pad,)
    else:
        name = f"{_PAD_MODES[mode]}{rank}d"
        arguments = (pad, value) if mode == "constant" else (pad,)
    cls = layer_class(name)
    if cls is None:
        raise ShapeError(f"cnncalc has no {name} layer yet")
    return [cls(*arguments)]


def _getitem(args, kwargs, *, function, shape):
    """x[:, :], x[...] and slices covering whole axes (a crop by 0) are the tensor itself; any other
    basic index is an Index layer."""
    key = args[0]
    parts = key if isinstance(key, tuple) else (key,)
    sizes = (None,) + tuple(shape) if shape is not None else None
    for axis, part in enumerate(parts):
        if part is Ellipsis:
            if any(p is not Ellipsis and p != slice(None) for p in parts[axis + 1:]):
                break
            return []
        if not isinstance(part, slice) or part.step not in (None, 1):
            break
        if part == slice(None):
            continue
        size = sizes[axis] if sizes is not None and axis < len(sizes) else None
        if not isinstance(size, int) or part.start not in (None, 0) or part.stop is None or \
                not isinstance(part.stop, int) or part.stop < size:
            break
    else:
        return []
    for part in parts:
        if part is not None and part is not Ellipsis and not isinstance(part, (int, slice)) or isinstance(part, bool):
            raise ShapeError("indexing with a tensor or a list is not supported (only integers, slices, ... and None)")
    return [L.Index.of(key)]


_OPS = {
    "mean": _reduce("mean"), "sum": _reduce("sum"), "amax": _reduce("amax"), "amin": _reduce("amin"),
    "prod": _reduce("prod"),
    "permute": _permute, "transpose": _transpose, "swapaxes": _transpose, "swapdims": _transpose,
    "unflatten": _unflatten, "squeeze": _squeeze, "unsqueeze": _unsqueeze,
    "view": _reshape("view"),
    "reshape": _reshape("reshape"),
    "pad": _pad,
    "__getitem__": _getitem,
}
