"""PyTorch's names cnncalc understands: ``torch.nn`` layer classes and functional calls, shared by the
source interpreter (``interpreter``) and the live-module converter (``live``)."""

from __future__ import annotations

from .. import layers as L
from ..errors import ShapeError

# torch.nn classes cnncalc implements with the same constructor arguments: every layer that is one.
TORCH_LAYERS = {name: cls for name, cls in L.layer_types().items() if cls.torch_module}

# torch.nn.functional (and torch.*) calls: layer class and the argument names after ``input``.
FUNCTIONAL = {
    "relu": ("ReLU", ("inplace",)),
    "relu_": ("ReLU", ()),
    "relu6": ("ReLU6", ("inplace",)),
    "elu": ("ELU", ("alpha", "inplace")),
    "leaky_relu": ("LeakyReLU", ("negative_slope", "inplace")),
    "gelu": ("GELU", ("approximate",)),
    "silu": ("SiLU", ("inplace",)),
    "hardswish": ("Hardswish", ("inplace",)),
    "hardsigmoid": ("Hardsigmoid", ("inplace",)),
    "sigmoid": ("Sigmoid", ()),
    "tanh": ("Tanh", ()),
    "softmax": ("Softmax", ("dim",)),
    "max_pool2d": ("MaxPool2d", ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
    "avg_pool2d": ("AvgPool2d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
    "adaptive_avg_pool2d": ("AdaptiveAvgPool2d", ("output_size",)),
    "adaptive_max_pool2d": ("AdaptiveMaxPool2d", ("output_size", "return_indices")),
    "dropout": ("Dropout", ("p", "training", "inplace")),
    "dropout2d": ("Dropout2d", ("p", "training", "inplace")),
    "local_response_norm": ("LocalResponseNorm", ("size", "alpha", "beta", "k")),
    "interpolate": ("Upsample", ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")),
    "upsample": ("Upsample", ("size", "scale_factor", "mode", "align_corners")),
    "upsample_nearest": ("UpsamplingNearest2d", ("size", "scale_factor")),
    "upsample_bilinear": ("UpsamplingBilinear2d", ("size", "scale_factor")),
    "flatten": ("Flatten", ("start_dim", "end_dim")),
}
_IGNORED_ARGS = {"training"}  # functional arguments with no effect on shapes at inference


def mean_layers(args, kwargs):
    """The layers of x.mean(dim=(2, 3), keepdim=False) (``args``, ``kwargs`` after x): global average
    pooling, then a flatten unless keepdim; other dims are refused."""
    dims = args[0] if args else kwargs.get("dim")
    keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
    if not isinstance(dims, (list, tuple)) or sorted(d % 4 for d in dims) != [2, 3] or not isinstance(keepdim, bool):
        raise ShapeError("only the mean over H and W, dim=(2, 3), is understood")
    return [L.AdaptiveAvgPool2d(1)] + ([] if keepdim else [L.Flatten()])



def layer_arguments(name, bound, function):
    """A functional call's arguments as its layer's: without those of no effect; torch.flatten(x)
    (``function``, not x.flatten()) flattens the batch too, which Flatten refuses."""
    bound = {k: v for k, v in bound.items() if k not in _IGNORED_ARGS}
    if bound.pop("antialias", False):
        raise ShapeError("antialias=True is not supported")
    if name == "flatten" and function and "start_dim" not in bound:
        bound["start_dim"] = 0
    return bound
TORCH_FUNCTIONS = {"relu", "sigmoid", "tanh", "flatten", "softmax"}  # also spelled torch.relu, ...
TENSOR_METHODS = {"relu", "sigmoid", "tanh", "flatten", "softmax"}  # also spelled x.relu(), ...
