"""torchvision's video convolutions Conv3DSimple and Conv3DNoTemporal: Conv3d under torchvision's names.

Their rows in R3D-18 and MC3-18 are checked against torchvision's recorded calls at five clip sizes in
test_zoo_golden_v2.py; here: torchvision's constructor, Conv3d's numbers, the refusals, the spec files.
"""

from __future__ import annotations

import json

import pytest

import cnncalc
from cnncalc import Conv3d, Conv3DNoTemporal, Conv3DSimple, ShapeError


def _numbers(layer, shape):
    report = cnncalc.analyze(layer, shape)
    return report.output_shape, report.params, report.macs, report.layers[0].receptive_field


@pytest.mark.parametrize(
    ("layer", "same_as"),
    [
        (Conv3DSimple.of(64, 64), Conv3d(64, 64, 3, 1, 1, bias=False)),
        (Conv3DSimple.of(64, 128, 230, stride=2), Conv3d(64, 128, 3, 2, 1, bias=False)),
        (Conv3DNoTemporal.of(64, 128, stride=2), Conv3d(64, 128, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False)),
        (Conv3DNoTemporal.of(256, 256, padding=2), Conv3d(256, 256, (1, 3, 3), 1, (0, 2, 2), bias=False)),
    ],
    ids=["simple", "simple-stride-2", "no-temporal-stride-2", "no-temporal-padding-2"],
)
def test_torchvisions_arguments_give_conv3d_numbers(layer, same_as):
    """``of(in_planes, out_planes, midplanes, stride, padding)`` as torchvision's classes take them."""
    for shape in ((layer.in_channels, 16, 56, 56), (layer.in_channels, 5, 9, 13)):
        assert _numbers(layer, shape) == _numbers(same_as, shape)
    assert layer.bias is False and layer.type == type(layer).__name__


def test_mc3_rows_carry_torchvisions_class_names():
    report = cnncalc.analyze(cnncalc.model("mc3_18"), "3x16x112x112")
    types = {r.name: r.type for r in report.layers}
    assert (types["layer1.0.conv1.0"], types["layer2.0.conv1.0"], types["layer2.0.downsample.0"]) == (
        "Conv3DSimple", "Conv3DNoTemporal", "Conv3d")
    assert cnncalc.Conv3DNoTemporal.torch_module is False


@pytest.mark.parametrize(
    ("build", "message"),
    [(lambda: Conv3DSimple(8, 8, kernel_size=5), r"Conv3DSimple: the kernel is \(3, 3, 3\), got \(5, 5, 5\)"),
     (lambda: Conv3DNoTemporal(8, 8, kernel_size=3), r"Conv3DNoTemporal: the kernel is \(1, 3, 3\), got \(3, 3, 3\)")],
    ids=["simple", "no-temporal"],
)
def test_other_kernels_are_refused(build, message):
    with pytest.raises(ShapeError, match=message):
        build()


def test_a_clip_too_short_is_refused_as_conv3d_refuses_it():
    with pytest.raises(ShapeError, match=r"output depth would be 0"):
        cnncalc.analyze(Conv3DSimple(3, 8, padding=0), "3x2x8x8")


def test_spec_round_trip():
    model = cnncalc.Sequential(Conv3DSimple.of(3, 8, stride=2), Conv3DNoTemporal.of(8, 8))
    spec = json.loads(json.dumps(cnncalc.to_spec(model)))
    assert spec["layers"] == [{"Conv3DSimple": {"args": [3, 8], "stride": [2, 2, 2]}}, {"Conv3DNoTemporal": [8, 8]}]
    again = cnncalc.from_spec(spec)
    assert again == model
    assert cnncalc.analyze(again, "3x8x16x16").to_dict() == cnncalc.analyze(model, "3x8x16x16").to_dict()
