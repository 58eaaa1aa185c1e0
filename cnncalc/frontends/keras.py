"""Keras models read from source (``Sequential``, ``model.add`` and the functional API: ``inputs =
keras.Input(...)``, ``x = layers.Conv2D(...)(inputs)``, ``layers.add``/``concatenate`` branches,
``keras.Model(inputs, outputs)``): layers mapped to cnncalc's, in channels-first shapes.

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
from .dataflow import Network, Recorder, build, shape_of, to_network
from .loaded import refuse_upstream

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
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                        "activation", "use_bias"),
    "SeparableConv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                        "depth_multiplier", "activation", "use_bias"),
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                        "dilation_rate", "activation", "use_bias"),
    "Add": (), "Multiply": (), "Concatenate": ("axis",),
    "Rescaling": ("scale", "offset"), "RandomFlip": ("mode",), "RandomRotation": ("factor",),
    "RandomZoom": ("height_factor", "width_factor"), "RandomTranslation": ("height_factor", "width_factor"),
    "RandomContrast": ("factor",), "RandomCrop": ("height", "width"), "GaussianNoise": ("stddev",),
    "AlphaDropout": ("rate",), "GaussianDropout": ("rate",),
}
_INFERENCE_IDENTITY = {"Rescaling", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                       "RandomContrast", "GaussianNoise", "AlphaDropout", "GaussianDropout"}
_MERGES = {"Add": "add", "Multiply": "mul", "Concatenate": "cat"}
_MERGE_FUNCTIONS = {"add": "Add", "multiply": "Multiply", "concatenate": "Concatenate"}
# Arguments that change nothing in shapes or counts.
_IGNORED = {"name", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "activity_regularizer", "kernel_constraint", "bias_constraint", "trainable", "dtype", "seed",
            "noise_shape", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
            "moving_variance_initializer", "beta_regularizer", "gamma_regularizer", "input_shape", "input_dim",
            "batch_size", "batch_input_shape", "synchronized", "keepdims", "depthwise_initializer",
            "pointwise_initializer", "depthwise_regularizer", "pointwise_regularizer", "depthwise_constraint",
            "pointwise_constraint", "fill_mode", "interpolation", "fill_value", "value_range"}


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

    def call(self, reader, args, kwargs, node):
        """layer(x) in the functional API: a KerasTensor; merges take a list of tensors."""
        inputs = args[0] if args else kwargs.get("inputs")
        if self.kind in _MERGES:
            if not isinstance(inputs, (list, tuple)) or len(inputs) < 2 or not all(isinstance(t, KerasTensor) for t in inputs):
                raise reader.error(node, f"{self.kind}() is called with a list of at least two tensors")
            out = KerasTensor(self.kind, list(inputs), self, reader.origin(node))
        elif not isinstance(inputs, KerasTensor):
            raise reader.error(node, "a Keras layer is called with one tensor (keras.Input or a layer's output)")
        else:
            out = KerasTensor("layer", [inputs], self, reader.origin(node))
        out.serial = _serial(reader)
        return out


class KerasTensor:
    """An output of the functional API: ``keras.Input(...)`` (kind "input") or a layer applied to
    earlier tensors. Creation order is data-flow order."""

    def __init__(self, kind, parents, layer, origin, shape=None):
        self.kind = kind
        self.parents = parents
        self.layer = layer
        self.origin = origin
        self.shape = shape

    def method(self, reader, name, args, kwargs, node):
        raise reader.error(node, f"tensor method {name}() of the Keras functional API is not understood")


class KerasModel:
    """``Sequential([...])`` plus the layers given to ``model.add``."""

    def __init__(self, items, name, origin, inputs=None, outputs=None):
        self.items = list(items)
        self.name = name
        self.origin = origin
        self.inputs = inputs  # the functional API: keras.Model(inputs, outputs)
        self.outputs = outputs

    def call(self, reader, args, kwargs, node):
        raise reader.error(node, "calling a Keras model on a tensor (a model inside a model) is not understood")

    def method(self, reader, name, args, kwargs, node):
        if name == "add":
            if len(args) != 1 or not _is_item(args[0]):
                raise reader.error(node, "model.add() expects one Keras layer")
            self.items.append(args[0])
            return None
        if name in ("compile", "summary", "build", "fit", "evaluate", "predict", "save", "load_weights"):
            return None  # training and reporting calls do not change the architecture
        raise reader.error(node, f"model.{name}() is not understood")

    def _channels_first(self):
        return any(isinstance(i, KerasLayer) and i.args.get("data_format") == "channels_first" for i in self._layers())

    def _layers(self):
        if self.outputs is None:
            return self.items
        return [t.layer for t in _tensors(self.outputs) if t.layer is not None]

    def input_shape(self):
        """The (C, H, W) or (F,) input given in the file, or None."""
        shape = None
        if self.inputs is not None:
            shape = self.inputs.shape
            if shape is None or not all(isinstance(d, int) for d in shape):
                return None
            shape = tuple(shape)
            return (shape[-1],) + shape[:-1] if len(shape) >= 2 and not self._channels_first() else shape
        for item in self.items[:1]:
            if isinstance(item, KerasTensor):
                shape = item.shape
            elif "input_shape" in item.args or "shape" in item.args:
                shape = item.args.get("input_shape", item.args.get("shape"))
            elif "input_dim" in item.args:
                shape = (item.args["input_dim"],)
        if shape is None or not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) for d in shape):
            return None  # not given, or computed from data (x_train.shape[1:]): --input gives it
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
        if self.outputs is not None:
            return self._build_graph(reader, shape)
        pairs, origins, counts = [], {}, {}
        for item in self.items:
            if isinstance(item, KerasTensor) or item.kind == "InputLayer":
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

    def _build_graph(self, reader, shape):
        """The functional API: each layer converted for the shape it receives, merges as residual adds,
        products or concatenations (channels), named as Keras names layers (in creation order)."""
        tensors = _tensors(self.outputs)
        names = _keras_names([t.layer for t in tensors if t.layer is not None])
        recorder, flow = Recorder(), {}
        for t in tensors:
            if t.kind == "input":
                flow[id(t)] = recorder.new("input", [])
                continue
            parents = [flow[id(p)] for p in t.parents]
            name = names[id(t.layer)]
            if t.kind == "layer":
                received = shape_of(parents[0], shape)
                if received is None:  # a merge before it refuses its inputs: say which, where
                    if id(self.inputs) not in flow:
                        raise ShapeError(f"{reader.path}: the model's tensors do not come from its keras.Input")
                    refuse_upstream(parents[0], flow[id(self.inputs)], shape, reader.path)
                layer = _converted(t.layer, received, name)
                flow[id(t)] = recorder.new("leaf", parents, layer=layer, name=name, origin=t.origin)
            else:
                kind = _MERGES[t.kind]
                if kind == "cat":
                    axis = t.layer.args.get("axis", -1)
                    rank = len(shape_of(parents[0], shape) or shape) + 1
                    if axis not in (-1, rank - 1, 1) or axis == 1 and not self._channels_first():
                        raise ShapeError(f"{t.origin.where}: {name} (Concatenate): only concatenation along the channels "
                                         "is understood")
                flow[id(t)] = recorder.new(kind, parents, origin=t.origin, scope=name)
        inputs = [t for t in tensors if t.kind == "input"]
        if len(inputs) != 1 or inputs[0] is not self.inputs:
            raise ShapeError(f"{self.origin.where}: the model must have one input, the keras.Input it is given")
        out = self.outputs
        network = to_network(build(flow[id(out)], flow[id(inputs[0])]))
        for node in recorder.nodes:
            if node.kind == "leaf":
                for leaf in _leaves(node.layer):
                    network.origins[id(leaf)] = node.origin
        return network


def _is_item(value):
    """What a Sequential holds: a layer, or keras.Input(...) first."""
    return isinstance(value, KerasLayer) or isinstance(value, KerasTensor) and value.kind == "input"


def _tensors(output):
    """The tensors ``output`` depends on, in creation (data-flow) order."""
    seen, todo = {}, [output]
    while todo:
        t = todo.pop()
        if id(t) not in seen:
            seen[id(t)] = t
            todo.extend(t.parents)
    return sorted(seen.values(), key=lambda t: t.serial)


def _keras_names(layers):
    """Keras's automatic names in creation order (conv2d, conv2d_1, ...), or the name= given."""
    names, counts = {}, {}
    for layer in sorted({id(x): x for x in layers}.values(), key=lambda x: x.serial):
        base = snake_case(layer.kind)
        count = counts.get(base, 0)
        counts[base] = count + 1
        names[id(layer)] = layer.args.get("name") or (base if count == 0 else f"{base}_{count}")
    return names


