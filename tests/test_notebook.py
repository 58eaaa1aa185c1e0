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


def _rows(html):
    """Cell texts of every layer row, in order (the fragment is well-formed XML too)."""
    root = ET.fromstring(html)
    return [["".join(td.itertext()) for td in tr.findall("td")]
            for table in root.iter("table") if table.get("class") == "rows" for tr in table.iter("tr") if tr.findall("td")]


def _summaries(html):
    return ["".join(s.itertext()) for s in ET.fromstring(html).iter("summary")]


def test_html_rows_and_totals_come_first():
    report = cnncalc.analyze(NET, "3x32x32")
    html = report._repr_html_()
    assert _rows(html) == [  # elements and bytes of each output: 64*32*32 floats = 262,144 bytes
        ["0", "Conv2d", "64x32x32", "1,792", "1,769,472", "65,536", "262.14 KB", "3", "1"],
        ["1", "ReLU", "64x32x32", "--", "--", "65,536", "262.14 KB", "3", "1"],
        ["2", "MaxPool2d", "64x16x16", "--", "--", "16,384", "65.54 KB", "4", "2"],
    ]
    assert html.index("<th>Params</th><td>1,792</td>") < html.index("<table class='rows'")  # totals first
    assert "<th>MACs</th><td>1,769,472</td>" in html
    assert "<td>size 4x4, stride 2x2, start -1x-1</td>" in html
    backward = report.memory().forward_backward_bytes
    assert f"<th>Forward/backward pass size (MB)</th><td>{backward / 1e6:.2f}</td>" in html
    assert "<details" not in html  # no blocks: one table


def test_html_blocks_collapse_with_their_sums():
    report = cnncalc.analyze(cnncalc.model("alexnet"), "3x227x227", name="<alex&net>")
    html = report._repr_html_()
    assert "<strong>&lt;alex&amp;net&gt;</strong>" in html
    assert _summaries(html) == [
        "features (Sequential) \u2192 256x6x6 \u00b7 params 3,747,200 \u00b7 MACs 1,076,634,144 \u00b7 15 rows",
        "classifier (Sequential) \u2192 1000 \u00b7 params 58,631,144 \u00b7 MACs 58,621,952 \u00b7 7 rows",
    ]
    assert 3_747_200 + 58_631_144 == report.params
    rows = _rows(html)
    assert len(rows) == len(report.layers) == 23
    assert rows[15][:2] == ["flatten", "Flatten"]  # between the two blocks, at the top level
    assert rows[-1] == ["6", "Linear", "1000", "4,097,000", "4,096,000", "1,000", "4.00 KB", "--", "--"]
    assert "<span title='classifier.6'>6</span>" in html  # the full path on hover
    assert "<details open" not in html  # closed: the totals and three lines show


def test_html_nests_blocks_and_merges():
    report = cnncalc.analyze(cnncalc.model("resnet18"), "3x224x224")
    html = report._repr_html_()
    root = ET.fromstring(html)
    top = [d for d in root.iter("details") if d.find("summary").get("title") == "layer1"][0]
    inner = [d.find("summary").get("title") for d in top.iter("details")][1:]
    assert inner == ["layer1.0", "layer1.1"]
    block = [d for d in top.iter("details") if d.find("summary").get("title") == "layer1.0"][0]
    rows = [["".join(td.itertext()) for td in tr.findall("td")] for tr in block.iter("tr")]
    assert [r[:2] for r in rows] == [["conv1", "Conv2d"], ["bn1", "BatchNorm2d"], ["relu", "ReLU"], ["conv2", "Conv2d"],
                                     ["bn2", "BatchNorm2d"], ["+", "Add"], ["relu", "ReLU"]]
    assert sum(1 for _ in root.iter("details")) == 4 + 4 * 2 + 3  # layer1-4, their two blocks, 3 downsample shortcuts
    dense = cnncalc.analyze(cnncalc.model("densenet121"), "3x224x224", warn=False)
    assert len(_rows(dense._repr_html_())) == len(dense.layers) == 427


def test_html_is_self_contained_and_scoped():
    html = cnncalc.analyze(cnncalc.model("resnet18"), "3x224x224")._repr_html_()
    style = ET.fromstring(html).find("style").text
    rules = [rule for rule in style.split("}") if rule]
    assert rules and all(rule.startswith(".cnncalc-report") for rule in rules)  # touches nothing else on the page
    for external in ("http", "src=", "<link", "url(", "@import", "<script"):
        assert external not in html


def test_html_shows_the_batch_axis():
    html = cnncalc.analyze(NET, "3x32x32", batch=2)._repr_html_()
    assert _rows(html)[0] == ["0", "Conv2d", "2x64x32x32", "1,792", "3,538,944", "131,072", "524.29 KB", "3", "1"]
    assert "<th>Input shape</th><td>2x3x32x32</td>" in html


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
    assert list(frame.columns) == ["name", "type", "input_shape", "output_shape", "params", "macs", "output_numel",
                                   "activation_bytes", "rf_size", "rf_stride", "rf_start"]
    assert (frame.iloc[0]["output_numel"], frame.iloc[0]["activation_bytes"]) == (64 * 112 * 112, 64 * 112 * 112 * 4)
    half = cnncalc.analyze(cnncalc.model("resnet18"), "3x224x224", batch=3, warn=False).to_pandas(dtype="float16")
    assert half.iloc[0]["output_shape"] == (64, 112, 112)  # Python's shapes stay unbatched
    assert (half.iloc[0]["output_numel"], half.iloc[0]["activation_bytes"]) == (3 * 64 * 112 * 112, 3 * 64 * 112 * 112 * 2)
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
    """Execute docs/notebooks/tour.ipynb in a real kernel (its cells assert the numbers they show); its page in
    the docs, docs/notebooks/tour.md, shows exactly these outputs."""
    for module in ("nbclient", "ipykernel", "nbformat"):
        pytest.importorskip(module)
    tool = load_tool("make_notebook")
    nb = tool.execute((ROOT / "docs" / "notebooks" / "tour.ipynb").read_text(encoding="utf-8"))
    outputs = {cell["id"]: cell["outputs"] for cell in nb.cells if cell["cell_type"] == "code"}
    alexnet = outputs["cell-3"][0]["data"]
    assert "text/html" in alexnet and "62,378,344" in alexnet["text/html"]
    assert "text/latex" in outputs["cell-6"][0]["data"]  # the symbolic report
    assert outputs["cell-8"][0]["data"]["text/latex"].startswith("$\\text{size} = (2 k - 1, 2 k - 1)")
    assert "image/svg+xml" in outputs["cell-12"][0]["data"]
    json.dumps(nb)  # outputs are plain data
    # the site's page of the notebook is these outputs: run python tools/make_notebook.py when this fails
    assert (ROOT / "docs" / "notebooks" / "tour.md").read_text(encoding="utf-8") == tool.page(nb)


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
