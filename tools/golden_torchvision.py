"""What the golden-data recorders share: tracing a torchvision model's forward with torch's flop counter.

Imported by tools/make_golden.py, tools/make_golden_v2.py and tools/make_golden_memory.py (run them as
scripts from the repository root inside the torchvision virtualenv; tools/ is on sys.path then).
Conventions: shapes are unbatched, as in cnncalc, and written "3x224x224"; MACs are
torch.utils.flop_counter FLOPs // 2; buffers exclude BatchNorm's num_batches_tracked.
"""

from __future__ import annotations

import json
import math

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT_KEY = "Global"  # the flop counter's key for the whole forward pass


def shape_key(shape: tuple[int, ...]) -> str:
    """`(3, 224, 224)` -> `"3x224x224"`, cnncalc's dimension-string spelling."""
    return "x".join(str(n) for n in shape)


def count_buffers(model: torch.nn.Module) -> int:
    """Buffer elements, without BatchNorm's num_batches_tracked (cnncalc's convention)."""
    return sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))


def leaf_modules(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The modules without children, by qualified name."""
    return {name: m for name, m in model.named_modules() if next(m.children(), None) is None}


def first_tensor(value) -> torch.Tensor | None:
    """The first tensor in a module's inputs or outputs (a tensor, a tuple/list of them, or a dict)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def expected_macs(module: torch.nn.Module, in_shape: list[int], out_shape: list[int]) -> int | None:
    """The contract's MACs for a ConvNd or Linear call (None for any other leaf).

    Conv: C_out * prod(output spatial) * (C_in / groups) * prod(kernel); Linear: rows * in * out.
    """
    if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
        c_out, *spatial = out_shape
        return c_out * math.prod(spatial) * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, torch.nn.Linear):
        if in_shape[-1] != module.in_features or out_shape[-1] != module.out_features:
            raise AssertionError(f"Linear shapes {in_shape} -> {out_shape} do not match {module}")
        return math.prod(in_shape[:-1]) * module.in_features * module.out_features
    return None


def model_output(out):
    """The tensor a model returns: segmentation models return a dict whose 'out' entry is the map."""
    return out["out"] if isinstance(out, dict) else out


