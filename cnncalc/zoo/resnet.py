"""ResNet (He et al. 2015), ResNeXt (Xie et al. 2016) and Wide ResNet (Zagoruyko & Komodakis 2016), layer
for layer as torchvision.models.resnet (v1.5: stride on the 3x3).

ResNeXt's bottleneck is ResNet's with a grouped 3x3 (``groups`` paths of ``width_per_group`` channels
each, per 64 planes); Wide ResNet's doubles the bottleneck's width (``width_per_group`` 128).
``replace_stride_with_dilation`` turns the stride of stages 2-4 into dilation, as the segmentation
backbones use it (output stride 8).

A block is ``Residual(main, downsample, ReLU())``: the main path's layers read ``layer1.0.conv1``,
the projection shortcut ``layer1.0.downsample.0``, the addition is the row ``layer1.0`` and the
final activation ``layer1.0.relu`` (torchvision calls the block's one ReLU module again there).
"""

from __future__ import annotations

from ..errors import ShapeError
from ..graph import Residual, Sequential
from ..layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, dilation=dilation,
                  groups=groups, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _block(main, inplanes, planes, stride, project):
    """Close a main path into a residual block, with a 1x1 projection when the stage's first block asks."""
    downsample = None
    if project:
        downsample = Sequential(conv1x1(inplanes, planes, stride), BatchNorm2d(planes))
    return Residual(main, downsample, ReLU(inplace=True), shortcut_name="downsample", post_name="relu")


def basic_block(inplanes, planes, stride=1, project=False, groups=1, base_width=64, dilation=1):
    """Two 3x3 convolutions (expansion 1)."""
    if groups != 1 or base_width != 64:
        raise ShapeError("BasicBlock only supports groups=1 and base_width=64")
    if dilation > 1:
        raise ShapeError("Dilation > 1 not supported in BasicBlock")
    main = Sequential(
        dict(
            conv1=conv3x3(inplanes, planes, stride), bn1=BatchNorm2d(planes), relu=ReLU(inplace=True),
            conv2=conv3x3(planes, planes), bn2=BatchNorm2d(planes),
        )
    )
    return _block(main, inplanes, planes, stride, project)


def bottleneck(inplanes, planes, stride=1, project=False, groups=1, base_width=64, dilation=1):
    """1x1 reduce to ``width``, 3x3 (carrying the stride, grouped, dilated), 1x1 expand to 4 * planes."""
    out = planes * bottleneck.expansion
    width = int(planes * (base_width / 64.0)) * groups
    # torchvision calls the block's one ReLU after bn1, bn2 and the addition, so the name repeats:
    # hidden ("_") sub-sequentials let each stage have its own child called "relu".
    main = Sequential(
        dict(
            _reduce=Sequential(dict(conv1=conv1x1(inplanes, width), bn1=BatchNorm2d(width), relu=ReLU(inplace=True))),
            _spatial=Sequential(dict(conv2=conv3x3(width, width, stride, groups, dilation), bn2=BatchNorm2d(width),
                                     relu=ReLU(inplace=True))),
            _expand=Sequential(dict(conv3=conv1x1(width, out), bn3=BatchNorm2d(out))),
        )
    )
    return _block(main, inplanes, out, stride, project)


basic_block.expansion = 1  # type: ignore[attr-defined]
bottleneck.expansion = 4  # type: ignore[attr-defined]


def _make_layer(block, inplanes, planes, blocks, stride=1, groups=1, base_width=64, dilation=1, dilate=False):
    """A stage: the first block may stride (or, with ``dilate``, dilate the later blocks instead) and
    project, the others keep the shape. Returns the stage, its output channels and the dilation reached."""
    previous_dilation = dilation
    if dilate:
        dilation, stride = dilation * stride, 1
    out = planes * block.expansion
    layers = [block(inplanes, planes, stride, stride != 1 or inplanes != out, groups, base_width, previous_dilation)]
    layers += [block(out, planes, 1, False, groups, base_width, dilation) for _ in range(1, blocks)]
    return Sequential(*layers), out, dilation


def _dilations(replace_stride_with_dilation):
    if replace_stride_with_dilation is None:
        return (False, False, False)
    if not isinstance(replace_stride_with_dilation, (list, tuple)) or len(replace_stride_with_dilation) != 3:
        raise ShapeError("replace_stride_with_dilation should be None or a 3-element tuple, "
                         f"got {replace_stride_with_dilation!r}")
    return tuple(bool(d) for d in replace_stride_with_dilation)


def resnet_features(block, depths, in_channels=3, groups=1, width_per_group=64, replace_stride_with_dilation=None):
    """The stem and the four stages as a dict of torchvision's names, and the channels they end with."""
    dilate = (False,) + _dilations(replace_stride_with_dilation)
    layers = dict(
        conv1=Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False),
        bn1=BatchNorm2d(64),
        relu=ReLU(inplace=True),
        maxpool=MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    inplanes, dilation = 64, 1
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), depths), start=1):
        layers[f"layer{i}"], inplanes, dilation = _make_layer(
            block, inplanes, planes, blocks, 1 if i == 1 else 2, groups, width_per_group, dilation, dilate[i - 1])
    return layers, inplanes


def _resnet(block, depths, num_classes, in_channels, groups=1, width_per_group=64, replace_stride_with_dilation=None):
    layers, channels = resnet_features(block, depths, in_channels, groups, width_per_group, replace_stride_with_dilation)
    head = dict(avgpool=AdaptiveAvgPool2d((1, 1)), flatten=Flatten(), fc=Linear(channels, num_classes))
    return Sequential({**layers, **head})


def _builder(name, block, depths, groups=1, width_per_group=64, what=None):
    def build(*, num_classes=1000, in_channels=3, replace_stride_with_dilation=None):
        return _resnet(block, depths, num_classes, in_channels, groups, width_per_group, replace_stride_with_dilation)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name}: {what or block.__name__ + 's'} {list(depths)}, torchvision layout."
    return build


resnet18 = _builder("resnet18", basic_block, (2, 2, 2, 2))
resnet34 = _builder("resnet34", basic_block, (3, 4, 6, 3))
resnet50 = _builder("resnet50", bottleneck, (3, 4, 6, 3))
resnet101 = _builder("resnet101", bottleneck, (3, 4, 23, 3))
resnet152 = _builder("resnet152", bottleneck, (3, 8, 36, 3))
resnext50_32x4d = _builder("resnext50_32x4d", bottleneck, (3, 4, 6, 3), 32, 4, "bottlenecks with 32 groups of 4 channels")
resnext101_32x8d = _builder("resnext101_32x8d", bottleneck, (3, 4, 23, 3), 32, 8, "bottlenecks with 32 groups of 8 channels")
resnext101_64x4d = _builder("resnext101_64x4d", bottleneck, (3, 4, 23, 3), 64, 4, "bottlenecks with 64 groups of 4 channels")
wide_resnet50_2 = _builder("wide_resnet50_2", bottleneck, (3, 4, 6, 3), 1, 128, "bottlenecks twice as wide")
wide_resnet101_2 = _builder("wide_resnet101_2", bottleneck, (3, 4, 23, 3), 1, 128, "bottlenecks twice as wide")
