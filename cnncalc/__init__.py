"""cnncalc: exact, symbolic shapes, parameters, MACs, memory and receptive fields of convolutional networks.

Importing cnncalc and analysing a concrete shape imports neither sympy nor numpy.
"""

from typing import Any

from .analysis import analyze
from .report import DTYPE_BYTES, Memory, ReceptiveField, Report, Row
from .dims import parse_shape, symbol
from .errors import ShapeError, ShapeWarning
from .graph import Concat, Merge, Residual, Sequential
from . import layers as _layers
from .layers import *  # noqa: F401,F403 (every layer type, listed in layers.__all__)
from .zoo import model, models
from .explain import explain  # the function (through the cnncalc.explain module, which stays importable)
from .solve import solve  # likewise: cnncalc.solve(...) is the function, cnncalc.solve's helpers stay importable
from .version import __version__




def _display(name):
    """A method that draws through ``cnncalc.render.notebook.<name>``, imported on first use (start-up time)."""

    def method(self, *args, **kwargs):
        from .render import notebook

        return getattr(notebook, name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"See cnncalc.render.notebook.{name}."
    return method


# Jupyter display and to_pandas, kept apart from the numbers: render.notebook draws, loaded on first use
Report._repr_html_ = _display("report_html")  # type: ignore[attr-defined]
Report._repr_latex_ = _display("report_latex")  # type: ignore[attr-defined]


def _to_pandas(self: Report, dtype: str = "float32") -> Any:
    """The layer rows as a pandas DataFrame (cnncalc.render.notebook.to_pandas; needs the ``pandas`` extra)."""
    from .render.notebook import to_pandas

    return to_pandas(self, dtype)


_to_pandas.__name__ = _to_pandas.__qualname__ = "to_pandas"
Report.to_pandas = _to_pandas  # type: ignore[attr-defined]
ReceptiveField._repr_latex_ = _display("rf_latex")  # type: ignore[attr-defined]
Memory._repr_html_ = _display("memory_html")  # type: ignore[attr-defined]

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
