"""The model zoo: classic CNNs by name, built from cnncalc layers with torchvision's module names.

``model("resnet18")`` builds the network; ``models()`` lists the names; ``describe(name)`` returns the
registry entry (family, one-line description, default input shape, accepted options). Each family
lives in its own module (``lenet``, ``alexnet``, ``vgg``, ...), imported only when one of its networks
is built, so ``import cnncalc`` stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
from typing import NamedTuple

from ..errors import ShapeError
from ..layers import Layer

IMAGENET = (3, 224, 224)


class Entry(NamedTuple):
    """One registry entry: ``model(name)`` calls ``cnncalc.zoo.<family>.<name>(**options)``."""

    name: str
    family: str
    description: str
    default_input: tuple

    @property
    def options(self) -> dict:
        """Accepted keyword options and their defaults, read from the builder's signature."""
        params = inspect.signature(self._function()).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}

    def _function(self):
        return getattr(importlib.import_module(f"{__name__}.{self.family}"), self.name)

    # The interface of a model read from a file (frontends.load_file), so the CLI treats both alike.
    @property
    def input_shape(self):
        return self.default_input

    def build(self, input_shape=None):
        return model(self.name)

    def analyze(self, input_shape=None, **analyze_kwargs):
        """``cnncalc.analyze`` of the default network on ``input_shape`` (default: its native size)."""
        from ..analysis import analyze

        return analyze(self.build(), self.default_input if input_shape is None else input_shape, **analyze_kwargs)


def _entry(name, family, description, default_input=IMAGENET):
    return name, Entry(name, family, description, default_input)


def _regnet_entries():
    for flops, label, default_input in (("400mf", "400 MF", IMAGENET), ("800mf", "800 MF", IMAGENET),
                                        ("1_6gf", "1.6 GF", IMAGENET), ("3_2gf", "3.2 GF", IMAGENET),
                                        ("8gf", "8 GF", IMAGENET), ("16gf", "16 GF", IMAGENET),
                                        ("32gf", "32 GF", IMAGENET), ("128gf", "128 GF", (3, 384, 384))):
        if flops != "128gf":
            yield _entry(f"regnet_x_{flops}", "regnet", f"RegNetX-{label} (Radosavovic et al. 2020): grouped bottlenecks on a "
                         "quantised linear width ramp, torchvision layout")
        yield _entry(f"regnet_y_{flops}", "regnet", f"RegNetY-{label}: RegNetX's blocks with squeeze-and-excitation, "
                     "torchvision layout", default_input)


SEGMENTATION = (3, 520, 520)  # torchvision's segmentation weights resize to 520


def _segmentation_entries():
    for depth in (50, 101):
        yield _entry(f"fcn_resnet{depth}", "segmentation", f"FCN (Long et al. 2015) on a dilated ResNet-{depth}, output "
                     "stride 8, resized to the input; torchvision layout without the auxiliary head", SEGMENTATION)
        yield _entry(f"deeplabv3_resnet{depth}", "segmentation", f"DeepLabV3 (Chen et al. 2017): ASPP on a dilated "
                     f"ResNet-{depth}; torchvision layout without the auxiliary head", SEGMENTATION)
    yield _entry("deeplabv3_mobilenet_v3_large", "segmentation", "DeepLabV3 on MobileNetV3-Large with a dilated last "
                 "stage; torchvision layout without the auxiliary head", SEGMENTATION)
    yield _entry("lraspp_mobilenet_v3_large", "segmentation", "LR-ASPP (Howard et al. 2019) on MobileNetV3-Large: "
                 "gated 1/16 features plus 1/8 features, torchvision layout", SEGMENTATION)


CLIP = (3, 16, 112, 112)  # C x T x H x W: 16 frames, the clip torchvision's video ResNets' figures are for


def _video_entries():
    yield _entry("r3d_18", "video", "R3D-18 (Tran et al. 2018): 3-D ResNet-18 on 16-frame clips, torchvision layout", CLIP)
    yield _entry("mc3_18", "video", "MC3-18: 3-D convolutions in the first stage, 2-D (1x3x3) after, torchvision layout", CLIP)
    yield _entry("r2plus1d_18", "video", "R(2+1)D-18: every 3x3x3 split into 1x3x3 spatial and 3x1x1 temporal, "
                 "torchvision layout", CLIP)
    yield _entry("s3d", "video", "S3D (Xie et al. 2018): separable 3-D Inception on 16 frames of 224x224, torchvision layout",
                 (3, 16, 224, 224))