def _converted(item, shape, name):
    try:
        layer = _convert(item, shape)
        _output(layer, shape)
    except ShapeError as exc:
        text = re.sub(r"^[\w.]+( \(\w+\))?: ", "", str(exc))
        raise ShapeError(f"{item.origin.where}: {name} ({item.kind}) given input {format_shape(shape)}: {text}") from None
    return layer


def _transpose(a, shape):
    """Conv2DTranspose: 'valid' gives (n - 1)*s + k, 'same' gives n*s (torch's padding and output_padding)."""
    kernel, stride, dilation = _pair(a["kernel_size"]), _pair(a.get("strides", 1)), _pair(a.get("dilation_rate", 1))
    if a.get("output_padding") is not None:
        raise ShapeError("output_padding is not supported")
    padding, extra = [], []
    for k, s, d in zip(kernel, stride, dilation):
        if _padding(a) == "valid":
            padding.append(0)
            extra.append(max(s - d * (k - 1) - 1, 0))  # Keras's valid output is (n - 1)*s + max(k_eff, s)
            continue
        total = d * (k - 1) + 1 - s  # 2p - output_padding
        p = (total + 1) // 2
        if total < 0 or 2 * p - total >= s:
            raise ShapeError(f"padding='same' with kernel {k} and stride {s} is not supported")
        padding.append(p)
        extra.append(2 * p - total)
    return L.ConvTranspose2d(shape[0], a["filters"], kernel, stride, tuple(padding), tuple(extra),
                             bias=a.get("use_bias", True), dilation=dilation)


