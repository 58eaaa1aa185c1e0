"""Write docs/notebooks/tour.ipynb (cells without outputs) and, executing it with nbclient, its page for the
documentation site, docs/notebooks/tour.md: the cells with their outputs (tests/test_notebook.py executes the
notebook and compares both files).

    python tools/make_notebook.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "notebooks" / "tour.ipynb"
PAGE = OUT.with_suffix(".md")

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


def execute(notebook_text):
    """The notebook run in a fresh kernel (needs nbclient and ipykernel: the docs extra), as nbformat's object."""
    import nbclient
    import nbformat

    nb = nbformat.reads(notebook_text, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def _one_block(html):
    """Raw HTML that Markdown passes through whole: no blank line inside."""
    return "\n".join(line for line in html.splitlines() if line.strip())


def _output(output):
    """One cell output as Markdown: HTML and SVG raw (pictures in the zoomable frame), LaTeX as maths for the
    site's KaTeX, streams and plain text as text blocks. A DataFrame shows as text (pandas' HTML changes with
    its version)."""
    if output["output_type"] == "stream":
        return f"```text\n{output['text'].rstrip()}\n```"
    data = output["data"]
    html = data.get("text/html", "")
    if html and "dataframe" not in html:
        return _one_block(f'<div class="notebook-output">{html}</div>')
    if "image/svg+xml" in data:
        svg = _one_block(data["image/svg+xml"])
        return f'<figure class="cnncalc-figure"><div class="cnncalc-figure-frame">{svg}</div></figure>'
    if "text/latex" in data:
        return data["text/latex"].strip()
    return f"```text\n{data['text/plain'].rstrip()}\n```"


def page(nb):
    """docs/notebooks/tour.md: the executed notebook's cells and outputs, in order."""
    out = ["<!-- Written by tools/make_notebook.py from tour.ipynb, executed; do not edit by hand. -->", ""]
    for i, cell in enumerate(nb.cells):
        source = cell.source.strip()
        if cell.cell_type == "markdown":
            out += [source, ""]
            if i == 0:
                out += ["The notebook itself: [tour.ipynb](tour.ipynb) (run it with `jupyter lab`).", ""]
            continue
        out += ["```python", source, "```", ""]
        for output in cell.outputs:
            out += [_output(output), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text(), encoding="utf-8")
    print(f"wrote {OUT}")
    PAGE.write_text(page(execute(text())), encoding="utf-8")
    print(f"wrote {PAGE}")