def _vgg_entries():
    for depth, config in ((11, "A"), (13, "B"), (16, "D"), (19, "E")):
        yield _entry(f"vgg{depth}", "vgg", f"VGG-{depth} (configuration {config}, Simonyan & Zisserman 2014), torchvision layout")
        yield _entry(f"vgg{depth}_bn", "vgg", f"VGG-{depth} with batch normalisation after every convolution, torchvision layout")


_REGISTRY = dict(
    [
        _entry("lenet5", "lenet", "LeNet-5 (LeCun et al. 1998): C1-S2-C3-S4-C5-F6-output on 32x32 digits", (1, 32, 32)),
        _entry("alexnet", "alexnet", "AlexNet as in the 2012 paper: 227x227 input, LRN, 96/256/384/384/256 filters", (3, 227, 227)),
        _entry("alexnet_torchvision", "alexnet", "torchvision's AlexNet (64/192/384/256/256 filters, no LRN, adaptive 6x6 pool)"),
        *_vgg_entries(),
        *_video_entries(),
        _entry("googlenet", "googlenet", "GoogLeNet / Inception v1 (Szegedy et al. 2014), torchvision layout without auxiliary heads"),
        _entry("inception_v3", "inception", "Inception v3 (Szegedy et al. 2015): factorised 7x7 and 3x3 modules, torchvision layout without the auxiliary head", (3, 299, 299)),
        *_regnet_entries(),
        _entry("resnet18", "resnet", "ResNet-18 (He et al. 2015): BasicBlocks [2, 2, 2, 2], torchvision layout"),
        _entry("resnet34", "resnet", "ResNet-34: BasicBlocks [3, 4, 6, 3], torchvision layout"),
        _entry("resnet50", "resnet", "ResNet-50: Bottlenecks [3, 4, 6, 3] (stride on the 3x3, v1.5), torchvision layout"),
        _entry("resnet101", "resnet", "ResNet-101: Bottlenecks [3, 4, 23, 3], torchvision layout"),
        _entry("resnet152", "resnet", "ResNet-152: Bottlenecks [3, 8, 36, 3], torchvision layout"),
        _entry("resnext50_32x4d", "resnet", "ResNeXt-50 32x4d (Xie et al. 2016): grouped 3x3 bottlenecks [3, 4, 6, 3], torchvision layout"),
        _entry("resnext101_32x8d", "resnet", "ResNeXt-101 32x8d: 32 groups of 8 channels, bottlenecks [3, 4, 23, 3], torchvision layout"),
        _entry("resnext101_64x4d", "resnet", "ResNeXt-101 64x4d: 64 groups of 4 channels, bottlenecks [3, 4, 23, 3], torchvision layout"),
        _entry("wide_resnet50_2", "resnet", "Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): bottlenecks twice as wide, torchvision layout"),
        _entry("wide_resnet101_2", "resnet", "Wide ResNet-101-2: bottlenecks [3, 4, 23, 3] twice as wide, torchvision layout"),
        _entry("densenet121", "densenet", "DenseNet-121 (Huang et al. 2016): growth 32, blocks (6, 12, 24, 16), torchvision layout"),
        _entry("densenet161", "densenet", "DenseNet-161: growth 48, 96 stem features, blocks (6, 12, 36, 24), torchvision layout"),
        _entry("densenet169", "densenet", "DenseNet-169: growth 32, blocks (6, 12, 32, 32), torchvision layout"),
        _entry("densenet201", "densenet", "DenseNet-201: growth 32, blocks (6, 12, 48, 32), torchvision layout"),
        _entry("mobilenet_v2", "mobilenet", "MobileNetV2 (Sandler et al. 2018): inverted residuals, ReLU6, torchvision layout"),
        _entry("mobilenet_v3_large", "mobilenet", "MobileNetV3-Large (Howard et al. 2019): SE gates, hard-swish, torchvision layout"),
        _entry("mobilenet_v3_small", "mobilenet", "MobileNetV3-Small: 11 bottlenecks, SE gates, hard-swish, torchvision layout"),
        _entry("efficientnet_b0", "efficientnet", "EfficientNet-B0 (Tan & Le 2019): MBConv with SE gates, SiLU, torchvision layout"),
        _entry("efficientnet_b1", "efficientnet", "EfficientNet-B1: B0 with depth x1.1, torchvision layout"),
        _entry("efficientnet_b2", "efficientnet", "EfficientNet-B2: width x1.1, depth x1.2, torchvision layout"),
        _entry("efficientnet_b3", "efficientnet", "EfficientNet-B3: width x1.2, depth x1.4, torchvision layout"),
        _entry("convnext_tiny", "convnext", "ConvNeXt-T (Liu et al. 2022): patchify stem, 7x7 depthwise blocks (3, 3, 9, 3), torchvision layout"),
        _entry("convnext_small", "convnext", "ConvNeXt-S: blocks (3, 3, 27, 3), widths 96-768, torchvision layout"),
        _entry("convnext_base", "convnext", "ConvNeXt-B: blocks (3, 3, 27, 3), widths 128-1024, torchvision layout"),
        _entry("convnext_large", "convnext", "ConvNeXt-L: blocks (3, 3, 27, 3), widths 192-1536, torchvision layout"),
        _entry("vit_b_16", "vit", "ViT-B/16 (Dosovitskiy et al. 2020): 16x16 patches, 12 blocks of 12 heads, width 768, torchvision layout"),
        _entry("vit_b_32", "vit", "ViT-B/32: 32x32 patches, 12 blocks of 12 heads, width 768, torchvision layout"),
        _entry("vit_l_16", "vit", "ViT-L/16: 16x16 patches, 24 blocks of 16 heads, width 1024, torchvision layout"),
        _entry("vit_l_32", "vit", "ViT-L/32: 32x32 patches, 24 blocks of 16 heads, width 1024, torchvision layout"),
        _entry("vit_h_14", "vit", "ViT-H/14: 14x14 patches, 32 blocks of 16 heads, width 1280, torchvision layout"),
        _entry("swin_t", "swin", "Swin-T (Liu et al. 2021): shifted 7x7 window attention, blocks (2, 2, 6, 2), torchvision layout"),
        _entry("swin_s", "swin", "Swin-S: shifted 7x7 window attention, blocks (2, 2, 18, 2), width 96, torchvision layout"),
        _entry("swin_b", "swin", "Swin-B: shifted 7x7 window attention, blocks (2, 2, 18, 2), width 128, torchvision layout"),
        _entry("swin_v2_t", "swin", "Swin V2-T (Liu et al. 2022): cosine 8x8 window attention, MLP position bias, torchvision layout",
               (3, 256, 256)),
        _entry("swin_v2_s", "swin", "Swin V2-S: cosine 8x8 window attention, blocks (2, 2, 18, 2), width 96, torchvision layout",
               (3, 256, 256)),
        _entry("swin_v2_b", "swin", "Swin V2-B: cosine 8x8 window attention, blocks (2, 2, 18, 2), width 128, torchvision layout",
               (3, 256, 256)),
        _entry("maxvit_t", "maxvit", "MaxViT-T (Tu et al. 2022): MBConv, 7x7 window and grid attention, blocks (2, 2, 5, 2), torchvision layout"),
        _entry("efficientnet_b4", "efficientnet", "EfficientNet-B4: width x1.4, depth x1.8, torchvision layout", (3, 380, 380)),
        _entry("efficientnet_b5", "efficientnet", "EfficientNet-B5: width x1.6, depth x2.2, torchvision layout", (3, 456, 456)),
        _entry("efficientnet_b6", "efficientnet", "EfficientNet-B6: width x1.8, depth x2.6, torchvision layout", (3, 528, 528)),
        _entry("efficientnet_b7", "efficientnet", "EfficientNet-B7: width x2.0, depth x3.1, torchvision layout", (3, 600, 600)),
        _entry("efficientnet_v2_s", "efficientnet", "EfficientNetV2-S (Tan & Le 2021): FusedMBConv then MBConv stages, torchvision layout", (3, 384, 384)),
        _entry("efficientnet_v2_m", "efficientnet", "EfficientNetV2-M: FusedMBConv then MBConv, 7 stages, torchvision layout", (3, 480, 480)),
        _entry("efficientnet_v2_l", "efficientnet", "EfficientNetV2-L: FusedMBConv then MBConv, 7 stages, torchvision layout", (3, 480, 480)),
        _entry("mnasnet0_5", "mnasnet", "MNASNet-B1 (Tan et al. 2018) with depth multiplier 0.5, torchvision layout"),
        _entry("mnasnet0_75", "mnasnet", "MNASNet-B1 with depth multiplier 0.75, torchvision layout"),
        _entry("mnasnet1_0", "mnasnet", "MNASNet-B1: inverted residuals with 3x3 and 5x5 depthwise kernels, torchvision layout"),
        _entry("mnasnet1_3", "mnasnet", "MNASNet-B1 with depth multiplier 1.3, torchvision layout"),
        _entry("shufflenet_v2_x0_5", "shufflenet", "ShuffleNet V2 0.5x (Ma et al. 2018): channel split, concat and shuffle, torchvision layout"),
        _entry("shufflenet_v2_x1_0", "shufflenet", "ShuffleNet V2 1.0x: stage widths 116/232/464, torchvision layout"),
        _entry("shufflenet_v2_x1_5", "shufflenet", "ShuffleNet V2 1.5x: stage widths 176/352/704, torchvision layout"),
        _entry("shufflenet_v2_x2_0", "shufflenet", "ShuffleNet V2 2.0x: stage widths 244/488/976, 2048 head, torchvision layout"),
        *_segmentation_entries(),
        _entry("squeezenet1_0", "squeezenet", "SqueezeNet 1.0 (Iandola et al. 2016): Fire modules, torchvision layout"),
        _entry("squeezenet1_1", "squeezenet", "SqueezeNet 1.1: 3x3 stem, earlier pooling, 2.4x fewer MACs, torchvision layout"),
        _entry("cifar_net", "tutorials", "the PyTorch CIFAR-10 tutorial's Net: two 5x5 convs, FC 400-120-84-10", (3, 32, 32)),
        _entry("simple_cnn", "tutorials", "one 3x3 conv (16 filters), 2x2 max pool, FC 4096-128-10 on CIFAR-sized input", (3, 32, 32)),
        _entry("mnist_cnn", "tutorials", "the Keras MNIST convnet: conv 32, pool, conv 64, pool, dense 64, dense 10", (1, 28, 28)),
    ]
)


