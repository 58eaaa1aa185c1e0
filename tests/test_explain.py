"""Explanations: every number shown is the analysis's, every formula comes from the layer itself."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import (
    BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, AvgPool2d, ReLU, Residual, Sequential, ShapeError,
)
from cnncalc.dims import format_shape
from cnncalc.explain import explain

from test_symbolic import small_resnet

ALEXNET_CONV1 = Conv2d(3, 96, 11, 4)


def _lines(text):
    return [line.strip() for line in text.splitlines()]


def test_alexnet_first_layer_step_by_step():
    lines = _lines(str(explain(ALEXNET_CONV1, "3x227x227")))
    assert ("output size: H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = floor((227 - 11 + 2*0)/4) + 1"
            " = floor(216/4) + 1 = 54 + 1 = 55") in lines
    assert "parameters per filter: C_in*k^2 + 1 = 3*11^2 + 1 = 364" in lines
    assert "parameters: C_out*(C_in*k^2 + 1) = 96*(3*11^2 + 1) = 96*364 = 34944" in lines
    assert "MACs: C_in*C_out*H_out*W_out*k^2 = 3*96*55*55*11^2 = 105415200" in lines
    assert "receptive field size: r_out = j_in*(k - 1) + r_in = 1*(11 - 1) + 1 = 11" in lines
    assert "receptive field jump (stride in input pixels): j_out = j_in*s = 1*4 = 4" in lines


def test_groups_and_dilation_appear_only_when_used():
    text = str(explain(Conv2d(8, 16, 3, padding=2, dilation=2, groups=4), "8x20x20"))
    assert "parameters: C_out*(C_in*k^2/g + 1) = 16*(8*3^2/4 + 1) = 16*19 = 304" in text
    assert ("H_out = W_out = floor((H_in - d*(k - 1) + 2*p - 1)/s) + 1 = floor((20 - 2*(3 - 1) + 2*2 - 1)/1) + 1"
            " = 19 + 1 = 20") in text
    assert "/g" not in str(explain(Conv2d(8, 16, 3), "8x20x20")) and "d*" not in str(explain(Conv2d(8, 16, 3), "8x20x20"))


def test_non_square_layers_explain_each_axis():
    text = str(explain(Conv2d(3, 4, (3, 5), (1, 2), (1, 0)), "3x9x11"))
    assert "H_out = floor((H_in - k_h + 2*p_h)/s_h) + 1 = floor((9 - 3 + 2*1)/1) + 1 = 8 + 1 = 9" in text
    assert "W_out = floor((W_in - k_w + 2*p_w)/s_w) + 1 = floor((11 - 5 + 2*0)/2) + 1 = floor(6/2) + 1 = 3 + 1 = 4" in text


NOTES = [
    ("truncation", Conv2d(3, 3, 3, 2), "3x10x10", "floor truncation drops the last 1 row of the input"),
    ("big-padding", Conv2d(3, 3, 3, padding=2), "3x8x8", "padding 2 is more than half the kernel span (3)"),
    ("one-by-one", Conv2d(3, 16, 1), "3x8x8", "changes only the channels (3 -> 16)"),
    ("projection", Residual(Conv2d(4, 8, 3, 2, 1), Conv2d(4, 8, 1, 2)), "4x8x8",
     "the residual needs a projection: the shortcut shortcut maps 4x8x8 to 8x4x4"),
    ("identity", Residual(Conv2d(4, 4, 3, 1, 1)), "4x8x8", "identity shortcut: the input 4x8x8 is added as it is"),
]


@pytest.mark.parametrize("model, shape, note", [c[1:] for c in NOTES], ids=[c[0] for c in NOTES])
def test_notes(model, shape, note):
    text = str(explain(model, shape))
    assert any(line.startswith("! ") and note in line for line in _lines(text)), text


def test_no_note_on_an_ordinary_layer():
    assert "!" not in str(explain(Conv2d(3, 8, 3, padding=1), "3x8x8"))


def test_chinese_uses_the_standard_terms():
    text = str(explain(Sequential(Conv2d(3, 16, 1), Conv2d(16, 16, 3, padding=2)), "3x8x8", lang="zh"))
    for term in ("输出尺寸", "参数量", "感受野", "步长", "特征图", "卷积核", "填充"):
        assert term in text, term
    assert "参数量：C_out*(C_in*k^2 + 1) = 16*(3*1^2 + 1) = 16*4 = 64" in text


def test_latex_uses_left_right_floor():
    text = str(explain(ALEXNET_CONV1, "3x227x227", fmt="latex"))
    assert r"\left\lfloor \frac{216}{4} \right\rfloor + 1 = 54 + 1 = 55" in text
    assert r"\left\lfloor{\frac{H_{in} - k + 2 \cdot p}{s}}\right\rfloor + 1" in text
    assert r"parameters: \[ C_{out} \cdot \left(C_{in} \cdot k^{2} + 1\right) = 96 \cdot \left(3 \cdot 11^{2} + 1\right) = 96 \cdot 364 = 34944 \]" in text
    assert text.count(r"\[") == text.count(r"\]")


def test_markdown_has_a_heading_per_layer():
    model = Sequential(Conv2d(3, 8, 3), ReLU(), MaxPool2d(2))
    text = str(explain(model, "3x10x10", fmt="markdown"))
    assert len(re.findall(r"^## `", text, re.M)) == 3 and "\n## Total\n" in text
    assert "- output size: `H_out = W_out = floor((H_in - k + 2*p)/s) + 1" in text


def test_symbolic_input_shows_the_closed_form():
    text = str(explain(Conv2d(3, 8, 3, 2, 1), "3xHxW"))
    assert "H_out = floor((H_in - k + 2*p)/s) + 1 = floor((H - 3 + 2*1)/2) + 1 = ceil(H/2)" in text


def test_unknown_language_or_format():
    with pytest.raises(ShapeError, match="unknown language 'fr'"):
        explain(ALEXNET_CONV1, "3x227x227", lang="fr")
    with pytest.raises(ShapeError, match="unknown format 'html'"):
        explain(ALEXNET_CONV1, "3x227x227", fmt="html")


def _final_numbers(explanation):
    """(layer name, label, last number) for every equation line."""
    out = []
    for layer in explanation.layers:
        for line in layer.lines:
            if line.steps and not line.note and not line.plain:
                out.append((layer, line.label, line.steps[-1]))
    return out


def _check_against_analysis(model, shape):
    explanation = explain(model, shape)
    report = cnncalc.analyze(model, shape, warn=False)
    rows = {r.name: r for r in report.layers}
    assert len(explanation.layers) == len(report.layers)
    for layer, label, last in _final_numbers(explanation):
        row = rows[layer.name]
        if label == "output size":  # a spatial size from a formula, or the whole shape (Permute, Index)
            assert last == format_shape(row.output_shape) or int(last) in row.output_shape[1:]
        elif label == "parameters":
            assert int(last) == row.params
        elif label == "MACs":
            assert int(last) == row.macs
        elif label.startswith("receptive field size"):
            assert int(last) == row.receptive_field.size[_axis(label, row)]
        elif label.startswith("receptive field jump"):
            assert int(last) == row.receptive_field.stride[_axis(label, row)]


def _axis(label, row):
    """The axis a receptive-field line is about ("... along the height"), else the first (all alike)."""
    names = cnncalc.layers.axis_names(len(row.input_shape) - 1)
    return next((i for i, name in enumerate(names) if f"along the {name}" in label), 0)


def test_every_number_of_a_resnet_is_the_analysis():
    _check_against_analysis(small_resnet(), "3x64x64")


_layer = st.sampled_from(["conv", "pool", "avg", "bn"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_layer, st.integers(1, 4), st.integers(1, 3), st.integers(0, 2)), min_size=1, max_size=4),
       st.integers(16, 40))
def test_random_nets_explain_the_analysis_numbers(spec, size):
    layers = []
    for kind, k, s, p in spec:
        if kind == "conv":
            layers.append(Conv2d(4, 4, k, s, p))
        elif kind == "pool":
            layers.append(MaxPool2d(k, s, min(p, k // 2)))
        elif kind == "avg":
            layers.append(AvgPool2d(k, s, min(p, k // 2), ceil_mode=True))
        else:
            layers.append(BatchNorm2d(4))
    model = Sequential(*layers)
    try:
        cnncalc.analyze(model, (4, size, size), warn=False)
    except ShapeError:
        return  # an impossible net: explain raises the same error as analyze
    _check_against_analysis(model, (4, size, size))


def test_linear_and_flatten():
    text = str(explain(Sequential(Flatten(), Linear(12, 5)), "3x2x2"))
    assert "flattened: F_out = C_in*H_in*W_in = 3*2*2 = 12" in text
    assert "parameters: F_out*(F_in + 1) = 5*(12 + 1) = 5*13 = 65" in text
    assert "MACs: F_in*F_out = 12*5 = 60" in text


def test_ceil_mode_shows_pytorch_rule():
    plain = str(explain(MaxPool2d(3, 2, ceil_mode=True), "3x112x112"))
    assert "H_out = W_out = ceil((H_in - k + 2*p)/s) + 1 = ceil((112 - 3 + 2*0)/2) + 1 = ceil(109/2) + 1 = 55 + 1 = 56" in plain
    assert "! ceil_mode" not in plain
    dropped = str(explain(MaxPool2d(3, 3, 1, ceil_mode=True), "3x5x5"))
    assert "ceil((5 - 3 + 2*1)/3) + 1 - 1 = ceil(4/3) + 1 - 1 = 2 + 1 - 1 = 2" in dropped
    assert "! ceil_mode: the last window would start at 6 >= input 5 + left padding 1 = 6" in dropped
    latex = str(explain(MaxPool2d(3, 2, ceil_mode=True), "3x112x112", fmt="latex"))
    assert r"\left\lceil \frac{109}{2} \right\rceil + 1 = 55 + 1 = 56" in latex


@pytest.mark.skipif(not hasattr(cnncalc, "model"), reason="model zoo not available")
def test_every_zoo_model_explains_its_own_numbers():
    from cnncalc import zoo

    for name in zoo.models():
        _check_against_analysis(zoo.model(name), zoo.describe(name).default_input)


def test_merges_show_their_branches():
    from cnncalc import Concat

    block = Concat(Conv2d(8, 16, 1), Sequential(Conv2d(8, 4, 1), Conv2d(4, 8, 3, padding=1)), MaxPool2d(3, 1, 1))
    text = str(explain(block, "8x10x10"))
    assert "channels concatenated: C_out = 16 + 8 + 8 = 32" in text
    added = str(explain(Residual(Conv2d(4, 4, 3, 1, 1)), "4x8x8"))
    assert "element-wise sum of the branches: 4x8x8 + 4x8x8 = 4x8x8" in added


def test_merges_other_than_a_channel_concatenation_say_what_they_join():
    from cnncalc import Merge

    side = str(explain(Merge(Sequential(), Conv2d(4, 2, 1), op="side"), "4x3x3"))
    assert "the first branch passes on; the others are read by the next layer: 4x3x3, 2x3x3 -> 4x3x3" in side
    matmul = str(explain(Merge(Sequential(), cnncalc.Transpose(1, 2), op="matmul"), "5x3"))
    assert "branches combined (MatMul): 5x3, 3x5 -> 5x5" in matmul and "concatenated" not in matmul


def test_after_upsampling_the_size_is_traced_not_recurred():
    decoder = cnncalc.Sequential(cnncalc.Conv2d(1, 4, 3, stride=2, padding=1), cnncalc.ConvTranspose2d(4, 1, 4, stride=2, padding=1))
    text = explain(decoder, "1x16x16").render()
    up = text[text.index("ConvTranspose2d"):]
    # the recurrence would give r_out = 3 + 3*2/2 = 6; the traced regions are 5 or 3 pixels wide
    assert "receptive field size: r_out = 5" in up
    assert "neighbouring output pixels read regions of different sizes" in up
    assert "j_out = j_in/s = 2/2 = 1" in up
    assert "j_{out} = \\frac{j_{in}}{s} = \\frac{1}{2}" in explain(decoder[1], "4x8x8", fmt="latex").render()


def test_upsampling_by_a_whole_factor_shows_its_formula():
    text = explain(cnncalc.Upsample(scale_factor=(2, 3)), "4x5x6").render()
    assert "H_out = 2*H_in = 2*5 = 10" in text and "W_out = 3*W_in = 3*6 = 18" in text
    assert "output size: 4x7x9" in explain(cnncalc.Upsample(size=(7, 9)), "4x5x6").render()


# --- one way of printing ----------------------------------------------------------------------------------------


def test_pools_and_convs_of_any_rank():
    from cnncalc.layers import AvgPool1d, Conv1d, Conv3d, MaxPool3d

    text = str(explain(Sequential(Conv1d(1, 8, 80, 4), AvgPool1d(4)), "1x16000"))
    assert "L_out = floor((L_in - k + 2*p)/s) + 1 = floor((16000 - 80 + 2*0)/4) + 1 = floor(15920/4) + 1 = 3980 + 1 = 3981" in text
    assert "L_out = floor((L_in - k + 2*p)/s) + 1 = floor((3981 - 4 + 2*0)/4) + 1 = floor(3977/4) + 1 = 994 + 1 = 995" in text
    assert "! floor truncation drops the last 1 sample of the input: no window reaches it" in text
    video = str(explain(Sequential(Conv3d(3, 8, (3, 7, 7), (1, 2, 2), (1, 3, 3)), MaxPool3d(2)), "3x16x112x112"))
    assert "D_out = floor((D_in - k_d + 2*p_d)/s_d) + 1 = floor((16 - 3 + 2*1)/1) + 1 = 15 + 1 = 16" in video
    assert "H_out = W_out = floor((H_in - k_h + 2*p_h)/s_h) + 1" in video
    assert "parameters per filter: C_in*k_d*k_h*k_w + 1 = 3*3*7*7 + 1 = 442" in video


def test_the_ceil_mode_note_is_said_once_and_the_adaptive_line_has_one_colon():
    text = str(explain(MaxPool2d(3, 3, 1, ceil_mode=True), "3x5x5"))
    assert text.count("! ceil_mode") == 1
    zh = str(explain(cnncalc.model("alexnet_torchvision"), "3x224x224", lang="zh"))
    assert "输出尺寸（自适应池化，由 output_size 给定）：256x6x6" in zh and "：：" not in zh and "：:" not in zh


def test_padding_is_compared_with_the_kernel_span():
    assert "more than half" not in str(explain(Conv2d(16, 16, 3, padding=2, dilation=2), "16x32x32"))
    assert "padding 2 is more than half the kernel span (3)" in str(explain(Conv2d(16, 16, 3, padding=2), "16x32x32"))


def test_same_and_valid_are_explained():
    same = str(explain(Conv2d(3, 8, 3, padding="same", dilation=2), "3x32x32"))
    assert "padding: p = floor(d*(k - 1)/2) = floor(2*(3 - 1)/2) = floor(4/2) = 2" in same
    assert "output size: H_out = W_out = floor((H_in - d*(k - 1) + 2*p - 1)/s) + 1 = floor((32 - 2*(3 - 1) + 2*2 - 1)/1) + 1" in same
    valid = str(explain(Conv2d(3, 8, 3, padding="valid"), "3x32x32"))
    assert "padding='valid' means no padding: p = 0" in valid and "floor((32 - 3 + 2*0)/1) + 1 = 29 + 1 = 30" in valid


def test_batchnorm_and_padding_layers_are_explained():
    from cnncalc.layers import ZeroPad2d

    text = str(explain(Sequential(BatchNorm2d(64), ZeroPad2d((1, 2, 0, 0))), "64x8x8"))
    assert "parameters (gamma and beta per channel): 2*C = 2*64 = 128" in text
    assert "buffers (running mean and variance, not learned): 2*C = 2*64 = 128" in text
    assert "W_out = W_in + p_left + p_right = 8 + 1 + 2 = 11" in text


def test_explanations_display_as_html_in_jupyter():
    html = explain(ALEXNET_CONV1, "3x227x227", lang="zh")._repr_html_()
    assert html.startswith("<div class='cnncalc-explain'><strong>模型：Conv2d</strong>")
    assert r"\left\lfloor \frac{216}{4} \right\rfloor" in html and "参数量：" in html
