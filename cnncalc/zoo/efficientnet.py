"""EfficientNet B0-B7 (Tan & Le 2019) and EfficientNetV2 S/M/L (Tan & Le 2021), layer for layer as
torchvision.models.efficientnet_*.

V2's early stages use FusedMBConv: the expansion and the depthwise convolution fused into one full
k x k convolution (no SE gate), or, with expansion 1, a single k x k convolution.
"""

from __future__ import annotations

import math

from ..graph import Residual, Sequential
from ..layers import AdaptiveAvgPool2d, Dropout, Flatten, Linear, Sigmoid, SiLU, StochasticDepth
from .mobilenet import conv_bn_act, make_divisible, squeeze_excitation

# Stages (the papers' tables): block, expansion, kernel, first stride, input and output channels, repeats.
STAGES = [
    ("mb", 1, 3, 1, 32, 16, 1),
    ("mb", 6, 3, 2, 16, 24, 2),
    ("mb", 6, 5, 2, 24, 40, 2),
    ("mb", 6, 3, 2, 40, 80, 3),
    ("mb", 6, 5, 1, 80, 112, 3),
    ("mb", 6, 5, 2, 112, 192, 4),
    ("mb", 6, 3, 1, 192, 320, 1),
]
STAGES_V2 = {
    "s": [("fused", 1, 3, 1, 24, 24, 2), ("fused", 4, 3, 2, 24, 48, 4), ("fused", 4, 3, 2, 48, 64, 4),
          ("mb", 4, 3, 2, 64, 128, 6), ("mb", 6, 3, 1, 128, 160, 9), ("mb", 6, 3, 2, 160, 256, 15)],
    "m": [("fused", 1, 3, 1, 24, 24, 3), ("fused", 4, 3, 2, 24, 48, 5), ("fused", 4, 3, 2, 48, 80, 5),
          ("mb", 4, 3, 2, 80, 160, 7), ("mb", 6, 3, 1, 160, 176, 14), ("mb", 6, 3, 2, 176, 304, 18),
          ("mb", 6, 3, 1, 304, 512, 5)],
    "l": [("fused", 1, 3, 1, 32, 32, 4), ("fused", 4, 3, 2, 32, 64, 7), ("fused", 4, 3, 2, 64, 96, 7),
          ("mb", 4, 3, 2, 96, 192, 10), ("mb", 6, 3, 1, 192, 224, 19), ("mb", 6, 3, 2, 224, 384, 25),
          ("mb", 6, 3, 1, 384, 640, 7)],
}
# width multiplier, depth multiplier, dropout of each B variant (torchvision's efficientnet_b0..b7)
VARIANTS = {"b0": (1.0, 1.0, 0.2), "b1": (1.0, 1.1, 0.2), "b2": (1.1, 1.2, 0.3), "b3": (1.2, 1.4, 0.3),
            "b4": (1.4, 1.8, 0.4), "b5": (1.6, 2.2, 0.4), "b6": (1.8, 2.6, 0.5), "b7": (2.0, 3.1, 0.5)}
DROPOUT_V2 = {"s": 0.2, "m": 0.3, "l": 0.4}
# BatchNorm2d's (eps, momentum): torchvision's default for B0-B4, its own choices for B5-B7 and V2
NORMS = {**{f"b{i}": (1e-5, 0.1) for i in range(5)}, **{f"b{i}": (0.001, 0.01) for i in range(5, 8)},
         "s": (0.001, 0.1), "m": (0.001, 0.1), "l": (0.001, 0.1)}


def _with_skip(layers, cin, cout, stride, drop):
    """The block's layers as torchvision's ``block``, with the skip through stochastic depth when the
    shapes allow (stride 1, cin == cout)."""
    if stride == 1 and cin == cout:
        return Residual(Sequential(dict(block=Sequential(*layers), stochastic_depth=StochasticDepth(drop, "row"))))
    return Sequential(dict(block=Sequential(*layers)))


