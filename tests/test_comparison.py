"""docs/comparison.md: its tables are rendered from docs/comparison-data.json, cnncalc's numbers in that
file are today's, and every identity the page states about the other tools holds in the measured data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_loader import load_tool

import cnncalc

ROOT = Path(__file__).resolve().parent.parent
DATA = json.loads((ROOT / "docs" / "comparison-data.json").read_text(encoding="utf-8"))
MODELS = {m["torchvision"]: m for m in DATA["models"]}
IDS = list(MODELS)


def test_page_tables_are_rendered_from_the_data():
    tool = load_tool("compare_peers")
    page = (ROOT / "docs" / "comparison.md").read_text(encoding="utf-8")
    assert page == tool.fill_page(page, DATA)
    assert "| torchinfo 1.8.0 | Mult-Adds | 1,814,083,944 | 1.0000 | +10,600 |" in page


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_cnncalc_numbers_are_current(name):
    entry = MODELS[name]
    report = cnncalc.analyze(cnncalc.model(entry["cnncalc_model"]), tuple(DATA["input_shape"]), warn=False)
    assert entry["cnncalc"] == {"params": report.params, "macs": report.macs, "flops": report.flops,
                                "extra_ops": report.extra_ops}


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_every_tool_agrees_on_parameters(name):
    entry = MODELS[name]
    params = entry["cnncalc"]["params"]
    assert entry["torchinfo"]["params"] == entry["ptflops_aten"]["params"] == entry["ptflops_pytorch"]["params"] == params
    assert entry["torchscan"]["parameters"] == params


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_flop_counter_is_twice_the_macs(name):
    entry = MODELS[name]
    assert entry["torch_flop_counter"]["flops"] == 2 * entry["cnncalc"]["macs"]


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_fvcore_counts_macs_plus_batchnorm_and_adaptive_pooling(name):
    entry = MODELS[name]
    ops, mine = entry["fvcore"]["by_operator"], entry["cnncalc"]
    assert ops["conv"] + ops["linear"] == mine["macs"]
    assert ops.get("batch_norm", 0) == mine["extra_ops"].get("norm", 0)
    assert entry["fvcore"]["flops"] == mine["macs"] + ops.get("batch_norm", 0) + ops["adaptive_avg_pool2d"]
    assert "aten::max_pool2d" in entry["fvcore"]["unsupported_ops"] or "aten::add" in entry["fvcore"]["unsupported_ops"]


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_ptflops_aten_is_macs_plus_bias(name):
    entry = MODELS[name]
    assert entry["ptflops_aten"]["macs"] == entry["cnncalc"]["macs"] + entry["cnncalc"]["extra_ops"]["bias"]


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_torchinfo_is_macs_plus_bias_plus_batchnorm_parameters(name):
    entry = MODELS[name]
    report = cnncalc.analyze(cnncalc.model(entry["cnncalc_model"]), tuple(DATA["input_shape"]), warn=False)
    bn_params = sum(row.params for row in report.layers if row.type == "BatchNorm2d")
    assert entry["torchinfo"]["mult_adds"] == report.macs + report.extra_ops["bias"] + bn_params


def test_torchvision_publishes_macs_as_gflops():
    """torchvision lists ResNet-50 at 4.09 "GFLOPS" and 25,557,032 parameters: MACs, as the page says."""
    report = cnncalc.analyze(cnncalc.model("resnet50"), "3x224x224", warn=False)
    assert round(report.macs / 1e9, 2) == 4.09 and report.params == 25_557_032


def test_resnet18_adaptive_pool_and_mobilenet_torchscan_as_the_page_says():
    assert MODELS["resnet18"]["fvcore"]["by_operator"]["adaptive_avg_pool2d"] == 512 * 7 * 7
    mobilenet = MODELS["mobilenet_v2"]
    assert mobilenet["torchscan"]["macs"] - mobilenet["cnncalc"]["macs"] == mobilenet["cnncalc"]["extra_ops"]["norm"]
