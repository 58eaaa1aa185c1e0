"""Display of the numbers: everything here reads a ``Report`` (or runs an analysis to explain one) and
draws it; nothing in the engine imports this package.

- ``table``: the terminal table (torchinfo-like) with totals and memory;
- ``formats``: JSON, CSV and markdown;
- ``notebook``: Jupyter HTML/LaTeX display and pandas;
- ``svg``: the architecture drawing and the receptive-field plot;
- ``explain``: step-by-step derivations in English or Chinese, as text, Markdown or LaTeX.
"""

from __future__ import annotations

from .formats import FORMATS as FORMATS  # noqa: F401 (the format table, by name)
from .formats import to_csv, to_json, to_markdown
from .table import COLUMNS, DEFAULT_COLUMNS, collapse, count, megabytes, rf_text, table, totals, units

__all__ = ["table", "totals", "count", "units", "megabytes", "rf_text", "collapse", "COLUMNS", "DEFAULT_COLUMNS",
           "to_json", "to_csv", "to_markdown"]
