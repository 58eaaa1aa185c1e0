"""Video classification on (C, T, H, W) clips, layer for layer as torchvision.models.video: the 18-layer
video ResNets of Tran et al. 2018 (R3D: 3x3x3 convolutions; MC3: 3x3x3 in the first stage, 1x3x3 after;
R(2+1)D: every 3x3x3 factorised into a 1x3x3 spatial and a 3x1x1 temporal convolution) and S3D (Xie et
al. 2018: separable 3-D Inception).

torchvision's R3D and MC3 convolutions are its own Conv3d subclasses ``Conv3DSimple`` and
``Conv3DNoTemporal``, and their rows carry those names. S3D ends with ``torch.mean(x, dim=(2, 3, 4))``:
the row ``mean``.
"""

from __future__ import annotations

from ..graph import Concat, Residual, Sequential
from ..layers import (
    AdaptiveAvgPool3d,
    AvgPool3d,
    BatchNorm3d,
    Conv3d,
    Conv3DNoTemporal,
    Conv3DSimple,
    Dropout,
    Flatten,
    Linear,
    MaxPool3d,
    Reduce,
    ReLU,
)


def conv2plus1d(in_planes, out_planes, midplanes, stride=1, padding=1):
    """torchvision's Conv2Plus1D: 1x3x3 to ``midplanes`` (spatial stride), BN, ReLU, 3x1x1 (temporal stride)."""
    return Sequential(
        Conv3d(in_planes, midplanes, (1, 3, 3), (1, stride, stride), (0, padding, padding), bias=False),
        BatchNorm3d(midplanes),
        ReLU(inplace=True),
        Conv3d(midplanes, out_planes, (3, 1, 1), (stride, 1, 1), (padding, 0, 0), bias=False),
    )


# conv builders: the layer and the stride of its stage's 1x1x1 projection
CONV_MAKERS = {
    "simple": (Conv3DSimple.of, lambda s: (s, s, s)),
    "no_temporal": (Conv3DNoTemporal.of, lambda s: (1, s, s)),
    "2plus1d": (conv2plus1d, lambda s: (s, s, s)),
}


def basic_block(inplanes, planes, conv_maker, stride=1):
    """Two convolutions (each with BatchNorm3d, the first with ReLU), added to the input or its projection."""
    build, downsample_stride = CONV_MAKERS[conv_maker]
    midplanes = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
    main = Sequential(dict(
        conv1=Sequential(build(inplanes, planes, midplanes, stride), BatchNorm3d(planes), ReLU(inplace=True)),
        conv2=Sequential(build(planes, planes, midplanes), BatchNorm3d(planes)),
    ))
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = Sequential(Conv3d(inplanes, planes, 1, stride=downsample_stride(stride), bias=False), BatchNorm3d(planes))
    return Residual(main, downsample, ReLU(inplace=True), shortcut_name="downsample", post_name="relu")


def basic_stem(in_channels):
    return Sequential(Conv3d(in_channels, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), BatchNorm3d(64), ReLU(inplace=True))


def r2plus1d_stem(in_channels):
    return Sequential(
        Conv3d(in_channels, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False), BatchNorm3d(45), ReLU(inplace=True),
        Conv3d(45, 64, (3, 1, 1), (1, 1, 1), (1, 0, 0), bias=False), BatchNorm3d(64), ReLU(inplace=True),
    )


def _video_resnet(conv_makers, stem, num_classes, in_channels, layers=(2, 2, 2, 2)):
    network, inplanes = dict(stem=stem(in_channels)), 64
    for i, (planes, blocks, maker) in enumerate(zip((64, 128, 256, 512), layers, conv_makers), start=1):
        stride = 1 if i == 1 else 2
        network[f"layer{i}"] = Sequential(basic_block(inplanes, planes, maker, stride),
                                          *(basic_block(planes, planes, maker) for _ in range(1, blocks)))
        inplanes = planes
    network.update(avgpool=AdaptiveAvgPool3d((1, 1, 1)), flatten=Flatten(), fc=Linear(512, num_classes))
    return Sequential(network)


