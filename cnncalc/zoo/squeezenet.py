"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), layer for layer as torchvision.models.squeezenet."""

from __future__ import annotations

from ..graph import Concat, Sequential
from ..layers import AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, MaxPool2d, ReLU


def fire(inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
    """Squeeze 1x1, then 1x1 and 3x3 expands side by side, concatenated (the row named after the module)."""
    expand1x1 = dict(
        expand1x1=Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1),
        expand1x1_activation=ReLU(inplace=True),
    )
    expand3x3 = dict(
        expand3x3=Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1),
        expand3x3_activation=ReLU(inplace=True),
    )
    return Sequential(
        dict(
            squeeze=Conv2d(inplanes, squeeze_planes, kernel_size=1),
            squeeze_activation=ReLU(inplace=True),
            _expand=Concat(dict(_1x1=Sequential(expand1x1), _3x3=Sequential(expand3x3))),
        )
    )


def _pool():
    return MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


def _squeezenet(features, num_classes, dropout):
    classifier = Sequential(
        Dropout(p=dropout),
        Conv2d(512, num_classes, kernel_size=1),
        ReLU(inplace=True),
        AdaptiveAvgPool2d((1, 1)),
    )
    return Sequential(dict(features=Sequential(*features), classifier=classifier, flatten=Flatten()))


def squeezenet1_0(*, num_classes=1000, in_channels=3, dropout=0.5):
    """SqueezeNet 1.0: 7x7/2 stem with 96 filters, pools after fire4 and fire8."""
    features = [
        Conv2d(in_channels, 96, kernel_size=7, stride=2), ReLU(inplace=True), _pool(),
        fire(96, 16, 64, 64), fire(128, 16, 64, 64), fire(128, 32, 128, 128), _pool(),
        fire(256, 32, 128, 128), fire(256, 48, 192, 192), fire(384, 48, 192, 192), fire(384, 64, 256, 256), _pool(),
        fire(512, 64, 256, 256),
    ]
    return _squeezenet(features, num_classes, dropout)


def squeezenet1_1(*, num_classes=1000, in_channels=3, dropout=0.5):
    """SqueezeNet 1.1: 3x3/2 stem with 64 filters, pools after fire3 and fire5."""
    features = [
        Conv2d(in_channels, 64, kernel_size=3, stride=2), ReLU(inplace=True), _pool(),
        fire(64, 16, 64, 64), fire(128, 16, 64, 64), _pool(),
        fire(128, 32, 128, 128), fire(256, 32, 128, 128), _pool(),
        fire(256, 48, 192, 192), fire(384, 48, 192, 192), fire(384, 64, 256, 256), fire(512, 64, 256, 256),
    ]
    return _squeezenet(features, num_classes, dropout)
