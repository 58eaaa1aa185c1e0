"""Read a PyTorch or Keras model from Python source, statically: ``ast`` only, never import/exec/eval.

The entry points: ``load_source`` (a ``Loaded``) and ``from_source`` (the network). The subset of
Python that is understood, and how the forward data flow becomes containers, is described in
``interpreter`` and ``dataflow``.
"""

from __future__ import annotations

from ..dims import as_shape
from ..errors import ShapeError
from .interpreter import Instance, KerasModel, LeafMod, Reader, SeqMod
from .loaded import Loaded, read_text


def load_source(text_or_path, cls=None):
    """Read a model from Python source into a ``Loaded`` (see module docstring)."""
    source, path = read_text(text_or_path)
    reader = Reader(source, path)
    try:
        name, value = reader.choose(cls)
        value = reader.instantiate(value, name)
    except ShapeError as exc:
        raise reader.located(exc) from None
    if isinstance(value, KerasModel):
        return Loaded(value.name or name, path, "keras", lambda shape: _located(reader, lambda: value.build(reader, shape)),
                      value.input_shape())
    if isinstance(value, (Instance, SeqMod, LeafMod)):
        return Loaded(name, path, "torch", lambda shape: _located(reader, lambda: reader.torch_model(value, name)))
    raise ShapeError(f"{path}: {name} is not a model")


def _located(reader, thunk):
    try:
        return thunk()
    except ShapeError as exc:
        raise reader.located(exc) from None


def from_source(text_or_path, cls=None, input_shape=None):
    """The cnncalc network defined by a PyTorch or Keras source file (or text), read without running it.

    ``cls`` picks a class, function or variable when the file defines several models; Keras models
    are built for ``input_shape`` (C, H, W) when given, else for their ``input_shape=``.
    """
    loaded = load_source(text_or_path, cls)
    return loaded.build(None if input_shape is None else as_shape(input_shape))


__all__ = ["from_source", "load_source"]
