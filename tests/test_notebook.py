"""Jupyter display (HTML table, LaTeX for symbols), to_pandas, and the docs notebook executed end to end."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tool_loader import load_tool

import cnncalc
from cnncalc import Conv2d, MaxPool2d, ReLU, Sequential

ROOT = Path(__file__).resolve().parent.parent
NET = Sequential(Conv2d(3, 64, 3, padding=1), ReLU(), MaxPool2d(2))


def _cells(html):
    root = ET.fromstring(html)  # the fragment is well-formed XML too
    return [[td.text for td in tr.findall("td")] for tr in root.iter("tr") if len(tr.findall("td")) == 7]


def test_html_table_rows_and_totals():
    report = cnncalc.analyze(NET, "3x32x32")
    rows = _cells(report._repr_html_())
    assert rows[:3] == [
        ["0", "Conv2d", "64x32x32", "1,792", "1,769,472", "3x3", "1x1"],
        ["1", "ReLU", "64x32x32", "--", "--", "3x3", "1x1"],
        ["2", "MaxPool2d", "64x16x16", "--", "--", "4x4", "2x2"],
    ]
    html = report._repr_html_()
    assert "<th style='text-align:left'>Params</th><td>1,792</td>" in html
    assert "<th style='text-align:left'>MACs</th><td>1,769,472</td>" in html
    assert "<td>size 4x4, stride 2x2, start -1x-1</td>" in html


def test_html_escapes_names_and_shows_vectors():
    report = cnncalc.analyze(cnncalc.model("alexnet"), "3x227x227", name="<alex&net>")
    html = report._repr_html_()
    assert "<strong>&lt;alex&amp;net&gt;</strong>" in html
    rows = _cells(html)
    assert rows[-1] == ["classifier.6", "Linear", "1000", "4,097,000", "4,096,000", "--", "--"]


def test_symbolic_values_are_latex():
    report = cnncalc.analyze(NET, "3xHxW")
    html = report._repr_html_()
    assert "\\(64 \\times \\left\\lfloor{\\frac{H}{2}}\\right\\rfloor \\times \\left\\lfloor{\\frac{W}{2}}\\right\\rfloor\\)" in html
    latex = report._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}\\text{output} &= 64 \\times")
    assert "\\text{params} &= 1{,}792" in latex


def test_latex_is_only_for_symbolic_results():
    concrete = cnncalc.analyze(NET, "3x32x32")
    assert concrete._repr_latex_() is None
    assert concrete.receptive_field._repr_latex_() is None
    k = cnncalc.symbol("k")
    rf = cnncalc.analyze(Conv2d(1, 1, k, padding=1), "1x32x32").receptive_field
    assert rf._repr_latex_() == "$\\text{size} = (k, k),\\quad \\text{stride} = (1, 1),\\quad \\text{start} = (-1, -1)$"


def test_sums_in_shapes_are_parenthesised():
    report = cnncalc.analyze(Conv2d(3, 6, 5), "3xHxW")
    assert "6 \\times \\left(H - 4\\right) \\times \\left(W - 4\\right)" in report._repr_latex_()


def test_to_pandas_rows_match_the_report():
    pandas = pytest.importorskip("pandas")
    report = cnncalc.analyze(cnncalc.model("resnet18"), "3x224x224", warn=False)
    frame = report.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["name", "type", "input_shape", "output_shape", "params", "macs", "rf_size", "rf_stride", "rf_start"]
    assert len(frame) == len(report.layers)
    assert int(frame["params"].sum()) == report.params == 11_689_512
    assert int(frame["macs"].sum()) == report.macs
    first = frame.iloc[0]
    assert (first["name"], first["output_shape"], first["rf_size"], first["rf_start"]) == ("conv1", (64, 112, 112), (7, 7), (-3, -3))
    assert frame.iloc[-1]["rf_size"] is None


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    report = cnncalc.analyze(NET, "3x32x32")
    with pytest.raises(ImportError, match=r"needs pandas: pip install 'cnncalc\[pandas\]'"):
        report.to_pandas()


def test_committed_notebook_is_fresh():
    assert (ROOT / "docs" / "notebooks" / "tour.ipynb").read_text(encoding="utf-8") == load_tool("make_notebook").text()


def test_tour_notebook_runs():
    """Execute docs/notebooks/tour.ipynb in a real kernel (its cells assert the numbers they show)."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.reads((ROOT / "docs" / "notebooks" / "tour.ipynb").read_text(encoding="utf-8"), as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = {cell["id"]: cell["outputs"] for cell in nb.cells if cell["cell_type"] == "code"}
    alexnet = outputs["cell-3"][0]["data"]
    assert "text/html" in alexnet and "62,378,344" in alexnet["text/html"]
    assert "text/latex" in outputs["cell-6"][0]["data"]  # the symbolic report
    assert outputs["cell-8"][0]["data"]["text/latex"].startswith("$\\text{size} = (2 k - 1, 2 k - 1)")
    assert "image/svg+xml" in outputs["cell-12"][0]["data"]
    json.dumps(nb)  # outputs are plain data


