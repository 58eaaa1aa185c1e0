"""The explain, solve and check subcommands through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cnncalc.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


def test_explain_a_conv_layer():
    result = run("explain", "conv", "-i", "3x227x227", "-o", "96", "-k", "11", "-s", "4")
    assert result.exit_code == 0, result.output
    assert "floor((227 - 11 + 2*0)/4) + 1 = floor(216/4) + 1 = 54 + 1 = 55" in result.output
    assert "parameters: C_out*(C_in*k^2 + 1) = 96*(3*11^2 + 1) = 96*364 = 34944" in result.output
    assert "parameters per filter: C_in*k^2 + 1 = 3*11^2 + 1 = 364" in result.output


@pytest.mark.parametrize("args, expected", [
    (("explain", "pool", "-i", "64x112x112", "-k", "3", "-s", "2", "-p", "1"), "floor(111/2) + 1 = 55 + 1 = 56"),
    (("explain", "pool", "-i", "3x7x7", "-k", "2", "--type", "avg", "--ceil-mode"), "= 4"),
    (("explain", "linear", "-i", "9216", "-o", "4096"), "parameters: F_out*(F_in + 1) = 4096*(9216 + 1) = 4096*9217 = 37752832"),
    (("explain", "linear", "-i", "512x7x7", "-o", "4096"), "flattened: F_out = C_in*H_in*W_in = 512*7*7 = 25088"),
    (("explain", "convtranspose", "-i", "16x7x7", "-o", "8", "-k", "3", "-s", "2", "-p", "1", "--output-padding", "1"),
     "H_out = W_out = k + op - 2*p + s*(H_in - 1) = 3 + 1 - 2*1 + 2*(7 - 1) = 14"),
    (("explain", "conv", "-i", "3x32x32", "-o", "8", "-k", "4", "-p", "same"), "p_after = k - p_before - 1 = 4 - 1 - 1 = 2"),
    (("explain", "conv", "-i", "3x32x32", "-o", "8", "-k", "3", "-s", "2", "--tf-same"),
     "padding in all: P_h = P_w = max((H_out - 1)*s + k - H_in, 0) = max((16 - 1)*2 + 3 - 32, 0) = 1 (0 before, 1 after)"),
    (("explain", "conv", "-i", "1x16000", "-o", "8", "-k", "80", "-s", "4"), "floor(15920/4) + 1 = 3980 + 1 = 3981"),
    (("explain", "convtranspose", "-i", "16x7x7", "-o", "8", "-k", "4", "-s", "2", "-p", "1"), "= 14"),
    (("explain", "conv", "-i", "3x32x32", "-o", "8", "-k", "3", "-p", "1", "--lang", "zh"),
     "参数量：C_out*(C_in*k^2 + 1) = 8*(3*3^2 + 1) = 8*28 = 224"),
    (("explain", "conv", "-i", "3x32x32", "-o", "8", "-k", "3", "-s", "2", "-f", "latex"), r"\left\lfloor \frac{29}{2} \right\rfloor"),
], ids=["maxpool", "avgpool-ceil", "linear", "linear-on-a-map", "output-padding", "same-even", "tf-same", "conv1d",
        "convtranspose", "chinese", "latex"])
def test_explain_layers(args, expected):
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_explain_a_zoo_model_in_markdown():
    result = run("explain", "alexnet", "-f", "markdown")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Model: `alexnet`, input `3x227x227`")
    assert "## `features.0` Conv2d" in result.output


SOLVE = [
    (("solve", "padding", "-k", "3"), "p = (k_eff - 1)/2 = (3 - 1)/2 = 1 gives n for every n"),
    (("solve", "padding", "-k", "3", "-s", "2"), "gives ceil(n/2) for every n"),
    (("solve", "padding", "-k", "4"), "no symmetric padding gives n for every n"),
    (("solve", "padding", "-k", "11", "-s", "4", "-n", "227", "--output", "55"), "{p : 0 <= p <= 1} maps 227 to 55"),
    (("solve", "input", "vgg16", "-i", "3xHxH"), "{H : H >= 32}"),
    (("solve", "input", "vgg16", "-i", "3xHxH", "--full-coverage"), "{H : H >= 32, H = 32m}"),
    (("solve", "output", "vgg16", "-i", "3xHxH", "-o", "7", "--layer", "features.30"), "{H : 224 <= H <= 255}"),
    (("solve", "conv", "-n", "227", "-o", "55"), "k=11, p=0: s in {4}"),
]


@pytest.mark.parametrize("args, expected", SOLVE, ids=[" ".join(a[:2]) + str(i) for i, (a, _) in enumerate(SOLVE)])
def test_solve(args, expected):
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_check_inline_right_and_wrong():
    right = run("check", "--inline", "conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944")
    assert right.exit_code == 0 and "Score: 2/2 (100%)" in right.output
    wrong = run("check", "--inline", "conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34943")
    assert wrong.exit_code == 1
    assert "wrong: the answer is 34944" in wrong.output and "Score: 1/2 (50%)" in wrong.output


def test_check_file_as_json(tmp_path):
    path = tmp_path / "hw.json"
    path.write_text(json.dumps({"questions": ["maxpool in=96x55x55 k=3 s=2 -> 96x27x27 rf=3"]}))
    result = run("check", str(path), "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["score"] == 2


ERRORS = [
    (("explain", "conv", "-i", "3x8x8"), "Error: explain conv: --kernel-size/-k is required"),
    (("explain", "conv", "-i", "3x8x8", "-k", "9", "-o", "4"), "Error: Conv2d: output height would be 0"),
    (("solve", "input", "vgg16", "-i", "3xHxW"), "Error: input shape 3xHxW: name exactly one unknown size"),
    (("solve", "padding", "-k", "K"), "Error: --kernel-size: expected a number, got 'K'"),
    (("solve", "padding", "-k", "3", "--output", "5"), "Error: --output needs --size"),
    (("check",), "Error: check: give a homework file or --inline, not both"),
    (("check", "--inline", "conv in=3x8x8 k=3 -> 1x6x6"), "Error: 'conv in=3x8x8 k=3': out= is missing"),
]


@pytest.mark.parametrize("args, message", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_are_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
