"""Read the models people already have: Python source (PyTorch, Keras), spec files, live torch modules.

``load_file(path)`` dispatches on the suffix (.py, .yaml/.yml, .json); ``analyze_file`` analyses the
result and, when shapes do not fit, names the first layer that breaks with ``file:line``, the input
it receives, what it expects and the value that would fit.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ShapeError

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def load_file(path, cls=None):
    """A model file read into an object with ``.model``, ``.name`` and ``.input_shape`` (or None)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".py":
        from .source import load_source

        return load_source(Path(path), cls)
    if suffix in _SPEC_SUFFIXES:
        from .spec import load_spec

        if cls is not None:
            raise ShapeError(f"{path}: --class applies to Python files only")
        return load_spec(path)
    raise ShapeError(f"{path}: unknown model file type {suffix or '(none)'}: expected .py, .yaml, .yml or .json")


def analyze_file(path, input_shape=None, cls=None, **analyze_kwargs):
    """Analyse a model file; a ShapeError names the file and line of the first layer that breaks.

    ``input_shape`` defaults to the file's own (a spec's ``input_shape``, Keras's ``input_shape=``);
    ``analyze_kwargs`` go to ``cnncalc.analyze`` (batch, name, warn).
    """
    return load_file(path, cls).analyze(input_shape, **analyze_kwargs)


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
    from ..dims import format_shape

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


def from_source(text_or_path, cls=None, input_shape=None):
    from .source import from_source as read

    return read(text_or_path, cls, input_shape)


def from_torch(module, trace=False):
    from .live import from_torch as convert

    return convert(module, trace)


def from_spec(spec_or_path):
    from .spec import from_spec as read

    return read(spec_or_path)


def to_spec(model, name=None, input_shape=None):
    from .spec import to_spec as dump

    return dump(model, name, input_shape)


__all__ = ["load_file", "analyze_file", "diagnose", "from_source", "from_torch", "from_spec", "to_spec"]
