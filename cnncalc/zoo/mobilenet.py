"""MobileNetV2 (Sandler et al. 2018) and MobileNetV3 (Howard et al. 2019), layer for layer as torchvision."""

from __future__ import annotations

from ..errors import ShapeError
from ..graph import Residual, Sequential
from ..layers import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Hardsigmoid,
    Hardswish,
    Linear,
    ReLU,
    ReLU6,
)

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


# MobileNetV3 bottlenecks: input channels, kernel, expanded channels, output channels, squeeze-and-excite,
# hard-swish (else ReLU), stride; the last three take reduced_tail and dilated (torchvision's table).
V3_LARGE = [
    (16, 3, 16, 16, False, False, 1), (16, 3, 64, 24, False, False, 2), (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2), (40, 5, 120, 40, True, False, 1), (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2), (80, 3, 200, 80, False, True, 1), (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1), (80, 3, 480, 112, True, True, 1), (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2), (160, 5, 960, 160, True, True, 1), (160, 5, 960, 160, True, True, 1),
]
V3_SMALL = [
    (16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2), (24, 3, 88, 24, False, False, 1),
    (24, 5, 96, 40, True, True, 2), (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
    (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1), (48, 5, 288, 96, True, True, 2),
    (96, 5, 576, 96, True, True, 1), (96, 5, 576, 96, True, True, 1),
]


def conv_bn_act(in_channels, out_channels, kernel_size=1, stride=1, groups=1, dilation=1, activation=None,
                norm=(0.001, 0.01)):
    """torchvision's Conv2dNormActivation: conv (no bias, padding (k - 1)//2 * dilation) + BatchNorm2d
    (``norm`` = its eps and momentum: MobileNetV3's by default) (+ the activation layer, when given)."""
    padding = (kernel_size - 1) // 2 * dilation
    eps, momentum = norm
    layers = [Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False),
              BatchNorm2d(out_channels, eps=eps, momentum=momentum)]
    return Sequential(*layers, *([activation] if activation is not None else []))


def squeeze_excitation(channels, squeeze_channels, activation=None, scale_activation=None):
    """torchvision's SqueezeExcitation, input * scale_activation(fc2(activation(fc1(avgpool(input))))),
    its modules in call order (MobileNetV3's: ReLU and a hard sigmoid)."""
    scale = Sequential(dict(avgpool=AdaptiveAvgPool2d(1), fc1=Conv2d(channels, squeeze_channels, 1),
                            activation=activation or ReLU(), fc2=Conv2d(squeeze_channels, channels, 1),
                            scale_activation=scale_activation or Hardsigmoid()))
    return Residual(scale, op="mul")


def inverted_residual_v3(cin, kernel, expanded, cout, use_se, use_hs, stride, dilation):
    """1x1 expand (unless expanded == cin) - depthwise k x k - optional SE gate - 1x1 projection, with a
    skip when the shapes allow (stride 1, cin == cout)."""
    act = Hardswish if use_hs else ReLU
    layers = [conv_bn_act(cin, expanded, activation=act())] if expanded != cin else []
    layers.append(conv_bn_act(expanded, expanded, kernel, 1 if dilation > 1 else stride, expanded, dilation, act()))
    if use_se:
        layers.append(squeeze_excitation(expanded, make_divisible(expanded // 4, 8)))
    layers.append(conv_bn_act(expanded, cout))
    block = Sequential(dict(block=Sequential(*layers)))
    return Residual(block) if stride == 1 and cin == cout else block


def _mobilenet_v3(table, last_channel, *, num_classes, in_channels, width_mult, reduced_tail, dilated, dropout):
    if not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise ShapeError(f"width_mult must be a positive number, got {width_mult!r}")

    def adjust(channels):
        return make_divisible(channels * width_mult, 8)

    divider, dilation = (2 if reduced_tail else 1), (2 if dilated else 1)
    features = [conv_bn_act(in_channels, adjust(table[0][0]), 3, 2, activation=Hardswish())]
    for i, (cin, k, exp, cout, use_se, use_hs, stride) in enumerate(table):
        tail = i >= len(table) - 3  # the C4 stage: reduced_tail halves its widths, dilated dilates it
        if tail:
            cin = cin if i == len(table) - 3 else cin // divider
            exp, cout = exp // divider, cout // divider
        features.append(inverted_residual_v3(adjust(cin), k, adjust(exp), adjust(cout), use_se, use_hs, stride,
                                             dilation if tail else 1))
    last_in = adjust(table[-1][3] // divider)
    features.append(conv_bn_act(last_in, 6 * last_in, activation=Hardswish()))
    last = adjust(last_channel // divider)
    return Sequential(dict(
        features=Sequential(*features),
        avgpool=AdaptiveAvgPool2d(1),
        flatten=Flatten(),
        classifier=Sequential(Linear(6 * last_in, last), Hardswish(inplace=True), Dropout(dropout, inplace=True),
                              Linear(last, num_classes)),
    ))


def mobilenet_v3_large(*, num_classes=1000, in_channels=3, width_mult=1.0, reduced_tail=False, dilated=False, dropout=0.2):
    """torchvision's MobileNetV3-Large: 5,483,032 params and 0.217 GMACs at 224x224."""
    return _mobilenet_v3(V3_LARGE, 1280, num_classes=num_classes, in_channels=in_channels,
                         width_mult=width_mult, reduced_tail=reduced_tail, dilated=dilated, dropout=dropout)


def mobilenet_v3_small(*, num_classes=1000, in_channels=3, width_mult=1.0, reduced_tail=False, dilated=False, dropout=0.2):
    """torchvision's MobileNetV3-Small: 2,542,856 params and 0.057 GMACs at 224x224."""
    return _mobilenet_v3(V3_SMALL, 1024, num_classes=num_classes, in_channels=in_channels,
                         width_mult=width_mult, reduced_tail=reduced_tail, dilated=dilated, dropout=dropout)
