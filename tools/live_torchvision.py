"""Golden data for the live path: every torchvision classification, segmentation and video builder,
built with weights=None, analysed by ``cnncalc.analyze(module, shape)`` and by torch itself (parameters,
MACs = torch.utils.flop_counter FLOPs / 2, output shape); writes tests/golden/live_torchvision.json.

torchvision needs a torch that loads it (torch 2.14.1 with torchvision 0.29.1 at /opt/tvenv here), so
this runs outside the test suite, with cnncalc on the path:

    PYTHONPATH=. /opt/tvenv/bin/python tools/live_torchvision.py [NAME ...]

The suite reads the JSON without torchvision (tests/test_frontends_live.py).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "live_torchvision.json"
SHAPES = {"inception_v3": (3, 299, 299)}  # torchvision's own input sizes where 224 is not the default
VIDEO = (3, 16, 112, 112)
VIDEO_224 = {"mvit_v1_b", "mvit_v2_s", "s3d", "swin3d_t", "swin3d_s", "swin3d_b"}


def builders():
    from torchvision import models

    out = [("classification", n) for n in models.list_models(module=models)]
    out += [("segmentation", n) for n in models.list_models(module=models.segmentation)]
    out += [("video", n) for n in models.list_models(module=models.video)]
    return out


def shape_for(kind, name):
    if kind == "video":
        return (3, 16, 224, 224) if name in VIDEO_224 else VIDEO
    return SHAPES.get(name, (3, 224, 224))


def build(kind, name):
    from torchvision import models

    kwargs = {"weights": None}
    if kind == "segmentation":
        kwargs["weights_backbone"] = None
    return models.get_model(name, **kwargs).eval()


def torch_numbers(module, shape):
    """torch's own count. Its flop counter does not see nn.MultiheadAttention's fused eval path nor the
    fused CPU attention kernels, so a network with attention is counted in train mode (no fused path)
    with the math attention backend (plain matrix products): the same operations, all visible."""
    import contextlib

    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    attention = any(isinstance(m, torch.nn.MultiheadAttention) for m in module.modules())
    mode = sdpa_kernel(SDPBackend.MATH) if attention else contextlib.nullcontext()
    module.train(attention)
    with mode, FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.zeros((1,) + shape))
    module.eval()
    if isinstance(out, dict):
        out = out["out"]
    elif isinstance(out, (tuple, list)):
        out = out[0]
    return {"params": sum(p.numel() for p in module.parameters()), "macs": counter.get_total_flops() // 2,
            "output_shape": list(out.shape[1:])}


def cnncalc_numbers(module, shape):
    import cnncalc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cnncalc.ShapeWarning)
        try:
            report = cnncalc.analyze(module, shape)
        except cnncalc.ShapeError as exc:
            return {"error": str(exc)}
    notes = [str(w.message) for w in caught if issubclass(w.category, cnncalc.ShapeWarning) and "not used by" in str(w.message)]
    return {"params": int(report.params), "macs": int(report.macs), "output_shape": [int(d) for d in report.output_shape],
            **({"unused": notes[0]} if notes else {})}


def main(names):
    import torch

    torch.set_num_threads(1)
    golden = json.loads(OUT.read_text()) if OUT.exists() and names else {}
    import torchvision

    golden.setdefault("_versions", {})
    golden["_versions"] = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    for kind, name in builders():
        if names and name not in names:
            continue
        shape = shape_for(kind, name)
        start = time.time()
        module = build(kind, name)
        entry = {"kind": kind, "input_shape": list(shape), "torch": torch_numbers(module, shape),
                 "cnncalc": cnncalc_numbers(module, shape)}
        ours, theirs = entry["cnncalc"], entry["torch"]
        entry["exact"] = "error" not in ours and all(ours[k] == theirs[k] for k in ("params", "macs", "output_shape"))
        # modules forward never uses (auxiliary heads in eval mode): torch counts their parameters, the report not
        entry["exact_forward"] = "error" not in ours and ours["macs"] == theirs["macs"] and \
            ours["output_shape"] == theirs["output_shape"] and ("unused" in ours or ours["params"] == theirs["params"])
        golden[name] = entry
        status = "exact" if entry["exact"] else "forward exact" if entry["exact_forward"] else ours.get("error", ours)
        print(f"{name:28s} {time.time() - start:6.1f}s {status}", flush=True)
        OUT.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    exact = sorted(n for n, e in golden.items() if not n.startswith("_") and e["exact"])
    print(f"{len(exact)} of {len(golden) - 1} exact")


if __name__ == "__main__":
    main(set(sys.argv[1:]))
