"""Write tests/golden/torchvision.json: torchvision's own shapes, params and MACs for cnncalc's zoo.

The tests compare cnncalc's model zoo with these committed facts, so they never need torchvision.
Run it from the repository root inside a separate virtualenv that has torchvision (never install
torchvision into the Python the tests use)::

    python -m venv /opt/tvenv
    /opt/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /opt/tvenv/bin/python tools/make_golden.py            # writes tests/golden/torchvision.json

For every model (weights=None, eval mode, batch 1, torch.no_grad) it records params, buffers
(BatchNorm running statistics, not num_batches_tracked), the smallest square input that runs and the
first line of torch's error one pixel below it, and for each input size: the total MACs
(torch.utils.flop_counter FLOPs // 2), the unbatched output shape and every leaf-module call in
forward order (a module called twice appears twice) with its shapes, own params and MACs.
Shapes are unbatched, as in cnncalc: (C, H, W) or (F,).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torchvision
from golden_torchvision import count_buffers, dumps, scan_minimum, shape_key, trace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "tests" / "golden" / "torchvision.json"

# golden name -> (torchvision constructor name, extra keyword arguments)
MODELS: dict[str, tuple[str, dict]] = {
    "alexnet_torchvision": ("alexnet", {}),
    **{name: (name, {}) for name in (
        "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")},
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False, "transform_input": False}),
    **{name: (name, {}) for name in (
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "densenet121", "densenet169", "densenet201",
        "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "squeezenet1_0", "squeezenet1_1",
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3")},
}

# Published figures (torchvision's model docs): params exactly, MACs at 3x224x224 to 3 significant digits.
PUBLISHED: dict[str, tuple[int, float]] = {
    "resnet18": (11_689_512, 1.814e9),
    "resnet50": (25_557_032, 4.089e9),
    "vgg16": (138_357_544, 15.47e9),
    "densenet121": (7_978_856, 2.834e9),
    "googlenet": (6_624_904, 1.498e9),
    "mobilenet_v2": (3_504_872, 0.301e9),
    "mobilenet_v3_large": (5_483_032, 0.217e9),
    "mobilenet_v3_small": (2_542_856, 0.0565e9),
    "efficientnet_b0": (5_288_548, 0.386e9),
    "alexnet_torchvision": (61_100_840, 0.714e9),
}

STANDARD_INPUTS = ((3, 224, 224), (3, 199, 257))  # the usual size and an odd, non-square one
MAX_SCAN = 512  # the minimum-size scan gives up here (no listed model needs more than 32)
ABOVE_MIN_CHECKED = 16  # sizes just above the minimum that must also run (the scan's answer is a threshold)


def build(name: str) -> tuple[torch.nn.Module, str]:
    """Construct one model with random weights in eval mode, and the call that built it."""
    fn_name, kwargs = MODELS[name]
    args = ", ".join(["weights=None"] + [f"{k}={v!r}" for k, v in kwargs.items()])
    model = getattr(torchvision.models, fn_name)(weights=None, **kwargs)
    return model.eval(), f"torchvision.models.{fn_name}({args})"


def min_square_input(model: torch.nn.Module) -> tuple[int, dict[str, str]]:
    """The smallest S whose 3xSxS input runs, and torch's rejection of (S-1) (none when S is 1)."""
    found = scan_minimum(model, lambda size: (3, size, size), MAX_SCAN, ABOVE_MIN_CHECKED)
    if not found["threshold"]:
        raise AssertionError(f"{found['minimum']} runs but not all of the next sizes: {found['accepted']}")
    return found["minimum"], found["rejects"]


def three_sig(x: float) -> float:
    """`x` rounded to 3 significant digits."""
    return float(f"{x:.3g}")


def describe(name: str) -> dict:
    """Every recorded fact about one model."""
    torch.manual_seed(0)
    model, constructor = build(name)
    params = sum(p.numel() for p in model.parameters())
    buffers = count_buffers(model)
    smallest, rejects = min_square_input(model)
    inputs = {}
    for shape in (*STANDARD_INPUTS, (3, smallest, smallest)):
        inputs.setdefault(shape_key(shape), trace(model, shape))
    if name in PUBLISHED:
        want_params, want_macs = PUBLISHED[name]
        macs = inputs["3x224x224"]["macs"]
        if params != want_params:
            raise AssertionError(f"{name}: {params} params, published {want_params}")
        if three_sig(macs) != three_sig(want_macs):
            raise AssertionError(f"{name}: {macs} MACs at 224, published {want_macs:.4g}")
    return {"constructor": constructor, "params": params, "buffers": buffers,
            "min_square_input": smallest, "rejects": rejects, "inputs": inputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine is shared; shapes and counts do not depend on threads
    document = {"generator": "tools/make_golden.py", "torch": torch.__version__,
                "torchvision": torchvision.__version__, "models": {}}
    for name in MODELS:
        facts = describe(name)
        document["models"][name] = facts
        print(f"{name:20s} params {facts['params']:>11,d}  MACs@224 {facts['inputs']['3x224x224']['macs']:>14,d}"
              f"  min {facts['min_square_input']}", flush=True)
    text = dumps(document)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text):,d} bytes)")


if __name__ == "__main__":
    main()
