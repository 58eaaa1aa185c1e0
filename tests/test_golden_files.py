"""The golden files recorded from real torchvision hold together (tests/golden/README.md says how they are made).

torchvision_v2_*.json.gz (tools/make_golden_v2.py): facts for the networks the zoo will add;
saved_for_backward.json and saved_for_backward_tensors.json.gz (tools/make_golden_memory.py): the
bytes autograd saves in train mode. These tests read them with json/gzip only (no torch): every
model has its fields, the parts add up to the totals, and facts that two files both state agree.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
FAMILIES = ("classification", "segmentation", "video")


def load(name: str) -> dict:
    path = GOLDEN_DIR / name
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return json.loads(data)


V1 = load("torchvision.json")["models"]
V2_FILES = {family: load(f"torchvision_v2_{family}.json.gz") for family in FAMILIES}
V2 = {name: facts for document in V2_FILES.values() for name, facts in document["models"].items()}
SAVED = load("saved_for_backward.json")
SAVED_TENSORS = load("saved_for_backward_tensors.json.gz")
V2_CASES = [(name, size) for name, facts in V2.items() for size in facts["inputs"]]
V2_IDS = [f"{name}-{size}" for name, size in V2_CASES]
SAVED_CASES = [(name, batch) for name, facts in SAVED["models"].items() for batch in facts["batches"]]
SAVED_IDS = [f"{name}-b{batch}" for name, batch in SAVED_CASES]

MODEL_FIELDS = {"family", "constructor", "params", "buffers", "default_input", "min_square_input",
                "min_threshold", "rejects", "rejected_inputs", "published", "cpu_no_grad", "param_owners",
                "inputs"}
INPUT_FIELDS = {"input_shape", "macs", "output_shape", "leaf_macs", "unattributed_macs", "ops",
                "unattributed", "layers"}
ROW_FIELDS = {"name", "type", "input_shape", "output_shape", "params", "macs"}
MAC_LAYERS = {"Conv2d", "Conv3d", "Conv3DSimple", "Conv3DNoTemporal", "Linear"}  # torchvision's video convs subclass Conv3d
# torchvision's published figures are for other configurations of these builders
PUBLISHED_PARAMS_DIFFER = {
    "inception_v3": "its weights have the auxiliary classifier (aux_logits=True), recorded without",
}


def shape_of(key: str) -> list[int]:
    return [int(n) for n in key.split("x")]


def test_v2_files_are_one_family_each_and_name_their_versions():
    for family, document in V2_FILES.items():
        assert document["family"] == family
        assert document["generator"] == "tools/make_golden_v2.py"
        assert document["torchvision"].startswith("0.29.1")
        assert {facts["family"] for facts in document["models"].values()} == {family}
    assert not set(V2) & set(V1), "a network is recorded twice"


@pytest.mark.parametrize("name", list(V2))
def test_v2_model_fields(name):
    facts = V2[name]
    video = facts["family"] == "video"
    assert set(facts) == MODEL_FIELDS | ({"min_frames"} if video else set()) | (
        set() if facts["min_threshold"] else {"accepted"})
    assert facts["constructor"].startswith(f"torchvision.models.{name}(weights=None")
    assert facts["default_input"] in facts["inputs"]
    assert len(shape_of(facts["default_input"])) == (4 if video else 3)


@pytest.mark.parametrize("name", list(V2))
def test_v2_every_parameter_has_an_owner(name):
    """params = the called leaves' (each once) + the modules no row shows (non-leaf own, never-called leaves)."""
    facts = V2[name]
    called = {row["name"]: row["params"] for row in facts["inputs"][facts["default_input"]]["layers"]}
    owners = {owner["name"]: owner["params"] for owner in facts["param_owners"]}
    assert not set(called) & {name for name, params in owners.items() if params}
    assert facts["params"] == sum(called.values()) + sum(owners.values())


