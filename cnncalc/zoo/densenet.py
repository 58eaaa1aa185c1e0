"""DenseNet (Huang et al. 2016), layer for layer as torchvision.models.densenet.

torchvision's dense block keeps a list of feature maps and each dense layer concatenates all of them
before its first BatchNorm. The same shapes come from a chain of ``Concat(x, new_features(x))``: a
dense layer passes its input through unchanged (an empty Sequential, so no row of its own) beside the
``growth_rate`` new channels. Both branches have hidden names, so the rows read
``features.denseblock1.denselayer1.norm1`` and the concatenation is ``features.denseblock1.denselayer1``.
"""

from __future__ import annotations

from ..graph import Concat, Sequential
from ..layers import AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU


def _dense_layer(num_input_features, growth_rate, bn_size, drop_rate):
    """BN-ReLU-conv1x1 (bn_size * growth_rate) - BN-ReLU-conv3x3 (growth_rate), joined to its input."""
    width = bn_size * growth_rate
    new_features = dict(
        norm1=BatchNorm2d(num_input_features),
        relu1=ReLU(inplace=True),
        conv1=Conv2d(num_input_features, width, kernel_size=1, stride=1, bias=False),
        norm2=BatchNorm2d(width),
        relu2=ReLU(inplace=True),
        conv2=Conv2d(width, growth_rate, kernel_size=3, stride=1, padding=1, bias=False),
    )
    if drop_rate > 0:  # torchvision applies F.dropout here
        new_features["dropout"] = Dropout(drop_rate)
    return Concat(dict(_input=Sequential(), _new=Sequential(new_features)))


def _dense_block(num_layers, num_input_features, bn_size, growth_rate, drop_rate):
    layers = {
        f"denselayer{i + 1}": _dense_layer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
        for i in range(num_layers)
    }
    return Sequential(layers)


def _transition(num_input_features, num_output_features):
    """BN-ReLU-conv1x1 halving the channels, then 2x2 average pooling."""
    return Sequential(
        dict(
            norm=BatchNorm2d(num_input_features),
            relu=ReLU(inplace=True),
            conv=Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False),
            pool=AvgPool2d(kernel_size=2, stride=2),
        )
    )


def _densenet(block_config, num_classes, in_channels, growth_rate=32, num_init_features=64, bn_size=4, drop_rate=0.0):
    features = dict(
        conv0=Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
        norm0=BatchNorm2d(num_init_features),
        relu0=ReLU(inplace=True),
        pool0=MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    num_features = num_init_features
    for i, num_layers in enumerate(block_config, start=1):
        features[f"denseblock{i}"] = _dense_block(num_layers, num_features, bn_size, growth_rate, drop_rate)
        num_features += num_layers * growth_rate
        if i != len(block_config):
            features[f"transition{i}"] = _transition(num_features, num_features // 2)
            num_features //= 2
    features["norm5"] = BatchNorm2d(num_features)
    # torchvision's forward: F.relu, F.adaptive_avg_pool2d(1, 1), torch.flatten, then the classifier.
    return Sequential(
        dict(
            features=Sequential(features),
            relu=ReLU(inplace=True),
            avgpool=AdaptiveAvgPool2d((1, 1)),
            flatten=Flatten(),
            classifier=Linear(num_features, num_classes),
        )
    )


def _builder(name, block_config, growth=32, init_features=64):
    def build(*, num_classes=1000, in_channels=3, growth_rate=growth, drop_rate=0.0):
        return _densenet(block_config, num_classes, in_channels, growth_rate=growth_rate,
                         num_init_features=init_features, drop_rate=drop_rate)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name}: dense blocks {block_config}, growth {growth}, {init_features} stem features, torchvision layout."
    return build


densenet121 = _builder("densenet121", (6, 12, 24, 16))
densenet161 = _builder("densenet161", (6, 12, 36, 24), 48, 96)
densenet169 = _builder("densenet169", (6, 12, 32, 32))
densenet201 = _builder("densenet201", (6, 12, 48, 32))
