"""Read a PyTorch or Keras model from Python source, statically: ``ast`` only, never import/exec/eval.

The entry points: ``load_source`` (a ``Loaded``) and ``from_source`` (the network). The subset of
Python that is understood is described in ``interpreter``, how the model is chosen in ``choose``, and
how the forward data flow becomes containers in ``dataflow``.
"""

from __future__ import annotations

from ..dims import as_shape
from ..errors import ShapeError
from .choose import choose, instantiate
from .interpreter import KerasModel, Reader, is_model_value, one_line
from .loaded import Loaded, read_text
from .values import Instance, LeafMod, SeqMod, Unknown


def load_source(text_or_path, cls=None, args=(), kwargs=None, budget=None):
    """Read a model from Python source into a ``Loaded``: ``cls`` picks a class, builder function or
    variable; ``args``/``kwargs`` are its constructor arguments (plain Python values)."""
    source, path = read_text(text_or_path)
    reader = Reader(source, path, budget)
    try:
        name, value, why = choose(reader, cls)
        value = instantiate(reader, value, name, args, kwargs)
    except ShapeError as exc:
        raise reader.located(exc) from None
    except RecursionError:
        raise ShapeError(f"{path}: the model's code nests calls too deeply to follow") from None
    if isinstance(value, Unknown):
        raise ShapeError(one_line(value.root))
    if isinstance(value, KerasModel):
        return Loaded(value.name or name, path, "keras", lambda shape: _located(reader, lambda: value.build(reader, shape), why),
                      value.input_shape())
    if isinstance(value, (Instance, SeqMod, LeafMod)) and (is_model_value(value) or isinstance(value, (LeafMod, SeqMod))):
        if isinstance(value, Instance) and name == reader.model_variable(value):
            name = value.cls.name  # model = SimpleCNN(): the report is SimpleCNN's
        return Loaded(name, path, "torch",
                      lambda shape: _located(reader, lambda: reader.torch_model(value, name, shape), why),
                      shape_dependent=True)
    raise ShapeError(f"{path}: {name} is not a model")


def _located(reader, thunk, why=None):
    try:
        return thunk()
    except ShapeError as exc:
        located = reader.located(exc)
        if why:
            located = ShapeError(one_line(f"{located} ({why})"))
        raise located from None


def from_source(text_or_path, cls=None, args=(), kwargs=None, input_shape=None):
    """The cnncalc network defined by a PyTorch or Keras source file (or text), read without running it.

    ``cls`` picks a class, function or variable when the file defines several models; ``args`` and
    ``kwargs`` are its constructor arguments. With ``input_shape`` (C, H, W) the network is built for
    that input (Keras models need one unless they give ``input_shape=``; PyTorch code reading
    ``x.size(2)`` does too).
    """
    loaded = load_source(text_or_path, cls, args, kwargs)
    return loaded.build(None if input_shape is None else as_shape(input_shape))


__all__ = ["from_source", "load_source"]
