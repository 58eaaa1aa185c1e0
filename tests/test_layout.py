"""Never silently wrong about channels: a shape that looks channels last is read out loud, with the other reading's
result, or refused with it; --layout hwc / layout="hwc" makes that reading the answer."""

from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc import Conv2d, ShapeError, ShapeWarning, calculators
from cnncalc.check import check_inline
from cnncalc.cli import cli
from cnncalc.layout import looks_channels_last, read_shape


def run(*args):
    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


def flat(text):
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


@pytest.mark.parametrize("shape, looks", [
    ((32, 32, 3), True), ((227, 227, 3), True), ((28, 28, 1), True), ((64, 64, 4), True), ((16, 112, 112, 3), True),
    ((3, 32, 32), False), ((1, 28, 28), False), ((3, 3, 3), False), ((8, 8, 8), False), ((64, 3), False),
    ((3, 224, 224), False), ((4, 4, 3), True), ((3, 32, 3), False),
])
def test_what_looks_channels_last(shape, looks):
    assert looks_channels_last(shape) is looks


def test_reading_a_shape():
    assert read_shape((32, 32, 3), "hwc") == (3, 32, 32) and read_shape((16, 112, 112, 3), "hwc") == (3, 16, 112, 112)
    assert read_shape((32, 32, 3), None) == read_shape((32, 32, 3), "chw") == (32, 32, 3)
    with pytest.raises(ShapeError, match="unknown layout 'whc'"):
        read_shape((3, 8, 8), "whc")


def test_the_issue_example_says_both_readings():
    """conv --input 32x32x3 -o 64 -k 3: read as C=32, H=32, W=3; as height x width x channels it is 3x32x32, giving
    64x30x30 and 1,792 params."""
    out = flat(run("conv", "--input", "32x32x3", "-o", "64", "-k", "3").output)
    assert "Note: 32x32x3 is read channels first, as PyTorch's CxHxW: C=32, H=32, W=3." in out
    assert ("Read as height x width x channels it is 3x32x32, giving 64x30x30 and 1,792 params; --layout hwc makes "
            "that the answer.") in out
    assert "Output shape: 64x30x1" in out and "Params: 18,496" in out
    hwc = flat(run("conv", "--input", "32x32x3", "-o", "64", "-k", "3", "--layout", "hwc").output)
    assert "Output shape: 64x30x30 (channels last: 30x30x64)" in hwc and "Params: 1,792" in hwc
    assert "Note: 32x32x3 is read channels last (height x width x channels, --layout hwc): 3x32x32 as CxHxW." in hwc
    zh = flat(run("conv", "--input", "32x32x3", "-o", "64", "-k", "3", "--lang", "zh").output)
    assert "注意：32x32x3 按通道在前（PyTorch 的 C×H×W）读取：C=32，H=32，W=3。" in zh
    assert "若按 高×宽×通道 读取，它是 3x32x32，得到 64x30x30，参数量 1,792；加 --layout hwc 即以此为准。" in zh


def test_when_only_channels_last_works_the_error_says_what_it_gives():
    result = run("conv", "--input", "227x227x3", "-o", "96", "-k", "11", "-s", "4")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: Conv2d: output width would be -1")
    assert "227x227x3 looks channels last: with --layout hwc it is 3x227x227, giving 96x55x55 and 34,944 params" in result.output
    model = run("alexnet", "--input", "227x227x3")
    assert model.exit_code == 2
    assert "with --layout hwc it is 3x227x227, giving 1000 and 62,378,344 params" in model.output
    table = run("alexnet", "--input", "227x227x3", "--layout", "hwc")
    assert table.exit_code == 0 and "Total params: 62,378,344" in table.output
    assert table.output.startswith("Note: 227x227x3 is read channels last")
    zh = run("alexnet", "--input", "227x227x3", "--lang", "zh")
    assert "227x227x3 看起来是通道在后的写法：加 --layout hwc 则为 3x227x227，得到 1000，参数量 62,378,344" in zh.output


def test_a_plain_channels_first_shape_gets_no_note():
    out = run("conv", "--input", "3x32x32", "-o", "64", "-k", "3").output
    assert "Note" not in out and "channels" not in out


def test_json_keeps_stdout_clean_and_says_it_on_stderr():
    result = CliRunner().invoke(cli, ["conv", "-i", "3x8x8", "-o", "4", "-k", "3"], prog_name="cnncalc")
    assert result.exit_code == 0
    both = CliRunner().invoke(cli, ["cifar_net", "--input", "32x32x3", "--layout", "hwc", "--format", "json"])
    assert both.exit_code == 0 and '"params": 62006' in both.stdout and "Note:" in both.stderr


