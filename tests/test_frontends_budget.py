"""The source interpreter's budget (cnncalc.frontends.budget): hostile or runaway model files are
refused in one line that names the limit and how to raise it, never hang, never leak a Python error."""

from __future__ import annotations

import pytest

import cnncalc as c
from cnncalc import ShapeError
from cnncalc.frontends.budget import LIMITS, Budget
from cnncalc.frontends.source import load_source

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def module(init="        self.c = nn.Conv2d(3, 4, 1)\n", forward="        return self.c(x)\n", before=""):
    return (HEADER + before + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n" + init
            + "    def forward(self, x):\n" + forward)


def analyse(text, shape="3x8x8"):
    return load_source(text).analyze(shape, warn=False)


def test_unused_huge_numbers_at_module_level_do_not_hang():
    report = analyse(module(before="X = 10**10**10\nY = 1 << 10**9\nZ = 'a' * 10**9\nW = [0] * 10**9\n"))
    assert report.params == 16


@pytest.mark.parametrize("expression,what", [
    ("10**10**10", "the integer would have more than 4,300 decimal digits of an integer"),
    ("1 << 10**9", "the integer would have more than 4,300 decimal digits"),
    ("'a' * 10**9", "more than 1,000,000 items in one list, tuple, dict or string"),
    ("[0] * 10**9", "more than 1,000,000 items"),
    ("len(list(range(10**8)))", "more than 1,000,000 items"),
], ids=["power", "shift", "string", "list", "materialised_range"])
def test_size_caps_name_the_limit_and_how_to_raise_it(expression, what):
    with pytest.raises(ShapeError, match=r"^<source>:\d+: cannot evaluate .*" + what) as info:
        analyse(module(init=f"        self.c = nn.Conv2d(3, {expression}, 1)\n"))
    assert "(the limit; raise it with CNNCALC_MAX_" in str(info.value)


def test_a_long_loop_stops_at_the_step_budget(monkeypatch):
    monkeypatch.setenv("CNNCALC_MAX_STEPS", "10000")
    text = module(init="        for i in range(10**8):\n            pass\n        self.c = nn.Conv2d(3, 4, 1)\n")
    with pytest.raises(ShapeError, match=r"^<source>:\d+: stopped: more than 10,000 interpreted steps \(statements, "
                                         r"loop iterations, calls\) \(the limit; raise it with CNNCALC_MAX_STEPS=N\)$"):
        analyse(text)
    monkeypatch.setenv("CNNCALC_MAX_STEPS", "1000000")
    assert analyse(module(init="        for i in range(100000):\n            pass\n"
                               "        self.c = nn.Conv2d(3, 4, 1)\n")).params == 16


def test_the_default_step_budget_stops_range_10_8_quickly():
    text = module(before="for i in range(10**8):\n    pass\n")  # at module level: still refused, not skipped
    with pytest.raises(ShapeError, match=r"stopped: more than 500,000 interpreted steps"):
        analyse(text)


def test_a_hundred_thousand_appends_are_linear():
    report = analyse(module(init="        self.l = nn.ModuleList()\n        for i in range(100000):\n"
                                 "            self.l.append(nn.ReLU())\n        self.c = nn.Conv2d(3, 4, 1)\n",
                            forward="        for m in self.l[:3]:\n            x = m(x)\n        return self.c(x)\n"))
    assert report.params == 16 and [r.type for r in report.layers] == ["ReLU", "ReLU", "ReLU", "Conv2d"]


def test_twenty_thousand_residual_steps_in_forward():
    report = analyse(module(init="        self.r = nn.ReLU()\n",
                            forward="        for i in range(20000):\n            x = x + self.r(x)\n        return x\n"))
    assert report.output_shape == (3, 8, 8) and sum(r.type == "Add" for r in report.layers) == 20000


def test_deep_nesting_is_a_clear_error():
    terms = "+".join(["1"] * 1500)
    with pytest.raises(ShapeError, match=r"^<source>:4: code nested more than 100 nesting depth of expressions and "
                                         r"statements \(the limit; raise it with CNNCALC_MAX_NESTING=N\)$"):
        load_source(HEADER + f"N = {terms}\n")
    with pytest.raises(ShapeError, match=r"^<source>: expressions nested too deeply for Python's parser$"):
        load_source(HEADER + "x = " + "-" * 100000 + "1\n")
    with pytest.raises(ShapeError, match=r"^<source>:4: code nested more than 100"):
        load_source(HEADER + "x = " + "[" * 150 + "]" * 150 + "\n")


