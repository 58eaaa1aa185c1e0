"""Generated hostile inputs (hypothesis), in process: every reader of user text or data either answers or
raises ``ShapeError`` (a ``LimitError`` for a budget), never another exception; the command line turns
each into one ``Error:`` line with exit status 2."""

from __future__ import annotations

import json
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.check import parse_inline
from cnncalc.dims import parse_shape
from cnncalc.errors import ShapeError
from cnncalc.files import decode_data, decode_source
from cnncalc.frontends.spec import from_spec, layer_types, parse_json, parse_yaml

EXAMPLES = int(os.environ.get("CNNCALC_FUZZ_EXAMPLES", "150"))  # more for a longer hunt: CNNCALC_FUZZ_EXAMPLES=5000
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values a spec or a live API call may hand a layer: sizes, near-sizes and junk.
SCALARS = st.one_of(
    st.integers(-3, 40), st.integers(-(10**30), 10**30), st.floats(allow_nan=True), st.booleans(), st.none(),
    st.sampled_from(["H", "same", "valid", "zeros", "nearest", "", "x", "None", "1.5", "3x3"]),
    st.text(max_size=5),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                      max_leaves=12)
LAYER_NAMES = sorted(layer_types())


def _answers_or_refuses(action):
    """Run ``action``; a ShapeError is a refusal, anything else but an answer fails the test."""
    try:
        return action()
    except ShapeError:
        return None


@FAST
@given(st.text(alphabet=string.printable + "×\u00a0\x00é", max_size=30))
def test_any_shape_text_parses_or_is_refused(text):
    shape = _answers_or_refuses(lambda: parse_shape(text))
    if shape is not None:
        assert shape and all(type(d) is int and d > 0 or d.is_Symbol for d in shape)


@FAST
@given(st.sampled_from(LAYER_NAMES), st.lists(SCALARS, max_size=4), st.dictionaries(st.sampled_from(
    ["kernel_size", "stride", "padding", "dilation", "groups", "bias", "dim", "p", "scale_factor", "size", "mode",
     "output_size", "num_features", "start_dim", "end_dim", "negative_slope", "ceil_mode", "output_padding"]),
    SCALARS, max_size=3), st.sampled_from(["3x8x8", "8x8x8", "4", "3x8", "2x4x4x4", "CxHxW"]))
def test_any_layer_arguments_build_or_are_refused(kind, args, kwargs, shape):
    """A spec's layer with generated arguments: built and analysed, or refused with a ShapeError."""
    doc = {"layers": [{kind: {"args": args, **kwargs}}]}
    model = _answers_or_refuses(lambda: from_spec(json.loads(json.dumps(doc))))
    if model is not None:
        _answers_or_refuses(lambda: cnncalc.analyze(model, shape, warn=False).to_dict())


@FAST
@given(st.sampled_from(LAYER_NAMES), st.lists(SCALARS, max_size=4), st.dictionaries(st.sampled_from(
    ["kernel_size", "stride", "padding", "dilation", "groups", "bias", "dim", "p", "scale_factor", "size", "mode",
     "output_size", "num_features", "start_dim", "end_dim", "alpha", "ceil_mode", "padding_mode", "affine"]),
    SCALARS, max_size=3))
def test_the_api_refuses_bad_layer_arguments_with_shape_or_type_errors(kind, args, kwargs):
    """Called from Python, a layer refuses bad arguments with ShapeError or TypeError (never AttributeError and
    the like from inside), and analysing what it accepted answers or raises ShapeError."""
    try:
        layer = layer_types()[kind](*args, **kwargs)
    except (ShapeError, TypeError):
        return
    for shape in ("3x8x8", "4", "8x8x8x8"):
        _answers_or_refuses(lambda: cnncalc.analyze(layer, shape, warn=False).to_dict())


@FAST
@given(VALUES)
def test_any_spec_document_builds_or_is_refused(doc):
    _answers_or_refuses(lambda: from_spec({"layers": doc} if not isinstance(doc, dict) else doc))


@FAST
@given(st.text(alphabet=string.printable, max_size=80))
def test_any_yaml_text_loads_or_is_refused(text):
    _answers_or_refuses(lambda: parse_yaml(text, "fuzz.yaml"))


@FAST
@given(st.text(alphabet='{}[]":,0123456789-.eE truefalsn\\u\n', max_size=60))
def test_any_json_text_loads_or_is_refused(text):
    _answers_or_refuses(lambda: parse_json(text, "fuzz.json"))


@FAST
@given(st.binary(max_size=64))
def test_any_bytes_decode_or_are_refused(data):
    for decode in (decode_source, decode_data):
        text = _answers_or_refuses(lambda: decode(data, "fuzz"))
        assert text is None or "\0" not in text


INLINE_TOKENS = st.sampled_from(["conv", "linear", "maxpool", "avgpool", "convtranspose", "alexnet", "in=3x8x8", "in=8",
                                 "out=4", "k=3", "k=0", "s=2", "p=1", "p=1,1", "d=2", "g=2", "op=1", "ceil=yes", "bias=no",
                                 "->", "4x6x6", "params=1,000", "macs=2,24", "rf=3", "shape=", "at=features.0", "k=3x5"])


@FAST
@given(st.lists(INLINE_TOKENS, min_size=1, max_size=9))
def test_any_inline_question_grades_or_is_refused(tokens):
    from cnncalc.check import grade

    _answers_or_refuses(lambda: grade([parse_inline(" ".join(tokens))]))


CLI_VALUES = st.sampled_from(["", "0", "1", "3", "2x2", "-1", "H", "same", "valid", "3x", "x", "1e3", "9" * 40, "3,3",
                              "(3, 3)", "None", "\x00", "٣"])


@settings(max_examples=max(60, EXAMPLES // 3), deadline=None)
@given(command=st.sampled_from(["conv", "convtranspose", "pool", "linear"]), shape=CLI_VALUES, kernel=CLI_VALUES,
       stride=CLI_VALUES, padding=CLI_VALUES)
def test_any_calculator_options_answer_or_give_one_error_line(command, shape, kernel, stride, padding):
    import contextlib
    import io

    from cnncalc.cli import _run

    args = [command, "-i", shape or "3x8x8"]
    if command in ("conv", "convtranspose", "linear"):
        args += ["-o", "4"]
    if command != "linear":
        args += ["-k", kernel, "-s", stride, "-p", padding]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = _run(args)
    out, err = stdout.getvalue(), stderr.getvalue()
    assert code in (0, 2), (args, code, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and not out, (args, err)


@pytest.mark.parametrize("levels", [1000, 10_000])
def test_to_spec_and_from_spec_take_networks_deeper_than_the_recursion_limit(levels):
    from cnncalc import ReLU, Residual, Sequential
    from cnncalc.frontends.spec import to_spec

    net = ReLU()
    for _ in range(levels):
        net = Residual(Sequential(net, ReLU()))
    again = from_spec(to_spec(net))
    expected = cnncalc.analyze(net, "3x8x8", warn=False)
    report = cnncalc.analyze(again, "3x8x8", warn=False)
    assert len(report.layers) == len(expected.layers) == 2 * levels + 1  # per block a ReLU and the add
    assert [r.name for r in report.layers[:3]] == [r.name for r in expected.layers[:3]]
    assert report.output_shape == (3, 8, 8)
