"""The command line's model sources: --class/--args for .py files and installed builders
(package.module:callable), each failure one Error: line with exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnncalc.cli import cli

REAL = Path(__file__).parent / "fixtures" / "real"


def run(*args):
    result = CliRunner().invoke(cli, list(args), prog_name="cnncalc")
    return result.exit_code, result.output


def totals(*args):
    code, out = run(*args, "--format", "json")
    assert code == 0, out
    return json.loads(out)["totals"]


def test_class_and_args_for_a_python_file():
    vgg16 = totals(str(REAL / "vgg_cfg.py"), "--class", "VGG", "--args", "'VGG16'", "--input", "3x32x32")
    assert (vgg16["params"], vgg16["output_shape"]) == (14_728_266, [10])
    wrn = totals(str(REAL / "wide_resnet.py"), "--class", "WideResNet", "--args",
                 "depth=28, num_classes=10, widen_factor=10", "--input", "3x32x32")
    assert wrn["params"] == 36_479_194


@pytest.mark.parametrize("args,message", [
    (["--args", "__import__('os')"], r"Error: --args \"__import__\('os'\)\": not Python literals"),
    (["--args", "'VGG16', *x"], r"Error: --args .*: not Python literals"),
    (["--class", "VGG", "--args", "'VGG17'"], r"Error: .*vgg_cfg.py:17: cannot evaluate cfg\[vgg_name\]: 'VGG17'"),
], ids=["call", "starred", "bad_name"])
def test_bad_arguments_are_one_line(args, message):
    import re

    code, out = run(str(REAL / "vgg_cfg.py"), *args, "--input", "3x32x32")
    assert code == 2 and re.fullmatch(message + r"[^\n]*\n", out), out


@pytest.mark.torch
def test_an_installed_builder_is_imported_and_traced():
    pytest.importorskip("torch")
    result = totals("torch.nn:Conv2d", "--args", "3, 8, 3", "--input", "3x8x8")
    assert (result["params"], result["output_shape"]) == (224, [8, 6, 6])


@pytest.mark.parametrize("spec,message", [
    ("no_such_package_xyz.models:net", "Error: no_such_package_xyz.models:net: cannot import no_such_package_xyz.models: "
                                       "No module named 'no_such_package_xyz'\n"),
    ("json:dumps", "Error: json:dumps: dumps() failed: dumps() missing 1 required positional argument: 'obj'\n"),
], ids=["missing_package", "not_a_builder"])
def test_builder_errors(spec, message):
    pytest.importorskip("torch")
    assert run(spec, "--input", "3x8x8") == (2, message)


def test_a_builder_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails as it does where torch is missing
    assert run("torchvision.models:resnet50", "--input", "3x224x224") == (
        2, "Error: torchvision.models:resnet50: analysing an installed builder needs PyTorch: pip install torch "
           "(and the package that defines torchvision)\n")


def test_zoo_names_take_no_class():
    assert run("alexnet", "--class", "X") == (2, "Error: alexnet: --class and --args apply to Python files and "
                                                 "installed builders\n")
