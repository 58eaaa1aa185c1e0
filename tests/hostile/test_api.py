"""Hostile input through the Python API: what PyTorch refuses is refused, budgets hold, messages name the
argument (ShapeError, or LimitError for a budget), never an exception from inside."""

from __future__ import annotations

import contextlib
import io
import tracemalloc

import pytest
import sympy

import cnncalc
from cnncalc import (BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, Linear, ReLU, Reshape, Sequential, Softmax, Upsample,
                     analyze)
from cnncalc.errors import LimitError, ShapeError

REFUSED = [
    ("batch-negative", lambda: analyze(Conv2d(3, 8, 3), "3x8x8", batch=-1), r"invalid batch -1: the batch size must be at least 1"),
    ("batch-zero", lambda: analyze(Conv2d(3, 8, 3), "3x8x8", batch=0), r"invalid batch 0"),
    ("string-size", lambda: BatchNorm2d("abc"), r"invalid num_features 'abc': expected an integer \(for an unknown size, "
                                                r"a symbol: cnncalc.symbol\('abc'\)\)"),
    ("negative-symbol", lambda: Linear(sympy.Symbol("n", negative=True), 3),
     r"invalid in_features n: the symbol n must be a positive integer \(make it with cnncalc.symbol\('n'\)\)"),
    ("real-symbol", lambda: analyze(ReLU(), (3, sympy.Symbol("h"), 8)), r"the symbol h must be a positive integer"),
    ("keyword-symbol", lambda: cnncalc.symbol("None"), r"invalid dimension name 'None'"),
    ("padding-word-in-shape", lambda: cnncalc.parse_shape("3xsamex8"), r"'same' is a padding word, not a size"),
    ("view-negative", lambda: Reshape(None, -2, -144), r"view\(x.size\(0\), -2, -144\): invalid shape dimension -2"),
    ("view-zero-inferred", lambda: Reshape(-1, 0), r"view\(-1, 0\): shape \[-1, 0\] is invalid: -1 cannot be inferred"),
    ("view-zero", lambda: Reshape(None, 0), r"view\(x.size\(0\), 0\): invalid size 0: sizes are positive"),
    ("softmax-fraction", lambda: Softmax(dim=1.5), r"Softmax: dim must be an integer, got 1.5"),
    ("flatten-string", lambda: Flatten("1"), r"Flatten: start_dim must be an integer, got '1'"),
    ("upsample-infinite", lambda: Upsample(scale_factor=float("inf")), r"scale_factor must be a positive finite number"),
    ("digits-layer", lambda: Linear(10**1000, 3), r"invalid in_features: an integer of 1,001 digits"),
    ("digits-shape", lambda: analyze(ReLU(), (3, 10**1000, 3)), r"invalid dimension: an integer of 1,001 digits"),
    ("digits-result", lambda: analyze(Sequential(*[Upsample(scale_factor=10**300)] * 4), "3x2x2"),
     r"^3 \(Upsample\): the output size has 1,201 digits, over the limit of 1,000"),
    ("digits-symbolic-result", lambda: analyze(Sequential(*[Upsample(scale_factor=10**300)] * 4), "3xHx2"),
     r"a number in the output size has 1,201 digits"),
    ("shape-mapping", lambda: analyze(ReLU(), {"C": 3}), r"invalid shape \{'C': 3\}"),
    ("trace-budget", lambda: analyze(ConvTranspose2d(3, 3, 2, stride=10**6), "3x2x2"),
     r"^ConvTranspose2d: tracing the receptive field after upsampling needs more than 1,000,000 steps"),
    ("solve-conv-budget", lambda: cnncalc.conv_settings(32, 16, max_kernel=10**6),
     r"the search would try 250,001,000,000 settings, over the limit of 1,000,000"),
    ("solve-input-budget", lambda: cnncalc.input_sizes(Conv2d(3, 3, 1, stride=10**6), "3xHxH"),
     r"solve input 3xHxH \(period 1,000,000\): the search would try 2,000,000 analyses, over the limit of 20,000"),
]


