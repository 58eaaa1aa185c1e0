"""Keras ``Sequential`` models read from source: layers mapped to cnncalc's, in channels-first shapes.

Keras layers do not state their input size, so the network is built for a given input shape: the
first layer's ``input_shape=`` (channels-last ``(H, W, C)`` is turned into ``(C, H, W)``), an
``InputLayer``/``Input(shape=...)``, or the shape the caller passes.

Mapping (Keras defaults): ``Conv2D`` -> ``Conv2d`` (``padding='same'`` with stride 1 is PyTorch's
'same'; with a larger stride TensorFlow's input-dependent padding is a ``SamePad2d`` row named
``<layer>.pad`` before the convolution, so the output is ceil(n/s)); ``MaxPooling2D`` /
``AveragePooling2D`` likewise; ``Dense`` -> ``Linear`` (on a feature map, Keras applies Dense to
the channel axis: that is a 1x1 ``Conv2d`` with the same parameters and MACs); ``activation=`` ->
an activation row ``<layer>.activation``; ``GlobalAveragePooling2D`` -> ``AdaptiveAvgPool2d(1)`` and
``Flatten``; ``BatchNormalization`` -> ``BatchNorm2d(C, eps=epsilon, momentum=1 - momentum)``.

Parameter counts: Keras's "Total params" of a BatchNormalization layer is 4C (gamma, beta,
moving mean, moving variance), of which 2C are "Non-trainable". cnncalc counts gamma and beta as
``params`` and the moving statistics as ``buffers``, as PyTorch does: Keras's total is
``report.params + report.buffers`` and its non-trainable count is ``report.buffers``.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from .. import layers as L
from ..analysis import analyze
from ..dims import as_shape, format_shape
from ..errors import ShapeError
from ..graph import Sequential
from .dataflow import Network

ACTIVATIONS = {
    "relu": lambda: L.ReLU(),
    "relu6": lambda: L.ReLU6(),
    "sigmoid": lambda: L.Sigmoid(),
    "tanh": lambda: L.Tanh(),
    "softmax": lambda: L.Softmax(dim=-1),
    "elu": lambda: L.ELU(),
    "gelu": lambda: L.GELU(),
    "swish": lambda: L.SiLU(),
    "silu": lambda: L.SiLU(),
    "hard_swish": lambda: L.Hardswish(),
    "hard_sigmoid": lambda: L.Hardsigmoid(),
    "leaky_relu": lambda: L.LeakyReLU(0.2),
}

# Keras layer -> its positional argument names (the ones cnncalc uses, in Keras's order).
SIGNATURES = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
               "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", "strides", "padding", "data_format"),
    "MaxPool2D": ("pool_size", "strides", "padding", "data_format"),
    "AveragePooling2D": ("pool_size", "strides", "padding", "data_format"),
    "AvgPool2D": ("pool_size", "strides", "padding", "data_format"),
    "Dense": ("units", "activation", "use_bias"),
    "Dropout": ("rate",),
    "SpatialDropout2D": ("rate",),
    "Flatten": ("data_format",),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "GlobalAveragePooling2D": ("data_format",),
    "GlobalAvgPool2D": ("data_format",),
    "GlobalMaxPooling2D": ("data_format",),
    "GlobalMaxPool2D": ("data_format",),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope", "alpha"),
    "Softmax": ("axis",),
    "ZeroPadding2D": ("padding", "data_format"),
    "UpSampling2D": ("size", "data_format", "interpolation"),
    "InputLayer": ("input_shape", "shape"),
}
# Arguments that change nothing in shapes or counts.
_IGNORED = {"name", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "activity_regularizer", "kernel_constraint", "bias_constraint", "trainable", "dtype", "seed",
            "noise_shape", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
            "moving_variance_initializer", "beta_regularizer", "gamma_regularizer", "input_shape", "input_dim",
            "batch_size", "batch_input_shape", "synchronized", "keepdims"}


def snake_case(name):
    """Keras's automatic layer names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class KerasLayer:
    """A Keras layer call as written: class name, bound arguments, origin."""

    def __init__(self, kind, args, origin):
        self.kind = kind
        self.args = args
        self.origin = origin


class KerasInput:
    """``keras.Input(shape=...)``."""

    def __init__(self, shape, origin):
        self.shape = shape
        self.origin = origin


