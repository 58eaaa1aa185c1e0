"""Write tests/golden/torchvision_v2_*.json.gz: torchvision's facts for the networks cnncalc's zoo will add.

Companion of tools/make_golden.py (same conventions, shared code in tools/golden_torchvision.py), for
the torchvision builders the zoo does not have yet: one gzipped JSON file per family
(classification, segmentation, video). Run it from the repository root inside the torchvision
virtualenv (never install torchvision into the Python the tests use)::

    python -m venv /opt/tvenv
    /opt/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy
    /opt/tvenv/bin/python tools/make_golden_v2.py                 # about 6 minutes on 2 cores
    /opt/tvenv/bin/python tools/make_golden_v2.py --only swin_t   # one model, printed, nothing written

Every model is built by its torchvision builder name with weights=None (segmentation: also
weights_backbone=None and aux_loss=False, the recorded output is the 'out' map; inception_v3 as
googlenet in make_golden.py: aux_logits=False, init_weights=False, transform_input=False), in eval mode.

Recorded per model:
  params; buffers (without num_batches_tracked); default_input: the crop size of the builder's
  DEFAULT weights (segmentation: their resize size 520, square; video: T=16 frames, the clip length
  of torchvision's video recipes; ViT: the image_size a weights=None model is fixed to);
  min_square_input: the smallest square spatial size that runs on CPU (video: at the default T),
  with torch's rejection of one less; min_threshold says whether the next sizes all run (MaxViT
  and ViT: no; accepted lists which ran); video also min_frames (the smallest T at the default
  spatial size) and its rejection;
  inputs: at the default input, two odd sizes the model accepts and the minimum(s): MACs, unbatched
  output shape, one row per leaf-module call (name, type, input/output shapes, own params, MACs of
  that call), the MACs charged to no leaf ("unattributed": per non-leaf module, with the counter's
  operators, e.g. attention's bmm inside MultiheadAttention), and the counter's per-operator FLOPs;
  rejected_inputs: torch's message for odd sizes a fixed-size model refuses (ViT);
  published: the builder's first weights whose input size is the default one, with torchvision's
  num_params and "_ops" (GMACs, 3 decimals), and our params and MACs for the configuration those
  weights build (config: segmentation weights add the auxiliary head, Inception's the auxiliary
  classifier), for comparison;
  param_owners: the modules holding parameters that no leaf-call row shows (non-leaf modules' own,
  leaves never called because their parent uses their weight through F.linear);
  cpu_no_grad: the flop counter's MACs and operators for the same default-size pass run on CPU
  under torch.no_grad, where it differs from the recorded one (see below).

MACs are counted on the meta device (shapes only, no arithmetic): it charges exactly what a CPU
pass charges for every convolutional network (checked for every model: cpu_no_grad is absent when
equal), and it is the only way to count attention. On CPU in eval + no_grad, nn.MultiheadAttention
takes its fused fast path (aten._native_multi_head_attention), which the counter does not see at all
(neither the QKV/out projections nor the attention matmuls); with grad enabled CPU runs
aten._scaled_dot_product_flash_attention_for_cpu, which the counter does not count either. On meta,
scaled_dot_product_attention runs its math decomposition, whose two bmm per head the counter counts
(softmax and scaling are free), matching torchvision's published GFLOPS.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import time
from pathlib import Path

import torch
import torchvision
from golden_torchvision import count_buffers, dumps, runs, scan_minimum, shape_key, trace

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

CLASSIFICATION = (
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14",
    "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b", "maxvit_t",
    "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf",
    "regnet_x_32gf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
    "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "inception_v3", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
    "wide_resnet101_2", "densenet161",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
)
SEGMENTATION = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
VIDEO = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")
FAMILIES = {"classification": CLASSIFICATION, "segmentation": SEGMENTATION, "video": VIDEO}

KWARGS: dict[str, dict] = {
    "inception_v3": {"aux_logits": False, "init_weights": False, "transform_input": False},
    **{name: {"weights_backbone": None, "aux_loss": False} for name in SEGMENTATION},
    "lraspp_mobilenet_v3_large": {"weights_backbone": None},  # LRASPP has no auxiliary head
}

# What torchvision's weights build, where it differs from KWARGS (for the "published" comparison)
PUBLISHED_CONFIG: dict[str, dict] = {
    "inception_v3": {"aux_logits": True},
    **{name: {"aux_loss": True} for name in SEGMENTATION if name != "lraspp_mobilenet_v3_large"},
}

VIDEO_FRAMES = 16  # torchvision's video recipes' clip_len (its published "_ops" are at 16 frames)
ODD_INPUTS = {  # two odd sizes each model accepts (the minima are added to them)
    "classification": ((3, 199, 257), (3, 225, 225)),
    "segmentation": ((3, 199, 257), (3, 225, 225)),
    "video": ((3, 15, 113, 151), (3, 9, 99, 99)),
}
ODD_OVERRIDES = {
    # MaxViT fixes its partition grids from input_size=(224, 224) when built: only sizes whose
    # stride-4 map is 56x56 (stride-2 convs round up), i.e. 221..224, run.
    "maxvit_t": ((3, 221, 223), (3, 223, 223)),
    # S3D's last average pool is 2x7x7 over a /32 map: spatial sizes under 209 fail.
    "s3d": ((3, 15, 225, 257), (3, 17, 231, 231)),
}
MAX_SCAN = 512  # minimum-size scans give up here
ABOVE_MIN_CHECKED = 16  # sizes just above a minimum that are checked to run too


def family_of(name: str) -> str:
    """The family (output file) a model is recorded in."""
    return next(family for family, names in FAMILIES.items() if name in names)


def build(name: str) -> tuple[torch.nn.Module, str]:
    """Construct one model on CPU with random weights in eval mode, and the call that built it."""
    kwargs = KWARGS.get(name, {})
    args = ", ".join(["weights=None"] + [f"{k}={v!r}" for k, v in kwargs.items()])
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    return model.eval(), f"torchvision.models.{name}({args})"


def weights_input(name: str, weights) -> tuple[int, ...]:
    """The input size a torchvision weights entry is evaluated at (unbatched)."""
    transforms = weights.transforms()
    family = family_of(name)
    if family == "segmentation":
        (size,) = transforms.resize_size
        return (3, size, size)
    crop = list(transforms.crop_size)
    height, width = (crop * 2)[:2]
    return (3, VIDEO_FRAMES, height, width) if family == "video" else (3, height, width)


def default_input(name: str, model: torch.nn.Module) -> tuple[int, ...]:
    """The DEFAULT weights' input size; a ViT built without weights is fixed to its image_size."""
    if hasattr(model, "image_size"):
        return (3, model.image_size, model.image_size)
    return weights_input(name, torchvision.models.get_model_weights(name).DEFAULT)


