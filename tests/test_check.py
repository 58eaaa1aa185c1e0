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


# --- what homework asks: stacks, files, FLOPs, memory, rounded answers, feedback by block --------------------------

ROUNDED = [
    ("vgg16 in=3x224x224 -> params=138M", True, "rounded: 138M stands for 137.5M to 138.5M, and the value is 138,357,544"),
    ("vgg16 in=3x224x224 -> params=138.4M", True, None),
    ("vgg16 in=3x224x224 -> params=138.3M", False, None),
    ("vgg16 in=3x224x224 -> params=1.4e8", True, None),
    ("resnet18 in=3x224x224 -> macs=1.8G", True, None),
    ("resnet18 in=3x224x224 -> macs=1.8GMACs flops=3.6GFLOPs", True, None),
    ("resnet18 in=3x224x224 -> flops=3.63G", True, None),
    ("alexnet in=3x227x227 -> params=62,378,344", True, None),
    ("alexnet in=3x227x227 -> params=62_378_344 macs=1135256096 flops=2270512192", True, None),
]


def test_flops_answered_with_the_mac_count_is_wrong_and_told_why():
    mark = check_inline("resnet18 in=3x224x224 -> flops=1.8G").marks[0]
    assert not mark.right and mark.correct == 3628146688
    assert mark.notes == ["1.8G is the MAC count (papers and torchvision often call it FLOPs); FLOPs = 2 × MACs = "
                          "3,628,146,688: if your course counts a multiply-add as one operation, answer macs=1.8G"]
    other = check_inline("resnet18 in=3x224x224 -> macs=3.6G").marks[0]
    assert not other.right and other.notes == ["3.6G is FLOPs = 2 × MACs; MACs (multiply-accumulates) = 1,814,073,344"]


MEMORY = [
    ("vgg16 in=3x224x224 -> params_memory=553MB", True, "rounded: 553MB stands for 552.5MB to 553.5MB"),
    ("vgg16 in=3x224x224 -> params_memory=528MB", True, "read as MiB (2^20 bytes): 553,430,176 B = 527.79 MiB"),
    ("vgg16 in=3x224x224 -> params_memory=527.8MiB", True, None),
    ("vgg16 in=3x224x224 -> params_memory=528MiB", True, None),
    ("vgg16 in=3x224x224 -> params_memory=600MB", False, None),
    ("vgg16 in=3x224x224 -> activations=61MB", True, None),
    ("vgg16 in=3x224x224 -> activations=15.26M", True, None),  # a count of values, no byte unit
    ("vgg16 in=3x224x224 -> activations=114.8MB", True, "read as every layer's output stored separately"),
    ("vgg16 in=3x224x224 dtype=float16 -> params_memory=276.7MB", True, None),
    ("vgg16 in=3x224x224 batch=2 -> activations=122.1MB", True, None),
]


@pytest.mark.parametrize("line, right, note", ROUNDED + MEMORY,
                         ids=[f"rounded{i}" for i in range(len(ROUNDED))] + [f"memory{i}" for i in range(len(MEMORY))])
def test_rounded_counts_and_memory_with_the_tolerance_said(line, right, note):
    result = check_inline(line)
    assert result.all_right is right, result.render()
    if note:
        assert any(note in n for n in result.marks[0].notes), result.marks[0].notes


def test_activations_are_the_input_and_every_output_but_in_place_layers():
    report = cnncalc.analyze(cnncalc.model("vgg16"), "3x224x224", warn=False)
    in_place = ("ReLU", "Dropout", "Flatten")
    values = 3 * 224 * 224 + sum(r.output_numel for r in report.layers if r.type not in in_place)
    assert values == 15_262_696
    mark = check_inline("vgg16 in=3x224x224 -> activations=1MB").marks[0]
    assert mark.correct == 4 * values and mark.explanation[1] == "15,262,696 × 4 B = 61,050,784 B = 61.05 MB = 58.22 MiB"


STACKS = [
    ("conv in=1x32x32 out=8 k=3 | conv out=8 k=3 -> rf=5", {"receptive_field": True}),
    ("conv in=1x32x32 out=8 k=3 | conv out=8 k=3 | conv out=8 k=3 -> 8x26x26 rf=7", {"receptive_field": True, "output_shape": True}),
    ("conv in=1x32x32 out=8 k=3 | maxpool k=2 | conv out=8 k=3 -> rf=8 jump=2", {"receptive_field": True, "jump": True}),
    ("conv in=1x32x32 out=8 k=3 | maxpool k=2 | conv out=8 k=3 at=3 -> rf=8 jump=2 params=584",
     {"receptive_field": True, "jump": True, "params": True}),
    ("conv in=3x32x32 out=16 k=3 p=same | bn | relu | maxpool k=2 | flatten | linear out=10 -> 10 params=41450",
     {"output_shape": True, "params": True}),
    ("conv in=3x32x32 out=16 k=3 | gap | linear out=10 -> 10 params=618", {"output_shape": True, "params": True}),
    ("conv in=1x16000 out=16 k=80 s=4 | maxpool k=4 -> 16x995 rf=92", {"output_shape": True, "receptive_field": True}),
    ("conv in=3x8x64x64 out=8 k=3 p=1 | maxpool k=2 -> 8x4x32x32", {"output_shape": True}),
    ("conv in=3x32x32 out=8 k=3 s=2 tf=true | pad p=1 -> 8x18x18", {"output_shape": True}),
    ("conv in=1x32x32 out=8 k=3 | conv out=8 k=3 -> rf@1=3 rf@2=5 shape@1=8x30x30", {"receptive_field": True, "output_shape": True}),
]