class KerasModel:
    """``Sequential([...])`` plus the layers given to ``model.add``."""

    def __init__(self, items, name, origin):
        self.items = list(items)
        self.name = name
        self.origin = origin

    def method(self, reader, name, args, kwargs, node):
        if name == "add":
            if len(args) != 1 or not isinstance(args[0], (KerasLayer, KerasInput)):
                raise reader.error(node, "model.add() expects one Keras layer")
            self.items.append(args[0])
            return None
        if name in ("compile", "summary", "build", "fit", "evaluate", "predict", "save", "load_weights"):
            return None  # training and reporting calls do not change the architecture
        raise reader.error(node, f"model.{name}() is not understood")

    def _channels_first(self):
        return any(isinstance(i, KerasLayer) and i.args.get("data_format") == "channels_first" for i in self.items)

    def input_shape(self):
        """The (C, H, W) or (F,) input given in the file, or None."""
        shape = None
        for item in self.items[:1]:
            if isinstance(item, KerasInput):
                shape = item.shape
            elif "input_shape" in item.args or "shape" in item.args:
                shape = item.args.get("input_shape", item.args.get("shape"))
            elif "input_dim" in item.args:
                shape = (item.args["input_dim"],)
        if shape is None:
            return None
        shape = tuple(shape)
        if len(shape) == 3 and not self._channels_first():
            shape = (shape[2], shape[0], shape[1])
        return shape

    def build(self, reader, input_shape):
        """The cnncalc Sequential for ``input_shape`` (C, H, W)."""

        if input_shape is None:
            raise ShapeError(
                f"{reader.path}:{self.origin.line}: the Keras model gives no input_shape: pass one (--input CxHxW)"
            )
        shape = as_shape(input_shape)
        pairs, origins, counts = [], {}, {}
        for item in self.items:
            if isinstance(item, KerasInput) or item.kind == "InputLayer":
                continue  # not a layer in Keras's summary either
            base = snake_case(item.kind)
            count = counts.get(base, 0)
            counts[base] = count + 1
            name = item.args.get("name") or (base if count == 0 else f"{base}_{count}")
            try:
                layer = _convert(item, shape)
                out = _output(layer, shape)
            except ShapeError as exc:
                text = re.sub(r"^[\w.]+( \(\w+\))?: ", "", str(exc))  # the inner row label
                raise ShapeError(f"{item.origin.where}: {name} ({item.kind}) given input {format_shape(shape)}: {text}") from None
            shape = out
            for leaf in _leaves(layer):
                origins[id(leaf)] = item.origin
            origins[id(layer)] = item.origin
            pairs.append((name, layer))
        return Network(Sequential(OrderedDict(pairs)), origins)


def _leaves(layer):
    if layer.is_leaf:
        return [layer]
    return [leaf for child in layer.children() for leaf in _leaves(child)]


def _output(layer, shape):

    return analyze(layer, shape, warn=False).output_shape


def keras_call(reader, q, args, kwargs, node):
    """A call to something under ``keras.``: a layer, ``Sequential`` or ``Input``."""
    name = q.rsplit(".", 1)[1]
    if q in ("keras.Sequential", "keras.models.Sequential"):
        items = list(args[0]) if args else list(kwargs.get("layers") or [])
        for item in items:
            if not isinstance(item, (KerasLayer, KerasInput)):
                raise reader.error(node, "Sequential() expects a list of Keras layers")
        return KerasModel(items, kwargs.get("name"), reader.origin(node))
    if q in ("keras.Input", "keras.layers.Input"):
        shape = args[0] if args else kwargs.get("shape")
        return KerasInput(shape, reader.origin(node))
    if not q.startswith("keras.layers.") or name not in SIGNATURES:
        raise reader.error(node, f"{q} is not supported by cnncalc")
    names = SIGNATURES[name]
    if len(args) > len(names):
        raise reader.error(node, f"{name}(): too many positional arguments")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key in bound:
            raise reader.error(node, f"{name}() got multiple values for {key!r}")
        if key not in names and key not in _IGNORED:
            raise reader.error(node, f"{name}(): argument {key}={value!r} is not understood")
        bound[key] = value
    bound = {k: reader.number(v, node) for k, v in bound.items()}
    return KerasLayer(name, bound, reader.origin(node))


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _activation(value):
    if value is None or value == "linear":
        return None
    if value not in ACTIVATIONS:
        raise ShapeError(f"activation {value!r} is not supported")
    return ACTIVATIONS[value]()


def _with(main, pad=None, activation=None):
    """One Keras layer as rows: optional ``pad``, the layer itself (its Keras name), optional ``activation``."""
    if pad is None and activation is None:
        return main
    pairs = []
    if pad is not None:
        pairs.append(("pad", pad))
    pairs.append(("", main))
    if activation is not None:
        pairs.append(("activation", activation))
    return Sequential(OrderedDict(pairs))


