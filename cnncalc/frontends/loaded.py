"""What reading a model file gives: ``Loaded`` (the network, its name, its input shape, and per layer the
``Origin`` where it was written), and the diagnosis that names file:line when a layer refuses its input."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ..analysis import analyze
from ..dims import as_shape, format_shape
from ..errors import ShapeError
from ..files import read_source

__all__ = ["Loaded", "Origin", "diagnose", "read_text", "refuse_upstream"]


class Origin:
    """Where a layer or merge comes from: file, line and the call's source text (for fix suggestions)."""

    __slots__ = ("path", "line", "node", "source", "receiver")

    def __init__(self, path, node, source, receiver=None):
        self.path = path
        self.line = node.lineno
        self.node = node
        self.source = source
        self.receiver = receiver

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def with_argument(self, position, keyword, value):
        """The call's source text with one argument (by position or keyword) replaced by ``value``."""
        call = self.node
        if not isinstance(call, ast.Call):
            return None
        target = next((k.value for k in call.keywords if k.arg == keyword), None)
        if target is None and len(call.args) > position and not isinstance(call.args[position], ast.Starred):
            target = call.args[position]
        if target is None:
            return None
        lines = self.source.splitlines(keepends=True)

        def offset(line, col):
            return sum(len(s.encode()) for s in lines[: line - 1]) + col

        raw = self.source.encode()
        start, end = offset(call.lineno, call.col_offset), offset(call.end_lineno, call.end_col_offset)
        a, b = offset(target.lineno, target.col_offset), offset(target.end_lineno, target.end_col_offset)
        text = raw[start:a] + str(value).encode() + raw[b:end]
        return " ".join(text.decode().split())



# --- public entry points --------------------------------------------------------------------------


class Loaded:
    """A model read from a file: ``.model``, ``.name``, ``.input_shape`` (from Keras ``input_shape=``, else None)."""

    def __init__(self, name, path, kind, builder, input_shape=None, shape_dependent=False):
        self.name = name
        self.path = path
        self.kind = kind
        self._builder = builder
        self.input_shape = input_shape
        self._shape_dependent = shape_dependent or kind == "keras"
        self._built = {}

    def network(self, input_shape=None):
        """The converted network with its origins, built for ``input_shape`` (Keras layers need it; PyTorch
        code may read sizes such as ``x.size(2)``)."""
        shape = input_shape if input_shape is not None else self.input_shape
        if shape is not None:
            shape = as_shape(shape)
        key = repr(shape) if self._shape_dependent else None
        if key not in self._built:
            self._built[key] = self._builder(shape)
        return self._built[key]

    def build(self, input_shape=None):
        return self.network(input_shape).model

    @property
    def model(self):
        return self.build()

    @property
    def origins(self):
        return self.network().origins

    def analyze(self, input_shape=None, **analyze_kwargs):
        """``cnncalc.analyze`` of the model on ``input_shape`` (default: the file's); a ShapeError
        names the file and line of the first layer that breaks (``frontends.diagnose``)."""
        shape = self.input_shape if input_shape is None else as_shape(input_shape)
        if shape is None:
            raise ShapeError(f"{self.path}: the model does not give its input shape: pass one (--input CxHxW)")
        network = self.network(shape)
        analyze_kwargs.setdefault("name", self.name)
        try:
            return analyze(network.model, shape, **analyze_kwargs)
        except ShapeError as exc:
            raise ShapeError(diagnose(network, exc, self.path)) from None

    def __repr__(self):
        return f"Loaded({self.name!r}, {self.path}, {self.kind}, input_shape={self.input_shape})"


def read_text(text_or_path):
    """(source, path) from source text, a path string or a Path."""
    if isinstance(text_or_path, Path) or (isinstance(text_or_path, str) and "\n" not in text_or_path
                                          and text_or_path.endswith(".py")):
        return read_source(text_or_path), str(text_or_path)  # a regular file within the size limit
    return text_or_path, "<source>"



def refuse_upstream(node, start, shape, path):
    """Raise the diagnosis of the layer that refuses its input on the way from ``start`` to ``node``
    (a recorded forward whose sizes are read after a layer that does not fit)."""
    from .dataflow import build, to_network

    network = to_network(build(node, start))
    try:
        analyze(network.model, shape, warn=False, layout="chw")  # the shape as read already
    except ShapeError as exc:
        raise ShapeError(diagnose(network, exc, path)) from None
    raise ShapeError(f"{path}: a tensor's shape cannot be computed")


def diagnose(network, exc, path="<source>"):
    """The message for the layer or merge of ``network`` that refused its input in ``analyze`` (the
    ShapeError ``exc`` carries it), with file:line and a fix."""
    origin = network.origins.get(id(exc.layer)) if exc.layer is not None else None
    if exc.layer is None:
        return f"{path}: {exc}"
    if not exc.layer.is_leaf:
        return f"{origin.where if origin else path}: {exc}"
    label = str(exc)[: len(str(exc)) - len(exc.reason) - 2]  # "name (Type)", or "Type" for an unnamed layer
    if not label.endswith(")"):
        label = f"{label} ({label})"
    return _message(origin, path, label, exc.input_shape, exc.reason, exc.layer)


def _message(origin, path, label, shape, text, layer):
    where = origin.where if origin else path
    fix = _fix(origin, layer, shape, text) if origin else None
    if fix:
        text = re.sub(r": use [A-Za-z]+\(.*?\)(?= \(|$)", "", text) + f": use {fix}"
    elif origin is not None and origin.receiver:
        text = text.replace("x.", f"{origin.receiver}.")
    return f"{where}: {label} given input {format_shape(shape)}: {text}"


# layer type -> (position, keyword) of the argument that states the incoming size
_INPUT_ARGUMENT = {
    "Linear": (0, "in_features"),
    "Conv2d": (0, "in_channels"),
    "ConvTranspose2d": (0, "in_channels"),
    "BatchNorm2d": (0, "num_features"),
}


def _fix(origin, layer, shape, text):
    """The layer's call as written, with its input size set to what it receives."""
    if layer.type not in _INPUT_ARGUMENT or not text.startswith("expects"):
        return None
    if layer.type == "Linear":
        if len(shape) != 1:
            return None  # a map reaching a Linear: the core's message says to flatten first
        value = shape[0]
    elif len(shape) == 3:
        value = shape[0]
    else:
        return None
    position, keyword = _INPUT_ARGUMENT[layer.type]
    return origin.with_argument(position, keyword, value)