def published(name: str, shape: tuple[int, ...]) -> dict | None:
    """torchvision's params and GMACs for the first weights evaluated at `shape`, beside ours for the
    configuration those weights build (segmentation weights have the auxiliary head, Inception's the
    auxiliary classifier, which adds parameters but runs only in training)."""
    for weights in torchvision.models.get_model_weights(name):
        if weights_input(name, weights) == shape:
            config = {**KWARGS.get(name, {}), **PUBLISHED_CONFIG.get(name, {})}
            model = torchvision.models.get_model(name, weights=None, **config).eval().to("meta")
            return {"weights": weights.name, "num_params": weights.meta["num_params"],
                    "gmacs": weights.meta["_ops"], "config": config,
                    "params": sum(p.numel() for p in model.parameters()),
                    "macs": trace(model, shape, device="meta", strict=False)["macs"]}
    return None


def minima(name: str, model: torch.nn.Module, on_meta: torch.nn.Module, default: tuple[int, ...]) -> dict:
    """The smallest square spatial size that runs (video: and the fewest frames), with rejections.

    The scans run on the meta device (a failing size can cost a whole forward pass: S3D fails only
    at its last pool); the answer is then confirmed on CPU, with the same rejection message.
    """
    def scan(make_shape, limit: int) -> dict:
        found = scan_minimum(on_meta, make_shape, limit, ABOVE_MIN_CHECKED)
        smallest = found["minimum"]
        on_cpu = {shape_key(make_shape(smallest - 1)): runs(model, make_shape(smallest - 1))} if smallest > 1 else {}
        if runs(model, make_shape(smallest)) is not None or on_cpu != found["rejects"]:
            raise AssertionError(f"{name}: CPU disagrees with the meta scan at {make_shape(smallest)}: {on_cpu}")
        return found

    if family_of(name) == "video":
        spatial = scan(lambda s: (3, default[1], s, s), MAX_SCAN)
        temporal = scan(lambda t: (3, t, *default[2:]), MAX_SCAN)
        if not (spatial["threshold"] and temporal["threshold"]):
            raise AssertionError(f"{name}: a video minimum is not a threshold: {spatial} {temporal}")
        return {"min_square_input": spatial["minimum"], "min_frames": temporal["minimum"],
                "min_threshold": True, "rejects": {**spatial["rejects"], **temporal["rejects"]}}
    # A fixed-size model (ViT) fails below its size at once; scanning beyond it is pointless.
    square = scan(lambda s: (3, s, s), default[1] if hasattr(model, "image_size") else MAX_SCAN)
    found = {"min_square_input": square["minimum"], "min_threshold": square["threshold"],
             "rejects": square["rejects"]}
    if not square["threshold"]:
        found["accepted"] = square["accepted"]
    return found


