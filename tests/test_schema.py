"""``cnncalc schema``: the report's JSON Schema (draft 2020-12) is itself valid, and every zoo model's JSON
(and the symbolic, batched, folded, int8, 1-d/3-d and upsampling variants) validates against it, while
JSON that breaks it does not."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc import zoo
from cnncalc.cli import cli
from cnncalc.schema import report_schema

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = report_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _errors(document):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_command_prints_the_schema():
    result = CliRunner().invoke(cli, ["schema"], prog_name="cnncalc")
    assert result.exit_code == 0 and json.loads(result.stdout) == SCHEMA


@pytest.mark.parametrize("name", cnncalc.models())
def test_every_zoo_model_validates(name):
    report = cnncalc.analyze(cnncalc.model(name), zoo.describe(name).default_input, warn=False)
    document = json.loads(json.dumps(report.to_dict()))
    assert _errors(document) == []


VARIANTS = [
    (["vgg16", "--input", "3xHxW"]),
    (["cifar_net", "--input", "3xHxW"]),  # with "assumptions"
    (["resnet18", "--batch", "B", "--depth", "2", "--dtype", "int8"]),
    (["googlenet", "--batch", "3", "--depth", "1", "--dtype", "float16"]),
    (["mobilenet_v2", "--input", "3xHxH", "--depth", "3"]),
]


@pytest.mark.parametrize("args", VARIANTS, ids=[" ".join(a) for a in VARIANTS])
def test_cli_variants_validate(args):
    result = CliRunner().invoke(cli, [*args, "--format", "json"], prog_name="cnncalc")
    assert result.exit_code == 0, result.output
    assert _errors(json.loads(result.stdout)) == []


@pytest.mark.parametrize(("model", "shape"), [
    (cnncalc.Sequential(cnncalc.layers.Conv1d(3, 8, 5), cnncalc.ReLU()), "3x100"),
    (cnncalc.Sequential(cnncalc.layers.Conv3d(3, 8, 3), cnncalc.layers.MaxPool3d(2)), "3x8x32x32"),
    (cnncalc.Sequential(cnncalc.ConvTranspose2d(3, 8, 4, stride=2, padding=1), cnncalc.Conv2d(8, 8, 3)), "3x16x16"),
    (cnncalc.Sequential(cnncalc.Flatten(), cnncalc.Linear(12, 4)), "3x2x2"),
], ids=["1d", "3d", "upsampling", "no-feature-map"])
def test_other_ranks_and_fractions_validate(model, shape):
    document = json.loads(json.dumps(cnncalc.analyze(model, shape, warn=False).to_dict()))
    assert _errors(document) == []


def _alexnet():
    return json.loads(json.dumps(cnncalc.analyze(cnncalc.model("alexnet"), "3x227x227", warn=False).to_dict()))


def test_upsampling_strides_are_ratio_strings():
    model = cnncalc.Sequential(cnncalc.ConvTranspose2d(3, 8, 4, stride=2, padding=1))
    assert cnncalc.analyze(model, "3x16x16").to_dict()["receptive_field"]["stride"] == ["1/2", "1/2"]


@pytest.mark.parametrize(("break_it", "where"), [
    (lambda d: d.pop("totals"), "'totals' is a required property"),
    (lambda d: d["totals"].update(params=1.5), "totals/params"),
    (lambda d: d["layers"][0].update(params=-1), "layers/0/params"),
    (lambda d: d.update(surprise=1), "Additional properties are not allowed ('surprise'"),
    (lambda d: d["layers"][0].update(output_shape=[96, 0, 55]), "layers/0/output_shape/1"),
    (lambda d: d["receptive_field"].update(size=[1, 2, 3, 4]), "receptive_field"),
    (lambda d: d["memory"].pop("params"), "'params' is a required property"),
    (lambda d: d.update(depth=0), "depth"),
], ids=["missing-key", "float-count", "negative-count", "unknown-key", "zero-size", "four-axes", "memory-field",
        "depth-zero"])
def test_the_schema_rejects_broken_json(break_it, where):
    document = _alexnet()
    assert _errors(document) == []
    broken = copy.deepcopy(document)
    break_it(broken)
    errors = _errors(broken)
    assert errors and any(where in e for e in errors), errors


def test_the_memory_object_is_described_from_the_memory_value():
    memory = SCHEMA["properties"]["memory"]
    report = cnncalc.analyze(cnncalc.model("lenet5"), "1x32x32")
    assert memory["required"] == list(report.memory().to_dict())
    assert memory["properties"]["dtype"] == {"type": "string"}
    # int8 has no training step: its values may be null, float32's are counts
    assert memory["properties"]["saved_for_backward"] == {"anyOf": [{"$ref": "#/$defs/count"}, {"type": "null"}]}


def test_every_key_is_documented_in_json_md():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text(encoding="utf-8")
    keys = [*SCHEMA["properties"], *SCHEMA["$defs"]["layer"]["properties"], *SCHEMA["properties"]["totals"]["properties"]]
    assert [key for key in keys if f"`{key}`" not in page] == []
