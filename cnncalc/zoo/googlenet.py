"""GoogLeNet / Inception v1 (Szegedy et al. 2014), layer for layer as torchvision.models.googlenet.

Without the auxiliary classifiers (they only run in training mode) and with torchvision's quirks: a
BasicConv2d is conv (no bias) + BatchNorm (eps 0.001) + F.relu, shown here as a row ``<name>.relu``;
the "5x5" branch uses a 3x3 kernel; every max pool rounds up (ceil_mode=True).
"""

from __future__ import annotations

from ..graph import Concat, Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU

# (in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each Inception module, by name.
INCEPTIONS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def basic_conv2d(in_channels, out_channels, **kwargs):
    """conv (bias=False) + BatchNorm2d(eps=0.001) + ReLU (F.relu in torchvision, so no module of its own)."""
    return Sequential(
        dict(
            conv=Conv2d(in_channels, out_channels, bias=False, **kwargs),
            bn=BatchNorm2d(out_channels, eps=0.001),
            relu=ReLU(inplace=True),
        )
    )


def inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    """Four parallel branches joined along channels: 1x1; 1x1-3x3; 1x1-3x3 (sic); 3x3 max pool-1x1."""
    return Concat(
        dict(
            branch1=basic_conv2d(in_channels, ch1x1, kernel_size=1),
            branch2=Sequential(
                basic_conv2d(in_channels, ch3x3red, kernel_size=1),
                basic_conv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
            ),
            branch3=Sequential(
                basic_conv2d(in_channels, ch5x5red, kernel_size=1),
                basic_conv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),
            ),
            branch4=Sequential(
                MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                basic_conv2d(in_channels, pool_proj, kernel_size=1),
            ),
        )
    )


def googlenet(*, num_classes=1000, in_channels=3, dropout=0.2):
    """torchvision's GoogLeNet (aux_logits=False): 6,624,904 params, 1.50 GMACs at 224x224."""
    layers = dict(
        conv1=basic_conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        maxpool1=MaxPool2d(3, stride=2, ceil_mode=True),
        conv2=basic_conv2d(64, 64, kernel_size=1),
        conv3=basic_conv2d(64, 192, kernel_size=3, padding=1),
        maxpool2=MaxPool2d(3, stride=2, ceil_mode=True),
    )
    for name, config in INCEPTIONS.items():
        layers[name] = inception(*config)
        if name == "inception3b":
            layers["maxpool3"] = MaxPool2d(3, stride=2, ceil_mode=True)
        elif name == "inception4e":
            layers["maxpool4"] = MaxPool2d(2, stride=2, ceil_mode=True)
    layers.update(avgpool=AdaptiveAvgPool2d((1, 1)), flatten=Flatten(), dropout=Dropout(dropout), fc=Linear(1024, num_classes))
    return Sequential(layers)
