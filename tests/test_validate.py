"""validate.verify: the analytic numbers agree with what the reference executes, and a wrong number fails."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest

import cnncalc
from cnncalc import ShapeError, formulas
from cnncalc.reference import runner
from cnncalc.validate import format_table, verify


def branchy():
    """Residual and concat branches, dilation, ceil_mode pooling, truncation (odd sizes), padding layers."""
    return cnncalc.Sequential(OrderedDict(
        pad=cnncalc.ZeroPad2d((1, 0, 2, 1)),
        conv=cnncalc.Conv2d(2, 6, 3, stride=2),
        bn=cnncalc.BatchNorm2d(6),
        relu=cnncalc.ReLU(),
        res=cnncalc.Residual(
            cnncalc.Sequential(cnncalc.Conv2d(6, 6, 3, padding=2, dilation=2), cnncalc.LeakyReLU(0.1)),
            post=cnncalc.ReLU6(),
        ),
        pool=cnncalc.MaxPool2d(3, 2, 1, ceil_mode=True),
        mix=cnncalc.Concat(OrderedDict(
            a=cnncalc.Conv2d(6, 3, 1),
            b=cnncalc.Sequential(cnncalc.Conv2d(6, 2, (1, 3), padding=(0, 1)), cnncalc.Sigmoid()),
            c=cnncalc.Sequential(cnncalc.AvgPool2d(3, 1, 1, count_include_pad=False), cnncalc.Conv2d(6, 2, 1, groups=2)),
        )),
        up=cnncalc.ConvTranspose2d(7, 4, 3, stride=2, padding=1, output_padding=1),
        lrn=cnncalc.LocalResponseNorm(3),
        gap=cnncalc.AdaptiveMaxPool2d((2, 3)),
        flat=cnncalc.Flatten(),
        drop=cnncalc.Dropout(0.2),
        fc=cnncalc.Linear(24, 5),
    ))


def upsampling():
    """Nearest and bilinear upsampling by whole factors (traced receptive fields), a size, align_corners."""
    return cnncalc.Sequential(
        cnncalc.Conv2d(2, 4, 3, stride=2, padding=1), cnncalc.Upsample(scale_factor=2), cnncalc.Conv2d(4, 4, 3),
        cnncalc.Upsample(scale_factor=(2, 4), mode="bilinear"), cnncalc.Conv2d(4, 2, 3, stride=2, padding=1),
        cnncalc.Upsample(size=(30, 40), mode="bilinear"), cnncalc.UpsamplingBilinear2d(scale_factor=2),
    )


def gated():
    """A squeeze-and-excitation gate (Mul merge, broadcast) after a residual block."""
    se = cnncalc.Sequential(cnncalc.AdaptiveAvgPool2d(1), cnncalc.Conv2d(4, 2, 1), cnncalc.ReLU(),
                            cnncalc.Conv2d(2, 4, 1), cnncalc.Sigmoid())
    return cnncalc.Sequential(cnncalc.Conv2d(2, 4, 3, padding=1), cnncalc.Residual(se, op="mul"),
                              cnncalc.Conv2d(4, 3, 3, stride=2))


CASES = [
    ("branchy", branchy, (2, 17, 15)),
    ("gated", gated, (2, 9, 10)),
    ("upsampling", upsampling, (2, 13, 11)),
    ("lenet5", lambda: cnncalc.model("lenet5"), (1, 32, 32)),
    ("resnet18", lambda: cnncalc.model("resnet18"), (3, 32, 32)),
    ("squeezenet1_1", lambda: cnncalc.model("squeezenet1_1"), (3, 35, 33)),
    ("mobilenet_v2", lambda: cnncalc.model("mobilenet_v2"), (3, 32, 32)),
]


@pytest.mark.parametrize("name, build, shape", CASES, ids=[c[0] for c in CASES])
def test_verify_passes_on_correct_networks(name, build, shape):
    model = build()
    options = dict(gradient_layers=4, rf_rows=12) if name in ("resnet18", "mobilenet_v2") else {}
    result = verify(model, shape, **options)
    assert result.ok, format_table(result)
    report = cnncalc.analyze(model, shape, warn=False)
    kinds = [c.what for c in result.checks]
    assert kinds.count("shape") == len(report.layers)
    leaves = [r for r in report.layers if not r.is_merge]
    assert kinds.count("params") == kinds.count("macs") == len(leaves)
    assert kinds.count("gradient") >= 2  # the input and at least one layer
    spatial = [r for r in report.layers if r.receptive_field is not None and len(r.output_shape) == 3]
    assert kinds.count("receptive_field") == min(len(spatial), options.get("rf_rows") or len(spatial))


def test_every_receptive_field_of_a_branchy_net_is_measured_exactly():
    result = verify(branchy(), (2, 17, 15), gradients=False)
    rf = [c for c in result.checks if c.what == "receptive_field"]
    assert len(rf) == 17 and all(c.ok for c in rf)  # every row up to the adaptive pooling
    by_layer = {c.layer: c for c in rf}
    # conv: 3x3 stride 2 on the padded 20x16 map gives 9x7; the centre output (row 4, col 3) reads rows
    # 8-10 and columns 6-8 of the padded map, i.e. input rows 6-8 and columns 5-7
    assert by_layer["conv"].actual == ((6, 8), (5, 7))
    assert by_layer["mix"].actual == by_layer["mix"].expected


def unet():
    """An encoder-decoder with concat skips: the receptive fields after upsampling are traced regions."""
    conv = lambda c_in, c_out: cnncalc.Sequential(cnncalc.Conv2d(c_in, c_out, 3, padding=1), cnncalc.ReLU())
    inner = cnncalc.Sequential(cnncalc.MaxPool2d(2), conv(4, 4), cnncalc.ConvTranspose2d(4, 4, 2, stride=2))
    middle = cnncalc.Sequential(
        cnncalc.Conv2d(4, 4, 3, stride=2, padding=1), cnncalc.Concat(cnncalc.Identity(), inner), conv(8, 4),
        cnncalc.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1),
    )
    return cnncalc.Sequential(conv(1, 4), cnncalc.Concat(cnncalc.Identity(), middle), conv(8, 2))


def test_encoder_decoder_receptive_fields_are_measured_exactly():
    result = verify(unet(), (1, 20, 20), gradients=False)
    assert result.ok, format_table(result)
    report = cnncalc.analyze(unet(), (1, 20, 20))
    assert [r.traced for r in report.layers].count(True) >= 5
    assert sum(c.what == "receptive_field" for c in result.checks) == len(report.layers)


def test_a_wrong_trace_fails(monkeypatch):
    from cnncalc import trace

    real = trace._read
    monkeypatch.setattr(trace, "_read", lambda w, iv, spend: tuple((lo - w.up, hi) for lo, hi in real(w, iv, spend)))  # one too wide
    failure = first_failure(verify(unet(), (1, 20, 20), gradients=False))
    assert (failure.layer, failure.type, failure.what) == ("1.1.1.1.2", "ConvTranspose2d", "receptive_field")
    assert failure.expected[0][0] < failure.actual[0][0]


def first_failure(result):
    return next(c for c in result.checks if not c.ok)


def test_a_wrong_mac_count_fails(monkeypatch):
    monkeypatch.setattr(cnncalc.Conv2d, "macs", lambda self, i, o: 7)
    result = verify(branchy(), (2, 17, 15), receptive_field=False, gradients=False)
    failure = first_failure(result)
    assert not result.ok and (failure.layer, failure.what, failure.expected) == ("conv", "macs", 7)
    assert failure.actual == 6 * 9 * 7 * 2 * 3 * 3  # C_out*H_out*W_out*C_in*kh*kw, executed
    assert "FAIL expected 7, got 6804" in format_table(result)


def test_a_wrong_parameter_count_fails(monkeypatch):
    monkeypatch.setattr(cnncalc.Linear, "params", property(lambda self: self.in_features * self.out_features))
    failure = first_failure(verify(branchy(), (2, 17, 15), receptive_field=False, gradients=False))
    assert (failure.layer, failure.what, failure.expected, failure.actual) == ("fc", "params", 120, 125)


def test_a_wrong_output_shape_fails(monkeypatch):
    real = cnncalc.Linear.infer
    monkeypatch.setattr(cnncalc.Linear, "infer", lambda self, shape: real(self, shape)[:-1] + (6,))
    failure = first_failure(verify(branchy(), (2, 17, 15), receptive_field=False, gradients=False))
    assert (failure.layer, failure.what, failure.expected, failure.actual) == ("fc", "shape", (6,), (5,))


def test_a_wrong_receptive_field_formula_fails(monkeypatch):
    real = formulas.rf_conv
    monkeypatch.setattr(formulas, "rf_conv", lambda size, stride, start, k, s, p, d=1: real(size, stride, start, k, s, p, d)[:2] + (real(size, stride, start, k, s, p, d)[2] + 1,))
    failure = first_failure(verify(branchy(), (2, 17, 15), gradients=False))
    # padding moves the field through the same window recurrence (a 1x1 window at stride 1), so the
    # planted bug shows first at the pad
    assert (failure.layer, failure.what) == ("pad", "receptive_field")
    assert failure.expected == ((9, 9), (8, 8)) and failure.actual == ((8, 8), (7, 7))


def test_a_wrong_gradient_fails(monkeypatch):
    forward, backward = runner._LAYERS["Sigmoid"]
    monkeypatch.setitem(runner._LAYERS, "Sigmoid", (forward, lambda *a: (backward(*a)[0] * 1.001, {})))
    result = verify(branchy(), (2, 17, 15), receptive_field=False, gradient_layers=None)
    failed = {c.layer for c in result.checks if not c.ok}
    assert all(c.what == "gradient" for c in result.failures)
    # the layers before the sigmoid branch get a wrong gradient; those after it or beside it do not
    assert {"conv", "res.0", "mix.b.0"} <= failed and not {"fc", "up", "mix.a"} & failed


def test_verify_needs_a_concrete_shape():
    with pytest.raises(ShapeError, match="concrete input shape"):
        verify(branchy(), "2xHxW")


def test_progress_is_reported_per_job():
    seen = []
    verify(cnncalc.model("lenet5"), (1, 32, 32), progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == len(seen)


# --- the command line ---------------------------------------------------------------------------


def run_cli(*args):
    from click.testing import CliRunner

    from cnncalc.cli import cli

    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


def test_cli_verify_prints_the_table_and_exits_0_when_everything_agrees():
    result = run_cli("verify", "lenet5", "--input", "1x32x32")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["layer", "type", "shape", "params", "macs", "receptive_field", "gradient"]
    assert lines[1].split()[:2] == ["input", "Input"]
    assert lines[2].split()[:7] == ["c1", "Conv2d", "ok", "ok", "ok", "ok", "ok"]
    assert lines[-1] == "lenet5 1x32x32: all checks agree"


def test_cli_verify_exits_1_naming_the_disagreeing_layer(monkeypatch):
    monkeypatch.setattr(cnncalc.Linear, "macs", lambda self, i, o: 1)
    result = run_cli("verify", "lenet5")
    assert result.exit_code == 1
    f6 = next(line for line in result.stdout.splitlines() if line.startswith("f6 "))
    assert "FAIL expected 1, got 10080" in f6  # 120*84 executed
    assert result.stdout.splitlines()[-1] == "lenet5 1x32x32: 2 of 50 checks disagree"


@pytest.mark.parametrize("args, match", [(["verify"], "either a MODEL or --all"),
                                         (["verify", "lenet5", "--all"], "either a MODEL or --all"),
                                         (["verify", "lenet5", "--input", "1xHx32"], "concrete input shape")],
                         ids=["nothing", "both", "symbolic"])
def test_cli_verify_refuses_bad_requests(args, match):
    result = run_cli(*args)
    assert result.exit_code == 2
    assert re.search(match, result.output)
