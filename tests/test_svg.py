"""The pictures: architecture drawing (svg) and receptive-field plot (rf_plot), through analyze and the CLI."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tool_loader import load_tool
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import Conv2d, MaxPool2d, ReLU, Sequential, ShapeError, svg
from cnncalc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
NS = "{http://www.w3.org/2000/svg}"


def _report(name, shape=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnncalc.ShapeWarning)
        return cnncalc.analyze(cnncalc.model(name), shape or cnncalc.zoo.describe(name).default_input, name=name)


def _parse(text):
    return ET.fromstring(text)


def _all_text(root):
    return "\n".join(el.text or "" for el in root.iter() if el.tag in (NS + "text", NS + "title"))


def _groups(root, cls):
    return [el for el in root.iter(NS + "g") if el.get("class") == cls]


ZOO = ["lenet5", "alexnet", "vgg16", "resnet18", "googlenet", "densenet121", "mobilenet_v2", "squeezenet1_0", "resnet152"]


@pytest.mark.parametrize("name", ZOO, ids=ZOO)
def test_drawing_is_xml_and_names_every_layer(name):
    report = _report(name)
    root = _parse(svg.svg(report))
    assert root.tag == NS + "svg"
    text = _all_text(root)
    missing = [row.name for row in report.layers if row.name and row.name not in text]
    assert not missing
    assert "Legend" in text


def test_folding_is_announced_and_keeps_every_block():
    report = _report("densenet121")
    root = _parse(svg.svg(report))
    assert "Folded: 186 maps" in _all_text(root)
    blocks = [b for b in _groups(root, "block") if b.get("data-kind") == "Concat"]
    # the four dense blocks (6, 12, 24, 16 layers) are each drawn once with their repeat count
    assert [int(b.get("data-fold")) for b in blocks] == [6, 12, 24, 16]
    unfolded = _parse(svg.svg(report, fold_repeats=False))
    assert len([b for b in _groups(unfolded, "block") if b.get("data-kind") == "Concat"]) == 58
    assert "Folded" not in _all_text(unfolded)


@pytest.mark.parametrize(
    "name,kind,branches,count",
    [("resnet18", "Add", 2, 8), ("resnet50", "Add", 2, 16), ("googlenet", "Concat", 4, 9), ("squeezenet1_0", "Concat", 2, 8)],
    ids=["resnet18", "resnet50", "googlenet", "squeezenet"],
)
def test_branches_are_drawn(name, kind, branches, count):
    root = _parse(svg.svg(_report(name)))
    blocks = [b for b in _groups(root, "block") if b.get("data-kind") == kind]
    assert len(blocks) == count
    assert {int(b.get("data-branches")) for b in blocks} == {branches}


def test_resnet_projection_shortcut_is_a_box_and_identity_a_dashed_wire():
    root = _parse(svg.svg(_report("resnet18")))
    names = [b.get("data-name") for b in _groups(root, "box")]
    assert names.count("layer2.0.downsample.0") == 1 and "layer1.0.downsample.0" not in names
    dashed = [p for p in root.iter(NS + "path") if p.get("stroke-dasharray") == "4,3"]
    assert len(dashed) == 5  # blocks without a projection: layer1.0, 1.1, 2.1, 3.1, 4.1


def test_alexnet_boxes_windows_and_labels():
    root = _parse(svg.svg(_report("alexnet")))
    boxes = _groups(root, "box")
    assert [b.get("data-shape") for b in boxes] == [
        "3x227x227", "96x55x55", "96x27x27", "256x27x27", "256x13x13", "384x13x13", "384x13x13", "256x13x13",
        "256x6x6", "9216", "4096", "4096", "1000",
    ]
    windows = [(w.get("data-kernel"), w.get("data-stride")) for w in _groups(root, "window")]
    assert windows == [("11x11", "4x4"), ("3x3", "2x2"), ("5x5", "1x1"), ("3x3", "2x2"), ("3x3", "1x1"), ("3x3", "1x1"),
                       ("3x3", "1x1"), ("3x3", "2x2")]
    labels = _all_text(root)
    for label in ("96@55x55", "256@6x6", "4096", "features.0", "classifier.6"):
        assert label in labels


def test_box_sizes_follow_the_shape_in_the_drawing():
    """Larger H, W or C never draws a smaller box: compare every pair of maps in VGG-16."""
    boxes = [b for b in _groups(_parse(svg.svg(_report("vgg16"))), "box") if "x" in b.get("data-shape")]
    dims = [(tuple(int(v) for v in b.get("data-shape").split("x")),
             (float(b.get("data-thickness")), float(b.get("data-height")), float(b.get("data-depth")))) for b in boxes]
    assert len(dims) > 10
    for shape_a, px_a in dims:
        for shape_b, px_b in dims:
            for axis in range(3):
                if shape_a[axis] > shape_b[axis]:
                    assert px_a[axis] > px_b[axis]
                if shape_a[axis] == shape_b[axis]:
                    assert px_a[axis] == px_b[axis]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 4096))
def test_box_size_is_strictly_increasing(a, b):
    small, large = min(a, b), max(a, b)
    for axis in range(3):
        lo, hi = [1, 1, 1], [1, 1, 1]
        lo[axis], hi[axis] = small, large
        size_lo, size_hi = svg.box_size(tuple(lo)), svg.box_size(tuple(hi))
        position = (2, 0, 1)[axis]  # box_size returns (height, depth, thickness) for (C, H, W)
        assert (size_lo[position] < size_hi[position]) == (small < large)
    assert (svg.box_size((small,))[0] < svg.box_size((large,))[0]) == (small < large)


def test_rf_plot_overlay_alexnet():
    """features.14 is 6x6; its centre pixel (2, 2) starts at -64 + 2*32 = 0 and spans 195 pixels."""
    report = _report("alexnet")
    root = _parse(svg.rf_plot(report))
    (overlay,) = _groups(root, "overlay")
    assert overlay.get("data-pixel") == "2,2"
    assert overlay.get("data-rows") == "0,195" and overlay.get("data-cols") == "0,195"
    series = {g.get("data-label"): g for g in _groups(root, "series")}
    assert set(series) == {"receptive field size (pixels)", "effective stride (jump)", "feature-map size (pixels)"}
    spatial = 15  # features.0 .. features.14
    for g in series.values():
        assert len(list(g.iter(NS + "circle"))) == spatial
    assert "rows 0..194, columns 0..194: 195x195 pixels" in _all_text(root)


def test_rf_plot_padding_reaches_past_the_image():
    net = Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(4, 4, 3, padding=1))
    root = _parse(svg.rf_plot(cnncalc.analyze(net, "1x8x8")))
    (overlay,) = _groups(root, "overlay")
    # last map 4x4, pixel (1, 1): start -3 + 1*2 = -1, size 8 -> rows -1..6
    assert overlay.get("data-pixel") == "1,1" and overlay.get("data-rows") == "-1,7"


def test_rf_plot_after_upsampling_shows_the_pixels_own_region():
    # conv s2 then a 3/2/1 transposed conv: output pixels read 3 and 5 input pixels in turn; the map
    # is 15x15, pixel (7, 7) is odd and reads input pixels 5..9 (not start -1 + 7*1 .. + 5 - 1)
    net = Sequential(Conv2d(1, 2, 3, stride=2, padding=1), cnncalc.ConvTranspose2d(2, 1, 3, stride=2, padding=1))
    root = _parse(svg.rf_plot(cnncalc.analyze(net, "1x16x16")))
    (overlay,) = _groups(root, "overlay")
    assert overlay.get("data-pixel") == "7,7" and overlay.get("data-rows") == "5,10"
    assert "rows 5..9, columns 5..9: 5x5 pixels" in _all_text(root)


@pytest.mark.parametrize("draw", [svg.svg, svg.rf_plot], ids=["svg", "rf_plot"])
def test_symbolic_input_is_refused(draw):
    report = cnncalc.analyze(Conv2d(3, 8, 3), "3xHxW")
    with pytest.raises(ShapeError, match=r"needs a concrete input shape, got 3xHxW"):
        draw(report)


def test_rf_plot_needs_a_feature_map():
    with pytest.raises(ShapeError, match="no layer with a spatial receptive field"):
        svg.rf_plot(cnncalc.analyze(cnncalc.Linear(10, 5), (10,)))


def test_cli_writes_both_pictures(tmp_path):
    arch, rf = tmp_path / "a.svg", tmp_path / "rf.svg"
    result = CliRunner().invoke(cli, ["lenet5", "--svg", str(arch), "--plot", "rf", str(rf)])
    assert result.exit_code == 0, result.output
    assert "Total params: 61,706" in result.output
    assert _parse(arch.read_text())[0] is not None and "c5" in arch.read_text()
    assert _groups(_parse(rf.read_text()), "overlay")


def test_cli_refuses_symbolic_pictures(tmp_path):
    result = CliRunner().invoke(cli, ["lenet5", "--input", "1xHxW", "--svg", str(tmp_path / "a.svg")])
    assert result.exit_code == 2
    assert "Error: svg: drawing needs a concrete input shape, got 1xHxW" in result.output
    assert "Total params" not in result.output
    assert not (tmp_path / "a.svg").exists()


@pytest.mark.parametrize("name,kind", [("lenet5", "arch"), ("lenet5", "rf"), ("alexnet", "arch")],
                         ids=["lenet5", "lenet5_rf", "alexnet"])
def test_committed_figures_are_fresh(name, kind):
    """docs/img is written by tools/make_figures.py; regenerate and compare so it cannot go stale."""
    tool = load_tool("make_figures")
    assert tool.path(name, kind).read_text(encoding="utf-8") == tool.figure(name, kind)


@pytest.mark.parametrize(("net", "shape", "label"), [
    (cnncalc.Sequential(cnncalc.Conv1d(1, 8, 5), cnncalc.ReLU(), cnncalc.Conv1d(8, 8, 3)), "1x100", "8x94"),
    (cnncalc.Sequential(cnncalc.Conv3d(3, 8, 3), cnncalc.ReLU()), "3x8x32x32", "8x6x30x30"),
    (cnncalc.Sequential(cnncalc.MultiheadAttention(16, 2), cnncalc.Linear(16, 4)), "10x16", "10x4"),
], ids=["1-D", "3-D", "tokens"])
def test_maps_of_any_rank_are_drawn_with_every_axis_in_their_label(net, shape, label):
    root = _parse(svg.svg(cnncalc.analyze(net, shape)))
    assert label in {g.get("data-shape") for g in root.iter(f"{NS}g") if g.get("class") == "box"}


def test_the_rf_plot_says_it_draws_2d_maps():
    with pytest.raises(ShapeError, match=r"rf_plot draws \(C, H, W\) maps: the input 1x100 has 1 axes"):
        svg.rf_plot(cnncalc.analyze(cnncalc.Conv1d(1, 8, 5), "1x100"))
