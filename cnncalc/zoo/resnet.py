"""ResNet (He et al. 2015), layer for layer as torchvision.models.resnet (v1.5: stride on the 3x3).

A block is ``Residual(main, downsample, ReLU())``: the main path's layers read ``layer1.0.conv1``,
the projection shortcut ``layer1.0.downsample.0``, the addition is the row ``layer1.0`` and the
final activation ``layer1.0.relu`` (torchvision calls the block's one ReLU module again there).
"""

from __future__ import annotations

from ..graph import Residual, Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU


def conv3x3(in_planes, out_planes, stride=1):
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _block(main, inplanes, planes, stride):
    """Close a main path into a residual block, with a 1x1 projection when the shape changes."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = Sequential(conv1x1(inplanes, planes, stride), BatchNorm2d(planes))
    return Residual(main, downsample, ReLU(inplace=True), shortcut_name="downsample", post_name="relu")


def basic_block(inplanes, planes, stride=1):
    """Two 3x3 convolutions (expansion 1)."""
    main = Sequential(
        dict(
            conv1=conv3x3(inplanes, planes, stride), bn1=BatchNorm2d(planes), relu=ReLU(inplace=True),
            conv2=conv3x3(planes, planes), bn2=BatchNorm2d(planes),
        )
    )
    return _block(main, inplanes, planes, stride)


def bottleneck(inplanes, planes, stride=1):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand to 4 * planes."""
    out = planes * bottleneck.expansion
    # torchvision calls the block's one ReLU after bn1, bn2 and the addition, so the name repeats:
    # hidden ("_") sub-sequentials let each stage have its own child called "relu".
    main = Sequential(
        dict(
            _reduce=Sequential(dict(conv1=conv1x1(inplanes, planes), bn1=BatchNorm2d(planes), relu=ReLU(inplace=True))),
            _spatial=Sequential(dict(conv2=conv3x3(planes, planes, stride), bn2=BatchNorm2d(planes), relu=ReLU(inplace=True))),
            _expand=Sequential(dict(conv3=conv1x1(planes, out), bn3=BatchNorm2d(out))),
        )
    )
    return _block(main, inplanes, out, stride)


basic_block.expansion = 1  # type: ignore[attr-defined]
bottleneck.expansion = 4  # type: ignore[attr-defined]


def _make_layer(block, inplanes, planes, blocks, stride=1):
    """A stage: the first block may stride and project, the others keep the shape."""
    layers = [block(inplanes, planes, stride)]
    inplanes = planes * block.expansion
    layers += [block(inplanes, planes) for _ in range(1, blocks)]
    return Sequential(*layers), inplanes


def _resnet(block, depths, num_classes, in_channels):
    stem = dict(
        conv1=Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False),
        bn1=BatchNorm2d(64),
        relu=ReLU(inplace=True),
        maxpool=MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    stages = {}
    inplanes = 64
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), depths), start=1):
        stages[f"layer{i}"], inplanes = _make_layer(block, inplanes, planes, blocks, stride=1 if i == 1 else 2)
    head = dict(avgpool=AdaptiveAvgPool2d((1, 1)), flatten=Flatten(), fc=Linear(inplanes, num_classes))
    return Sequential({**stem, **stages, **head})


def _builder(name, block, depths):
    def build(*, num_classes=1000, in_channels=3):
        return _resnet(block, depths, num_classes, in_channels)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name}: {block.__name__}s {list(depths)}, torchvision layout."
    return build


resnet18 = _builder("resnet18", basic_block, (2, 2, 2, 2))
resnet34 = _builder("resnet34", basic_block, (3, 4, 6, 3))
resnet50 = _builder("resnet50", bottleneck, (3, 4, 6, 3))
resnet101 = _builder("resnet101", bottleneck, (3, 4, 23, 3))
resnet152 = _builder("resnet152", bottleneck, (3, 8, 36, 3))
