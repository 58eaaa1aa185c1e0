"""Semantic segmentation: FCN (Long et al. 2015), DeepLabV3 (Chen et al. 2017) and LR-ASPP (Howard et
al. 2019), layer for layer as torchvision.models.segmentation, without the auxiliary head
(aux_loss=False) and with the output torchvision returns as ``"out"``.

The backbone is torchvision's IntermediateLayerGetter over a ResNet with its last two strides turned
into dilation (output stride 8) or over MobileNetV3-Large's features with dilation in its last stage
(output stride 16); its rows read ``backbone.layer1.0.conv1`` / ``backbone.4.block.0.0``. The head's
map is resized to the input's size with ``F.interpolate(..., mode="bilinear")``: a ``Merge`` of op
``resize`` of the head against the input, the row ``interpolate``. DeepLabV3's ASPP pooling branch is
resized the same way against its own input (row ``classifier.0.convs.4.interpolate``); its five
branches are concatenated in the row ``classifier.0.convs``.
"""

from __future__ import annotations

from ..graph import Concat, Merge, Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, ReLU, Sigmoid
from .mobilenet import V3_LARGE, mobilenet_v3_large
from .resnet import bottleneck, resnet_features


def _resized_to_input(network, name="interpolate"):
    """``F.interpolate(network(x), size=x.shape[-2:], mode="bilinear")``."""
    return Merge(dict(_net=network, _size=Sequential()), op="resize", mode="bilinear", merge_name=name)


def fcn_head(in_channels, channels):
    inter = in_channels // 4
    return Sequential(Conv2d(in_channels, inter, 3, padding=1, bias=False), BatchNorm2d(inter), ReLU(),
                      Dropout(0.1), Conv2d(inter, channels, 1))


def _conv_bn_relu(cin, cout, kernel_size=1, dilation=1):
    return [Conv2d(cin, cout, kernel_size, padding=dilation if kernel_size == 3 else 0, dilation=dilation, bias=False),
            BatchNorm2d(cout), ReLU()]


def aspp(in_channels, atrous_rates, out_channels=256):
    """A 1x1 branch, one 3x3 branch per atrous rate and a pooling branch (resized back), concatenated and
    projected."""
    convs = [Sequential(*_conv_bn_relu(in_channels, out_channels))]
    convs += [Sequential(*_conv_bn_relu(in_channels, out_channels, 3, rate)) for rate in atrous_rates]
    convs.append(_resized_to_input(Sequential(AdaptiveAvgPool2d(1), *_conv_bn_relu(in_channels, out_channels))))
    project = Sequential(*_conv_bn_relu(len(convs) * out_channels, out_channels), Dropout(0.5))
    return Sequential(dict(convs=Concat(dict((str(i), conv) for i, conv in enumerate(convs))), project=project))


def deeplab_head(in_channels, num_classes, atrous_rates=(12, 24, 36)):
    return Sequential(aspp(in_channels, atrous_rates), *_conv_bn_relu(256, 256, 3), Conv2d(256, num_classes, 1))


def _resnet_backbone(depths, in_channels):
    layers, channels = resnet_features(bottleneck, depths, in_channels, replace_stride_with_dilation=(False, True, True))
    return Sequential(layers), channels


def _simple(backbone, classifier):
    return _resized_to_input(Sequential(dict(backbone=backbone, classifier=classifier)))


def _fcn_resnet(depths, num_classes, in_channels):
    backbone, channels = _resnet_backbone(depths, in_channels)
    return _simple(backbone, fcn_head(channels, num_classes))


def _deeplabv3_resnet(depths, num_classes, in_channels):
    backbone, channels = _resnet_backbone(depths, in_channels)
    return _simple(backbone, deeplab_head(channels, num_classes))


def fcn_resnet50(*, num_classes=21, in_channels=3):
    """torchvision's FCN-ResNet50 (aux_loss=False): 32,957,013 params, 142.7 GMACs at 520x520."""
    return _fcn_resnet((3, 4, 6, 3), num_classes, in_channels)


