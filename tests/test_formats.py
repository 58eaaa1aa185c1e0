"""The machine formats (JSON, CSV, markdown) through the command line and ``Report.to_dict``: the v2 keys,
the batch axis, per-row element counts and activation bytes, and ``--depth`` folding every format alike."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import cli


def run(*args):
    result = CliRunner().invoke(cli, list(args), prog_name="cnncalc")
    assert result.exit_code == 0, result.output
    return result.stdout


def data(*args):
    return json.loads(run(*args, "--format", "json"))


def test_json_carries_batch_dtype_memory_extra_ops_version_and_local_rf():
    got = data("alexnet")
    assert (got["batch"], got["dtype"], got["depth"], got["version"]) == (1, "float32", None, cnncalc.__version__)
    report = cnncalc.analyze(cnncalc.model("alexnet"), "3x227x227", warn=False)
    assert got["memory"] == report.memory().to_dict()  # the Memory value's own JSON
    assert got["memory"]["inputs"] == 3 * 227 * 227 * 4 == 618_348
    assert got["memory"]["params"] == 62_378_344 * 4
    # the paper's AlexNet: every conv and linear has a bias (one add per output), LRN after conv1 and conv2
    assert got["extra_ops"] == report.extra_ops and got["extra_ops"]["bias"] == 659_272
    assert got["local_receptive_field"] == got["receptive_field"] == {"size": [195, 195], "stride": [32, 32],
                                                                      "start": [-64, -64]}


def test_the_version_is_the_installed_packages():
    from importlib.metadata import version

    assert data("lenet5")["version"] == cnncalc.__version__ == version("cnncalc")


def test_local_receptive_field_ends_at_the_first_global_view():
    got = data("efficientnet_b0")
    # the squeeze-and-excitation gate of the first block sees the whole map: the local field stops there
    assert got["receptive_field"] == {"size": [7, 7], "stride": [2, 2], "start": [-3, -3]}
    assert got["local_receptive_field"] == {"size": [851, 851], "stride": [32, 32], "start": [-425, -425]}


def test_rows_count_output_elements_and_activation_bytes():
    first = data("alexnet")["layers"][0]
    assert (first["output_numel"], first["activation_bytes"]) == (96 * 55 * 55, 96 * 55 * 55 * 4)
    half = data("alexnet", "--batch", "2", "--dtype", "float16")
    first = half["layers"][0]
    assert (first["output_numel"], first["activation_bytes"]) == (2 * 96 * 55 * 55, 2 * 96 * 55 * 55 * 2)
    assert half["memory"]["dtype"] == half["dtype"] == "float16" and half["memory"]["batch"] == half["batch"] == 2


def test_batch_axis_in_json_shapes_but_not_in_python():
    got = data("alexnet", "--batch", "4")
    assert got["input_shape"] == [4, 3, 227, 227] and got["totals"]["output_shape"] == [4, 1000]
    assert got["layers"][0]["input_shape"] == [4, 3, 227, 227] and got["layers"][0]["output_shape"] == [4, 96, 55, 55]
    assert got["totals"]["macs"] == 4 * 1_135_256_096
    report = cnncalc.analyze(cnncalc.model("alexnet"), "3x227x227", batch=4, warn=False)
    assert report.output_shape == (1000,) and report.layers[0].output_shape == (96, 55, 55)
    symbolic = data("alexnet", "--batch", "B")
    assert symbolic["batch"] == "B" and symbolic["input_shape"] == ["B", 3, 227, 227]
    assert symbolic["layers"][0]["output_numel"] == "290400*B"
    assert data("alexnet", "--batch", "1")["input_shape"] == [3, 227, 227]  # batch 1: the contract's shapes


def test_depth_folds_json_rows_and_keeps_totals():
    full, folded = data("resnet18"), data("resnet18", "--depth", "1")
    assert folded["depth"] == 1 and folded["totals"] == full["totals"]
    assert [(r["name"], r["type"]) for r in folded["layers"]] == [
        ("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("relu", "ReLU"), ("maxpool", "MaxPool2d"),
        ("layer1", "Sequential"), ("layer2", "Sequential"), ("layer3", "Sequential"), ("layer4", "Sequential"),
        ("avgpool", "AdaptiveAvgPool2d"), ("flatten", "Flatten"), ("fc", "Linear")]
    layer1 = folded["layers"][4]
    assert layer1["params"] == 147_968 and layer1["folded_rows"] == 14  # two BasicBlocks: 7 rows each (with the adds)
    assert layer1["input_shape"] == [64, 56, 56] and layer1["output_shape"] == [64, 56, 56]
    assert "folded_rows" not in folded["layers"][0]
    for key in ("params", "macs", "activation_bytes"):  # the folded rows add up to the same sums
        assert sum(r[key] for r in folded["layers"]) == sum(r[key] for r in full["layers"])
    assert sum(r["params"] for r in folded["layers"]) == full["totals"]["params"] == 11_689_512


def test_depth_folds_csv_and_markdown():
    rows = list(csv.DictReader(io.StringIO(run("resnet18", "--format", "csv", "--depth", "1"))))
    assert [r["name"] for r in rows][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    assert rows[4]["type"] == "Sequential" and rows[4]["params"] == "147968"
    assert sum(int(r["params"]) for r in rows) == 11_689_512
    md = run("resnet18", "--format", "markdown", "--depth", "2").splitlines()
    assert "| layer1.0 | Residual | 64x56x56 | 73,984 | 231,211,008 | 27/4 |" in md
    assert len(md) == 2 + 4 + 2 * 4 + 3 + 1  # head, stem, two blocks per stage, avgpool/flatten/fc, total


def test_csv_and_markdown_show_the_batch_axis():
    rows = list(csv.DictReader(io.StringIO(run("lenet5", "--format", "csv", "--batch", "8"))))
    assert (rows[0]["input_shape"], rows[0]["output_shape"]) == ("8x1x32x32", "8x6x28x28")
    md = run("lenet5", "--format", "markdown", "--batch", "8").splitlines()
    assert md[2].startswith("| c1 | Conv2d | 8x6x28x28 |") and md[-1].startswith("| **Total** | | 8x10 |")


@pytest.mark.parametrize(("shape", "layer", "header"), [
    ("3x100", cnncalc.layers.Conv1d(3, 4, 3), "rf_size,rf_stride,rf_start"),
    ("3x8x17x17", cnncalc.layers.Conv3d(3, 4, 3, stride=(1, 2, 2)),
     "rf_size_d,rf_size_h,rf_size_w,rf_stride_d,rf_stride_h,rf_stride_w,rf_start_d,rf_start_h,rf_start_w"),
], ids=["1d", "3d"])
def test_csv_has_one_receptive_field_column_per_axis(shape, layer, header):
    from cnncalc.render import to_csv

    text = to_csv(cnncalc.analyze(layer, shape))
    assert text.splitlines()[0].endswith(header)
    assert text.splitlines()[1].endswith("3,1,0" if shape == "3x100" else "3,3,3,1,2,2,0,0,0")


def test_memory_object_is_the_memory_values_for_the_dtype():
    report = cnncalc.analyze(cnncalc.model("resnet18"), "3x224x224", batch=2, warn=False)
    for dtype in ("float16", "int8"):
        got = data("resnet18", "--batch", "2", "--dtype", dtype)["memory"]
        assert got == report.memory(dtype).to_dict() and got["dtype"] == dtype and got["batch"] == 2
        assert got["inputs"] == 2 * 3 * 224 * 224 * {"float16": 2, "int8": 1}[dtype]
    assert data("resnet18", "--dtype", "int8")["memory"]["saved_for_backward"] is None  # no training in int8