def r3d_18(*, num_classes=400, in_channels=3):
    """torchvision's R3D-18: 33,371,472 params, 40.70 GMACs on 16 frames of 112x112."""
    return _video_resnet(["simple"] * 4, basic_stem, num_classes, in_channels)


def mc3_18(*, num_classes=400, in_channels=3):
    """torchvision's MC3-18 (3-D convolutions in the first stage only): 11,695,440 params, 43.34 GMACs."""
    return _video_resnet(["simple"] + ["no_temporal"] * 3, basic_stem, num_classes, in_channels)


def r2plus1d_18(*, num_classes=400, in_channels=3):
    """torchvision's R(2+1)D-18: 31,505,325 params, 40.52 GMACs on 16 frames of 112x112."""
    return _video_resnet(["2plus1d"] * 4, r2plus1d_stem, num_classes, in_channels)


# --- S3D -------------------------------------------------------------------------------------------


def conv3d_bn_relu(in_planes, out_planes, kernel_size=1, stride=1, padding=None):
    """torchvision's Conv3dNormActivation with S3D's BatchNorm3d (eps 0.001, momentum 0.001)."""
    if padding is None:
        padding = tuple((k - 1) // 2 for k in kernel_size) if isinstance(kernel_size, tuple) else (kernel_size - 1) // 2
    return Sequential(Conv3d(in_planes, out_planes, kernel_size, stride, padding, bias=False),
                      BatchNorm3d(out_planes, eps=0.001, momentum=0.001), ReLU(inplace=True))


def temporal_separable_conv(in_planes, out_planes, kernel_size, stride, padding):
    """1 x k x k (spatial stride) then k x 1 x 1 (temporal stride), each with BatchNorm3d and ReLU."""
    return Sequential(
        conv3d_bn_relu(in_planes, out_planes, (1, kernel_size, kernel_size), (1, stride, stride), (0, padding, padding)),
        conv3d_bn_relu(out_planes, out_planes, (kernel_size, 1, 1), (stride, 1, 1), (padding, 0, 0)),
    )


def sep_inception_block_3d(in_planes, b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out):
    return Concat(dict(
        branch0=conv3d_bn_relu(in_planes, b0_out),
        branch1=Sequential(conv3d_bn_relu(in_planes, b1_mid), temporal_separable_conv(b1_mid, b1_out, 3, 1, 1)),
        branch2=Sequential(conv3d_bn_relu(in_planes, b2_mid), temporal_separable_conv(b2_mid, b2_out, 3, 1, 1)),
        branch3=Sequential(MaxPool3d((3, 3, 3), stride=1, padding=1), conv3d_bn_relu(in_planes, b3_out)),
    ))


def s3d(*, num_classes=400, in_channels=3, dropout=0.2):
    """torchvision's S3D: 8,320,048 params, 17.98 GMACs on 16 frames of 224x224."""
    features = Sequential(
        temporal_separable_conv(in_channels, 64, 7, 2, 3),
        MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        conv3d_bn_relu(64, 64),
        temporal_separable_conv(64, 192, 3, 1, 1),
        MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        sep_inception_block_3d(192, 64, 96, 128, 16, 32, 32),
        sep_inception_block_3d(256, 128, 128, 192, 32, 96, 64),
        MaxPool3d((3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1)),
        sep_inception_block_3d(480, 192, 96, 208, 16, 48, 64),
        sep_inception_block_3d(512, 160, 112, 224, 24, 64, 64),
        sep_inception_block_3d(512, 128, 128, 256, 24, 64, 64),
        sep_inception_block_3d(512, 112, 144, 288, 32, 64, 64),
        sep_inception_block_3d(528, 256, 160, 320, 32, 128, 128),
        MaxPool3d((2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)),
        sep_inception_block_3d(832, 256, 160, 320, 32, 128, 128),
        sep_inception_block_3d(832, 384, 192, 384, 48, 128, 128),
    )
    return Sequential(dict(
        features=features,
        avgpool=AvgPool3d((2, 7, 7), stride=1),
        classifier=Sequential(Dropout(dropout), Conv3d(1024, num_classes, 1, stride=1, bias=True)),
        mean=Reduce("mean", (2, 3, 4)),
    ))
