"""Read the models people already have: Python source (PyTorch, Keras), spec files, live torch modules.

``load_file(path)`` dispatches on the suffix (.py, .yaml/.yml, .json); ``analyze_file`` analyses the
result and, when shapes do not fit, names the first layer that breaks with ``file:line``, the input
it receives, what it expects and the value that would fit (``loaded.diagnose``).

The rooms: ``interpreter`` runs model source statically, ``keras`` maps Keras layers, ``spec`` reads
YAML/JSON specs, ``live`` converts torch modules; ``dataflow`` turns a recorded forward into containers
(source and live), ``loaded`` holds what a file gives, and ``torch_names`` PyTorch's names.
"""

from __future__ import annotations

import re
from pathlib import Path

from typing import TYPE_CHECKING, Any

from ..dims import ShapeLike
from ..errors import ShapeError
from ..layers import Layer

if TYPE_CHECKING:  # the readers are imported on first use
    from ..report import Report
    from .loaded import Loaded

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def load_file(path: str | Path, cls: str | None = None, args: tuple = (), kwargs: dict | None = None) -> Loaded:
    """A model file read into an object with ``.model``, ``.name`` and ``.input_shape`` (or None);
    for a Python file ``cls`` picks the model and ``args``/``kwargs`` are its constructor arguments."""
    suffix = Path(path).suffix.lower()
    if suffix == ".py":
        from .source import load_source

        return load_source(Path(path), cls, args, kwargs)
    if suffix in _SPEC_SUFFIXES:
        from .spec import load_spec

        if cls is not None or args or kwargs:
            raise ShapeError(f"{path}: --class and --args apply to Python files only")
        return load_spec(path)
    raise ShapeError(f"{path}: unknown model file type {suffix or '(none)'}: expected .py, .yaml, .yml or .json")


def analyze_file(path: str | Path, input_shape: ShapeLike | None = None, cls: str | None = None, args: tuple = (),
                 kwargs: dict | None = None, **analyze_kwargs) -> Report:
    """Analyse a model file; a ShapeError names the file and line of the first layer that breaks.

    ``input_shape`` defaults to the file's own (a spec's ``input_shape``, Keras's ``input_shape=``);
    ``analyze_kwargs`` go to ``cnncalc.analyze`` (batch, name, warn).
    """
    return load_file(path, cls, args, kwargs).analyze(input_shape, **analyze_kwargs)


_BUILDER = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")
_MAX_ARGS_TEXT = 10_000


def is_builder_spec(text: str) -> bool:
    """``package.module:callable`` (an installed builder, such as ``torchvision.models:resnet50``)."""
    return bool(_BUILDER.fullmatch(text))


def parse_arguments(text: str) -> tuple[tuple, dict]:
    """(args, kwargs) from ``--args`` text such as ``"'VGG16', num_classes=10"``: Python literals only,
    parsed with ``ast.literal_eval`` (never evaluated as code)."""
    import ast

    if len(text) > _MAX_ARGS_TEXT:
        raise ShapeError(f"--args: longer than {_MAX_ARGS_TEXT:,} characters")
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or any(isinstance(a, ast.Starred) for a in call.args) or \
                any(k.arg is None for k in call.keywords):
            raise ValueError("expected positional and keyword arguments")
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
        raise ShapeError(f"--args {text!r}: not Python literals ({' '.join(reason.split())[:120]}): "
                         "write e.g. --args \"'VGG16', num_classes=10\"") from None
    return args, kwargs


def load_builder(spec: str, args: tuple = (), kwargs: dict | None = None) -> Loaded:
    """An installed package's model builder (``torchvision.models:resnet50``), imported and called with
    ``args``/``kwargs`` (the user's explicit choice; needs torch), as a ``Loaded`` whose network comes
    from the traced module."""
    from .builders import load_builder as load

    return load(spec, args, kwargs or {})


def from_source(text_or_path: str | Path, cls: str | None = None, args: tuple = (), kwargs: dict | None = None,
                input_shape: ShapeLike | None = None) -> Layer:
    from .source import from_source as read

    return read(text_or_path, cls, args, kwargs, input_shape)


def from_torch(module: Any, trace: bool = True, input_shape: ShapeLike | None = None) -> Layer:
    from .live import from_torch as convert

    return convert(module, trace, input_shape)


def from_spec(spec_or_path: dict | str | Path) -> Layer:
    from .spec import from_spec as read

    return read(spec_or_path)


def to_spec(model: Layer, name: str | None = None, input_shape: ShapeLike | None = None) -> dict:
    from .spec import to_spec as dump

    return dump(model, name, input_shape)


__all__ = ["load_file", "analyze_file", "from_source", "from_torch", "from_spec", "to_spec", "load_builder",
           "parse_arguments", "is_builder_spec"]
