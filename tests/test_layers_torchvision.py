"""Layers written for torchvision's transformer networks: ExpectSize (ViT's input-size assertion)."""

from __future__ import annotations

import pytest

import cnncalc as c
from cnncalc import ShapeError
from cnncalc.layers import ExpectSize


@pytest.mark.parametrize(("layer", "shape", "message"), [
    (ExpectSize(224), (3, 199, 257), r"^image \(ExpectSize\): Wrong image height! Expected 224 but got 199!$"),
    (ExpectSize(224), (3, 224, 225), r"Wrong image width! Expected 224 but got 225!"),
    (ExpectSize((None, 8)), (3, 5, 9), r"Wrong image width! Expected 8 but got 9!"),
    (ExpectSize((4, 8)), (3, 4, 8, 1), r"expects a \(C, H, W\) feature map, receives shape \(3, 4, 8, 1\)"),
    (ExpectSize(4), (3, 4, 4, 4, 4), r"expects a \(C, L\), \(C, H, W\) or \(C, D, H, W\) feature map"),
], ids=["height", "width", "one_axis_free", "rank", "int_on_rank_4"])
def test_expect_size_refuses_what_torch_asserts(layer, shape, message):
    with pytest.raises(ShapeError, match=message):
        c.analyze(c.Sequential({"image": layer}), shape)


def test_expect_size_passes_the_map_and_its_receptive_field():
    report = c.analyze(c.Sequential(ExpectSize(6), c.Conv3d(2, 4, 3, 3)), (2, 6, 6, 6))
    assert report.layers[0].output_shape == (2, 6, 6, 6) and report.output_shape == (4, 2, 2, 2)
    assert report.receptive_field.size == (3, 3, 3)
    assert (report.params, report.macs) == (4 * (2 * 27 + 1), 4 * 8 * 2 * 27)


def test_expect_size_on_a_symbolic_input_is_an_assumption():
    report = c.analyze(c.Sequential({"image_size": ExpectSize((None, 224))}), "3xHxW")
    assert report.assumptions == ["image_size (ExpectSize): W = 224"]
    assert str(report.output_shape) == "(3, H, W)"


def test_expect_size_round_trips_through_a_spec():
    model = c.Sequential(ExpectSize(224), ExpectSize((None, 7)))
    assert c.from_spec(c.to_spec(model)) == model
