"""RegNetX and RegNetY (Radosavovic et al. 2020), layer for layer as torchvision.models.regnet.

A RegNet is given by a depth and a linear width ramp (w_0, w_a, w_m) quantised to stages, as
torchvision's ``BlockParams.from_init_params`` computes it (here in float64; the rounding of every
network in the registry is the same as torchvision's float32, which the recorded facts check). A block
is a ResBottleneckBlock: the bottleneck transform ``f`` (1x1 ``a``, grouped 3x3 ``b`` with the stride,
RegNetY's SE gate ``se``, 1x1 ``c``) added to the input or to its projection ``proj`` (torchvision
computes ``proj(x) + f(x)``, so ``proj``'s rows come first), then ReLU (``activation``).
"""

from __future__ import annotations

import math

from ..errors import ShapeError
from ..graph import Merge, Residual, Sequential
from ..layers import AdaptiveAvgPool2d, Flatten, Linear, ReLU, Sigmoid
from .mobilenet import conv_bn_act, make_divisible, squeeze_excitation

NORM = (1e-5, 0.1)  # BatchNorm2d's eps and momentum in torchvision's _regnet


def block_params(depth, w_0, w_a, w_m, group_width, bottleneck_multiplier=1.0):
    """Per stage (width, depth, group width), as torchvision's BlockParams.from_init_params."""
    if w_a < 0 or w_0 <= 0 or w_m <= 1 or w_0 % 8:
        raise ShapeError("Invalid RegNet settings")
    capacities = [round(math.log((i * w_a + w_0) / w_0) / math.log(w_m)) for i in range(depth)]
    block_widths = [int(round(w_0 * w_m ** c / 8) * 8) for c in capacities]
    stages = []  # [width, depth]
    for width in block_widths:
        if stages and stages[-1][0] == width:
            stages[-1][1] += 1
        else:
            stages.append([width, 1])
    out = []
    for width, stage_depth in stages:
        bottleneck = int(width * bottleneck_multiplier)
        groups_width = min(group_width, bottleneck)
        out.append((int(make_divisible(bottleneck, groups_width) / bottleneck_multiplier), stage_depth, groups_width))
    return out


