"""Read the models people already have: Python source (PyTorch, Keras), spec files, live torch modules.

``load_file(path)`` dispatches on the suffix (.py, .yaml/.yml, .json); ``analyze_file`` analyses the
result and, when shapes do not fit, names the first layer that breaks with ``file:line``, the input
it receives, what it expects and the value that would fit (``loaded.diagnose``).

The rooms: ``interpreter`` runs model source statically, ``keras`` maps Keras layers, ``spec`` reads
YAML/JSON specs, ``live`` converts torch modules; ``dataflow`` turns a recorded forward into containers
(source and live), ``loaded`` holds what a file gives, and ``torch_names`` PyTorch's names.
"""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING, Any

from ..dims import ShapeLike
from ..errors import ShapeError
from ..layers import Layer

if TYPE_CHECKING:  # the readers are imported on first use
    from ..report import Report
    from .loaded import Loaded

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def load_file(path: str | Path, cls: str | None = None) -> Loaded:
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


def analyze_file(path: str | Path, input_shape: ShapeLike | None = None, cls: str | None = None,
                 **analyze_kwargs) -> Report:
    """Analyse a model file; a ShapeError names the file and line of the first layer that breaks.

    ``input_shape`` defaults to the file's own (a spec's ``input_shape``, Keras's ``input_shape=``);
    ``analyze_kwargs`` go to ``cnncalc.analyze`` (batch, name, warn).
    """
    return load_file(path, cls).analyze(input_shape, **analyze_kwargs)


def from_source(text_or_path: str | Path, cls: str | None = None, input_shape: ShapeLike | None = None) -> Layer:
    from .source import from_source as read

    return read(text_or_path, cls, input_shape)


def from_torch(module: Any, trace: bool = False) -> Layer:
    from .live import from_torch as convert

    return convert(module, trace)


def from_spec(spec_or_path: dict | str | Path) -> Layer:
    from .spec import from_spec as read

    return read(spec_or_path)


def to_spec(model: Layer, name: str | None = None, input_shape: ShapeLike | None = None) -> dict:
    from .spec import to_spec as dump

    return dump(model, name, input_shape)


__all__ = ["load_file", "analyze_file", "from_source", "from_torch", "from_spec", "to_spec"]
