"""EfficientNet B0-B3 (Tan & Le 2019), layer for layer as torchvision.models.efficientnet_b*."""

from __future__ import annotations

import math

from ..graph import Residual, Sequential
from ..layers import AdaptiveAvgPool2d, Dropout, Flatten, Linear, Sigmoid, SiLU, StochasticDepth
from .mobilenet import conv_bn_act, make_divisible, squeeze_excitation

# MBConv stages (the paper's Table 1): expansion, kernel, first stride, input and output channels, repeats.
STAGES = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]
# width multiplier, depth multiplier, dropout of each variant (torchvision's efficientnet_b0..b3)
VARIANTS = {"b0": (1.0, 1.0, 0.2), "b1": (1.0, 1.1, 0.2), "b2": (1.1, 1.2, 0.3), "b3": (1.2, 1.4, 0.3)}


def mbconv(cin, cout, expand_ratio, kernel, stride, drop):
    """1x1 expand (unless the ratio is 1) - depthwise - SE gate (squeeze to cin/4) - 1x1 projection; with a
    skip through stochastic depth when the shapes allow (stride 1, cin == cout)."""
    expanded = make_divisible(cin * expand_ratio, 8)
    layers = [conv_bn_act(cin, expanded, activation=SiLU())] if expanded != cin else []
    layers += [
        conv_bn_act(expanded, expanded, kernel, stride, expanded, activation=SiLU()),
        squeeze_excitation(expanded, max(1, cin // 4), SiLU(inplace=True), Sigmoid()),
        conv_bn_act(expanded, cout),
    ]
    if stride == 1 and cin == cout:
        return Residual(Sequential(dict(block=Sequential(*layers), stochastic_depth=StochasticDepth(drop, "row"))))
    return Sequential(dict(block=Sequential(*layers)))


def _efficientnet(variant, *, num_classes, in_channels, stochastic_depth_prob):
    width, depth, dropout = VARIANTS[variant]
    stages = [(t, k, s, make_divisible(cin * width, 8), make_divisible(cout * width, 8), int(math.ceil(n * depth)))
              for t, k, s, cin, cout, n in STAGES]
    total = sum(n for *_, n in stages)
    features, block_id = [conv_bn_act(in_channels, stages[0][3], 3, 2, activation=SiLU())], 0
    for t, k, s, cin, cout, n in stages:
        stage = []
        for i in range(n):
            stage.append(mbconv(cin if i == 0 else cout, cout, t, k, s if i == 0 else 1,
                                stochastic_depth_prob * block_id / total))
            block_id += 1
        features.append(Sequential(*stage))
    last_in = stages[-1][4]
    features.append(conv_bn_act(last_in, 4 * last_in, activation=SiLU()))
    return Sequential(dict(
        features=Sequential(*features),
        avgpool=AdaptiveAvgPool2d(1),
        flatten=Flatten(),
        classifier=Sequential(Dropout(dropout, inplace=True), Linear(4 * last_in, num_classes)),
    ))


def efficientnet_b0(*, num_classes=1000, in_channels=3, stochastic_depth_prob=0.2):
    """torchvision's EfficientNet-B0: 5,288,548 params and 0.386 GMACs at 224x224."""
    return _efficientnet("b0", num_classes=num_classes, in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob)


def efficientnet_b1(*, num_classes=1000, in_channels=3, stochastic_depth_prob=0.2):
    """torchvision's EfficientNet-B1 (depth x1.1): 7,794,184 params."""
    return _efficientnet("b1", num_classes=num_classes, in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob)


def efficientnet_b2(*, num_classes=1000, in_channels=3, stochastic_depth_prob=0.2):
    """torchvision's EfficientNet-B2 (width x1.1, depth x1.2): 9,109,994 params."""
    return _efficientnet("b2", num_classes=num_classes, in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob)


def efficientnet_b3(*, num_classes=1000, in_channels=3, stochastic_depth_prob=0.2):
    """torchvision's EfficientNet-B3 (width x1.2, depth x1.4): 12,233,232 params."""
    return _efficientnet("b3", num_classes=num_classes, in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob)
