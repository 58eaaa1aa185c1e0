"""ShuffleNet V2 (Ma et al. 2018), layer for layer as torchvision.models.shufflenetv2.

A stride-1 unit splits the channels in two (``x.chunk(2, dim=1)``: the rows ``x1`` and ``x2``, each an
``Index`` of half the channels), sends the second half through ``branch2`` and concatenates it with
the first (the row named after the unit); a stride-2 unit concatenates ``branch1`` and ``branch2`` of
the whole input. Both end with the channel shuffle over 2 groups (row ``channel_shuffle``).
"""

from __future__ import annotations

from ..graph import Concat, Sequential
from ..layers import BatchNorm2d, ChannelShuffle, Conv2d, Index, Linear, MaxPool2d, Reduce, ReLU

STAGES_REPEATS = (4, 8, 4)


def _depthwise(channels, stride):
    return Conv2d(channels, channels, 3, stride, 1, bias=False, groups=channels)


def _pointwise_bn_relu(cin, cout):
    return [Conv2d(cin, cout, kernel_size=1, stride=1, padding=0, bias=False), BatchNorm2d(cout), ReLU(inplace=True)]


def inverted_residual(inp, oup, stride):
    """The ShuffleNet V2 unit: split (stride 1) or two branches (stride 2), concatenation, channel shuffle."""
    branch_features = oup // 2
    branch2 = Sequential(
        *_pointwise_bn_relu(inp if stride > 1 else branch_features, branch_features),
        _depthwise(branch_features, stride), BatchNorm2d(branch_features),
        *_pointwise_bn_relu(branch_features, branch_features),
    )
    if stride > 1:
        branch1 = Sequential(_depthwise(inp, stride), BatchNorm2d(inp), *_pointwise_bn_relu(inp, branch_features))
        joined = Concat(dict(branch1=branch1, branch2=branch2))
    else:
        half = -(-inp // 2)  # x.chunk(2, dim=1): the first chunk takes ceil(C / 2) channels
        joined = Concat(dict(
            x1=Index.of((slice(None), slice(None, half))),
            _second=Sequential(dict(x2=Index.of((slice(None), slice(half, None))), branch2=branch2)),
        ))
    return Sequential(dict(_unit=joined, channel_shuffle=ChannelShuffle(2)))


def _shufflenet_v2(stages_out_channels, num_classes, in_channels):
    layers = dict(
        conv1=Sequential(Conv2d(in_channels, stages_out_channels[0], 3, 2, 1, bias=False),
                         BatchNorm2d(stages_out_channels[0]), ReLU(inplace=True)),
        maxpool=MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    channels = stages_out_channels[0]
    for i, (repeats, out) in enumerate(zip(STAGES_REPEATS, stages_out_channels[1:]), start=2):
        layers[f"stage{i}"] = Sequential(inverted_residual(channels, out, 2),
                                         *(inverted_residual(out, out, 1) for _ in range(repeats - 1)))
        channels = out
    last = stages_out_channels[-1]
    layers.update(
        conv5=Sequential(*_pointwise_bn_relu(channels, last)),
        mean=Reduce("mean", (2, 3)),  # torchvision's forward: x.mean([2, 3])
        fc=Linear(last, num_classes),
    )
    return Sequential(layers)


def _builder(name, stages_out_channels, summary):
    def build(*, num_classes=1000, in_channels=3):
        return _shufflenet_v2(stages_out_channels, num_classes, in_channels)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"torchvision's {name}, stage widths {list(stages_out_channels)}: {summary}."
    return build


shufflenet_v2_x0_5 = _builder("shufflenet_v2_x0_5", (24, 48, 96, 192, 1024), "1,366,792 params, 0.040 GMACs at 224x224")
shufflenet_v2_x1_0 = _builder("shufflenet_v2_x1_0", (24, 116, 232, 464, 1024), "2,278,604 params, 0.145 GMACs at 224x224")
shufflenet_v2_x1_5 = _builder("shufflenet_v2_x1_5", (24, 176, 352, 704, 1024), "3,503,624 params, 0.296 GMACs at 224x224")
shufflenet_v2_x2_0 = _builder("shufflenet_v2_x2_0", (24, 244, 488, 976, 2048), "7,393,996 params, 0.583 GMACs at 224x224")