def mbconv(cin, cout, expand_ratio, kernel, stride, drop, norm=(1e-5, 0.1)):
    """1x1 expand (unless the ratio is 1) - depthwise - SE gate (squeeze to cin/4) - 1x1 projection."""
    expanded = make_divisible(cin * expand_ratio, 8)
    layers = [conv_bn_act(cin, expanded, activation=SiLU(), norm=norm)] if expanded != cin else []
    layers += [
        conv_bn_act(expanded, expanded, kernel, stride, expanded, activation=SiLU(), norm=norm),
        squeeze_excitation(expanded, max(1, cin // 4), SiLU(inplace=True), Sigmoid()),
        conv_bn_act(expanded, cout, norm=norm),
    ]
    return _with_skip(layers, cin, cout, stride, drop)


def fused_mbconv(cin, cout, expand_ratio, kernel, stride, drop, norm=(1e-5, 0.1)):
    """k x k expand (carrying the stride) - 1x1 projection; a single k x k convolution when the ratio is 1."""
    expanded = make_divisible(cin * expand_ratio, 8)
    if expanded != cin:
        layers = [conv_bn_act(cin, expanded, kernel, stride, activation=SiLU(), norm=norm),
                  conv_bn_act(expanded, cout, norm=norm)]
    else:
        layers = [conv_bn_act(cin, cout, kernel, stride, activation=SiLU(), norm=norm)]
    return _with_skip(layers, cin, cout, stride, drop)


BLOCKS = {"mb": mbconv, "fused": fused_mbconv}


def _efficientnet(stages, last_channel, dropout, norm, *, num_classes, in_channels, stochastic_depth_prob):
    total = sum(n for *_, n in stages)
    features, block_id = [conv_bn_act(in_channels, stages[0][4], 3, 2, activation=SiLU(), norm=norm)], 0
    for kind, t, k, s, cin, cout, n in stages:
        stage = []
        for i in range(n):
            stage.append(BLOCKS[kind](cin if i == 0 else cout, cout, t, k, s if i == 0 else 1,
                                      stochastic_depth_prob * block_id / total, norm))
            block_id += 1
        features.append(Sequential(*stage))
    last_in = stages[-1][5]
    last = last_channel or 4 * last_in
    features.append(conv_bn_act(last_in, last, activation=SiLU(), norm=norm))
    return Sequential(dict(
        features=Sequential(*features),
        avgpool=AdaptiveAvgPool2d(1),
        flatten=Flatten(),
        classifier=Sequential(Dropout(dropout, inplace=True), Linear(last, num_classes)),
    ))


def _v1_builder(variant, summary):
    width, depth, default_dropout = VARIANTS[variant]

    def build(*, num_classes=1000, in_channels=3, dropout=default_dropout, stochastic_depth_prob=0.2):
        stages = [(kind, t, k, s, make_divisible(cin * width, 8), make_divisible(cout * width, 8), int(math.ceil(n * depth)))
                  for kind, t, k, s, cin, cout, n in STAGES]
        return _efficientnet(stages, None, dropout, NORMS[variant], num_classes=num_classes, in_channels=in_channels,
                             stochastic_depth_prob=stochastic_depth_prob)

    build.__name__ = build.__qualname__ = f"efficientnet_{variant}"
    build.__doc__ = f"torchvision's EfficientNet-{variant.upper()} (width x{width}, depth x{depth}): {summary}."
    return build


def _v2_builder(variant, summary):
    def build(*, num_classes=1000, in_channels=3, dropout=DROPOUT_V2[variant], stochastic_depth_prob=0.2):
        return _efficientnet(STAGES_V2[variant], 1280, dropout, NORMS[variant], num_classes=num_classes,
                             in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob)

    build.__name__ = build.__qualname__ = f"efficientnet_v2_{variant}"
    build.__doc__ = f"torchvision's EfficientNetV2-{variant.upper()}: {summary}."
    return build


efficientnet_b0 = _v1_builder("b0", "5,288,548 params and 0.386 GMACs at 224x224")
efficientnet_b1 = _v1_builder("b1", "7,794,184 params")
efficientnet_b2 = _v1_builder("b2", "9,109,994 params")
efficientnet_b3 = _v1_builder("b3", "12,233,232 params")
efficientnet_b4 = _v1_builder("b4", "19,341,616 params, 4.39 GMACs at 380x380")
efficientnet_b5 = _v1_builder("b5", "30,389,784 params, 10.27 GMACs at 456x456")
efficientnet_b6 = _v1_builder("b6", "43,040,704 params, 19.07 GMACs at 528x528")
efficientnet_b7 = _v1_builder("b7", "66,347,960 params, 37.75 GMACs at 600x600")
efficientnet_v2_s = _v2_builder("s", "21,458,488 params, 8.37 GMACs at 384x384")
efficientnet_v2_m = _v2_builder("m", "54,139,356 params, 24.58 GMACs at 480x480")
efficientnet_v2_l = _v2_builder("l", "118,515,272 params, 56.08 GMACs at 480x480")
