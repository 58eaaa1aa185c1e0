"""Write tests/golden/torchvision_blocks.json: torchvision's transformer blocks on small random configurations.

cnncalc writes Swin's and MaxViT's attention, patch merging and window partitions with its own layers
(cnncalc.layers, section "torchvision blocks"); tests/test_layers_torchvision.py compares them with these
recorded facts, so the tests never import torchvision. Run it from the repository root in the
virtualenv that has torchvision (never in the Python the tests use)::

    /opt/tvenv/bin/python tools/make_golden_blocks.py

Each case: the block, its constructor arguments, the unbatched input shape, and either torch's facts
(output shape, params, buffers, MACs = torch.utils.flop_counter FLOPs // 2 of one forward in eval mode
at batch 1) or the first line of the error torch raises. The configurations come from a fixed seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import maxvit, swin_transformer

OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "torchvision_blocks.json"


def _facts(module, shape):
    """Torch's numbers for one forward of ``module`` on a batch of one ``shape`` input (or its refusal)."""
    module.eval()
    x = torch.randn(1, *shape)
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            y = module(x)
    except Exception as exc:  # torch's refusal is the fact recorded
        return {"error": str(exc).splitlines()[0]}
    return {
        "output_shape": list(y.shape[1:]),
        "params": sum(p.numel() for p in module.parameters()),
        "buffers": sum(b.numel() for b in module.buffers()),
        "macs": counter.get_total_flops() // 2,
    }


def _window_attention_cases(rng):
    cases = []
    for version in ("ShiftedWindowAttention", "ShiftedWindowAttentionV2"):
        for _ in range(8):
            heads, head_dim = rng.randint(1, 4), rng.randint(2, 6)
            window = [rng.randint(2, 5), rng.randint(2, 5)]
            shift = [w // 2 for w in window] if rng.random() < 0.5 else [0, 0]
            kwargs = dict(dim=heads * head_dim, window_size=window, shift_size=shift, num_heads=heads,
                          qkv_bias=rng.random() < 0.7, proj_bias=rng.random() < 0.7)
            shape = [rng.randint(1, 13), rng.randint(1, 13), heads * head_dim]
            cases.append((version, kwargs, shape))
    cases.append(("ShiftedWindowAttention", dict(dim=8, window_size=[3, 3], shift_size=[1, 1], num_heads=2), [5, 5, 6]))
    return cases


def _patch_merging_cases(rng):
    return [(name, dict(dim=rng.randint(1, 9)), None) for name in ("PatchMerging", "PatchMergingV2") for _ in range(3)]


def _maxvit_cases(rng):
    cases = []
    for _ in range(6):
        head_dim, heads, side = rng.randint(2, 6), rng.randint(1, 4), rng.randint(2, 5)
        kwargs = dict(feat_dim=heads * head_dim, head_dim=head_dim, max_seq_len=side * side)
        cases.append(("RelativePositionalMultiHeadAttention", kwargs, [rng.randint(1, 6), side * side, heads * head_dim]))
    cases.append(("RelativePositionalMultiHeadAttention", dict(feat_dim=8, head_dim=4, max_seq_len=9), [2, 16, 8]))
    return cases


def _build(name, kwargs):
    if name in ("RelativePositionalMultiHeadAttention",):
        return getattr(maxvit, name)(**kwargs)
    return getattr(swin_transformer, name)(**kwargs)


def main():
    rng = random.Random(20240)
    torch.manual_seed(0)
    records = []
    for name, kwargs, shape in _window_attention_cases(rng) + _patch_merging_cases(rng) + _maxvit_cases(rng):
        if shape is None:  # patch merging: a channels-last map of dim channels, odd and even sides
            shape = [rng.randint(1, 9), rng.randint(1, 9), kwargs["dim"]]
        records.append({"block": name, "kwargs": kwargs, "input_shape": shape, **_facts(_build(name, kwargs), shape)})
    for p, (h, w) in ((2, (4, 6)), (3, (9, 3)), (4, (6, 8))):  # the map (C, H, W) in p x p windows
        records.append({"block": "WindowPartition", "kwargs": {"p": p}, "input_shape": [5, h, w],
                        **_window_partition(p, (5, h, w))})
    for p, hp, wp, shape in ((2, 3, 2, [6, 4, 5]), (3, 1, 2, [2, 9, 4]), (2, 2, 2, [5, 4, 3])):
        records.append({"block": "WindowDepartition", "kwargs": {"p": p, "h_partitions": hp, "w_partitions": wp},
                        "input_shape": shape, **_window_departition(p, hp, wp, shape)})
    meta = {"generator": "tools/make_golden_blocks.py", "torch": torch.__version__,
            "torchvision": __import__("torchvision").__version__}
    OUTPUT.write_text(json.dumps({**meta, "cases": records}, indent=1) + "\n")
    print(f"wrote {OUTPUT} ({len(records)} cases)")


def _window_partition(p, shape):
    try:
        y = maxvit.WindowPartition()(torch.randn(1, *shape), p)
    except Exception as exc:
        return {"error": str(exc).splitlines()[0]}
    return {"output_shape": list(y.shape[1:])}


def _window_departition(p, hp, wp, shape):
    try:
        y = maxvit.WindowDepartition()(torch.randn(1, *shape), p, hp, wp)
    except Exception as exc:
        return {"error": str(exc).splitlines()[0]}
    return {"output_shape": list(y.shape[1:])}


if __name__ == "__main__":
    main()