def test_recursion_stops_at_the_call_depth():
    text = module(before="def width(n):\n    return width(n + 1)\n", init="        self.c = nn.Conv2d(3, width(1), 1)\n")
    with pytest.raises(ShapeError, match=r"^<source>:5: stopped: more than 50 nested calls of functions defined in the "
                                         r"file \(the limit; raise it with CNNCALC_MAX_CALLS=N\)$"):
        analyse(text)


# Python errors inside the interpreter become one-line ShapeErrors at the line that raised them.
LEAKS = [
    ("float_overflow", "        self.c = nn.Conv2d(3, int(2.0**10000), 1)\n", None,
     r"<source>:\d+: cannot evaluate 2.0 \*\* 10000: \(34, 'Numerical result out of range'\)"),
    ("bad_format", "        self.add_module(f'{1:zz}', nn.Conv2d(3, 4, 1))\n        self.c = nn.Conv2d(3, 4, 1)\n", None,
     r"<source>:\d+: cannot format 1: "),
    ("zero_step", "        self.c = nn.Conv2d(3, [1, 2][::0][0], 1)\n", None,
     r"<source>:\d+: cannot evaluate ::0: slice step cannot be zero"),
    ("unhashable", "        d = {[1]: 2}\n        self.c = nn.Conv2d(3, d[1], 1)\n", None,
     r"<source>:\d+: cannot evaluate \[1\]: unhashable type: 'list' \(needed at <source>:\d+\)$"),
    ("module_list_of_int", "        self.l = nn.ModuleList(5)\n        self.c = nn.Conv2d(3, 4, 1)\n", None,
     r"<source>:\d+: cannot iterate over nn.ModuleList\(5\): not a known sequence"),
    ("add_module_without_args", "        self.add_module()\n        self.c = nn.Conv2d(3, 4, 1)\n", None,
     r"<source>:\d+: add_module\(\) takes a name and a module"),
    ("view_zero", "        self.c = nn.Conv2d(3, 4, 1)\n", "        return self.c(x).view(-1, 0)\n",
     r"<source>:\d+: .*view\(-1, 0\): shape \[-1, 0\] is invalid: -1 cannot be inferred with a 0 size"),
    ("view_negative", "        self.c = nn.Conv2d(3, 4, 1)\n", "        x = self.c(x)\n        return x.view(x.size(0), -2, -144)\n",
     r"<source>:\d+: .*: invalid shape dimension -2"),
    ("index_error", "        self.c = nn.Conv2d(3, [1][5], 1)\n", None,
     r"<source>:\d+: cannot evaluate \[1\]\[5\]: list index out of range"),
    ("zero_division", "        self.c = nn.Conv2d(3, 4 // 0, 1)\n", None,
     r"<source>:\d+: cannot evaluate 4 // 0: integer division or modulo by zero"),
]


@pytest.mark.parametrize("name,init,forward,message", LEAKS, ids=[x[0] for x in LEAKS])
def test_python_errors_never_leak(name, init, forward, message):
    text = module(init=init, forward=forward or "        return self.c(x)\n")
    with pytest.raises(ShapeError, match="^" + message) as info:
        analyse(text)
    assert "\n" not in str(info.value)


def test_negative_view_sizes_are_refused_by_the_layer_too():
    with pytest.raises(ShapeError, match=r"invalid shape dimension -2"):
        c.Reshape(None, -2, -144)
    with pytest.raises(ShapeError, match=r"-1 cannot be inferred with a 0 size"):
        c.Reshape(-1, 0)


def test_budget_from_the_environment():
    assert Budget.from_env({}) == Budget()
    assert Budget.from_env({"CNNCALC_MAX_STEPS": "7"}).steps == 7
    with pytest.raises(ShapeError, match=r"^CNNCALC_MAX_ITEMS='many': expected a positive integer$"):
        Budget.from_env({"CNNCALC_MAX_ITEMS": "many"})
    assert set(LIMITS) == {"steps", "int_digits", "items", "calls", "nesting", "files"}


def test_the_documented_limits_are_the_budget_s():
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "model-files.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| ") and "CNNCALC_MAX_" in line]
    assert [(r.split("|")[2].strip(), r.split("|")[3].strip(" `")) for r in rows] == [
        (f"{default:,}", variable) for default, variable, _ in LIMITS.values()]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert all(variable in readme for _, variable, _ in LIMITS.values())