@pytest.mark.parametrize(("name", "size"), V2_CASES, ids=V2_IDS)
def test_v2_macs_add_up(name, size):
    entry = V2[name]["inputs"][size]
    assert set(entry) == INPUT_FIELDS
    assert entry["input_shape"] == shape_of(size)
    assert entry["leaf_macs"] == sum(row["macs"] for row in entry["layers"])
    assert entry["unattributed_macs"] == sum(module["macs"] for module in entry["unattributed"])
    assert entry["macs"] == entry["leaf_macs"] + entry["unattributed_macs"]
    assert entry["macs"] == sum(entry["ops"].values()) // 2
    for module in entry["unattributed"]:
        assert module["macs"] == sum(module["ops"].values()) // 2 > 0, module["name"]
    per_op = {}
    for module in entry["unattributed"]:
        for op, flops in module["ops"].items():
            per_op[op] = per_op.get(op, 0) + flops
    assert all(per_op[op] <= entry["ops"][op] for op in per_op)


@pytest.mark.parametrize(("name", "size"), V2_CASES, ids=V2_IDS)
def test_v2_layer_rows(name, size):
    """Only convolutions and linear layers have MACs, and theirs follow from their shapes and params."""
    for row in V2[name]["inputs"][size]["layers"]:
        assert set(row) == ROW_FIELDS
        if row["type"] not in MAC_LAYERS:
            assert row["macs"] == 0, row["name"]
        elif row["type"] == "Linear":
            features_in, features_out = row["input_shape"][-1], row["output_shape"][-1]
            assert row["macs"] == math.prod(row["input_shape"][:-1]) * features_in * features_out, row["name"]
            assert row["params"] in (features_in * features_out, (features_in + 1) * features_out)
        else:  # each output element costs one MAC per weight of its output channel
            c_out, outputs = row["output_shape"][0], math.prod(row["output_shape"])
            weights = row["macs"] // outputs
            assert weights * outputs == row["macs"], row["name"]
            assert row["params"] in (weights * c_out, (weights + 1) * c_out), row["name"]


@pytest.mark.parametrize("name", list(V2))
def test_v2_minimum_input(name):
    facts = V2[name]
    smallest = facts["min_square_input"]
    default = shape_of(facts["default_input"])
    frames = [default[1]] if facts["family"] == "video" else []
    at_minimum = "x".join(map(str, [3, *frames, smallest, smallest]))
    below = "x".join(map(str, [3, *frames, smallest - 1, smallest - 1]))
    assert at_minimum in facts["inputs"]
    assert (below in facts["rejects"]) == (smallest > 1)
    if facts["family"] == "video":
        fewest = facts["min_frames"]
        assert f"3x{fewest}x{default[2]}x{default[3]}" in facts["inputs"]
        assert (f"3x{fewest - 1}x{default[2]}x{default[3]}" in facts["rejects"]) == (fewest > 1)
    if not facts["min_threshold"]:
        assert facts["accepted"][0] == smallest and len(facts["accepted"]) < 16


@pytest.mark.parametrize("name", list(V2))
def test_v2_published_figures(name):
    """torchvision's own num_params and GMACs ("_ops", 3 decimals) for the same input."""
    facts = V2[name]
    published = facts["published"]
    assert published is not None
    if published.get("config", {}).get("aux_loss"):  # recorded again with the published weights' configuration (aux_loss=True)
        assert round(published["macs"] / 1e9, 3) == published["gmacs"]
        assert published["params"] == published["num_params"] != facts["params"]
        return
    macs = facts["inputs"][facts["default_input"]]["macs"]
    assert round(macs / 1e9, 3) == published["gmacs"]
    assert (facts["params"] == published["num_params"]) != (name in PUBLISHED_PARAMS_DIFFER)


@pytest.mark.parametrize("name", list(V2))
def test_v2_cpu_count_differs_only_where_attention_is_fused(name):
    """On CPU, eval + no_grad, MultiheadAttention's fused kernel hides its MACs from the flop counter."""
    facts = V2[name]
    entry = facts["inputs"][facts["default_input"]]
    fused = any(module["type"] == "MultiheadAttention" for module in entry["unattributed"])
    assert (facts["cpu_no_grad"] is not None) == fused
    if fused:
        hidden = sum(m["macs"] for m in entry["unattributed"] if m["type"] == "MultiheadAttention")
        assert facts["cpu_no_grad"]["macs"] == entry["macs"] - hidden
        assert sum(facts["cpu_no_grad"]["ops"].values()) // 2 == facts["cpu_no_grad"]["macs"]


