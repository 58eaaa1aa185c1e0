"""Homework checking: answers graded against the analysis, explanations where wrong, strict parsing."""

import json

import pytest

import cnncalc
from cnncalc import ShapeError
from cnncalc.check import check_file, check_inline, grade, load_questions, parse_inline

ALEX1 = "conv in=3x227x227 out=96 k=11 s=4 p=0"


def _marks(result):
    return {m.answer: m.right for m in result.marks}


def test_inline_all_right():
    result = check_inline(f"{ALEX1} -> 96x55x55 params=34944 macs=105415200 rf=11")
    assert _marks(result) == {"output_shape": True, "params": True, "macs": True, "receptive_field": True}
    assert result.score == result.total == 4
    assert result.render().endswith("Score: 4/4 (100%)\n")


def test_inline_wrong_answers_are_explained():
    result = check_inline(f"{ALEX1} -> 96x54x54 params=34848")
    assert _marks(result) == {"output_shape": False, "params": False}
    shape, params = result.marks
    assert shape.correct == (96, 55, 55)
    assert shape.explanation == [
        "H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = floor((227 - 11 + 2*0)/4) + 1 = floor(216/4) + 1 = 54 + 1 = 55"
    ]
    assert params.explanation == ["parameters per filter: C_in*k^2 + 1 = 3*11^2 + 1 = 364",
                                  "parameters: C_out*(C_in*k^2 + 1) = 96*(3*11^2 + 1) = 96*364 = 34944"]
    assert params.notes == ["34848 is the count without the biases (96 of them)"]
    assert "Score: 0/2 (0%)" in result.render()


INLINE = [
    ("pool", "maxpool in=64x112x112 k=3 s=2 p=1 -> 64x56x56", {"output_shape": True}),
    ("pool-ceil", "maxpool in=3x8x8 k=3 s=2 ceil=true -> 3x4x4", {"output_shape": True}),
    ("avg", "avgpool in=3x7x7 k=2 -> shape=3x3x3", {"output_shape": True}),
    ("linear", "linear in=9216 out=4096 -> 4096 params=37752832 macs=37748736",
     {"output_shape": True, "params": True, "macs": True}),
    ("deconv", "convtranspose in=16x7x7 out=8 k=4 s=2 p=1 -> 8x14x14 params=2056", {"output_shape": True, "params": True}),
    ("grouped", "conv in=32x28x28 out=64 k=3 p=1 g=32 bias=false -> 64x28x28 params=576", {"output_shape": True, "params": True}),
    ("pair-kernel", "conv in=3x9x11 out=4 k=3x5 s=1x2 p=1x0 -> 4x9x4", {"output_shape": True}),
    ("grouped-digits", f"{ALEX1} -> params=34,944", {"params": True}),
]


@pytest.mark.parametrize("line, expected", [c[1:] for c in INLINE], ids=[c[0] for c in INLINE])
def test_inline_layers(line, expected):
    assert _marks(check_inline(line)) == expected


def test_zoo_model_and_layer_questions():
    if not hasattr(cnncalc, "model"):
        pytest.skip("model zoo not available")
    result = check_inline("alexnet in=3x227x227 -> 1000 params=62378343")
    assert _marks(result) == {"output_shape": True, "params": False}
    explanation = result.marks[1].explanation
    assert explanation[:3] == ["by block:", "  features: 3,747,200", "  classifier: 58,631,144"]
    assert explanation[3] == "  Total = 3,747,200 + 58,631,144 = 62,378,344"
    assert explanation[-1] == "  classifier.1 (Linear): F_out*(F_in + 1) = 4096*(9216 + 1) = 4096*9217 = 37752832"
    at = check_inline("vgg16 in=3x224x224 at=features.4 -> 64x112x112 rf=6")
    assert _marks(at) == {"output_shape": True, "receptive_field": True}


