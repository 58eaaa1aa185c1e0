"""Vision Transformer (Dosovitskiy et al. 2020), layer for layer as torchvision.models.vit_*.

The image (checked to be ``image_size`` square, as torchvision asserts) is cut into patches by the
``conv_proj`` convolution (kernel = stride = patch), reshaped to (hidden, patches) and permuted to
tokens (patches, hidden); the learned ``class_token`` is concatenated in front and the learned
``encoder.pos_embedding`` added. Each encoder block is two residuals: LayerNorm, self-attention
(``nn.MultiheadAttention``, one leaf: torchvision calls its projections functionally), dropout; then
LayerNorm and the MLP. The class token's output ``x[:, 0]`` goes to the head.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..graph import Residual, Sequential
from ..layers import (
    GELU,
    Conv2d,
    Dropout,
    ExpectSize,
    Index,
    LayerNorm,
    Linear,
    MultiheadAttention,
    ParameterOp,
    Permute,
    Reshape,
    Tanh,
)
from .variants import named

# patch size, encoder blocks, attention heads, hidden width, MLP width (torchvision's builders)
VARIANTS = {
    "b_16": (16, 12, 12, 768, 3072),
    "b_32": (32, 12, 12, 768, 3072),
    "l_16": (16, 24, 16, 1024, 4096),
    "l_32": (32, 24, 16, 1024, 4096),
    "h_14": (14, 32, 16, 1280, 5120),
}


def encoder_block(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout):
    """torchvision's EncoderBlock: x = x + dropout(attention(ln_1(x))); x + mlp(ln_2(x))."""
    attention = Residual(Sequential(dict(
        ln_1=LayerNorm(hidden_dim, eps=1e-6),
        self_attention=MultiheadAttention(hidden_dim, num_heads, dropout=attention_dropout, batch_first=True),
        dropout=Dropout(dropout),
    )), merge_name="attention_residual")
    mlp = Sequential(Linear(hidden_dim, mlp_dim), GELU(), Dropout(dropout), Linear(mlp_dim, hidden_dim), Dropout(dropout))
    return Sequential(dict(_attention=attention, _mlp=Residual(Sequential(dict(ln_2=LayerNorm(hidden_dim, eps=1e-6), mlp=mlp)))))


def _vit(variant, *, num_classes, in_channels, image_size, dropout, attention_dropout, representation_size):
    patch, num_layers, num_heads, hidden, mlp_dim = VARIANTS[variant]
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size <= 0 or image_size % patch:
        raise ShapeError(f"image_size must be a positive multiple of the patch size {patch}, got {image_size!r}")
    patches = (image_size // patch) ** 2
    encoder = Sequential(dict(
        pos_embedding=ParameterOp("add", (1, patches + 1, hidden)),
        dropout=Dropout(dropout),
        layers=Sequential({f"encoder_layer_{i}": encoder_block(num_heads, hidden, mlp_dim, dropout, attention_dropout)
                           for i in range(num_layers)}),
        ln=LayerNorm(hidden, eps=1e-6),
    ))
    if representation_size is None:
        heads = Sequential(dict(head=Linear(hidden, num_classes)))
    else:
        heads = Sequential(dict(pre_logits=Linear(hidden, representation_size), act=Tanh(),
                                head=Linear(representation_size, num_classes)))
    return Sequential(dict(
        image_size=ExpectSize(image_size),
        conv_proj=Conv2d(in_channels, hidden, kernel_size=patch, stride=patch),
        reshape=Reshape(None, hidden, patches, method="reshape"),  # x.reshape(n, hidden_dim, n_h * n_w)
        permute=Permute((0, 2, 1)),
        class_token=ParameterOp("cat", (1, 1, hidden), dim=1),  # torch.cat([class_token, x], dim=1)
        encoder=encoder,
        select_class_token=Index.of((slice(None), 0)),  # x[:, 0]
        heads=heads,
    ))


def _builder(variant, about):
    def build(*, num_classes=1000, in_channels=3, image_size=224, dropout=0.0, attention_dropout=0.0,
              representation_size=None):
        return _vit(variant, num_classes=num_classes, in_channels=in_channels, image_size=image_size, dropout=dropout,
                    attention_dropout=attention_dropout, representation_size=representation_size)

    return named(build, f"vit_{variant}", f"torchvision's ViT-{variant.replace('_', '/').upper()}: {about}.")


vit_b_16 = _builder("b_16", "86,567,656 params and 17.56 GMACs at 224x224")
vit_b_32 = _builder("b_32", "88,224,232 params and 4.41 GMACs at 224x224")
vit_l_16 = _builder("l_16", "304,326,632 params and 61.56 GMACs at 224x224")
vit_l_32 = _builder("l_32", "306,535,400 params and 15.38 GMACs at 224x224")
vit_h_14 = _builder("h_14", "632,045,800 params and 167.29 GMACs at 224x224")
