"""AlexNet: the 2012 paper's layout (Krizhevsky, Sutskever & Hinton) and torchvision's variant.

The paper's network takes 227x227 crops (the paper says 224, but 11x11 stride-4 windows only tile
227: (227 - 11)/4 + 1 = 55). It was split over two GPUs: conv2, conv4 and conv5 only see the
feature maps on their own GPU, which is a grouped convolution with ``groups=2``.
"""

from __future__ import annotations

from ..graph import Sequential
from ..layers import AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU


def _classifier(in_features, num_classes, dropout):
    """FC 4096 - FC 4096 - FC num_classes with dropout before the first two, as both versions."""
    return Sequential(
        Dropout(dropout), Linear(in_features, 4096), ReLU(inplace=True),
        Dropout(dropout), Linear(4096, 4096), ReLU(inplace=True),
        Linear(4096, num_classes),
    )


def alexnet(*, num_classes=1000, in_channels=3, groups=1, dropout=0.5):
    """The paper's AlexNet: 62,378,344 params in one tower, 60,965,224 with ``groups=2`` (two GPUs)."""
    features = Sequential(
        Conv2d(in_channels, 96, kernel_size=11, stride=4), ReLU(inplace=True),
        LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0), MaxPool2d(kernel_size=3, stride=2),
        Conv2d(96, 256, kernel_size=5, padding=2, groups=groups), ReLU(inplace=True),
        LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0), MaxPool2d(kernel_size=3, stride=2),
        Conv2d(256, 384, kernel_size=3, padding=1), ReLU(inplace=True),
        Conv2d(384, 384, kernel_size=3, padding=1, groups=groups), ReLU(inplace=True),
        Conv2d(384, 256, kernel_size=3, padding=1, groups=groups), ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
    )
    return Sequential(dict(features=features, flatten=Flatten(), classifier=_classifier(256 * 6 * 6, num_classes, dropout)))


def alexnet_torchvision(*, num_classes=1000, in_channels=3, dropout=0.5):
    """torchvision.models.alexnet: 64/192/384/256/256 filters, no LRN, adaptive 6x6 average pool."""
    features = Sequential(
        Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
        Conv2d(64, 192, kernel_size=5, padding=2), ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
        Conv2d(192, 384, kernel_size=3, padding=1), ReLU(inplace=True),
        Conv2d(384, 256, kernel_size=3, padding=1), ReLU(inplace=True),
        Conv2d(256, 256, kernel_size=3, padding=1), ReLU(inplace=True),
        MaxPool2d(kernel_size=3, stride=2),
    )
    return Sequential(
        dict(
            features=features,
            avgpool=AdaptiveAvgPool2d((6, 6)),
            flatten=Flatten(),
            classifier=_classifier(256 * 6 * 6, num_classes, dropout),
        )
    )