def models() -> list:
    """The zoo's network names, sorted."""
    return sorted(_REGISTRY)


def describe(name: str) -> Entry:
    """The registry entry of ``name`` (family, description, default_input, options)."""
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        close = _close_names(str(name))
        hint = (f"did you mean {', '.join(close)}?" if close else
                f"not one of the zoo's {len(_REGISTRY)} networks (cnncalc models lists them), nor a model file "
                "(.py, .yaml, .yml or .json)")
        raise ShapeError(f"unknown model {name!r}: {hint}")
    return entry


def _close_names(name):
    """Zoo names close to ``name``, compared without case, dashes, dots and underscores (ResNet-18)."""
    import difflib

    def key(text):
        return "".join(ch for ch in text.lower() if ch.isalnum())

    by_key = {}
    for known in models():
        by_key.setdefault(key(known), []).append(known)
    matches = difflib.get_close_matches(key(name), list(by_key), n=3, cutoff=0.6)
    return [known for match in matches for known in by_key[match]]


def model(name: str, **options) -> Layer:
    """Build the zoo network ``name``; ``options`` are the builder's keywords (num_classes, ...)."""
    entry = describe(name)
    accepted = entry.options
    for option in options:
        if option not in accepted:
            listed = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
            raise ShapeError(f"{name}: unknown option {option!r}; accepted options: {listed}")
    try:
        network = entry._function()(**options)
    except ShapeError as exc:
        called = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ShapeError(f"{name}({called}): {exc}") from None
    object.__setattr__(network, "zoo_name", name)
    return network


__all__ = ["Entry", "describe", "model", "models"]
