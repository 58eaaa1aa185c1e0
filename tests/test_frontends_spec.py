"""Spec files (cnncalc.frontends.spec): loading YAML/JSON safely, errors with file:line:key, to_spec round trips."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest

import cnncalc as c
from cnncalc import ShapeError
from cnncalc.frontends import analyze_file, load_file
from cnncalc.frontends.spec import parse_json

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = Path(__file__).parent.parent / "docs" / "spec.schema.json"


def rows(report):
    return [(r.name, r.type, r.output_shape, r.params, r.macs) for r in report.layers]


def small_resnet_by_hand():
    from collections import OrderedDict as D

    block = c.Residual(
        c.Sequential(c.Conv2d(16, 32, 3, 2, 1, bias=False), c.BatchNorm2d(32), c.ReLU(),
                     c.Conv2d(32, 32, 3, padding=1, bias=False), c.BatchNorm2d(32)),
        c.Sequential(c.Conv2d(16, 32, 1, 2, bias=False), c.BatchNorm2d(32)),
        c.ReLU(),
    )
    mix = c.Concat(D(branch1=c.Conv2d(32, 16, 1),
                     branch2=c.Sequential(c.Conv2d(32, 8, 1), c.ReLU(), c.Conv2d(8, 16, 3, padding=1))))
    return c.Sequential(D([
        ("stem", c.Conv2d(3, 16, 3, padding=1, bias=False)), ("bn", c.BatchNorm2d(16)), ("2", c.ReLU()),
        ("block1", block), ("mix", mix), ("head", c.Sequential(c.AdaptiveAvgPool2d(1), c.Flatten())),
        ("fc", c.Linear(32, 10)),
    ]))


@pytest.mark.parametrize("name", ["small_resnet.json", "small_resnet.yaml"])
def test_fixture_equals_hand_built(name):
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    loaded = load_file(FIXTURES / name)
    assert (loaded.name, loaded.input_shape) == ("small_resnet", (3, 32, 32))
    report = analyze_file(FIXTURES / name)
    assert report.params == 17282 and report.output_shape == (10,)
    assert rows(report) == rows(c.analyze(small_resnet_by_hand(), (3, 32, 32)))
    assert [r.name for r in report.layers if r.is_merge] == ["block1", "mix"]


def test_input_override_and_symbols():
    report = analyze_file(FIXTURES / "small_resnet.json", "3xHxW")
    assert report.output_shape == (10,)
    assert str(report.layers[3].output_shape[1]) == "ceiling(H/2)"  # floor((H + 2 - 3)/2) + 1


def _zoo_cases():
    return [(name, c.zoo.describe(name).default_input or (3, 224, 224)) for name in c.models()]


@pytest.mark.parametrize("name,shape", _zoo_cases(), ids=c.models())
def test_zoo_round_trip_through_json(name, shape):
    model = c.model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", c.ShapeWarning)
        before = c.analyze(model, shape).to_dict()
        text = json.dumps(c.to_spec(model, name, shape))
        loaded = json.loads(text)
        after = c.analyze(c.from_spec(loaded), loaded["input_shape"], name=loaded["name"]).to_dict()
    assert after == before


def test_round_trip_keeps_frozen_symbolic_and_special_layers():
    model = c.Sequential(c.Conv2d(3, 8, 3, padding="same").freeze(), c.SamePad2d(3, 2), c.MaxPool2d(3, 2),
                         c.Reshape(None, -1), c.Linear(8 * 4 * 4, "classes"))
    spec = c.to_spec(model)
    assert spec["layers"][0] == {"Conv2d": {"args": [3, 8, 3], "padding": "same", "trainable": False}}
    assert spec["layers"][3] == {"Reshape": [None, -1]}
    again = c.from_spec(json.loads(json.dumps(spec)))
    assert c.analyze(again, "3x8x8").to_dict() == c.analyze(model, "3x8x8").to_dict()
    report = c.analyze(again, "3x8x8")
    assert str(report.params) == "129*classes + 224"
    assert report.params - report.trainable_params == 224  # the frozen convolution


def test_to_spec_refuses_what_it_cannot_write():
    with pytest.raises(ShapeError, match=r"cannot write the size 2\*C to a spec"):
        c.to_spec(c.Sequential(c.Linear(c.symbol("C") * 2, 3)))


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", ["small_resnet.json", "spec_bad_shape.json"])
def test_schema_accepts_fixtures_and_every_zoo_spec(validator, name):
    assert not list(validator.iter_errors(json.loads((FIXTURES / name).read_text())))
    if name == "small_resnet.json":
        # one network per zoo family: a family's networks differ in numbers, not in layer types or blocks
        # (validating all of them took half a minute)
        for zoo_name in {c.zoo.describe(n).family: n for n in c.models()}.values():
            assert not list(validator.iter_errors(json.loads(json.dumps(c.to_spec(c.model(zoo_name)))))), zoo_name


def test_merge_name_round_trips_and_validates(validator, tmp_path):
    unet = c.load_file(FIXTURES / "unet.py").build()
    doc = json.loads(json.dumps(c.to_spec(unet, name="unet", input_shape=(3, 64, 64))))
    assert not list(validator.iter_errors(doc))
    path = tmp_path / "unet.json"
    path.write_text(json.dumps(doc))
    back = c.analyze_file(path)
    assert [r.name for r in back.layers if r.type == "Concat"] == ["up1", "up2", "up3", "up4"]
    assert rows(back) == rows(c.analyze(unet, (3, 64, 64)))


def test_gate_round_trips(validator, tmp_path):
    net = c.load_file(FIXTURES / "se_net.py").build()
    doc = json.loads(json.dumps(c.to_spec(net, name="se", input_shape=(3, 16, 16))))
    assert not list(validator.iter_errors(doc))
    assert '"op": "mul"' in json.dumps(doc)
    path = tmp_path / "se.json"
    path.write_text(json.dumps(doc))
    assert rows(c.analyze_file(path)) == rows(c.analyze(net, (3, 16, 16)))


def test_merge_name_only_on_blocks(tmp_path):
    path = tmp_path / "leaf.json"
    path.write_text('{"layers": [\n {"ReLU": null, "merge_name": "x"}\n]}')
    with pytest.raises(ShapeError, match=r":2: layers\[0\].merge_name: only a residual, a concat or a merge has a merge row"):
        c.analyze_file(path, (3, 8, 8))


def test_schema_names_every_layer_type():
    schema = json.loads(SCHEMA.read_text())
    assert schema["$defs"]["layer_type"]["enum"] == sorted(c.frontends.spec.layer_types())


def test_schema_rejects_unknown_types(validator):
    assert list(validator.iter_errors({"layers": [{"Conv2D": [3, 8, 3]}]}))
    assert list(validator.iter_errors({"layers": [], "model": "ReLU"}))


ERRORS = [
    ("unknown_type.json", '{\n  "layers": [\n    {"Conv2d": [3, 8, 3]},\n    {"Conv4d": [8, 8, 3]}\n  ]\n}\n',
     r":4: layers\[1\].Conv4d: unknown layer type 'Conv4d': expected one of"),
    ("two_types.json", '{"layers": [\n {"Conv2d": [3, 8, 3], "ReLU": null}\n]}\n',
     r":2: layers\[0\]: expected one layer type \(and an optional name\), got keys \['Conv2d', 'ReLU'\]"),
    ("residual_keys.json", '{"layers": [\n  {"residual": {"main": "ReLU",\n   "shortcutt": "ReLU"}}\n]}\n',
     r":2: layers\[0\].residual: unknown keys \['shortcutt'\]"),
    ("both.json", '{"layers": [], "model": "ReLU"}', r":1: layers: give exactly one of"),
    ("top_key.json", '{\n "layer": []\n}', r":2: layer: unknown key"),
    ("syntax.json", '{\n "layers": [\n  "ReLU",\n ]\n}', r":4: not valid JSON"),
    ("bad_value.json", '{"layers": [\n 3\n]}', r":2: layers\[0\]: expected a layer name, a list or a mapping, got 3"),
    ("layer_rule.json", '{"layers": [\n\n {"Conv2d": {"args": [3, 8, 3], "groups": 2}}]}',
     r":3: layers\[0\].Conv2d: Conv2d: in_channels \(3\) must be divisible by groups \(2\)"),
    ("bad_shape.json", '{"input_shape": "3xx3", "layers": ["ReLU"]}', r":1: input_shape: invalid shape"),
    ("unknown_type.yaml", "layers:\n  - Conv2d: [3, 8, 3]\n  - Conv4d: [8, 8, 3]\n",
     r":3: layers\[1\].Conv4d: unknown layer type 'Conv4d'"),
    ("concat.yaml", "layers:\n  - concat:\n      - ReLU\n      - Tanh\n    name: join\n  - concat: ReLU\n",
     r":6: layers\[1\].concat: expected a list of branches"),
    ("syntax.yaml", "layers:\n  - Conv2d: [3, 8\n  - ReLU\n", r":4: not valid YAML"),
    ("python_tag.yaml", "layers: !!python/object/apply:os.system ['true']\n", r":1: not valid YAML"),
]


@pytest.mark.parametrize("name,text,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_file_line_and_key(tmp_path, name, text, message):
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ShapeError, match="^" + re.escape(str(path)) + message):
        analyze_file(path, "3x8x8")


def test_yaml_without_pyyaml_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "net.yaml"
    path.write_text("layers: [ReLU]\n")
    with pytest.raises(ShapeError, match=re.escape("reading YAML needs PyYAML: pip install 'cnncalc[yaml]'")):
        load_file(path)
    path = tmp_path / "net.json"
    path.write_text('{"layers": ["ReLU"]}')
    assert c.analyze(load_file(path).model, (3, 2, 2)).output_shape == (3, 2, 2)


def test_json_lines_are_found_per_item():
    doc = parse_json('{\n"layers": [\n  "ReLU",\n\n  {"Linear": [4, 2],\n   "name": "fc"}\n]\n}', "x.json")
    assert doc.key_lines["layers"] == 2
    assert doc["layers"].item_lines == [3, 5]
    assert doc["layers"][1].key_lines == {"Linear": 5, "name": 6}


SOURCE_FIXTURES = [("cifar_net.py", "3x32x32"), ("resnet_cifar.py", "3x32x32"), ("inception_cat.py", "3x28x28"),
                   ("densenet_cat.py", "3x32x32"), ("keras_same.py", None), ("mnist_keras.py", None)]


@pytest.mark.parametrize("path,shape", SOURCE_FIXTURES, ids=[s[0] for s in SOURCE_FIXTURES])
def test_models_read_from_source_round_trip_through_a_spec(path, shape):
    loaded = load_file(FIXTURES / path)
    shape = c.parse_shape(shape) if shape else loaded.input_shape
    model = loaded.build(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", c.ShapeWarning)
        before = c.analyze(model, shape, name=loaded.name).to_dict()
        doc = json.loads(json.dumps(c.to_spec(model, loaded.name, shape)))
        assert c.analyze(c.from_spec(doc), shape, name=doc["name"]).to_dict() == before