def fcn_resnet101(*, num_classes=21, in_channels=3):
    """torchvision's FCN-ResNet101 (aux_loss=False): 51,949,141 params, 222.7 GMACs at 520x520."""
    return _fcn_resnet((3, 4, 23, 3), num_classes, in_channels)


def deeplabv3_resnet50(*, num_classes=21, in_channels=3):
    """torchvision's DeepLabV3-ResNet50 (aux_loss=False): 39,638,869 params, 168.7 GMACs at 520x520."""
    return _deeplabv3_resnet((3, 4, 6, 3), num_classes, in_channels)


def deeplabv3_resnet101(*, num_classes=21, in_channels=3):
    """torchvision's DeepLabV3-ResNet101 (aux_loss=False): 58,630,997 params, 248.8 GMACs at 520x520."""
    return _deeplabv3_resnet((3, 4, 23, 3), num_classes, in_channels)


def _mobilenet_v3_features(in_channels):
    """MobileNetV3-Large's features (``features.0`` .. ``features.16``) with its last stage dilated."""
    return mobilenet_v3_large(in_channels=in_channels, dilated=True)["features"]


# torchvision's stage_indices: the stem, each downsampling bottleneck (features.i is V3_LARGE[i - 1]), the
# last convolution. The high-level features are the last (C5: 960 channels, output stride 16 once
# dilated), the low-level ones the fourth from the end (C2: features.4, 40 channels, output stride 8).
STAGE_INDICES = [0] + [i for i, row in enumerate(V3_LARGE, start=1) if row[6] > 1] + [len(V3_LARGE) + 1]
LOW, LOW_CHANNELS, HIGH_CHANNELS = STAGE_INDICES[-4], V3_LARGE[STAGE_INDICES[-4] - 1][3], 6 * V3_LARGE[-1][3]


def deeplabv3_mobilenet_v3_large(*, num_classes=21, in_channels=3):
    """torchvision's DeepLabV3-MobileNetV3-Large (aux_loss=False): 11,025,477 params, 10.44 GMACs at 520x520."""
    features = _mobilenet_v3_features(in_channels)
    return _simple(features, deeplab_head(HIGH_CHANNELS, num_classes))


def lraspp_mobilenet_v3_large(*, num_classes=21, in_channels=3, inter_channels=128):
    """torchvision's LR-ASPP-MobileNetV3-Large: 3,221,538 params, 2.09 GMACs at 520x520.

    The head reads the low-level features (``backbone.4``, 40 channels) and the last ones (960):
    ``low_classifier(low) + high_classifier(interpolate(cbr(high) * scale(high), low's size))``. Here the
    sum's two branches run one after the other, so ``high_classifier``'s row comes before
    ``low_classifier``'s (torchvision calls ``low_classifier`` first); the numbers are the same.
    """
    features = _mobilenet_v3_features(in_channels)
    names = [name for name, _ in features.named_children()]
    low = Sequential(dict((name, features[name]) for name in names[:LOW + 1]))
    high = Sequential(dict((name, features[name]) for name in names[LOW + 1:]))
    cbr = Sequential(Conv2d(HIGH_CHANNELS, inter_channels, 1, bias=False), BatchNorm2d(inter_channels), ReLU(inplace=True))
    scale = Sequential(AdaptiveAvgPool2d(1), Conv2d(HIGH_CHANNELS, inter_channels, 1, bias=False), Sigmoid())
    gated = Sequential(dict(backbone=high, classifier=Merge(dict(cbr=cbr, scale=scale), op="mul", merge_name="mul")))
    to_low = Merge(dict(_x=gated, _low=Sequential()), op="resize", mode="bilinear", merge_name="classifier.interpolate")
    head = Merge(dict(
        _high=Sequential(dict(_x=to_low, classifier=Sequential(dict(high_classifier=Conv2d(inter_channels, num_classes, 1))))),
        classifier=Sequential(dict(low_classifier=Conv2d(LOW_CHANNELS, num_classes, 1))),
    ), op="add", merge_name="classifier.add")
    return _resized_to_input(Sequential(dict(backbone=low, _head=head)))