def cpu_check(model: torch.nn.Module, shape: tuple[int, ...], recorded: dict) -> dict | None:
    """The CPU no_grad pass's count where it differs from the meta one (attention's fused kernels)."""
    on_cpu = trace(model, shape, device="cpu", strict=False)
    if on_cpu["output_shape"] != recorded["output_shape"]:
        raise AssertionError(f"CPU output {on_cpu['output_shape']} != meta {recorded['output_shape']}")
    if on_cpu["macs"] == recorded["macs"]:
        if on_cpu["layers"] != recorded["layers"]:
            raise AssertionError("CPU and meta agree on the total but not on the layers")
        return None
    return {"macs": on_cpu["macs"], "ops": on_cpu["ops"]}


def describe(name: str) -> dict:
    """Every recorded fact about one model."""
    torch.manual_seed(0)
    model, constructor = build(name)
    default = default_input(name, model)
    facts = {"family": family_of(name), "constructor": constructor,
             "params": sum(p.numel() for p in model.parameters()), "buffers": count_buffers(model),
             "default_input": shape_key(default)}
    on_meta = copy.deepcopy(model).to("meta")
    facts.update(minima(name, model, on_meta, default))
    family = facts["family"]
    candidates = [default, *ODD_OVERRIDES.get(name, ODD_INPUTS[family])]
    if family == "video":
        candidates += [(3, default[1], facts["min_square_input"], facts["min_square_input"]),
                       (3, facts["min_frames"], *default[2:])]
    else:
        candidates.append((3, facts["min_square_input"], facts["min_square_input"]))
    rejected = {}
    for shape in candidates[1:]:
        error = runs(model, shape)
        if error is not None:
            if not hasattr(model, "image_size"):
                raise AssertionError(f"{name} refuses {shape}: {error}")
            rejected[shape_key(shape)] = error
    facts["rejected_inputs"] = rejected
    facts["published"] = published(name, default)

    inputs = {}
    for shape in candidates:
        if shape_key(shape) not in rejected:
            inputs.setdefault(shape_key(shape), trace(on_meta, shape, device="meta", strict=False))
    facts["cpu_no_grad"] = cpu_check(model, default, inputs[shape_key(default)])
    facts["param_owners"] = param_owners(model, {row["name"] for row in inputs[shape_key(default)]["layers"]})
    facts["inputs"] = inputs
    return facts


def param_owners(model: torch.nn.Module, called: set[str]) -> list[dict]:
    """The parameters no leaf-call row shows: non-leaf modules' own (ViT's class token, in_proj_weight)
    and leaves never called, whose weights their parent passes to F.linear (out_proj, Swin's qkv)."""
    owners = []
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own and name not in called:
            owners.append({"name": name, "type": type(module).__name__, "params": own,
                           "leaf": next(module.children(), None) is None})
    return owners


def summary(name: str, facts: dict, seconds: float) -> str:
    """One progress line."""
    entry = facts["inputs"][facts["default_input"]]
    note = "" if facts["cpu_no_grad"] is None else f"  CPU no_grad counts {facts['cpu_no_grad']['macs']:,d}"
    known = facts["published"]
    if known and (known["num_params"], known["gmacs"]) != (known["params"], round(known["macs"] / 1e9, 3)):
        note += f"  published ({known['weights']}): {known['num_params']:,d} params, {known['gmacs']} GMACs"
    return (f"{name:28s} {facts['params']:>12,d} params  {entry['macs']:>16,d} MACs at {facts['default_input']}"
            f"  unattributed {entry['unattributed_macs']:,d}  min {facts['min_square_input']}{note}  {seconds:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=GOLDEN, help="where to write the files")
    parser.add_argument("--only", nargs="+", metavar="MODEL", help="record these models, print, write nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    names = args.only or [name for names in FAMILIES.values() for name in names]
    documents = {family: {"generator": "tools/make_golden_v2.py", "torch": torch.__version__,
                          "torchvision": torchvision.__version__, "family": family, "models": {}}
                 for family in FAMILIES}
    for name in names:
        began = time.time()
        facts = describe(name)
        documents[facts["family"]]["models"][name] = facts
        print(summary(name, facts, time.time() - began), flush=True)
    if args.only:
        return
    for family, document in documents.items():
        path = args.output_dir / f"torchvision_v2_{family}.json.gz"
        data = dumps(document).encode()
        # mtime=0: the same facts give the same bytes, so an unchanged regeneration leaves git clean
        path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        print(f"wrote {path} ({len(data):,d} bytes, {path.stat().st_size:,d} gzipped)")
    print(f"{time.time() - start:.0f}s in all")


if __name__ == "__main__":
    main()
