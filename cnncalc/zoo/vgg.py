"""VGG (Simonyan & Zisserman 2014), layer for layer as torchvision.models.vgg."""

from __future__ import annotations

from ..graph import Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU

# Channels of each 3x3 convolution, "M" for a 2x2 max pool (torchvision's cfgs).
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(config, batch_norm=False, in_channels=3):
    """The feature extractor: conv 3x3 pad 1 [+ BatchNorm] + ReLU per number, max pool 2/2 per "M"."""
    layers = []
    for v in config:
        if v == "M":
            layers.append(MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(BatchNorm2d(v))
        layers.append(ReLU(inplace=True))
        in_channels = v
    return Sequential(*layers)


def _vgg(depth, batch_norm, num_classes, in_channels, dropout):
    classifier = Sequential(
        Linear(512 * 7 * 7, 4096), ReLU(inplace=True), Dropout(dropout),
        Linear(4096, 4096), ReLU(inplace=True), Dropout(dropout),
        Linear(4096, num_classes),
    )
    return Sequential(
        dict(
            features=make_layers(CONFIGS[depth], batch_norm, in_channels),
            avgpool=AdaptiveAvgPool2d((7, 7)),
            flatten=Flatten(),
            classifier=classifier,
        )
    )


def _builder(depth, bn):
    """The zoo entry vgg<depth>[_bn]: ``batch_norm`` defaults to True for the _bn names."""

    def build(*, batch_norm=bn, num_classes=1000, in_channels=3, dropout=0.5):
        return _vgg(depth, batch_norm, num_classes, in_channels, dropout)

    build.__name__ = build.__qualname__ = f"vgg{depth}{'_bn' if bn else ''}"
    build.__doc__ = f"VGG-{depth}{' with batch normalisation' if bn else ''}, torchvision layout."
    return build


vgg11, vgg13, vgg16, vgg19 = (_builder(depth, False) for depth in CONFIGS)
vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn = (_builder(depth, True) for depth in CONFIGS)
