"""ConvNeXt (Liu et al. 2022), layer for layer as torchvision.models.convnext_*.

A block (torchvision's CNBlock) is ``Residual(block, layer_scale, stochastic_depth)``: a 7x7 depthwise
convolution, a permute to channels last, LayerNorm, Linear 4x, GELU, Linear back, a permute to channels
first; the result scaled per channel by the learned ``layer_scale`` (a (C, 1, 1) parameter), dropped by
stochastic depth while training, and added to the input.
"""

from __future__ import annotations

from ..graph import Residual, Sequential
from ..layers import (
    GELU,
    AdaptiveAvgPool2d,
    Conv2d,
    Flatten,
    LayerNorm,
    LayerNorm2d,
    Linear,
    ParameterOp,
    Permute,
    StochasticDepth,
)
from .variants import named

# Per stage: input channels, the next stage's channels (None: the last stage), blocks (the paper's Section 3).
STAGES = {
    "tiny": ((96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)),
    "small": ((96, 192, 3), (192, 384, 3), (384, 768, 27), (768, None, 3)),
    "base": ((128, 256, 3), (256, 512, 3), (512, 1024, 27), (1024, None, 3)),
    "large": ((192, 384, 3), (384, 768, 3), (768, 1536, 27), (1536, None, 3)),
}


def cn_block(dim, stochastic_depth_prob):
    """torchvision's CNBlock: layer_scale * block(x), through stochastic depth, plus x."""
    block = Sequential(
        Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim),
        Permute((0, 2, 3, 1)),
        LayerNorm(dim, eps=1e-6),
        Linear(dim, 4 * dim),
        GELU(),
        Linear(4 * dim, dim),
        Permute((0, 3, 1, 2)),
    )
    return Residual(Sequential(dict(
        block=block,
        layer_scale=ParameterOp("mul", (dim, 1, 1)),
        stochastic_depth=StochasticDepth(stochastic_depth_prob, "row"),
    )))


def _convnext(size, *, num_classes, in_channels, stochastic_depth_prob):
    stages = STAGES[size]
    total = sum(n for *_, n in stages)
    first = stages[0][0]
    # the stem: a 4x4 stride-4 "patchify" convolution and LayerNorm2d (Conv2dNormActivation without activation)
    features = [Sequential(Conv2d(in_channels, first, kernel_size=4, stride=4), LayerNorm2d(first, eps=1e-6))]
    block_id = 0
    for cin, cout, n in stages:
        stage = []
        for _ in range(n):
            stage.append(cn_block(cin, stochastic_depth_prob * block_id / (total - 1.0)))
            block_id += 1
        features.append(Sequential(*stage))
        if cout is not None:  # downsampling between stages
            features.append(Sequential(LayerNorm2d(cin, eps=1e-6), Conv2d(cin, cout, kernel_size=2, stride=2)))
    last = stages[-1][0]
    return Sequential(dict(
        features=Sequential(*features),
        avgpool=AdaptiveAvgPool2d(1),
        classifier=Sequential(LayerNorm2d(last, eps=1e-6), Flatten(1), Linear(last, num_classes)),
    ))


def _builder(size, default_sd, about):
    def build(*, num_classes=1000, in_channels=3, stochastic_depth_prob=default_sd):
        return _convnext(size, num_classes=num_classes, in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob)

    return named(build, f"convnext_{size}", f"torchvision's ConvNeXt-{size[0].upper()}: {about}.")


convnext_tiny = _builder("tiny", 0.1, "28,589,128 params and 4.456 GMACs at 224x224")
convnext_small = _builder("small", 0.4, "50,223,688 params and 8.684 GMACs at 224x224")
convnext_base = _builder("base", 0.5, "88,591,464 params and 15.355 GMACs at 224x224")
convnext_large = _builder("large", 0.5, "197,767,336 params and 34.361 GMACs at 224x224")