def test_v2_vit_refuses_every_other_size():
    for name in ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"):
        facts = V2[name]
        assert list(facts["inputs"]) == ["3x224x224"] and facts["accepted"] == [224]
        assert facts["rejected_inputs"] == {
            "3x199x257": "Wrong image height! Expected 224 but got 199!",
            "3x225x225": "Wrong image height! Expected 224 but got 225!"}


def test_saved_covers_every_recorded_network():
    assert set(SAVED["models"]) == set(V1) | set(V2)
    assert SAVED["dtype"] == "float32" and SAVED["batches"] == [1, 2]
    for name, facts in SAVED["models"].items():
        default = V2[name]["default_input"] if name in V2 else "3x224x224"
        assert facts["default_input"] == default, name
        assert set(facts["batches"]) == {"1", "2"}


def test_saved_calibration_resnet50():
    """The issue's figure: resnet50, batch 1, float32, 3x224x224 saves 86.3 MB (parameters excluded)."""
    resnet50 = SAVED["models"]["resnet50"]["batches"]["1"]
    assert resnet50["bytes"] == 86_334_464
    assert resnet50["input_bytes"] == 3 * 224 * 224 * 4
    assert resnet50["buffer_bytes"] == 2 * 4 * 26_560  # running mean and var of 26,560 BatchNorm channels


@pytest.mark.parametrize(("name", "batch"), SAVED_CASES, ids=SAVED_IDS)
def test_saved_bytes_add_up(name, batch):
    facts = SAVED["models"][name]
    measured = facts["batches"][batch]
    if "error" in measured:  # BatchNorm refuses a single value per channel when training
        assert batch == "1" and measured["error"].startswith("Expected more than 1 value per channel when training")
        return
    assert measured["bytes"] == measured["input_bytes"] + measured["buffer_bytes"] + measured["activation_bytes"]
    assert measured["bytes"] == sum(entry["bytes"] for entry in measured["by_node"].values())
    assert measured["input_bytes"] == int(batch) * 4 * math.prod(facts["input_shape"])
    for entry in measured["by_node"].values():
        assert entry["nodes"] > 0 and entry["saved"] >= entry["storages"] >= 0


@pytest.mark.parametrize("name", [name for name in SAVED["models"] if not name.startswith(("swin", "maxvit"))])
def test_saved_buffers_are_batchnorm_statistics(name):
    """Every buffer a network has is a BatchNorm statistic that each training pass saves once (Swin's and
    MaxViT's relative-position index tables are buffers that are gathered from, not saved)."""
    facts = SAVED["models"][name]
    buffers = (V2[name] if name in V2 else V1[name])["buffers"]
    for measured in facts["batches"].values():
        if "error" not in measured:
            assert measured["buffer_bytes"] == 4 * buffers


@pytest.mark.parametrize("name", list(SAVED["models"]))
def test_saved_tensor_rows_match_the_summary(name):
    rows = SAVED_TENSORS["models"][name]
    measured = SAVED["models"][name]["batches"]["1"]
    if "error" in measured:
        assert rows == []
        return
    by_node = {}
    for row in rows:
        entry = by_node.setdefault(row["node"], {"saved": 0, "storages": 0, "bytes": 0})
        entry["saved"] += 1
        entry["storages"] += row["new"]
        entry["bytes"] += row["bytes"] if row["new"] else 0
    assert by_node == {node: {k: v for k, v in entry.items() if k != "nodes"}
                       for node, entry in measured["by_node"].items()}
    assert sum(row["bytes"] for row in rows if row["kind"] == "input" and row["new"]) == measured["input_bytes"]
    assert sum(row["bytes"] for row in rows if row["kind"] == "buffer" and row["new"]) == measured["buffer_bytes"]
    first_input = next(row for row in rows if row["kind"] == "input")
    assert first_input["new"] and first_input["shape"] == [1, *SAVED["models"][name]["input_shape"]]