BAD = [
    ("no-arrow", "conv in=3x8x8 out=4 k=3", "expected 'KIND key=value ... -> answers'"),
    ("no-input", "conv out=4 k=3 -> 4x6x6", r"the input shape in=CxHxW is missing"),
    ("unknown-kind", "dense2 in=3 out=4 -> 4", "unknown layer or model 'dense2'"),
    ("unknown-key", "conv in=3x8x8 out=4 k=3 q=1 -> 4x6x6", "conv takes in, out, k, s, p, d, g, bias, tf, not q="),
    ("not-key-value", "conv in=3x8x8 out=4 k=3 oops -> 4x6x6", "'oops' is not key=value"),
    ("twice", "conv in=3x8x8 out=4 k=3 k=5 -> 4x6x6", "k= is given twice"),
    ("bad-int", "conv in=3x8x8 out=4 k=3.5 -> 4x6x6", "expected an integer, got '3.5'"),
    ("expression", "conv in=3x8x8 out=4 k=__import__('os') -> 4x6x6", "k: expected an integer, got"),
    ("bad-answer", "conv in=3x8x8 out=4 k=3 -> 4x6x6 bogus=9", "unknown answer 'bogus'"),
    ("missing-out", "conv in=3x8x8 k=3 -> 4x6x6", "out= is missing"),
    ("impossible", "conv in=3x8x8 out=4 k=9 -> 4x1x1", "kernel 9 is larger than the padded input 8"),
]


@pytest.mark.parametrize("line, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_inline_grammar_is_strict(line, message):
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        check_inline(line)


HOMEWORK = {
    "questions": [
        {"id": "a", "layer": "conv out=96 k=11 s=4", "input": "3x227x227",
         "answers": {"output_shape": "96x55x55", "params": 34944}},
        {"id": "b", "layer": {"type": "maxpool", "k": 3, "s": 2}, "input": "96x55x55",
         "answers": {"output_shape": [96, 27, 27], "receptive_field": "3x3"}},
        {"id": "c", "layer": {"type": "conv", "out": 256, "k": 5, "p": 2}, "input": "96x27x27",
         "answers": {"params": 614400, "macs": 447897600}},
        "linear in=9216 out=4096 -> params=37752832",
    ]
}


def test_homework_from_json(tmp_path):
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(HOMEWORK))
    result = check_file(path)
    assert [(m.question.split(":")[0], m.answer, m.right) for m in result.marks] == [
        ("Question a", "output_shape", True), ("Question a", "params", True),
        ("Question b", "output_shape", True), ("Question b", "receptive_field", True),
        ("Question c", "params", False), ("Question c", "macs", True),
        ("Question 4", "params", True),
    ]
    assert result.score == 6 and result.total == 7
    wrong = result.marks[4]
    assert wrong.correct == 614656 and wrong.explanation[-1] == "parameters: C_out*(C_in*k^2 + 1) = 256*(96*5^2 + 1) = 256*2401 = 614656"
    assert wrong.notes == ["614400 is the count without the biases (256 of them)"]
    assert result.to_dict()["score"] == 6


def test_homework_from_yaml(tmp_path):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(HOMEWORK))
    assert check_file(path).score == 6


def test_yaml_is_read_safely(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "evil.yaml"
    path.write_text("questions: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ShapeError, match="not valid YAML"):
        check_file(path)


@pytest.mark.parametrize("data, message", [
    ({"questions": []}, "non-empty list under questions"),
    ({"questions": [{"input": "3x8x8", "answers": {"params": 1}}]}, "exactly one of layer:, stack: or model:"),
    ({"questions": [{"layer": "conv out=4 k=3", "answers": {"params": 1}}]}, "input: is missing"),
    ({"questions": [{"layer": "conv out=4 k=3", "input": "3x8x8"}]}, "answers must be a mapping"),
    ({"questions": [{"layer": {"type": "conv", "kernel": 3}, "input": "3x8x8", "answers": {"params": 1}}]},
     "conv takes out, k, s, p, d, g, bias, tf, not kernel"),
    ({"questions": [{"layer": "conv out=4 k=3", "input": "3x8x8", "answers": {"params": 1}, "extra": 1}]},
     r"unknown field\(s\) extra"),
], ids=["empty", "no-layer", "no-input", "no-answers", "bad-setting", "extra-field"])
def test_bad_homework_files(data, message):
    with pytest.raises(ShapeError, match=message):
        load_questions(data)


def test_grade_in_chinese():
    result = grade([parse_inline(f"{ALEX1} -> params=1")], lang="zh")
    assert result.marks[0].explanation == ["每个卷积核的参数量：C_in*k^2 + 1 = 3*11^2 + 1 = 364",
                                           "参数量：C_out*(C_in*k^2 + 1) = 96*(3*11^2 + 1) = 96*364 = 34944"]
