"""MNASNet (Tan et al. 2018, the B1 variant), layer for layer as torchvision.models.mnasnet.

Every width is scaled by ``alpha`` and rounded to a multiple of 8 (up, unless that adds more than 10%);
torchvision's forward averages the last feature map with ``x.mean([2, 3])``, a row ``mean`` here.
"""

from __future__ import annotations

from ..graph import Residual, Sequential
from ..layers import BatchNorm2d, Conv2d, Dropout, Linear, Reduce, ReLU

BN_MOMENTUM = 1 - 0.9997
DEPTHS = [32, 16, 24, 40, 80, 96, 192, 320]
# the inverted-residual stacks: kernel, first stride, expansion, repeats (input/output widths from DEPTHS)
STACKS = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]


def round_to_multiple_of(val, divisor, round_up_bias=0.9):
    """torchvision's asymmetric rounding: to the nearest multiple, up when the nearest is >10% below."""
    new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
    return new_val if new_val >= round_up_bias * val else new_val + divisor


def _bn(channels):
    return BatchNorm2d(channels, momentum=BN_MOMENTUM)


def inverted_residual(in_ch, out_ch, kernel_size, stride, expansion_factor):
    """1x1 expand - k x k depthwise (carrying the stride) - 1x1 linear projection, with a skip when the
    shapes allow."""
    mid = in_ch * expansion_factor
    layers = Sequential(
        Conv2d(in_ch, mid, 1, bias=False), _bn(mid), ReLU(inplace=True),
        Conv2d(mid, mid, kernel_size, padding=kernel_size // 2, stride=stride, groups=mid, bias=False), _bn(mid),
        ReLU(inplace=True),
        Conv2d(mid, out_ch, 1, bias=False), _bn(out_ch),
    )
    block = Sequential(dict(layers=layers))
    return Residual(block) if in_ch == out_ch and stride == 1 else block


def _stack(in_ch, out_ch, kernel_size, stride, exp_factor, repeats):
    return Sequential(inverted_residual(in_ch, out_ch, kernel_size, stride, exp_factor),
                      *(inverted_residual(out_ch, out_ch, kernel_size, 1, exp_factor) for _ in range(1, repeats)))


def _mnasnet(alpha, num_classes, in_channels, dropout):
    d = [round_to_multiple_of(depth * alpha, 8) for depth in DEPTHS]
    layers = [
        Conv2d(in_channels, d[0], 3, padding=1, stride=2, bias=False), _bn(d[0]), ReLU(inplace=True),
        Conv2d(d[0], d[0], 3, padding=1, stride=1, groups=d[0], bias=False), _bn(d[0]), ReLU(inplace=True),
        Conv2d(d[0], d[1], 1, padding=0, stride=1, bias=False), _bn(d[1]),
    ]
    layers += [_stack(d[i + 1], d[i + 2], *stack) for i, stack in enumerate(STACKS)]
    layers += [Conv2d(d[7], 1280, 1, padding=0, stride=1, bias=False), _bn(1280), ReLU(inplace=True)]
    return Sequential(dict(
        layers=Sequential(*layers),
        mean=Reduce("mean", (2, 3)),
        classifier=Sequential(Dropout(dropout, inplace=True), Linear(1280, num_classes)),
    ))


def _builder(name, alpha, summary):
    def build(*, num_classes=1000, in_channels=3, dropout=0.2):
        return _mnasnet(alpha, num_classes, in_channels, dropout)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"torchvision's MNASNet with depth multiplier {alpha}: {summary}."
    return build


mnasnet0_5 = _builder("mnasnet0_5", 0.5, "2,218,512 params, 0.104 GMACs at 224x224")
mnasnet0_75 = _builder("mnasnet0_75", 0.75, "3,170,208 params, 0.215 GMACs at 224x224")
mnasnet1_0 = _builder("mnasnet1_0", 1.0, "4,383,312 params, 0.314 GMACs at 224x224")
mnasnet1_3 = _builder("mnasnet1_3", 1.3, "6,282,256 params, 0.526 GMACs at 224x224")
