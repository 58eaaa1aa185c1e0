"""Layers written for torchvision's transformer networks (cnncalc.layers, "torchvision blocks"; ExpectSize),
against facts recorded from torchvision's own modules on small random configurations
(tests/golden/torchvision_blocks.json, made by tools/make_golden_blocks.py: these tests never import
torchvision), and their receptive fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnncalc as c
from cnncalc import ShapeError
from cnncalc.layers import (
    Buffer,
    ExpectSize,
    PatchMergingPad,
    RelativePositionalAttention,
    ShiftedWindowAttention,
    SwapAxes,
    WindowDepartition,
    WindowPartition,
)
from cnncalc.zoo.maxvit import relative_attention
from cnncalc.zoo.swin import attention_v2, patch_merging

CASES = json.loads((Path(__file__).parent / "golden" / "torchvision_blocks.json").read_text())["cases"]

# torchvision's module -> the cnncalc layers written for it (a layer, or a few rows: V2's bias MLP,
# MaxViT's to_qkv and merge Linears are their own rows, as in torchvision)
BUILD = {
    "ShiftedWindowAttention": lambda kw: ShiftedWindowAttention(**kw),
    "ShiftedWindowAttentionV2": lambda kw: attention_v2(**kw),
    "PatchMerging": lambda kw: patch_merging(kw["dim"], v2=False),
    "PatchMergingV2": lambda kw: patch_merging(kw["dim"], v2=True),
    "RelativePositionalMultiHeadAttention": lambda kw: relative_attention(**kw),
    "WindowPartition": lambda kw: WindowPartition(**kw),
    "WindowDepartition": lambda kw: WindowDepartition(**kw),
}


def _id(case):
    return f"{case['block']}-{json.dumps(case['kwargs'], separators=(',', ':'))}-{'x'.join(map(str, case['input_shape']))}"


ACCEPTED = [case for case in CASES if "error" not in case]
REFUSED = [case for case in CASES if "error" in case]


@pytest.mark.parametrize("case", ACCEPTED, ids=[_id(case) for case in ACCEPTED])
def test_blocks_match_torchvision(case):
    block = BUILD[case["block"]](case["kwargs"])
    report = c.analyze(block, tuple(case["input_shape"]))
    assert list(report.output_shape) == case["output_shape"]
    if "macs" in case:
        assert (report.params, report.buffers, report.macs) == (case["params"], case["buffers"], case["macs"])


# cnncalc's words for torch's refusal (recorded in the case's "error")
REFUSALS = {
    "ShiftedWindowAttention": r"expects \d+ channels \(the last axis\), receives \d+",  # mat1 and mat2 shapes ...
    "RelativePositionalMultiHeadAttention": r"the position bias covers \d+ tokens, receives \d+",  # size of tensor a ...
    "WindowPartition": r"is not a multiple of the partition size",  # shape '[...]' is invalid for input of size
    "WindowDepartition": r"expects \d+\*\d+ windows of \d+\*\d+ tokens",  # shape '[...]' is invalid ...
}


@pytest.mark.parametrize("case", REFUSED, ids=[_id(case) for case in REFUSED])
def test_blocks_refuse_what_torchvision_refuses(case):
    block = BUILD[case["block"]](case["kwargs"])
    with pytest.raises(ShapeError, match=REFUSALS[case["block"]]):
        c.analyze(block, tuple(case["input_shape"]))


def test_side_merge_passes_its_first_branch():
    """Swin V2's attention: the bias MLP's rows on the coordinates buffer, joined by a side merge that
    passes the map on to the attention (the buffer's rows count their own params and MACs once)."""
    report = c.analyze(attention_v2(8, [3, 4], [1, 2], 2), "5x6x8")
    rows = {r.name: r for r in report.layers}
    assert [r.type for r in report.layers] == ["Buffer", "Linear", "ReLU", "Linear", "Side", "ShiftedWindowAttentionV2"]
    assert rows["relative_coords_table"].output_shape == (5, 7, 2) and rows["relative_coords_table"].buffers == 70
    assert rows["relative_position_bias"].input_shapes == ((5, 6, 8), (5, 7, 2))
    assert rows["relative_position_bias"].output_shape == (5, 6, 8) and rows["relative_position_bias"].macs == 0
    assert rows["cpb_mlp.2"].macs == 5 * 7 * 512 * 2 and report.output_shape == (5, 6, 8)
    # torch runs the bias MLP once for a whole batch (on the buffer's batch of one): only the rest doubles
    bias_macs = rows["cpb_mlp.0"].macs + rows["cpb_mlp.2"].macs
    doubled = c.analyze(attention_v2(8, [3, 4], [1, 2], 2), "5x6x8", batch=2)
    assert doubled.macs == 2 * report.macs - bias_macs


def test_the_recorded_cases_cover_every_block():
    assert {case["block"] for case in CASES} == set(BUILD)
    assert len(REFUSED) >= 4 and any("shift_size" in case["kwargs"] and case["kwargs"]["shift_size"] != [0, 0]
                                     for case in ACCEPTED)


@pytest.mark.parametrize(("layer", "message"), [
    (lambda: ShiftedWindowAttention(10, 7, 0, num_heads=3), r"dim \(10\) must be divisible by num_heads \(3\)"),
    (lambda: ShiftedWindowAttention(8, [7, 7, 7], 0, num_heads=2), r"window_size and shift_size must be of length 2"),
    (lambda: ShiftedWindowAttention(8, 7, -1, num_heads=2), r"shift_size must not be negative"),
    (lambda: RelativePositionalAttention(10, 4, 49), r"feat_dim: 10 must be divisible by head_dim: 4"),
    (lambda: Buffer((15, 15, 2)), r"shape must be a batch of one, \(1, \.\.\.\), got \(15, 15, 2\)"),
    (lambda: WindowPartition(0), r"p must be positive"),
], ids=["heads", "window_rank", "negative_shift", "head_dim", "buffer_batch", "partition"])
def test_blocks_refuse_impossible_arguments(layer, message):
    with pytest.raises(ShapeError, match=message):
        layer()


def test_window_attention_on_a_symbolic_map_pads_to_whole_windows():
    report = c.analyze(ShiftedWindowAttention(96, 7, 3, num_heads=3), "HxWx96")
    h, w = c.symbol("H"), c.symbol("W")
    macs = report.macs
    for hv, wv in ((1, 1), (7, 7), (8, 13), (56, 56), (50, 57)):
        padded = -(-hv // 7) * 7 * (-(-wv // 7) * 7)
        assert macs.subs({h: hv, w: wv}) == 4 * padded * 96 ** 2 + 2 * padded * 49 * 96
        assert c.analyze(ShiftedWindowAttention(96, 7, 3, num_heads=3), (hv, wv, 96)).macs == macs.subs({h: hv, w: wv})


def test_swap_axes_is_a_transpose_in_batched_numbering():
    report = c.analyze(SwapAxes(-2, -3), (4, 5, 6))
    assert report.output_shape == (5, 4, 6)


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


# --- receptive fields ---------------------------------------------------------------------------------


def test_patch_merging_windows_the_channels_last_axes():
    """A 2x2 stride-2 window on (H, W, C): after a 4x4 patchify convolution and a permute to channels
    last, the field grows to 4 + (2 - 1)*4 = 8, stride 8 (and ends where the axes are elsewhere)."""
    net = c.Sequential(c.Conv2d(3, 8, 4, 4), c.Permute((0, 2, 3, 1)), PatchMergingPad())
    report = c.analyze(net, "3x32x32")
    assert report.output_shape == (4, 4, 32)
    rf = report.layers[-1].receptive_field
    assert (rf.size, rf.stride, rf.start) == ((8, 8), (8, 8), (0, 0))
    assert c.analyze(c.Sequential(c.Conv2d(3, 8, 4, 4), PatchMergingPad()), "3x32x32").layers[-1].receptive_field is None


def test_window_partition_carries_the_field_to_its_departition():
    """Partition, token-wise layers and departition read every pixel at itself: the field passes; a
    layer that mixes the tokens (the attention) ends it."""
    pointwise = c.Sequential(WindowPartition(2), SwapAxes(-2, -3), c.LayerNorm(8), c.Linear(8, 8), SwapAxes(-2, -3),
                             WindowDepartition(2, 2, 3), c.Conv2d(8, 8, 3))
    report = c.analyze(c.Sequential(c.Conv2d(3, 8, 3), pointwise), "3x6x8")
    assert report.output_shape == (8, 2, 4)
    assert report.receptive_field.size == (5, 5)
    unswapped = c.Sequential(WindowPartition(2), SwapAxes(-2, -3), WindowDepartition(2, 2, 2))
    assert c.analyze(unswapped, "8x4x4").layers[-1].receptive_field is None  # windows read as tokens: scrambled
    attention = c.Sequential(WindowPartition(2), c.Linear(8, 24), RelativePositionalAttention(8, 4, 4))
    assert c.analyze(attention, "8x4x6").layers[-1].receptive_field is None


# Each network's receptive field at its default input (report.receptive_field: until the first global
# operation) and its local field (report.local_receptive_field: the convolution path with attention,
# gates and global pools left out), one network per family. The local fields are what the architecture
# says:
# - ConvNeXt has no attention, gate or pool before its head: both are the convolution path, the 4x4
#   stride-4 stem (4), three 7x7 depthwise convolutions at stride 4 (+3*6*4 = 76), a 2x2 stride-2
#   downsampling (+4, stride 8), three at 8 (+144), +8, nine at 16 (+864), +16, three at 32 (+576): 1688/32,
#   starting 3 pixels of padding per 7x7 convolution before the image;
# - ViT: the patch, 16x16 (vit_b_16; 32 for the /32 networks, 14 for vit_h_14): the tokens are
#   reshaped after conv_proj and attended to globally, so both fields end there;
# - Swin: the global field ends at the first window attention (the 4x4 patch); the local one follows
#   the shortcuts through patch embedding (4) and three 2x2 patch mergings (+4, +8, +16): 32/32;
# - MaxViT: the global field ends at the first squeeze-and-excitation gate (stem 3x3 s2 and 3x3, the
#   first MBConv's 3x3 stride-2 depthwise convolution: 11/4); the local one is the stem and the eleven
#   MBConvs' 3x3 depthwise convolutions (the partitions carry it through the attention layers):
#   7 + 2*4 (s4) + 2*4 + 2*8 + 2*8 + 2*16 + 4*2*16 + 2*32 + 2*32 = 283, stride 32.
FIELDS = [
    ("convnext_tiny", (1688, 32, -828), (1688, 32, -828)),
    ("vit_b_16", (16, 16, 0), (16, 16, 0)),
    ("vit_h_14", (14, 14, 0), (14, 14, 0)),
    ("swin_t", (4, 4, 0), (32, 32, 0)),
    ("swin_v2_t", (4, 4, 0), (32, 32, 0)),
    ("maxvit_t", (11, 4, -5), (283, 32, -141)),
]


@pytest.mark.parametrize(("name", "field", "local"), FIELDS, ids=[f[0] for f in FIELDS])
def test_receptive_and_local_fields_of_the_transformer_families(name, field, local):
    report = c.zoo.describe(name).analyze(warn=False)
    for rf, (size, stride, start) in ((report.receptive_field, field), (report.local_receptive_field, local)):
        assert (rf.size, rf.stride, rf.start) == ((size, size), (stride, stride), (start, start))
