"""cnncalc: exact, symbolic shapes, parameters, MACs, memory and receptive fields of convolutional networks.

Importing cnncalc and analysing a concrete shape imports neither sympy nor numpy.
"""

from .analysis import analyze
from .report import DTYPE_BYTES, Memory, ReceptiveField, Report, Row
from .dims import parse_shape, symbol
from .errors import ShapeError, ShapeWarning
from .graph import Concat, Merge, Residual, Sequential
from . import layers as _layers
from .layers import *  # noqa: F401,F403 (every layer type, listed in layers.__all__)
from .zoo import model, models
from .render.notebook import install as _install_display
from .explain import explain  # the function (through the cnncalc.explain module, which stays importable)
from .solve import solve  # likewise: cnncalc.solve(...) is the function, cnncalc.solve's helpers stay importable

__version__ = "0.1.0"

_install_display(Report, ReceptiveField, Memory)  # Jupyter display and to_pandas, kept apart from the numbers

__all__ = [
    "analyze", "Report", "Row", "ReceptiveField", "Memory", "DTYPE_BYTES", "ShapeError", "ShapeWarning",
    "parse_shape", "symbol", "Sequential", "Residual", "Concat", "Merge",
    "model", "models", "from_source", "from_torch", "from_spec", "to_spec", "load_file", "analyze_file",
    "explain", "solve", "same_padding", "padding_for", "input_sizes", "input_for_output", "conv_settings",
    "check_file", "check_inline",
]
__all__ += _layers.__all__

# Readers of model files and live torch modules, imported on first use (they must not slow `import cnncalc`).
_FRONTENDS = {"from_source", "from_torch", "from_spec", "to_spec", "load_file", "analyze_file"}
# Solving and homework checking (cnncalc.solve, cnncalc.check), also imported on first use.
_LAZY = {name: "solve" for name in ("same_padding", "padding_for", "input_sizes", "input_for_output", "conv_settings")}
_LAZY.update(check_file="check", check_inline="check")


def __getattr__(name):
    if name in _FRONTENDS:
        from . import frontends

        return getattr(frontends, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in ("reference", "validate"):  # they import numpy: loaded on first use only
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
