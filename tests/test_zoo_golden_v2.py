"""The zoo's torchvision networks of any rank (classification, segmentation, video) against facts recorded
from torchvision itself (tests/golden/torchvision_v2_*.json.gz, made by tools/make_golden_v2.py).

Per network: params and buffers; per recorded input: MACs, the output shape and every leaf-module call
torchvision made (name, type, shapes, params, MACs), found in order among cnncalc's rows (cnncalc has
extra rows for functional operations and merges). Torch's own refusals of an input are refused too.
"""

from __future__ import annotations

import gzip
import json
import re
import warnings
from pathlib import Path

import pytest

import cnncalc
from cnncalc import ShapeError

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN = {
    name: facts
    for path in sorted(GOLDEN_DIR.glob("torchvision_v2_*.json.gz"))
    for name, facts in json.loads(gzip.decompress(path.read_bytes()))["models"].items()
}
IN_ZOO = [name for name in GOLDEN if name in cnncalc.models()]
CASES = [(name, size) for name in IN_ZOO for size in GOLDEN[name]["inputs"]]


def analyze(name, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnncalc.ShapeWarning)
        return cnncalc.analyze(cnncalc.model(name), shape)


@pytest.mark.parametrize("name", IN_ZOO)
def test_params_and_buffers(name):
    network = cnncalc.model(name)
    assert (network.params, network.buffers) == (GOLDEN[name]["params"], GOLDEN[name]["buffers"])


# Calls cnncalc makes in another order than torchvision, and why: (network, row, the row it follows here).
# LR-ASPP's head returns low_classifier(low) + high_classifier(x); the two branches of cnncalc's sum
# run one after the other, and x's branch (resized to low's size) is the one that cannot come second.
CALL_ORDER = [("lraspp_mobilenet_v3_large", "classifier.low_classifier", "classifier.high_classifier")]


def _in_cnncalc_order(name, layers):
    layers = list(layers)
    for network, moved, after in CALL_ORDER:
        if network == name:
            row = layers.pop(next(i for i, r in enumerate(layers) if r["name"] == moved))
            layers.insert(next(i for i, r in enumerate(layers) if r["name"] == after) + 1, row)
    return layers


@pytest.mark.parametrize(("name", "size"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_totals_and_every_torchvision_layer(name, size):
    expected = GOLDEN[name]["inputs"][size]
    report = analyze(name, size)
    assert (report.macs, list(report.output_shape)) == (expected["macs"], expected["output_shape"])
    rows, position = report.layers, 0
    for golden in _in_cnncalc_order(name, expected["layers"]):
        while position < len(rows) and rows[position].name != golden["name"]:
            position += 1
        assert position < len(rows), f"{name} at {size}: torchvision's {golden['name']} is missing or out of order"
        row = rows[position].to_dict()
        keys = ("type", "input_shape", "output_shape", "params", "macs")
        assert {k: row[k] for k in keys} == {k: golden[k] for k in keys}, f"{name} at {size}: {golden['name']}"
        position += 1


NOT_TORCHVISION = {"lenet5", "alexnet", "cifar_net", "simple_cnn", "mnist_cnn"}  # the paper and tutorial networks


def test_every_torchvision_network_of_the_zoo_is_recorded():
    """Each zoo network named after a torchvision builder is checked against torchvision: in
    torchvision.json (test_zoo_golden.py) or in these files."""
    first = set(json.loads((GOLDEN_DIR / "torchvision.json").read_text())["models"])
    assert set(cnncalc.models()) - NOT_TORCHVISION - first == set(IN_ZOO)


@pytest.mark.parametrize("name", IN_ZOO)
def test_default_input_is_torchvisions(name):
    """The registry's default input is the one torchvision's weights were evaluated at (their crop size)."""
    assert "x".join(map(str, cnncalc.zoo.describe(name).default_input)) == GOLDEN[name]["default_input"]


# the odd sizes a fixed-size network refuses, and the size just below the smallest one torch runs
REJECTIONS = [(name, size, message) for name in IN_ZOO
              for size, message in {**GOLDEN[name].get("rejected_inputs", {}), **GOLDEN[name]["rejects"]}.items()]


def _refusal(message):
    """What cnncalc says where torch said ``message``: its own words for a window larger than its input,
    torch's words elsewhere."""
    window = re.search(r"padded input size per channel: \((\d+) x \d+\)\. Kernel size: \((\d+) x \d+\)", message)
    if window:
        return rf"kernel {window[2]} is larger than the padded input {window[1]}"
    if "Output size is too small" in message:
        return r"output (depth|height|width) would be 0"
    if re.search(r"shape '\[.*\]' is invalid for input of size", message):  # MaxViT's window partition
        return r"is not a multiple of the partition size"
    return re.escape(message)


@pytest.mark.parametrize(("name", "size", "message"), REJECTIONS, ids=[f"{n}-{s}" for n, s, _ in REJECTIONS])
def test_inputs_torchvision_refuses_are_refused(name, size, message):
    with pytest.raises(ShapeError, match=_refusal(message)):
        analyze(name, size)