@pytest.mark.parametrize("line, expected", STACKS, ids=[str(i) for i in range(len(STACKS))])
def test_stacks_of_layers(line, expected):
    result = check_inline(line)
    assert {m.answer: m.right for m in result.marks} == expected, result.render()


def test_a_stack_counts_its_layers_from_1_out_loud():
    result = check_inline("conv in=1x32x32 out=8 k=3 | maxpool k=2 | conv out=8 k=3 at=2 -> rf=3")
    assert result.notices[result.marks[0].question] == ["at=2 is the 2nd layer (maxpool), counted from 1"]
    assert result.marks[0].explanation == ["1 (Conv2d): r_out = j_in*(k - 1) + r_in = 1*(3 - 1) + 1 = 3",
                                           "2 (MaxPool2d): r_out = j_in*(k - 1) + r_in = 1*(2 - 1) + 3 = 4"]
    with pytest.raises(ShapeError, match="at=4: the stack has 3 layers"):
        check_inline("conv in=1x32x32 out=8 k=3 | maxpool k=2 | conv out=8 k=3 at=4 -> rf=3")


def test_a_wrong_network_answer_is_explained_by_block_not_by_layer():
    result = check_inline("resnet50 in=3x224x224 -> 2048x7x7 params=25557031 macs=4G rf=400")
    for mark in result.marks:
        assert len(mark.explanation) <= 12, mark.explanation
    shape = result.marks[0]
    assert shape.explanation[0] == "2048x7x7 is the output of layer4.2.relu (ReLU); the network goes on to 1000"
    assert "  layer4: 1024x14x14 -> 2048x7x7" in shape.explanation
    params = result.marks[1]
    assert params.explanation[-1] == "  layer4.0.conv2 (Conv2d): C_in*C_out*k^2 = 512*512*3^2 = 2359296"


def test_per_layer_answers_name_the_first_wrong_layer():
    result = check_inline("alexnet in=3x227x227 -> shape@features.0=96x55x55 shape@features.3=96x26x26 "
                          "shape@features.7=256x12x12")
    marks = result.marks
    assert [m.right for m in marks] == [True, False, False]
    assert marks[1].explanation[0] == "the first wrong layer is features.3 (MaxPool2d)"
    assert marks[1].explanation[1].endswith("floor(52/2) + 1 = 26 + 1 = 27")
    assert not marks[2].explanation[0].startswith("the first wrong layer")


def test_params_mistakes_are_named():
    no_bias = check_inline("conv in=3x32x32 out=64 k=3 -> params=1728").marks[0]
    assert no_bias.notes == ["1728 is the count without the biases (64 of them)"]
    one_filter = check_inline("conv in=3x32x32 out=64 k=3 -> params=28").marks[0]
    assert one_filter.notes == ["28 is one filter's count; there are 64 filters"]
    buffers = check_inline("bn in=64x56x56 -> params=256").marks[0]
    assert buffers.notes == ["256 also counts the BatchNorm running statistics (128 buffers, not parameters)"]


def test_padding_words_and_tensorflow_same_in_questions():
    assert check_inline("conv in=3x32x32 out=16 k=3 p=same -> 16x32x32").all_right
    assert check_inline("conv in=3x32x32 out=16 k=3 p=valid -> 16x30x30").all_right
    assert check_inline("maxpool in=16x32x32 k=3 s=2 tf=true -> 16x16x16").all_right
    with pytest.raises(ShapeError, match="padding='same' is not supported for strided convolutions"):
        check_inline("conv in=3x32x32 out=16 k=3 s=2 p=same -> 16x16x16")


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def test_custom_networks_from_files(tmp_path):
    spec = check_inline(f"{FIXTURES / 'small_resnet.json'} in=3x32x32 -> params=17282")
    assert spec.all_right
    source = tmp_path / "net.py"
    source.write_text(
        "import torch.nn as nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 6, 5)\n"
        "        self.pool = nn.MaxPool2d(2)\n"
        "        self.fc = nn.Linear(6 * 14 * 14, 10)\n\n"
        "    def forward(self, x):\n"
        "        x = self.pool(self.conv(x))\n"
        "        return self.fc(x.flatten(1))\n")
    homework = tmp_path / "hw.json"
    homework.write_text(json.dumps({"questions": [
        {"model": "net.py", "class": "Net", "input": "3x32x32",
         "answers": {"output_shape": 10, "params": 12226, "conv": {"output_shape": "6x28x28"}, "pool": {"rf": 6}}}]}))
    result = check_file(homework)
    assert [(m.answer, m.layer, m.right) for m in result.marks] == [
        ("output_shape", None, True), ("params", None, True), ("output_shape", "conv", True), ("receptive_field", "pool", True)]


def test_grade_renders_in_chinese_and_as_html():
    result = check_inline("conv in=3x227x227 out=96 k=11 s=4 -> 55x55x96 params=34848", lang="zh")
    text = result.render()
    assert "  [x] 输出形状 = 55x55x96：正确（按通道在后读取：55x55x96 即 C×H×W 的 96x55x55）" in text
    assert "  [ ] 参数量 = 34848：错误：正确答案是 34944（34848 是不含偏置的数量（偏置共 96 个））" in text
    assert text.endswith("得分：1/2（50%）\n")
    html = result._repr_html_()
    assert "<td>✓</td>" in html and "<td>✗</td>" in html and "得分：1/2（50%）" in html
    assert result.to_dict()["answers"][0]["notes"] == ["按通道在后读取：55x55x96 即 C×H×W 的 96x55x55"]
