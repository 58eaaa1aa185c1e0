"""Installed model builders on the command line: ``cnncalc package.module:callable`` imports the
package (the user's explicit choice; it needs torch) and analyses the module its callable returns,
through the live path (``live``)."""

from __future__ import annotations

from ..errors import ShapeError
from .dataflow import Network
from .live import convert, first_line
from .loaded import Loaded

__all__ = ["load_builder"]


def load_builder(spec, args, kwargs):
    """``package.module:callable`` imported and called: a ``Loaded`` of the module it returns."""
    import importlib

    module_name, _, attribute = spec.partition(":")
    try:
        import torch
    except ImportError:
        raise ShapeError(f"{spec}: analysing an installed builder needs PyTorch: pip install torch "
                         f"(and the package that defines {module_name.split('.')[0]})") from None
    try:
        package = importlib.import_module(module_name)
    except Exception as exc:  # any import failure of the user's package is one line
        raise ShapeError(f"{spec}: cannot import {module_name}: {first_line(exc)}") from None
    builder = getattr(package, attribute, None)
    if not callable(builder):
        raise ShapeError(f"{spec}: {module_name} has no callable {attribute}")
    try:
        module = builder(*args, **kwargs)
    except Exception as exc:  # the builder's own argument checks
        raise ShapeError(f"{spec}: {attribute}() failed: {first_line(exc)}") from None
    if not isinstance(module, torch.nn.Module):
        raise ShapeError(f"{spec}: {attribute}() returned {type(module).__name__}, not a torch.nn.Module")
    return Loaded(attribute, spec, "live", lambda shape: Network(convert(module, shape), {}), shape_dependent=True)
