"""The terminal table (``cnncalc.render.table``, ``cnncalc MODEL``): names wrapped to the width and never cut,
the optional columns (output elements, output memory, percentages), the batch axis in shapes."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import cli
from cnncalc.render import table

EFFICIENTNET = cnncalc.analyze(cnncalc.model("efficientnet_b0"), "3x224x224", warn=False)


def run(*args):
    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


def _body(text):
    lines = text.splitlines()
    return lines[3 : lines.index(lines[0], 3)]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_names_wrap_within_the_width_and_are_never_cut(width):
    text = table(EFFICIENTNET, width=width)
    assert "…" not in text and "..." not in text
    assert max(len(line) for line in text.splitlines()) <= width
    # a wrapped label's pieces are consecutive words: read as words, every label is whole (16 gates, 17 pools)
    words = " ".join(text.split())
    assert words.count("scale_activation (Sigmoid) 32x1x1") == 1 and words.count("scale_activation (Sigmoid)") == 16
    assert words.count("avgpool (AdaptiveAvgPool2d)") == 17
    for row in EFFICIENTNET.layers:
        if not row.is_merge:
            assert f"{row.name.rsplit('.', 1)[-1]} ({row.type})" in words


def test_a_wide_terminal_widens_the_name_column_instead():
    text = table(EFFICIENTNET, width=160)
    longest = max(len(line) for line in text.splitlines())
    assert 100 < longest <= 160
    assert any(line.lstrip().startswith("scale_activation (Sigmoid)") for line in text.splitlines())
    assert not any(line.strip() == "(Sigmoid)" or line.strip().startswith("(Sigmoid) ") for line in text.splitlines())
    short = table(cnncalc.analyze(cnncalc.model("lenet5"), "1x32x32"), width=160)
    assert {len(line) for line in _body(short)} == {100}  # short names: the classic 100 columns


def test_a_wrapped_name_keeps_its_numbers_on_its_last_line():
    lines = table(EFFICIENTNET, width=100).splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip() == "            scale_activation")
    assert lines[at + 1].startswith("              (Sigmoid)") and lines[at + 1].split()[-4:] == ["32x1x1", "--", "--", "--"]
    assert len(lines[at]) == len(lines[at + 1]) == 100  # wrapped lines are padded like the headings


@pytest.mark.parametrize(("column", "heading", "cell"), [
    ("numel", "Output #", "290,400"),  # 96 x 55 x 55
    ("memory", "Output mem", "1.16 MB"),  # 290,400 float32
    ("params_percent", "Param %", "0.06%"),  # 34,944 of 62,378,344
    ("macs_percent", "MACs %", "9.29%"),  # 105,415,200 of 1,135,256,096
], ids=["numel", "memory", "params-percent", "macs-percent"])
def test_optional_columns(column, heading, cell):
    out = run("alexnet", "--columns", f"output_shape,{column}").output
    lines = out.splitlines()
    assert lines[1].rstrip().endswith(heading)
    first = next(line for line in lines if line.startswith("    0 (Conv2d)"))
    assert first[len("    0 (Conv2d)"):].split(maxsplit=1) == ["96x55x55", cell]


def test_percent_columns_add_up_to_100():
    out = run("resnet50", "--columns", "params_percent,macs_percent").output
    rows = [line.split()[-2:] for line in _body(out) if line.rstrip().endswith("%") or "--" in line]
    params = sum(float(p[:-1]) for p, _ in rows if p != "--")
    macs = sum(float(m[:-1]) for _, m in rows if m != "--")
    assert params == pytest.approx(100, abs=0.5) and macs == pytest.approx(100, abs=0.5)


def test_memory_column_with_batch_dtype_and_depth():
    out = run("resnet18", "--columns", "output_shape,numel,memory", "--batch", "2", "--dtype", "float16",
              "--depth", "1").output
    conv1 = next(line for line in out.splitlines() if line.startswith("  conv1 (Conv2d)"))
    assert conv1.split()[-4:] == ["2x64x112x112", "1,605,632", "3.21", "MB"]  # 2*64*112*112 halves = 3,211,264 bytes
    layer1 = next(line for line in out.splitlines() if line.startswith("  layer1 (Sequential)"))
    # a folded block: its output's elements, and the bytes of every output inside it (14 rows)
    assert layer1.split()[-4:] == ["2x64x56x56", "401,408", "11.24", "MB"]


def test_percentages_of_formulas_are_refused():
    result = run("alexnet", "--input", "3xHxW", "--columns", "macs_percent")
    assert result.exit_code == 2
    assert result.output.startswith("Error: --columns macs_percent: a percentage needs concrete numbers")
    assert run("alexnet", "--input", "3xHxW", "--columns", "params_percent").exit_code == 0  # params stay numbers


def test_shapes_show_the_batch_axis():
    out = run("alexnet", "--batch", "2", "--columns", "input_shape,output_shape").output
    first = next(line for line in out.splitlines() if line.startswith("    0 (Conv2d)"))
    assert first.split()[-2:] == ["2x3x227x227", "2x96x55x55"]
    assert "Output shape: 2x1000" in out
    assert "Output shape: 1000" in run("alexnet").output