def bottleneck_transform(width_in, width_out, stride, group_width, bottleneck_multiplier, se_ratio):
    w_b = int(round(width_out * bottleneck_multiplier))
    layers = dict(
        a=conv_bn_act(width_in, w_b, activation=ReLU(inplace=True), norm=NORM),
        b=conv_bn_act(w_b, w_b, 3, stride, w_b // group_width, activation=ReLU(inplace=True), norm=NORM),
    )
    if se_ratio:
        layers["se"] = squeeze_excitation(w_b, int(round(se_ratio * width_in)), ReLU(), Sigmoid())
    layers["c"] = conv_bn_act(w_b, width_out, norm=NORM)
    return Sequential(layers)


def res_bottleneck_block(width_in, width_out, stride, group_width, bottleneck_multiplier, se_ratio):
    f = Sequential(dict(f=bottleneck_transform(width_in, width_out, stride, group_width, bottleneck_multiplier, se_ratio)))
    if width_in != width_out or stride != 1:
        proj = conv_bn_act(width_in, width_out, 1, stride, norm=NORM)
        return Sequential(dict(_add=Merge(dict(proj=proj, _f=f), op="add"), activation=ReLU(inplace=True)))
    return Residual(f, post=ReLU(inplace=True), post_name="activation")


def _regnet(settings, num_classes, in_channels, se_ratio=None, stem_width=32, bottleneck_multiplier=1.0):
    stages, width = {}, stem_width
    for i, (width_out, depth, group_width) in enumerate(block_params(**settings), start=1):
        stages[f"block{i}"] = Sequential({
            f"block{i}-{j}": res_bottleneck_block(width if j == 0 else width_out, width_out, 2 if j == 0 else 1,
                                                  group_width, bottleneck_multiplier, se_ratio)
            for j in range(depth)
        })
        width = width_out
    return Sequential(dict(
        stem=conv_bn_act(in_channels, stem_width, 3, 2, activation=ReLU(inplace=True), norm=NORM),
        trunk_output=Sequential(stages),
        avgpool=AdaptiveAvgPool2d((1, 1)),
        flatten=Flatten(),
        fc=Linear(width, num_classes),
    ))


# torchvision's settings per network: depth, w_0, w_a, w_m, group width; RegNetY adds SE gates (ratio 0.25).
# The params and GMACs are at 224x224 (regnet_y_128gf: 384x384, its weights' size).
REGNETS = {
    "regnet_y_400mf": ((16, 48, 27.89, 2.09, 8), "4,344,144 params, 0.402 GMACs"),
    "regnet_y_800mf": ((14, 56, 38.84, 2.4, 16), "6,432,512 params, 0.834 GMACs"),
    "regnet_y_1_6gf": ((27, 48, 20.71, 2.65, 24), "11,202,430 params, 1.612 GMACs"),
    "regnet_y_3_2gf": ((21, 80, 42.63, 2.66, 24), "19,436,338 params, 3.176 GMACs"),
    "regnet_y_8gf": ((17, 192, 76.82, 2.19, 56), "39,381,472 params, 8.473 GMACs"),
    "regnet_y_16gf": ((18, 200, 106.23, 2.48, 112), "83,590,140 params, 15.91 GMACs"),
    "regnet_y_32gf": ((20, 232, 115.89, 2.53, 232), "145,046,770 params, 32.28 GMACs"),
    "regnet_y_128gf": ((27, 456, 160.83, 2.52, 264), "644,812,894 params, 374.6 GMACs at 384x384"),
    "regnet_x_400mf": ((22, 24, 24.48, 2.54, 16), "5,495,976 params, 0.414 GMACs"),
    "regnet_x_800mf": ((16, 56, 35.73, 2.28, 16), "7,259,656 params, 0.800 GMACs"),
    "regnet_x_1_6gf": ((18, 80, 34.01, 2.25, 24), "9,190,136 params, 1.603 GMACs"),
    "regnet_x_3_2gf": ((25, 88, 26.31, 2.25, 48), "15,296,552 params, 3.177 GMACs"),
    "regnet_x_8gf": ((23, 80, 49.56, 2.88, 120), "39,572,648 params, 7.995 GMACs"),
    "regnet_x_16gf": ((22, 216, 55.59, 2.1, 128), "54,278,536 params, 15.94 GMACs"),
    "regnet_x_32gf": ((23, 320, 69.86, 2.0, 168), "107,811,560 params, 31.74 GMACs"),
}


def _builder(name):
    (depth, w_0, w_a, w_m, group_width), summary = REGNETS[name]
    settings = dict(depth=depth, w_0=w_0, w_a=w_a, w_m=w_m, group_width=group_width)
    se_ratio = 0.25 if name.startswith("regnet_y") else None

    def build(*, num_classes=1000, in_channels=3):
        return _regnet(settings, num_classes, in_channels, se_ratio)

    build.__name__ = build.__qualname__ = name
    ramp = ", ".join(f"{k}={v}" for k, v in settings.items())
    build.__doc__ = f"torchvision's {name} ({ramp}{', SE ratio 0.25' if se_ratio else ''}): {summary}."
    return build


regnet_y_400mf, regnet_y_800mf, regnet_y_1_6gf, regnet_y_3_2gf = map(_builder, list(REGNETS)[:4])
regnet_y_8gf, regnet_y_16gf, regnet_y_32gf, regnet_y_128gf = map(_builder, list(REGNETS)[4:8])
regnet_x_400mf, regnet_x_800mf, regnet_x_1_6gf, regnet_x_3_2gf = map(_builder, list(REGNETS)[8:12])
regnet_x_8gf, regnet_x_16gf, regnet_x_32gf = map(_builder, list(REGNETS)[12:])
