"""Swin Transformer V1 (Liu et al. 2021) and V2 (Liu et al. 2022), layer for layer as torchvision.models.swin_*.

The image is cut into 4x4 patches (a strided convolution), permuted to channels last and normalised.
Each stage holds blocks of window attention (alternately shifted by half a window) and an MLP, each in a
residual through stochastic depth (torchvision calls the block's one StochasticDepth module twice);
patch merging between stages halves H and W and doubles C. V1 normalises before attention and MLP,
V2 after them; V2's attention takes its relative position bias from a small MLP (``cpb_mlp``) on a
buffer of coordinates, written here as its own rows joined to the attention's input by a ``side`` merge.
"""

from __future__ import annotations

from ..graph import Merge, Residual, Sequential
from ..layers import (
    GELU,
    AdaptiveAvgPool2d,
    Buffer,
    Conv2d,
    Dropout,
    Flatten,
    LayerNorm,
    Linear,
    PatchMergingPad,
    Permute,
    ReLU,
    ShiftedWindowAttention,
    ShiftedWindowAttentionV2,
    StochasticDepth,
)
from .variants import named

# embedding width, blocks per stage, heads per stage, window, stochastic depth (torchvision's builders)
VARIANTS = {
    "swin_t": (96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 0.2),
    "swin_s": (96, (2, 2, 18, 2), (3, 6, 12, 24), 7, 0.3),
    "swin_b": (128, (2, 2, 18, 2), (4, 8, 16, 32), 7, 0.5),
    "swin_v2_t": (96, (2, 2, 6, 2), (3, 6, 12, 24), 8, 0.2),
    "swin_v2_s": (96, (2, 2, 18, 2), (3, 6, 12, 24), 8, 0.3),
    "swin_v2_b": (128, (2, 2, 18, 2), (4, 8, 16, 32), 8, 0.5),
}


def mlp(dim, hidden, dropout):
    """torchvision's MLP(dim, [hidden, dim], GELU): Linear, GELU, Dropout, Linear, Dropout."""
    return Sequential(Linear(dim, hidden), GELU(), Dropout(dropout), Linear(hidden, dim), Dropout(dropout))


def attention_v2(dim, window_size, shift_size, num_heads, **options):
    """ShiftedWindowAttentionV2 (torchvision's arguments): the bias MLP on the coordinates buffer (its own
    rows), then the attention."""
    wh, ww = window_size
    bias = Sequential(dict(
        relative_coords_table=Buffer((1, 2 * wh - 1, 2 * ww - 1, 2)),
        cpb_mlp=Sequential(Linear(2, 512), ReLU(inplace=True), Linear(512, num_heads, bias=False)),
    ))
    return Sequential(dict(
        _bias=Merge(dict(_input=Sequential(), _bias=bias), op="side", merge_name="relative_position_bias"),
        _attention=ShiftedWindowAttentionV2(dim, window_size, shift_size, num_heads, **options),
    ))


def swin_block(dim, num_heads, window, shift, v2, mlp_ratio, dropout, attention_dropout, drop_path):
    """SwinTransformerBlock (V1: x + sd(attn(norm1(x))), x + sd(mlp(norm2(x)))) or SwinTransformerBlockV2
    (x + sd(norm1(attn(x))), x + sd(norm2(mlp(x))))."""
    stochastic_depth = StochasticDepth(drop_path, "row")  # one module, called after attention and after the MLP
    shifts = [shift, shift]
    if v2:
        attn = attention_v2(dim, [window, window], shifts, num_heads, attention_dropout=attention_dropout, dropout=dropout)
        first = dict(attn=attn, norm1=LayerNorm(dim))
        second = dict(mlp=mlp(dim, int(dim * mlp_ratio), dropout), norm2=LayerNorm(dim))
    else:
        attn = ShiftedWindowAttention(dim, [window, window], shifts, num_heads, attention_dropout=attention_dropout,
                                      dropout=dropout)
        first = dict(norm1=LayerNorm(dim), attn=attn)
        second = dict(norm2=LayerNorm(dim), mlp=mlp(dim, int(dim * mlp_ratio), dropout))
    return Sequential(dict(
        _attention=Residual(Sequential(dict(first, stochastic_depth=stochastic_depth)), merge_name="attention_residual"),
        _mlp=Residual(Sequential(dict(second, stochastic_depth=stochastic_depth))),
    ))


def patch_merging(dim, v2):
    """PatchMerging (pad + 2x2 join, LayerNorm(4C), Linear 4C -> 2C) or PatchMergingV2 (the norm after)."""
    reduction = Linear(4 * dim, 2 * dim, bias=False)
    if v2:
        return Sequential(dict(patch_merging_pad=PatchMergingPad(), reduction=reduction, norm=LayerNorm(2 * dim)))
    return Sequential(dict(patch_merging_pad=PatchMergingPad(), norm=LayerNorm(4 * dim), reduction=reduction))


def _swin(variant, *, num_classes, in_channels, dropout, attention_dropout, stochastic_depth_prob, mlp_ratio):
    embed_dim, depths, heads, window, _ = VARIANTS[variant]
    v2 = "_v2_" in variant
    features = [Sequential(Conv2d(in_channels, embed_dim, kernel_size=4, stride=4), Permute((0, 2, 3, 1)),
                           LayerNorm(embed_dim))]
    total, block_id = sum(depths), 0
    for i, (depth, num_heads) in enumerate(zip(depths, heads)):
        dim = embed_dim * 2 ** i
        stage = []
        for j in range(depth):
            drop_path = stochastic_depth_prob * float(block_id) / (total - 1)
            stage.append(swin_block(dim, num_heads, window, 0 if j % 2 == 0 else window // 2, v2, mlp_ratio, dropout,
                                    attention_dropout, drop_path))
            block_id += 1
        features.append(Sequential(*stage))
        if i < len(depths) - 1:
            features.append(patch_merging(dim, v2))
    num_features = embed_dim * 2 ** (len(depths) - 1)
    return Sequential(dict(
        features=Sequential(*features),
        norm=LayerNorm(num_features),
        permute=Permute((0, 3, 1, 2)),
        avgpool=AdaptiveAvgPool2d(1),
        flatten=Flatten(1),
        head=Linear(num_features, num_classes),
    ))


def _builder(variant, about):
    default_sd = VARIANTS[variant][4]

    def build(*, num_classes=1000, in_channels=3, dropout=0.0, attention_dropout=0.0,
              stochastic_depth_prob=default_sd, mlp_ratio=4.0):
        return _swin(variant, num_classes=num_classes, in_channels=in_channels, dropout=dropout,
                     attention_dropout=attention_dropout, stochastic_depth_prob=stochastic_depth_prob, mlp_ratio=mlp_ratio)

    return named(build, variant, f"torchvision's {variant}: {about}.")


swin_t = _builder("swin_t", "28,288,354 params and 4.49 GMACs at 224x224")
swin_s = _builder("swin_s", "49,606,258 params and 8.74 GMACs at 224x224")
swin_b = _builder("swin_b", "87,768,224 params and 15.43 GMACs at 224x224")
swin_v2_t = _builder("swin_v2_t", "28,351,570 params and 5.94 GMACs at 256x256")
swin_v2_s = _builder("swin_v2_s", "49,737,442 params and 11.55 GMACs at 256x256")
swin_v2_b = _builder("swin_v2_b", "87,930,848 params and 20.33 GMACs at 256x256")
