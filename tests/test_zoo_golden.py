"""Every torchvision-named zoo network against facts recorded from real torchvision (tests/golden/torchvision.json).

The golden file (made by tools/make_golden.py, never by these tests) holds, per network, the parameter
and buffer counts, the smallest square input torchvision accepts, and for three input sizes the MACs,
the output shape and one row per leaf-module call (name, type, shapes, params, MACs). cnncalc may have
extra parameter-free rows for torchvision's functional ops (F.relu, torch.cat, x + identity, flatten);
every golden row must be found, in order, as a cnncalc row of the same name with the same numbers.
"""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import pytest

import cnncalc
from cnncalc import ShapeError

GOLDEN = json.loads((Path(__file__).parent / "golden" / "torchvision.json").read_text())["models"]
GOLDEN_V2 = sorted((Path(__file__).parent / "golden").glob("torchvision_v2_*.json.gz"))
CASES = [(name, size) for name, facts in GOLDEN.items() for size in facts["inputs"]]


def analyze(name, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnncalc.ShapeWarning)  # floor truncation notes are expected here
        return cnncalc.analyze(cnncalc.model(name), shape)


def test_golden_covers_every_torchvision_entry():
    """Every 224x224 zoo network is torchvision's: the original ones are here, the later families in the
    v2 files (test_zoo_golden_v2.py)."""
    later = {name for path in GOLDEN_V2 for name in json.loads(gzip.decompress(path.read_bytes()))["models"]}
    torchvision_names = {name for name in cnncalc.models() if cnncalc.zoo.describe(name).default_input == (3, 224, 224)}
    assert set(GOLDEN) <= torchvision_names
    assert torchvision_names - set(GOLDEN) <= later


@pytest.mark.parametrize("name", list(GOLDEN))
def test_params_and_buffers(name):
    network = cnncalc.model(name)
    assert (network.params, network.buffers) == (GOLDEN[name]["params"], GOLDEN[name]["buffers"])


@pytest.mark.parametrize(("name", "size"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_totals(name, size):
    facts = GOLDEN[name]
    report = analyze(name, size)
    expected = facts["inputs"][size]
    assert (report.params, report.buffers) == (facts["params"], facts["buffers"])
    assert report.macs == expected["macs"]
    assert list(report.output_shape) == expected["output_shape"]


@pytest.mark.parametrize(("name", "size"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_every_torchvision_layer(name, size):
    rows = analyze(name, size).layers
    position = 0
    for golden in GOLDEN[name]["inputs"][size]["layers"]:
        while position < len(rows) and rows[position].name != golden["name"]:
            position += 1
        assert position < len(rows), f"{name} at {size}: torchvision row {golden['name']} is missing or out of order"
        row = rows[position].to_dict()
        got = {key: row[key] for key in ("type", "input_shape", "output_shape", "params", "macs")}
        assert got == {key: golden[key] for key in got}, golden["name"]
        position += 1


@pytest.mark.parametrize("name", list(GOLDEN))
def test_smallest_input(name):
    """torchvision's smallest square input works; the sizes torch refused are refused too."""
    smallest = GOLDEN[name]["min_square_input"]
    analyze(name, (3, smallest, smallest))
    rejects = GOLDEN[name]["rejects"]
    assert list(rejects) == ([f"3x{smallest - 1}x{smallest - 1}"] if smallest > 1 else [])
    for size in rejects:
        with pytest.raises(ShapeError, match=r"output (height|width) would be 0"):
            analyze(name, size)