def test_python_analyze_reads_channels_last_out_loud():
    report = cnncalc.analyze(Conv2d(3, 64, 3), "32x32x3", layout="hwc")
    assert (report.input_shape, report.output_shape, report.params) == ((3, 32, 32), (64, 30, 30), 1792)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chw = cnncalc.analyze(Conv2d(32, 64, 3), "32x32x3")
    assert chw.output_shape == (64, 30, 1)
    assert [str(w.message) for w in caught if w.category is ShapeWarning] == [
        "input 32x32x3 is read channels first (32 channels); if it is written channels last (height x width x "
        "channels), pass layout='hwc' to read it as 3x32x32"]
    with pytest.raises(ShapeError, match=r"32x32x3 looks channels last: layout='hwc' reads it as 3x32x32"):
        cnncalc.analyze(Conv2d(3, 64, 3), "32x32x3")
    assert cnncalc.analyze(Conv2d(3, 64, 3), (3, 32, 32)).warnings == []


def test_calculators_take_layout_in_python():
    calc = calculators.conv("16x112x112x3", 64, 3, padding=1, layout="hwc")
    assert calc.layer.type == "Conv3d" and calc.report.output_shape == (64, 16, 112, 112)
    other = calculators.conv("32x32x3", 64, 3)
    assert other.report.params == 18496 and "64x30x30 and 1,792 params" in other.notices[1]


CHECK = [
    ("conv in=3x227x227 out=96 k=11 s=4 -> 55x55x96", True, "read channels last: 55x55x96 is 96x55x55 as CxHxW"),
    ("conv in=3x227x227 out=96 k=11 s=4 -> 96x55x55", True, None),
    ("conv in=3x227x227 out=96 k=11 s=4 -> 55x96x55", False, None),
    ("conv in=8x8x8 out=8 k=1 -> 8x8x8", True, None),
    ("conv in=3x8x8 out=8 k=3 p=1 -> 8x8x8", True, None),
    ("conv in=8x6x6 out=6 k=1 -> 6x6x6", True, None),  # the truth 6x6x6 reads the same both ways
    ("conv in=8x4x6 out=6 k=1 -> 4x6x6", False, "the channel count equals a spatial size"),
]


@pytest.mark.parametrize("line, right, note", CHECK, ids=[str(i) for i in range(len(CHECK))])
def test_check_accepts_a_channels_last_answer_only_when_unambiguous(line, right, note):
    mark = check_inline(line).marks[0]
    assert mark.right is right
    if note:
        assert any(note in n for n in mark.notes), mark.notes
    else:
        assert mark.notes == []


def test_check_reads_a_channels_last_question_out_loud():
    result = check_inline("conv in=32x32x3 out=64 k=3 -> 30x30x64 params=1792")
    assert not result.all_right  # read channels first, as everywhere
    title = result.marks[0].question
    assert result.notices[title] == ["in=32x32x3 is read channels first (32 channels); read channels last (layout=hwc) "
                                     "it is 3x32x32: output_shape 64x30x30, params 1,792"]
    hwc = check_inline("conv in=32x32x3 out=64 k=3 layout=hwc -> 30x30x64 params=1792")
    assert hwc.all_right and hwc.marks[0].notes == ["read channels last: 30x30x64 is 64x30x30 as CxHxW"]
    assert check_inline("conv in=32x32x3 out=64 k=3 -> 64x30x30", layout="hwc").all_right
    with pytest.raises(ShapeError, match="with --layout hwc it is 3x227x227, giving 96x55x55 and 34,944 params"):
        check_inline("conv in=227x227x3 out=96 k=11 s=4 -> 55x55x96")
    cli_result = run("check", "--inline", "conv in=32x32x3 out=64 k=3 -> 30x30x64", "--layout", "hwc")
    assert cli_result.exit_code == 0 and "Score: 1/1 (100%)" in cli_result.output


def test_a_two_axis_input_to_a_convolution_is_read_as_1d_out_loud():
    out = flat(run("conv", "-i", "28x28", "-o", "32", "-k", "3").output)
    assert ("Note: 28x28 is read as 28 channels of length 28, a 1-D input (Conv1d); an image of 28x28 is 1x28x28 "
            "(grey) or 3x28x28 (colour).") in out and "Output shape: 32x26" in out
    assert "Note" not in run("conv", "-i", "1x16000", "-o", "32", "-k", "3").output  # a signal, as written
    result = check_inline("conv in=28x28 out=32 k=3 -> 32x26x26")
    assert result.notices[result.marks[0].question][0].startswith("28x28 is read as 28 channels of length 28")


def test_a_signal_written_length_by_channels_is_offered_the_other_reading_only_when_it_fails():
    """8000x1 into Conv1d(1, ...): refused as written, and the error gives the channels-first reading; a
    signal that reads as written gets no note (1-D shapes are too ambiguous to guess), and no hint is given
    when the other reading fails too."""
    model = cnncalc.Sequential(cnncalc.Conv1d(1, 8, 80, 16), cnncalc.ReLU())
    with pytest.raises(ShapeError, match=r"^0 \(Conv1d\): expects 1 input channels, receives 8000; 8000x1 looks "
                                         r"channels last: layout='hwc' reads it as 1x8000$"):
        cnncalc.analyze(model, (8000, 1))
    wide = cnncalc.Sequential(cnncalc.Conv1d(100, 8, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cnncalc.analyze(wide, (100, 3)).output_shape == (8, 1)
    with pytest.raises(ShapeError, match=r"^0 \(Conv1d\): expects 1 input channels, receives 50$"):
        cnncalc.analyze(model, (50, 3))
