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
import json
from pathlib import Path

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

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


def shape_key(shape: tuple[int, ...]) -> str:
    """`(3, 224, 224)` -> `"3x224x224"`, cnncalc's dimension-string spelling."""
    return "x".join(str(n) for n in shape)


def build(name: str) -> tuple[torch.nn.Module, str]:
    """Construct one model with random weights in eval mode, and the call that built it."""
    fn_name, kwargs = MODELS[name]
    args = ", ".join(["weights=None"] + [f"{k}={v!r}" for k, v in kwargs.items()])
    model = getattr(torchvision.models, fn_name)(weights=None, **kwargs)
    return model.eval(), f"torchvision.models.{fn_name}({args})"


def expected_macs(module: torch.nn.Module, in_shape: list[int], out_shape: list[int]) -> int | None:
    """The contract's MACs for a Conv2d or Linear call (None for any other leaf)."""
    if isinstance(module, torch.nn.Conv2d):
        c_out, h_out, w_out = out_shape
        kh, kw = module.kernel_size
        return c_out * h_out * w_out * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, torch.nn.Linear):
        if in_shape[-1] != module.in_features or out_shape[-1] != module.out_features:
            raise AssertionError(f"Linear shapes {in_shape} -> {out_shape} do not match {module}")
        rows = 1
        for n in in_shape[:-1]:
            rows *= n
        return rows * module.in_features * module.out_features
    return None


def trace(model: torch.nn.Module, shape: tuple[int, ...]) -> dict:
    """Run one batch-1 forward pass and return its MACs, output shape and leaf-module rows."""
    leaves = {name: m for name, m in model.named_modules() if next(m.children(), None) is None}
    rows: list[dict] = []
    calls: list[tuple[str, torch.nn.Module, int]] = []  # (name, module, per-call MACs)
    counter = FlopCounterMode(display=False)
    before: dict[str, list[int]] = {}

    def pre_hook(name):
        def hook(module, inputs):
            before.setdefault(name, []).append(counter.get_total_flops())
        return hook

    def post_hook(name):
        def hook(module, inputs, output):
            flops = counter.get_total_flops() - before[name].pop()
            in_shape = list(inputs[0].shape[1:])
            out_shape = list(output.shape[1:])
            rows.append({"name": name, "type": type(module).__name__,
                         "input_shape": in_shape, "output_shape": out_shape,
                         "params": sum(p.numel() for p in module.parameters(recurse=False)),
                         "macs": None})
            calls.append((name, module, flops))
        return hook

    handles = []
    for name, module in leaves.items():
        handles.append(module.register_forward_pre_hook(pre_hook(name)))
        handles.append(module.register_forward_hook(post_hook(name)))
    try:
        with torch.no_grad(), counter:
            out = model(torch.zeros((1, *shape)))
    finally:
        for handle in handles:
            handle.remove()

    total_flops = counter.get_total_flops()
    per_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    prefix = type(model).__name__ + "."
    calls_per_name: dict[str, list[int]] = {}
    for name, _, flops in calls:
        calls_per_name.setdefault(name, []).append(flops)

    for row, (name, module, flops) in zip(rows, calls):
        # The flop counter attributes FLOPs per module (summed over calls); split it per call.
        module_flops = per_module.get(prefix + name, 0)
        if sum(calls_per_name[name]) != module_flops:
            raise AssertionError(f"{name}: per-call FLOPs {calls_per_name[name]} != counter's {module_flops}")
        if module_flops % 2:
            raise AssertionError(f"{name}: odd FLOP count {module_flops}")
        row["macs"] = flops // 2
        want = expected_macs(module, row["input_shape"], row["output_shape"])
        if want is None:
            if row["macs"] != 0:
                raise AssertionError(f"{name} ({row['type']}) has {row['macs']} MACs, the contract says 0")
        elif row["macs"] != want:
            raise AssertionError(f"{name} ({row['type']}): counter {row['macs']} MACs, contract {want}")

    macs = total_flops // 2
    if sum(row["macs"] for row in rows) != macs:
        raise AssertionError(f"leaf MACs sum {sum(r['macs'] for r in rows)} != total {macs}")
    return {"input_shape": list(shape), "macs": macs, "output_shape": list(out.shape[1:]), "layers": rows}


def runs(model: torch.nn.Module, size: int) -> str | None:
    """None if a 1x3xSxS input runs, else the first line of torch's error message."""
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    except Exception as error:  # torch raises RuntimeError, ValueError, ... depending on the layer
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    return None


def min_square_input(model: torch.nn.Module) -> tuple[int, dict[str, str]]:
    """The smallest S whose 3xSxS input runs, and torch's rejection of (S-1) (none when S is 1)."""
    first_error = {}
    for size in range(1, MAX_SCAN + 1):
        error = runs(model, size)
        if error is None:
            break
        first_error[size] = error
    else:
        raise AssertionError(f"no square input up to {MAX_SCAN} runs")
    for above in range(size + 1, size + ABOVE_MIN_CHECKED):
        if runs(model, above) is not None:
            raise AssertionError(f"{size} runs but {above} does not: the minimum is not a threshold")
    rejects = {} if size == 1 else {shape_key((3, size - 1, size - 1)): first_error[size - 1]}
    return size, rejects


def three_sig(x: float) -> float:
    """`x` rounded to 3 significant digits."""
    return float(f"{x:.3g}")


def describe(name: str) -> dict:
    """Every recorded fact about one model."""
    torch.manual_seed(0)
    model, constructor = build(name)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for bname, b in model.named_buffers() if not bname.endswith("num_batches_tracked"))
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


def dumps(document: dict) -> str:
    """Compact JSON with one layer row per line, so diffs of the golden file stay readable."""
    lines = ["{"]
    header = {k: v for k, v in document.items() if k != "models"}
    lines += [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
    lines.append('"models": {')
    models = list(document["models"].items())
    for i, (name, facts) in enumerate(models):
        scalars = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in facts.items() if k != "inputs")
        lines.append(f"{json.dumps(name)}: {{{scalars}, \"inputs\": {{")
        entries = list(facts["inputs"].items())
        for j, (key, entry) in enumerate(entries):
            head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entry.items() if k != "layers")
            lines.append(f"{json.dumps(key)}: {{{head}, \"layers\": [")
            lines.append(",\n".join(json.dumps(row) for row in entry["layers"]))
            lines.append("]}" + ("," if j < len(entries) - 1 else ""))
        lines.append("}}" + ("," if i < len(models) - 1 else ""))
    lines.append("}}")
    return "\n".join(lines) + "\n"


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
    if json.loads(text) != document:
        raise AssertionError("the compact writer does not round-trip")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text):,d} bytes)")


if __name__ == "__main__":
    main()