def _padding(a):
    padding = a.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ShapeError(f"padding={padding!r} is not supported (use 'valid' or 'same')")
    return padding


def _window(a, kernel, stride, dilation=(1, 1)):
    """(torch padding, SamePad2d or None) for Keras's padding argument."""
    if _padding(a) == "valid":
        return 0, None
    if all(s == 1 for s in stride):
        return "same", None
    return 0, L.SamePad2d(kernel, stride, dilation)


def _convert(item, shape):
    kind, a = item.kind, item.args
    if kind == "InputLayer":
        return L.Identity()
    if kind == "Conv2D":
        kernel = _pair(a["kernel_size"])
        stride = _pair(a.get("strides", 1))
        dilation = _pair(a.get("dilation_rate", 1))
        padding, pad = _window(a, kernel, stride, dilation)
        conv = L.Conv2d(shape[0], a["filters"], kernel, stride, padding, dilation, a.get("groups", 1),
                        a.get("use_bias", True))
        return _with(conv, pad, _activation(a.get("activation")))
    if kind in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
        pool = _pair(a.get("pool_size", 2))
        stride = pool if a.get("strides") is None else _pair(a["strides"])
        _, pad = _window(a, pool, stride)
        if _padding(a) == "same" and pad is None:
            pad = L.SamePad2d(pool, stride)  # pooling has no 'same' in PyTorch: pad explicitly
        cls = L.MaxPool2d if kind.startswith("Max") else L.AvgPool2d
        return _with(cls(pool, stride), pad)
    if kind == "Dense":
        if len(shape) == 1:
            layer = L.Linear(shape[0], a["units"], a.get("use_bias", True))
        else:  # Keras applies Dense to the last (channel) axis of a feature map: a 1x1 convolution
            layer = L.Conv2d(shape[0], a["units"], 1, bias=a.get("use_bias", True))
        return _with(layer, None, _activation(a.get("activation")))
    if kind == "Dropout":
        return L.Dropout(a["rate"])
    if kind == "SpatialDropout2D":
        return L.Dropout2d(a["rate"])
    if kind == "Flatten":
        return L.Flatten()
    if kind == "BatchNormalization":
        if a.get("axis", -1) not in (-1, 1, 3):
            raise ShapeError(f"axis={a['axis']} is not supported")
        if a.get("center", True) != a.get("scale", True):
            raise ShapeError("center and scale must be both True or both False (cnncalc's BatchNorm2d is affine or not)")
        if len(shape) != 3:
            raise ShapeError(f"expects a feature map, receives shape {shape}: cnncalc has no BatchNorm1d")
        return L.BatchNorm2d(shape[0], eps=a.get("epsilon", 1e-3), momentum=1 - a.get("momentum", 0.99),
                             affine=a.get("center", True))
    if kind in ("GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D"):
        pool = L.AdaptiveAvgPool2d(1) if "Av" in kind else L.AdaptiveMaxPool2d(1)
        return Sequential(OrderedDict([("", pool), ("flatten", L.Flatten())]))
    if kind == "Activation":
        return _activation(a["activation"]) or L.Identity()
    if kind == "ReLU":
        if a.get("max_value") == 6 and not a.get("negative_slope") and not a.get("threshold"):
            return L.ReLU6()
        if a.get("max_value") is not None or a.get("threshold"):
            raise ShapeError("ReLU with max_value or threshold is not supported")
        return L.LeakyReLU(a["negative_slope"]) if a.get("negative_slope") else L.ReLU()
    if kind == "LeakyReLU":
        return L.LeakyReLU(a.get("negative_slope", a.get("alpha", 0.3)))
    if kind == "Softmax":
        return L.Softmax(dim=-1)
    if kind == "ZeroPadding2D":
        p = a.get("padding", 1)
        if isinstance(p, (tuple, list)) and isinstance(p[0], (tuple, list)):
            (top, bottom), (left, right) = p
        else:
            top = bottom = _pair(p)[0]
            left = right = _pair(p)[1]
        return L.ZeroPad2d((left, right, top, bottom))
    if kind == "UpSampling2D":  # Keras's bilinear uses half-pixel centres: torch's align_corners=False
        interpolation = a.get("interpolation", "nearest")
        if interpolation not in ("nearest", "bilinear"):
            raise ShapeError(f"UpSampling2D interpolation {interpolation!r} is not supported: nearest or bilinear")
        return L.Upsample(scale_factor=_pair(a.get("size", 2)), mode=interpolation)
    raise ShapeError(f"{kind} is not supported")