@pytest.mark.parametrize("action, message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_a_message_naming_the_argument(action, message):
    with pytest.raises(ShapeError, match=message):
        action()


def test_budgets_are_limit_errors():
    with pytest.raises(LimitError, match="CNNCALC_MAX_SEARCH"):
        cnncalc.conv_settings(32, 16, max_kernel=10**6)


def test_strings_are_symbols_in_shapes_and_spec_files_only():
    assert str(analyze(ReLU(), ("C", 8, 8)).output_shape[0]) == "C"
    model = cnncalc.from_spec({"layers": [{"BatchNorm2d": "abc"}]})
    assert str(analyze(model, "abcx8x8").params) == "2*abc"


def test_a_tracing_budget_can_be_lowered_and_raised(monkeypatch):
    net = Sequential(ConvTranspose2d(3, 3, 4, stride=2, padding=1), Conv2d(3, 3, 3, padding=1))
    monkeypatch.setenv("CNNCALC_MAX_TRACE", "100")  # the transposed convolution takes 46 steps, the next row 100
    with pytest.raises(LimitError, match=r"^1 \(Conv2d\): tracing the receptive field after upsampling needs more than 100 steps"):
        analyze(net, "3x8x8")
    monkeypatch.setenv("CNNCALC_MAX_TRACE", "146")
    rf = analyze(net, "3x8x8").receptive_field
    assert (rf.size, rf.start) == ((3, 3), (-1, -1)) and str(rf.stride[0]) == "1/2"


def test_verify_refuses_before_allocating():
    from cnncalc.validate import verify

    tracemalloc.start()
    with pytest.raises(LimitError, match=r"^verify resnet18 3x20000x20000: needs about [\d,]+ bytes, over the limit of 1,000,000,000 "
                                         r"\(--max-memory or CNNCALC_MAX_MEMORY\); a smaller input needs less$"):
        verify(cnncalc.model("resnet18"), (3, 20000, 20000), name="resnet18", max_memory=10**9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # the refusal costs an analysis, not the 8.9 GiB input


def test_the_memory_estimate_covers_the_peak_without_doubling_it_much():
    from cnncalc.validate import memory_estimate, verify

    model = Sequential(Conv2d(3, 16, 5, padding=2), ReLU(), Conv2d(16, 16, 3, padding=1), Flatten(), Linear(16 * 48 * 48, 10))
    need = memory_estimate(analyze(model, "3x48x48"))
    tracemalloc.start()
    assert verify(model, (3, 48, 48)).ok
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= need and need - 2**25 <= 2 * peak  # 32 MiB is the interpreter's share, the rest scales


def test_an_internal_error_is_one_line_and_status_3(monkeypatch):
    from cnncalc import cli

    def broken(*args, **kwargs):
        raise ZeroDivisionError("integer modulo by zero")

    monkeypatch.setattr(cnncalc.analysis, "analyze", broken)
    monkeypatch.setattr(cli, "_load", lambda *args: type("T", (), {"input_shape": (3, 8, 8), "analyze": broken})())
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli._run(["lenet5"])
    assert code == 3
    assert err.getvalue().splitlines() == [
        f"Error: internal error, please report it: ZeroDivisionError: integer modulo by zero "
        f"(cnncalc {cnncalc.__version__}; CNNCALC_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("CNNCALC_DEBUG", "1")
    with pytest.raises(ZeroDivisionError, match="integer modulo by zero"), contextlib.redirect_stderr(io.StringIO()):
        cli._run(["lenet5"])


def test_error_lines_are_joined_and_capped():
    from cnncalc import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        cli._error("first\n  second\n\nthird")
        cli._error("x" * 5000 + "how to fix")
    first, second = err.getvalue().splitlines()
    assert first == "Error: first second third"
    assert len(second) < 2000 and second.endswith("how to fix") and " ... " in second
