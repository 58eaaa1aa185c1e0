"""MobileNetV2 (Sandler et al. 2018), layer for layer as torchvision.models.mobilenet_v2."""

from __future__ import annotations

from ..errors import ShapeError
from ..graph import Residual, Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, ReLU6

# Expansion t, output channels c, repeats n, first stride s of each stage (the paper's Table 2).
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def make_divisible(v, divisor=8, min_value=None):
    """Round v to the nearest multiple of divisor, never below min_value nor more than 10% down."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_relu6(in_channels, out_channels, kernel_size=3, stride=1, groups=1):
    """torchvision's Conv2dNormActivation: conv (no bias, 'same' padding) + BatchNorm2d + ReLU6."""
    padding = (kernel_size - 1) // 2
    return Sequential(
        Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False),
        BatchNorm2d(out_channels),
        ReLU6(inplace=True),
    )


def inverted_residual(inp, oup, stride, expand_ratio):
    """1x1 expand (unless t = 1) - 3x3 depthwise - 1x1 linear projection, with a skip when shapes allow."""
    hidden_dim = int(round(inp * expand_ratio))
    layers = [conv_bn_relu6(inp, hidden_dim, kernel_size=1)] if expand_ratio != 1 else []
    layers += [
        conv_bn_relu6(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
        Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
        BatchNorm2d(oup),
    ]
    block = Sequential(dict(conv=Sequential(*layers)))
    return Residual(block) if stride == 1 and inp == oup else block


def mobilenet_v2(*, num_classes=1000, in_channels=3, width_mult=1.0, round_nearest=8, dropout=0.2):
    """torchvision's MobileNetV2: 3,504,872 params and 300.8 MMACs at 224x224 with width_mult=1."""
    if not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise ShapeError(f"width_mult must be a positive number, got {width_mult!r}")
    input_channel = make_divisible(32 * width_mult, round_nearest)
    last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
    features = [conv_bn_relu6(in_channels, input_channel, stride=2)]
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        output_channel = make_divisible(c * width_mult, round_nearest)
        for i in range(n):
            features.append(inverted_residual(input_channel, output_channel, s if i == 0 else 1, t))
            input_channel = output_channel
    features.append(conv_bn_relu6(input_channel, last_channel, kernel_size=1))
    # torchvision's forward: features, F.adaptive_avg_pool2d(1, 1), torch.flatten, classifier.
    return Sequential(
        dict(
            features=Sequential(*features),
            avgpool=AdaptiveAvgPool2d((1, 1)),
            flatten=Flatten(),
            classifier=Sequential(Dropout(dropout), Linear(last_channel, num_classes)),
        )
    )
