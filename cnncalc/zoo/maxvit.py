"""MaxViT (Tu et al. 2022), layer for layer as torchvision.models.maxvit_t.

A stem of two 3x3 convolutions, then four blocks of MaxViT layers: an MBConv (expand, depthwise 3x3,
squeeze-and-excitation, project; its shortcut pooled and projected where the shape changes), then
window attention and grid attention (torchvision's PartitionAttentionLayer): the map cut into 7x7
windows (or a 7x7 grid of dilated windows: the axes swapped), a pre-norm attention and a pre-norm MLP,
each a residual through stochastic depth, and the map put back. The partition sizes are fixed when the
network is built for ``input_size`` (224: torch runs 221 to 224).
"""

from __future__ import annotations

from ..errors import ShapeError
from ..graph import Merge, Residual, Sequential
from ..layers import (
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    RelativePositionalAttention,
    Sigmoid,
    SiLU,
    StochasticDepth,
    SwapAxes,
    Tanh,
    WindowDepartition,
    WindowPartition,
)
from .mobilenet import conv_bn_act, squeeze_excitation


def _conv_out(n, kernel=3, stride=2, padding=1):
    return (n - kernel + 2 * padding) // stride + 1


def mbconv(cin, cout, expansion_ratio, squeeze_ratio, stride, drop):
    """MBConv: proj(x) + stochastic_depth(layers(x)), the projection (when the shape changes) first."""
    if stride != 1 or cin != cout:
        proj = [Conv2d(cin, cout, kernel_size=1)]
        if stride == 2:
            proj = [AvgPool2d(kernel_size=3, stride=stride, padding=1)] + proj
        shortcut = Sequential(*proj)
    else:
        shortcut = Identity()
    mid, squeeze = int(cout * expansion_ratio), int(cout * squeeze_ratio)
    layers = Sequential(dict(
        pre_norm=BatchNorm2d(cin, eps=1e-3, momentum=0.01),
        conv_a=conv_bn_act(cin, mid, activation=GELU()),
        conv_b=conv_bn_act(mid, mid, 3, stride, groups=mid, activation=GELU()),
        squeeze_excitation=squeeze_excitation(mid, squeeze, SiLU(), Sigmoid()),
        conv_c=Conv2d(mid, cout, kernel_size=1),
    ))
    main = Sequential(dict(layers=layers, stochastic_depth=StochasticDepth(drop, "row") if drop else Identity()))
    return Merge(dict(proj=shortcut, _main=main), op="add")  # torchvision computes res = proj(x) first


def relative_attention(feat_dim, head_dim, max_seq_len):
    """RelativePositionalMultiHeadAttention: its to_qkv Linear, the attention, its merge Linear."""
    return Sequential(dict(
        to_qkv=Linear(feat_dim, 3 * feat_dim),
        _attention=RelativePositionalAttention(feat_dim, head_dim, max_seq_len),
        merge=Linear(feat_dim, feat_dim),
    ))


def partition_attention(channels, head_dim, partition_size, partition_type, grid_size, mlp_ratio, attention_dropout,
                        mlp_dropout, drop):
    """PartitionAttentionLayer: partition, (swap), x + sd(attention(x)), x + sd(mlp(x)), (swap), departition."""
    n_partitions = grid_size[0] // partition_size
    p = partition_size if partition_type == "window" else n_partitions
    gh, gw = grid_size[0] // p, grid_size[1] // p
    stochastic_dropout = StochasticDepth(drop, "row")  # one module, called twice
    attn_layer = Sequential(LayerNorm(channels), relative_attention(channels, head_dim, partition_size ** 2),
                            Dropout(attention_dropout))
    mlp_layer = Sequential(LayerNorm(channels), Linear(channels, channels * mlp_ratio), GELU(),
                           Linear(channels * mlp_ratio, channels), Dropout(mlp_dropout))
    swap = (lambda: SwapAxes(-2, -3)) if partition_type == "grid" else Identity
    return Sequential(dict(
        partition_op=WindowPartition(p),
        partition_swap=swap(),
        _attention=Residual(Sequential(dict(attn_layer=attn_layer, stochastic_dropout=stochastic_dropout)),
                            merge_name="attention_residual"),
        _mlp=Residual(Sequential(dict(mlp_layer=mlp_layer, stochastic_dropout=stochastic_dropout))),
        departition_swap=swap(),
        departition_op=WindowDepartition(p, gh, gw),
    ))


def maxvit_layer(cin, cout, stride, grid_size, drop, *, partition_size, head_dim, expansion_ratio, squeeze_ratio,
                 mlp_ratio, attention_dropout, mlp_dropout):
    attention = dict(head_dim=head_dim, partition_size=partition_size, grid_size=grid_size, mlp_ratio=mlp_ratio,
                     attention_dropout=attention_dropout, mlp_dropout=mlp_dropout, drop=drop)
    return Sequential(dict(layers=Sequential(dict(
        MBconv=mbconv(cin, cout, expansion_ratio, squeeze_ratio, stride, drop),
        window_attention=partition_attention(cout, partition_type="window", **attention),
        grid_attention=partition_attention(cout, partition_type="grid", **attention),
    ))))


def maxvit_t(*, num_classes=1000, in_channels=3, input_size=(224, 224), stochastic_depth_prob=0.2, squeeze_ratio=0.25,
             expansion_ratio=4, mlp_ratio=4, mlp_dropout=0.0, attention_dropout=0.0):
    """torchvision's MaxViT-T: 30,919,624 params and 5.56 GMACs at 224x224."""
    stem_channels, block_channels, block_layers, head_dim, partition_size = 64, [64, 128, 256, 512], [2, 2, 5, 2], 32, 7
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    grid = (_conv_out(input_size[0]), _conv_out(input_size[1]))  # after the stem
    sizes, size = [], grid
    for idx in range(len(block_channels)):
        size = (_conv_out(size[0]), _conv_out(size[1]))
        sizes.append(size)
        if size[0] % partition_size or size[1] % partition_size:
            raise ShapeError(f"Input size {size} of block {idx} is not divisible by partition size {partition_size}: "
                             f"choose another input_size")
    total = sum(block_layers)
    p_stochastic = [stochastic_depth_prob * i / (total - 1) for i in range(total)]
    options = dict(partition_size=partition_size, head_dim=head_dim, expansion_ratio=expansion_ratio,
                   squeeze_ratio=squeeze_ratio, mlp_ratio=mlp_ratio, attention_dropout=attention_dropout,
                   mlp_dropout=mlp_dropout)
    blocks, cin, index = [], stem_channels, 0
    for cout, n, grid_size in zip(block_channels, block_layers, sizes):
        layers = [maxvit_layer(cin if i == 0 else cout, cout, 2 if i == 0 else 1, grid_size, p_stochastic[index + i],
                               **options) for i in range(n)]
        blocks.append(Sequential(dict(layers=Sequential(*layers))))
        cin, index = cout, index + n
    last = block_channels[-1]
    return Sequential(dict(
        stem=Sequential(conv_bn_act(in_channels, stem_channels, 3, 2, activation=GELU()),
                        Sequential(Conv2d(stem_channels, stem_channels, 3, padding=1))),
        blocks=Sequential(*blocks),
        classifier=Sequential(AdaptiveAvgPool2d(1), Flatten(), LayerNorm(last), Linear(last, last), Tanh(),
                              Linear(last, num_classes, bias=False)),
    ))
