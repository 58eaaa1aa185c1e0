"""Inception v3 (Szegedy et al. 2015), layer for layer as torchvision.models.inception_v3.

Built as torchvision builds it with aux_logits=False and transform_input=False (the auxiliary
classifier runs only in training mode). A BasicConv2d is conv (no bias) + BatchNorm (eps 0.001) +
F.relu, as in GoogLeNet. The pooling branches call F.avg_pool2d / F.max_pool2d: rows ``avg_pool2d`` and
``max_pool2d``. InceptionE concatenates its 1x3 and 3x1 halves first: rows ``branch3x3`` and
``branch3x3dbl``; each module's final concatenation is the row named after the module.
"""

from __future__ import annotations

from ..graph import Concat, Sequential
from ..layers import AdaptiveAvgPool2d, AvgPool2d, Dropout, Flatten, Linear, MaxPool2d
from .googlenet import basic_conv2d


def _chain(**convs):
    return Sequential(convs)


def _avg_pool_branch(in_channels, pool_features):
    return Sequential(dict(avg_pool2d=AvgPool2d(kernel_size=3, stride=1, padding=1),
                           branch_pool=basic_conv2d(in_channels, pool_features, kernel_size=1)))


def _split(first, a, b, name):
    """``first`` then its output through ``a`` and ``b`` side by side, concatenated (InceptionE)."""
    return Sequential(dict(**first, _halves=Concat(dict(a, **b), merge_name=name)))


def inception_a(in_channels, pool_features):
    return Concat(dict(
        branch1x1=basic_conv2d(in_channels, 64, kernel_size=1),
        _5x5=_chain(branch5x5_1=basic_conv2d(in_channels, 48, kernel_size=1),
                    branch5x5_2=basic_conv2d(48, 64, kernel_size=5, padding=2)),
        _3x3dbl=_chain(branch3x3dbl_1=basic_conv2d(in_channels, 64, kernel_size=1),
                       branch3x3dbl_2=basic_conv2d(64, 96, kernel_size=3, padding=1),
                       branch3x3dbl_3=basic_conv2d(96, 96, kernel_size=3, padding=1)),
        _pool=_avg_pool_branch(in_channels, pool_features),
    ))


def inception_b(in_channels):
    return Concat(dict(
        branch3x3=basic_conv2d(in_channels, 384, kernel_size=3, stride=2),
        _3x3dbl=_chain(branch3x3dbl_1=basic_conv2d(in_channels, 64, kernel_size=1),
                       branch3x3dbl_2=basic_conv2d(64, 96, kernel_size=3, padding=1),
                       branch3x3dbl_3=basic_conv2d(96, 96, kernel_size=3, stride=2)),
        max_pool2d=MaxPool2d(kernel_size=3, stride=2),
    ))


def inception_c(in_channels, channels_7x7):
    c7 = channels_7x7
    return Concat(dict(
        branch1x1=basic_conv2d(in_channels, 192, kernel_size=1),
        _7x7=_chain(branch7x7_1=basic_conv2d(in_channels, c7, kernel_size=1),
                    branch7x7_2=basic_conv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3)),
                    branch7x7_3=basic_conv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))),
        _7x7dbl=_chain(branch7x7dbl_1=basic_conv2d(in_channels, c7, kernel_size=1),
                       branch7x7dbl_2=basic_conv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0)),
                       branch7x7dbl_3=basic_conv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3)),
                       branch7x7dbl_4=basic_conv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0)),
                       branch7x7dbl_5=basic_conv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))),
        _pool=_avg_pool_branch(in_channels, 192),
    ))


def inception_d(in_channels):
    return Concat(dict(
        _3x3=_chain(branch3x3_1=basic_conv2d(in_channels, 192, kernel_size=1),
                    branch3x3_2=basic_conv2d(192, 320, kernel_size=3, stride=2)),
        _7x7x3=_chain(branch7x7x3_1=basic_conv2d(in_channels, 192, kernel_size=1),
                      branch7x7x3_2=basic_conv2d(192, 192, kernel_size=(1, 7), padding=(0, 3)),
                      branch7x7x3_3=basic_conv2d(192, 192, kernel_size=(7, 1), padding=(3, 0)),
                      branch7x7x3_4=basic_conv2d(192, 192, kernel_size=3, stride=2)),
        max_pool2d=MaxPool2d(kernel_size=3, stride=2),
    ))


def inception_e(in_channels):
    return Concat(dict(
        branch1x1=basic_conv2d(in_channels, 320, kernel_size=1),
        _3x3=_split(dict(branch3x3_1=basic_conv2d(in_channels, 384, kernel_size=1)),
                    dict(branch3x3_2a=basic_conv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))),
                    dict(branch3x3_2b=basic_conv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))), "branch3x3"),
        _3x3dbl=_split(dict(branch3x3dbl_1=basic_conv2d(in_channels, 448, kernel_size=1),
                            branch3x3dbl_2=basic_conv2d(448, 384, kernel_size=3, padding=1)),
                       dict(branch3x3dbl_3a=basic_conv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))),
                       dict(branch3x3dbl_3b=basic_conv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))),
                       "branch3x3dbl"),
        _pool=_avg_pool_branch(in_channels, 192),
    ))


def inception_v3(*, num_classes=1000, in_channels=3, dropout=0.5):
    """torchvision's Inception v3 (aux_logits=False): 23,834,568 params, 5.71 GMACs at 299x299."""
    return Sequential(dict(
        Conv2d_1a_3x3=basic_conv2d(in_channels, 32, kernel_size=3, stride=2),
        Conv2d_2a_3x3=basic_conv2d(32, 32, kernel_size=3),
        Conv2d_2b_3x3=basic_conv2d(32, 64, kernel_size=3, padding=1),
        maxpool1=MaxPool2d(kernel_size=3, stride=2),
        Conv2d_3b_1x1=basic_conv2d(64, 80, kernel_size=1),
        Conv2d_4a_3x3=basic_conv2d(80, 192, kernel_size=3),
        maxpool2=MaxPool2d(kernel_size=3, stride=2),
        Mixed_5b=inception_a(192, pool_features=32),
        Mixed_5c=inception_a(256, pool_features=64),
        Mixed_5d=inception_a(288, pool_features=64),
        Mixed_6a=inception_b(288),
        Mixed_6b=inception_c(768, channels_7x7=128),
        Mixed_6c=inception_c(768, channels_7x7=160),
        Mixed_6d=inception_c(768, channels_7x7=160),
        Mixed_6e=inception_c(768, channels_7x7=192),
        Mixed_7a=inception_d(768),
        Mixed_7b=inception_e(1280),
        Mixed_7c=inception_e(2048),
        avgpool=AdaptiveAvgPool2d((1, 1)),
        dropout=Dropout(dropout),
        flatten=Flatten(),
        fc=Linear(2048, num_classes),
    ))
