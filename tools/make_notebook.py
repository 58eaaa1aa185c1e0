"""Write docs/notebooks/tour.ipynb (cells without outputs; tests/test_notebook.py executes it with nbclient).

    python tools/make_notebook.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "notebooks" / "tour.ipynb"

CELLS = [
    ("markdown", "# A tour of cnncalc in Jupyter\n\nReports display as HTML tables, symbolic results as LaTeX, "
                 "and `report.to_pandas()` gives a DataFrame (with the optional `pandas` extra)."),
    ("code", "import cnncalc\nfrom cnncalc import Conv2d, MaxPool2d, ReLU, Sequential, Flatten, Linear"),
    ("markdown", "## AlexNet, as the 2012 paper describes it"),
    ("code", "alexnet = cnncalc.analyze(cnncalc.model(\"alexnet\"), \"3x227x227\")\n"
             "assert alexnet.params == 62_378_344\nalexnet"),
    ("code", "alexnet.receptive_field"),
    ("markdown", "## A symbolic network: sizes as formulas of H and W"),
    ("code", "net = Sequential(Conv2d(3, 64, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(64, 128, 3, padding=1), ReLU(), MaxPool2d(2))\n"
             "symbolic = cnncalc.analyze(net, \"3xHxW\")\n"
             "assert str(symbolic.output_shape) == \"(128, floor(H/4), floor(W/4))\"\nsymbolic"),
    ("markdown", "## A custom network with a symbolic kernel size"),
    ("code", "k = cnncalc.symbol(\"k\")\n"
             "custom = cnncalc.analyze(Sequential(Conv2d(1, 8, k), ReLU(), Conv2d(8, 8, k)), (1, 28, 28))\n"
             "assert str(custom.receptive_field.size) == \"(2*k - 1, 2*k - 1)\"\ncustom.receptive_field"),
    ("markdown", "## As a DataFrame"),
    ("code", "frame = alexnet.to_pandas()\nassert int(frame[\"params\"].sum()) == alexnet.params\n"
             "frame[[\"name\", \"type\", \"output_shape\", \"params\", \"macs\"]].head()"),
    ("markdown", "## The architecture drawing"),
    ("code", "from IPython.display import SVG\nfrom cnncalc import svg\nSVG(svg.svg(alexnet))"),
]


def notebook():
    cells = []
    for i, (kind, source) in enumerate(CELLS):
        cell = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def text():
    return json.dumps(notebook(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text(), encoding="utf-8")
    print(f"wrote {OUT}")