def _leaves(layer):
    if layer.is_leaf:
        return [layer]
    return [leaf for child in layer.children() for leaf in _leaves(child)]


def _output(layer, shape):

    return analyze(layer, shape, warn=False, layout="chw").output_shape


def keras_call(reader, q, args, kwargs, node):
    """A call to something under ``keras.``: a layer, ``Sequential`` or ``Input``."""
    name = q.rsplit(".", 1)[1]
    if q.startswith("keras.backend.") or q == "keras.config.image_data_format":
        if name == "image_data_format":
            return "channels_last"  # Keras's default
        if name in ("set_image_data_format", "clear_session", "set_floatx"):
            return None
    if q in ("keras.Sequential", "keras.models.Sequential"):
        items = list(args[0]) if args else list(kwargs.get("layers") or [])
        for item in items:
            if not _is_item(item):
                raise reader.error(node, "Sequential() expects a list of Keras layers")
        return KerasModel(items, kwargs.get("name"), reader.origin(node))
    if q in ("keras.Model", "keras.models.Model"):
        inputs = args[0] if args else kwargs.get("inputs")
        outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        if not isinstance(inputs, KerasTensor) or not isinstance(outputs, KerasTensor):
            raise reader.error(node, "keras.Model(inputs, outputs) is understood with one input and one output tensor")
        return KerasModel([], kwargs.get("name"), reader.origin(node), inputs, outputs)
    if q in ("keras.Input", "keras.layers.Input"):
        shape = args[0] if args else kwargs.get("shape")
        if isinstance(shape, list):
            shape = tuple(shape)
        tensor = KerasTensor("input", [], None, reader.origin(node), shape)
        tensor.serial = _serial(reader)
        return tensor
    if q.startswith("keras.layers.") and name in _MERGE_FUNCTIONS:  # layers.add([x, y])
        inputs = args[0] if args else kwargs.get("inputs")
        layer = KerasLayer(_MERGE_FUNCTIONS[name], {k: v for k, v in kwargs.items() if k in ("axis", "name")},
                           reader.origin(node))
        layer.serial = _serial(reader)
        return layer.call(reader, [inputs], {}, node)
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
    bound = {k: reader.layer_argument(v, node) if k not in ("input_shape", "shape") else v for k, v in bound.items()}
    layer = KerasLayer(name, bound, reader.origin(node))
    layer.serial = _serial(reader)
    return layer


def _serial(reader):
    """Creation order of Keras layers and tensors (Keras names layers in that order)."""
    reader.keras_serial = getattr(reader, "keras_serial", 0) + 1
    return reader.keras_serial


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
    if kind == "DepthwiseConv2D":
        kernel, stride, dilation = _pair(a["kernel_size"]), _pair(a.get("strides", 1)), _pair(a.get("dilation_rate", 1))
        padding, pad = _window(a, kernel, stride, dilation)
        multiplier = a.get("depth_multiplier", 1)
        conv = L.Conv2d(shape[0], shape[0] * multiplier, kernel, stride, padding, dilation, shape[0], a.get("use_bias", True))
        return _with(conv, pad, _activation(a.get("activation")))
    if kind == "SeparableConv2D":  # depthwise (no bias) then pointwise (with the bias): Keras's parameters
        kernel, stride, dilation = _pair(a["kernel_size"]), _pair(a.get("strides", 1)), _pair(a.get("dilation_rate", 1))
        padding, pad = _window(a, kernel, stride, dilation)
        middle = shape[0] * a.get("depth_multiplier", 1)
        pairs = [] if pad is None else [("pad", pad)]
        pairs += [("depthwise", L.Conv2d(shape[0], middle, kernel, stride, padding, dilation, shape[0], False)),
                  ("pointwise", L.Conv2d(middle, a["filters"], 1, bias=a.get("use_bias", True)))]
        activation = _activation(a.get("activation"))
        if activation is not None:
            pairs.append(("activation", activation))
        return Sequential(OrderedDict(pairs))
    if kind == "Conv2DTranspose":
        return _with(_transpose(a, shape), None, _activation(a.get("activation")))
    if kind in _INFERENCE_IDENTITY:
        return L.Identity()
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