RESULT_CELLS = {
    "explain": 'cnncalc.explain(cnncalc.Conv2d(3, 96, 11, 4), "3x227x227")',
    "check": 'cnncalc.check_inline("conv in=3x227x227 out=96 k=11 s=4 -> 55x55x96 params=34848")',
    "padding": 'cnncalc.solve("padding", 3, size=32, output=16, stride=2)',
    "sizes": 'cnncalc.input_sizes(cnncalc.model("vgg16"), "3xHxH", full_coverage=True)',
    "settings": "cnncalc.conv_settings(227, 55, max_kernel=11)",
    "memory": 'cnncalc.analyze(cnncalc.model("alexnet"), "3x227x227").memory()',
    "calculator": 'cnncalc.calculators.conv("32x32x3", 64, 3, layout="hwc")',
}


def test_results_display_rendered_in_a_real_kernel():
    """explain, check, solve, memory and the calculators show HTML/LaTeX in Jupyter, not dataclass reprs."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nbformat = pytest.importorskip("nbformat")
    cells = [nbformat.v4.new_code_cell("import os; os.environ['CNNCALC_LANG'] = 'en'\nimport cnncalc\nimport cnncalc.calculators")]
    cells += [nbformat.v4.new_code_cell(source) for source in RESULT_CELLS.values()]
    nb = nbformat.v4.new_notebook(cells=cells)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    shown = {name: cell.outputs[0]["data"] for name, cell in zip(RESULT_CELLS, nb.cells[1:])}
    assert r"\left\lfloor \frac{216}{4} \right\rfloor" in shown["explain"]["text/html"]
    assert shown["explain"]["text/plain"].startswith("Model: Conv2d   input: 3x227x227")
    assert "<td>✓</td>" in shown["check"]["text/html"] and "Score: 1/2 (50%)" in shown["check"]["text/html"]
    assert shown["padding"]["text/html"] == "<div class='cnncalc-solve'>{1} maps 32 to 16 (kernel 3, stride 2)</div>"
    assert shown["sizes"]["text/latex"] == r"$\{H : H \ge 32,\ H = 32m\}$"
    assert "<td>11</td><td>0</td><td>1</td><td>\\(\\{4\\}\\)</td>" in shown["settings"]["text/html"]
    assert "<th style='text-align:left'>params</th><td>249,513,376 B = 249.51 MB = 237.95 MiB</td>" in shown["memory"]["text/html"]
    assert "<th style='text-align:left'>Params</th><td>1,792</td>" in shown["calculator"]["text/html"]
    for name in ("explain", "check", "padding", "sizes", "calculator"):  # the plain text is the result, not a repr
        assert not shown[name]["text/plain"].startswith(("Explanation(", "Grade(", "PaddingAnswer(", "SizeSet(", "Calculation("))