def trace(model: torch.nn.Module, shape: tuple[int, ...], device: str = "cpu", strict: bool = True) -> dict:
    """Run one batch-1 forward pass (no_grad) under the flop counter and return what it saw.

    Returns input_shape, macs, output_shape, layers (one row per leaf-module call, in call order:
    name, type, input/output shapes, own params, MACs of that call), and:
      ops: the counter's per-operator FLOPs for the whole pass ("aten.convolution" -> FLOPs);
      unattributed: MACs counted while a non-leaf module ran but no leaf inside it did (attention's
        matmuls, F.linear on a child's weight, ...): one entry per such module with its type, own
        params and the counter's operators; leaf MACs + unattributed MACs == macs.
    `strict` (make_golden.py's contract) requires every MAC to lie in a leaf.
    The model must already be on `device`; "meta" runs no arithmetic at all.
    """
    leaves = leaf_modules(model)
    rows: list[dict] = []
    calls: list[tuple[str, torch.nn.Module, int]] = []  # (name, module, per-call FLOPs)
    counter = FlopCounterMode(display=False)
    before: dict[str, list[int]] = {}

    def pre_hook(name):
        def hook(module, inputs):
            before.setdefault(name, []).append(counter.get_total_flops())
        return hook

    def post_hook(name):
        def hook(module, inputs, output):
            flops = counter.get_total_flops() - before[name].pop()
            first_in, first_out = first_tensor(inputs), first_tensor(output)
            rows.append({"name": name, "type": type(module).__name__,
                         "input_shape": None if first_in is None else list(first_in.shape[1:]),
                         "output_shape": None if first_out is None else list(first_out.shape[1:]),
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
            out = model_output(model(torch.zeros((1, *shape), device=device)))
    finally:
        for handle in handles:
            handle.remove()

    total_flops = counter.get_total_flops()
    counts = counter.get_flop_counts()
    per_module = {name: sum(ops.values()) for name, ops in counts.items()}
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
    leaf_macs = sum(row["macs"] for row in rows)
    result = {"input_shape": list(shape), "macs": macs, "output_shape": list(out.shape[1:])}
    if strict:
        if leaf_macs != macs:
            raise AssertionError(f"leaf MACs sum {leaf_macs} != total {macs}")
        return {**result, "layers": rows}
    unattributed = unattributed_macs(model, counts, set(leaves))
    if leaf_macs + sum(entry["macs"] for entry in unattributed) != macs:
        raise AssertionError(f"leaf MACs {leaf_macs} + unattributed {unattributed} != total {macs}")
    ops = {str(op): flops for op, flops in counts.get(ROOT_KEY, {}).items()}
    return {**result, "leaf_macs": leaf_macs, "unattributed_macs": macs - leaf_macs,
            "ops": ops, "unattributed": unattributed, "layers": rows}


def unattributed_macs(model: torch.nn.Module, counts: dict[str, dict], leaves: set[str]) -> list[dict]:
    """The non-leaf modules whose own forward code (not a submodule's) the counter charged FLOPs to.

    A module's own FLOPs = the counter's FLOPs for it minus those of its nearest descendants that
    the counter charged (a ModuleList is never called: its children run inside its owner's forward).
    The root's own FLOPs are the whole pass's minus those of its nearest charged descendants.
    """
    prefix = type(model).__name__

    def key(name: str) -> str:
        return f"{prefix}.{name}" if name else ROOT_KEY

    def charged_below(module: torch.nn.Module, name: str) -> list[str]:
        found = []
        for child_name, child in module.named_children():
            full = f"{name}.{child_name}" if name else child_name
            found += [full] if key(full) in counts else charged_below(child, full)
        return found

    entries = []
    for name, module in model.named_modules():
        if name in leaves or (name and key(name) not in counts):
            continue
        own = {str(op): n for op, n in counts[key(name)].items()}
        for below in charged_below(module, name):
            for op, n in counts[key(below)].items():
                own[str(op)] -= n
        own = {op: n for op, n in own.items() if n}
        if any(n < 0 or n % 2 for n in own.values()):
            raise AssertionError(f"{name or '<root>'}: own FLOPs {own} (a submodule ran outside its parent?)")
        if own:
            entries.append({"name": name, "type": type(module).__name__,
                            "params": sum(p.numel() for p in module.parameters(recurse=False)),
                            "macs": sum(own.values()) // 2, "ops": own})
    return entries


def runs(model: torch.nn.Module, shape: tuple[int, ...]) -> str | None:
    """None if a batch-1 input of `shape` runs (eval, no_grad), else the first line of torch's error."""
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros((1, *shape), device=device))
    except Exception as error:  # torch raises RuntimeError, ValueError, ... depending on the layer
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    return None


def scan_minimum(model: torch.nn.Module, make_shape, limit: int, above: int) -> dict:
    """The smallest n <= limit for which make_shape(n) runs, torch's rejection of n - 1, and whether
    it is a threshold (the next `above` sizes run too); when it is not, which of them run."""
    first_error = {}
    for size in range(1, limit + 1):
        error = runs(model, make_shape(size))
        if error is None:
            break
        first_error[size] = error
    else:
        raise AssertionError(f"no input up to {make_shape(limit)} runs")
    accepted = [n for n in range(size, size + above) if runs(model, make_shape(n)) is None]
    rejects = {} if size == 1 else {shape_key(make_shape(size - 1)): first_error[size - 1]}
    return {"minimum": size, "rejects": rejects, "threshold": accepted == list(range(size, size + above)),
            "accepted": accepted}


def dumps(document: dict) -> str:
    """Compact JSON with one layer row per line, so diffs of the golden file stay readable.

    document = {header keys..., "models": {name: {scalars..., "inputs": {size: {head..., "layers": [...]}}}}};
    an input without "layers" is written on one line.
    """
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
            comma = "," if j < len(entries) - 1 else ""
            head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entry.items() if k != "layers")
            if "layers" not in entry:
                lines.append(f"{json.dumps(key)}: {{{head}}}{comma}")
                continue
            lines.append(f"{json.dumps(key)}: {{{head}, \"layers\": [")
            lines.append(",\n".join(json.dumps(row) for row in entry["layers"]))
            lines.append("]}" + comma)
        lines.append("}}" + ("," if i < len(models) - 1 else ""))
    lines.append("}}")
    text = "\n".join(lines) + "\n"
    if json.loads(text) != document:
        raise AssertionError("the compact writer does not round-trip")
    return text
