"""Write tests/golden/saved_for_backward*.json: the bytes autograd keeps for backward in torchvision's networks.

Ground truth for cnncalc's training-memory rules ("saved_for_backward"). Run it from the repository
root inside the torchvision virtualenv (never install torchvision into the Python the tests use)::

    /opt/tvenv/bin/python tools/make_golden_memory.py               # about 25 minutes on 2 cores
    /opt/tvenv/bin/python tools/make_golden_memory.py --only resnet50 vit_b_16   # print only

Models: every network of tests/golden/torchvision.json (built as tools/make_golden.py builds them,
at 3x224x224) and every network of tools/make_golden_v2.py (at its default input). Each is built
with weights=None, seed 0, float32, in train mode (Dropout and StochasticDepth active, BatchNorm
using batch statistics), and run at batch 1 and batch 2 on CPU with x = zeros(batch, *input).

Method (the issue's): during the forward pass y = model(x) (segmentation: y = model(x)["out"]),
torch.autograd.graph.saved_tensors_hooks sees every tensor autograd saves for backward. Each saved
tensor is reduced to its underlying storage (tensor.untyped_storage(), keyed by data_ptr); every
storage counts once, whatever number of nodes or views save it, with its whole nbytes (a saved
view of a bigger tensor, e.g. ShuffleNet's chunk or DenseNet's concatenation, costs the whole
storage). Storages of parameters (the weights that conv and linear nodes save, also through views
such as Linear's weight.t()) are excluded. What is included and reported apart:
  input_bytes: the input x, which the first convolution saves (it is counted in bytes);
  buffer_bytes: BatchNorm's running_mean/running_var, which NativeBatchNormBackward0 saves (counted
    in bytes; they exist in eval too, so activation-only memory is bytes - buffer_bytes - input_bytes).
bytes is what the issue calibrated: resnet50, batch 1, 3x224x224 gives 86,334,464 (86.3 MB).

Breakdown (by_node): walk y.grad_fn's graph (every node reachable through next_functions), sort the
nodes by creation order (Node._sequence_nr(), i.e. forward order), read each node's `_saved_*`
attributes (a tensor or a tuple/list of tensors; ints, sizes and None are skipped), and attribute
each storage to the first node that saved it: by_node[node type] = {nodes of that type in the
graph, saved: the tensors they saved (parameters left out), storages: how many storages were first
saved there, bytes: those storages' bytes}; node types that save nothing but parameters are left
out. The storages reached this way must be exactly those the hooks saw (checked), so by_node's
bytes add up to bytes.

Per-tensor rows (saved_for_backward_tensors.json.gz, batch 1 only): one row per (node, saved
attribute, tensor), in creation order (a node's attributes alphabetically): node type, the module
whose forward created the node (the innermost module call whose span of sequence numbers contains
the node's; "" for the model's own forward), the attribute name without "_saved_", the saved tensor's shape and dtype, the storage's
nbytes, kind (activation, buffer or input) and `new` (true on the storage's first row; the bytes of
the new rows add up to bytes). Parameters' rows are left out.

Each model is also measured on the meta device (no arithmetic, same autograd formulas); where that
differs from CPU the meta figures are recorded as `meta` (attention: on meta,
scaled_dot_product_attention runs its math path, which saves the attention probabilities, while CPU
runs _scaled_dot_product_flash_attention_for_cpu, which saves q, k, v, the output and logsumexp).
A model whose CPU pass would need more than MEMORY_BUDGET (5 GiB: params + saved bytes at batch 2,
estimated on meta first; the machine is shared) is measured on CPU at a smaller input, recorded as
input_shape (default_input says what the other files use), and its meta figures at the default
input are recorded as meta_default (meta agrees with CPU for every network without attention).
"""

from __future__ import annotations

import argparse
import bisect
import copy
import gzip
import json
import time
from pathlib import Path

import make_golden
import make_golden_v2
import torch
import torchvision
from golden_torchvision import model_output, shape_key

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "tests" / "golden" / "saved_for_backward.json"
TENSORS = ROOT / "tests" / "golden" / "saved_for_backward_tensors.json.gz"
BATCHES = (1, 2)
# params + saved bytes at batch 2 above this run on CPU at a smaller input: the machine is shared
MEMORY_BUDGET = 5 * 2**30
SMALLER_INPUTS = ((3, 320, 320), (3, 224, 224))  # tried in order when the default does not fit


def models() -> dict[str, tuple]:
    """golden name -> (build function, family, default input)."""
    found = {name: (lambda name=name: make_golden.build(name), "classification", (3, 224, 224))
             for name in make_golden.MODELS}
    for family, names in make_golden_v2.FAMILIES.items():
        for name in names:
            found[name] = (lambda name=name: make_golden_v2.build(name), family, None)
    return found


def storage_key(tensor: torch.Tensor):
    """The identity of a tensor's storage: its data pointer (meta tensors have none: the StorageImpl's)."""
    storage = tensor.untyped_storage()
    return storage._cdata if tensor.device.type == "meta" else storage.data_ptr()


def saved_tensors(node) -> list[tuple[str, torch.Tensor]]:
    """(attribute name without "_saved_", tensor) for every tensor an autograd node saved.

    An in-place op on a view (Dropout(inplace=True) after flatten) is recorded as CopySlices, whose
    wrapped node (the MulBackward0 holding the dropout mask) is not among next_functions: its saved
    tensors are read through CopySlices._wrapped_node.
    """
    found = []
    for attribute in dir(node):
        if not attribute.startswith("_saved_"):
            continue
        value = getattr(node, attribute)
        items = value if isinstance(value, (tuple, list)) else [value]
        found += [(attribute[len("_saved_"):], item) for item in items if isinstance(item, torch.Tensor)]
    wrapped = getattr(node, "_wrapped_node", None)
    return found + (saved_tensors(wrapped) if wrapped is not None else [])


def node_type(node) -> str:
    """The node's class name; CopySlices[MulBackward0] for an in-place op on a view."""
    wrapped = getattr(node, "_wrapped_node", None)
    return type(node).__name__ + (f"[{type(wrapped).__name__}]" if wrapped is not None else "")


def graph_nodes(root) -> list:
    """Every node reachable from `root` through next_functions, in creation (forward) order."""
    seen, stack = {}, [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen[node] = node._sequence_nr()
        stack.extend(next_node for next_node, _ in node.next_functions)
    return sorted(seen, key=seen.get)


class ModuleSpans:
    """Which module call created which autograd node: each call's span of sequence numbers.

    A probe node (a clone of a scalar that requires grad, saving nothing) is created before and after
    every module call; the nodes the call creates have sequence numbers between the two.
    """

    def __init__(self, model: torch.nn.Module):
        self.spans: list[tuple[int, int, int, str]] = []  # (depth, start, end, name)
        self._stack: list[int] = []
        self._probe = torch.zeros((), requires_grad=True)
        self._handles = []
        for name, module in model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._enter))
            self._handles.append(module.register_forward_hook(self._leave(name)))

    def _sequence_nr(self) -> int:
        with torch.enable_grad():
            return self._probe.clone().grad_fn._sequence_nr()

    def _enter(self, module, inputs):
        self._stack.append(self._sequence_nr())

    def _leave(self, name: str):
        def hook(module, inputs, output):
            start = self._stack.pop()
            self.spans.append((len(self._stack), start, self._sequence_nr(), name))
        return hook

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def names(self, sequence_nrs: list[int]) -> list[str]:
        """The innermost module call around each (sorted) sequence number."""
        names = [""] * len(sequence_nrs)
        for _, start, end, name in sorted(self.spans):  # outer calls first, inner ones overwrite
            first, last = bisect.bisect_right(sequence_nrs, start), bisect.bisect_left(sequence_nrs, end)
            names[first:last] = [name] * (last - first)
        return names


def measure(model: torch.nn.Module, shape: tuple[int, ...], batch: int) -> tuple[dict, list[dict]]:
    """Saved bytes of one train-mode forward pass: totals, by_node and the per-tensor rows."""
    device = next(model.parameters()).device
    params = {storage_key(p) for p in model.parameters()}
    buffers = {storage_key(b) for b in model.buffers()}
    x = torch.zeros((batch, *shape), device=device)
    packed: dict = {}

    def pack(tensor):
        key = storage_key(tensor)
        if key not in params:
            packed.setdefault(key, tensor.untyped_storage().nbytes())
        # Same storage, no grad_fn: a saved output packed with its grad_fn would be a reference
        # cycle through C++ (node -> saved tensor -> node) that keeps every graph alive.
        return tensor.detach()

    spans = ModuleSpans(model)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            y = model_output(model(x))
    finally:
        spans.remove()

    nodes = graph_nodes(y.grad_fn)
    modules = spans.names([node._sequence_nr() for node in nodes])
    kinds = {storage_key(x): "input", **{key: "buffer" for key in buffers}}
    rows, by_node, first = [], {}, set()
    for node, module in zip(nodes, modules):
        entry = by_node.setdefault(node_type(node), {"nodes": 0, "saved": 0, "storages": 0, "bytes": 0})
        entry["nodes"] += 1
        for attribute, tensor in saved_tensors(node):
            key = storage_key(tensor)
            if key in params:
                continue
            if key not in packed:  # a Python number operand (x * 0.5) is saved as a 0-d tensor, unhooked
                if tensor.dim():
                    raise AssertionError(f"{node_type(node)}.{attribute} {tuple(tensor.shape)} bypassed the hooks")
                continue
            entry["saved"] += 1
            nbytes = tensor.untyped_storage().nbytes()
            new = key not in first
            first.add(key)
            if new:
                entry["storages"] += 1
                entry["bytes"] += nbytes
            rows.append({"node": node_type(node), "module": module, "saved": attribute,
                         "shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch."),
                         "bytes": nbytes, "kind": kinds.get(key, "activation"), "new": new})
    if first != set(packed):
        raise AssertionError(f"the graph's saved storages differ from the hooks': {len(first)} vs {len(packed)}")
    total = sum(packed.values())
    input_bytes = packed.get(storage_key(x), 0)
    buffer_bytes = sum(n for key, n in packed.items() if key in buffers)
    summary = {"bytes": total, "input_bytes": input_bytes, "buffer_bytes": buffer_bytes,
               "activation_bytes": total - input_bytes - buffer_bytes,
               "by_node": {kind: entry for kind, entry in sorted(by_node.items()) if entry["saved"]}}
    return summary, rows


def run(model: torch.nn.Module, shape: tuple[int, ...], batch: int) -> tuple[dict, list[dict]]:
    """measure(), or torch's first error line (BatchNorm refuses one value per channel in training)."""
    torch.manual_seed(0)  # Dropout's and StochasticDepth's draws do not change what is saved, only values
    try:
        return measure(model, shape, batch)
    except ValueError as error:
        return {"error": str(error).strip().splitlines()[0]}, []


def param_bytes(model: torch.nn.Module) -> int:
    """Bytes of all parameters."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def describe(name: str, build, default) -> tuple[dict, list[dict]]:
    """The batch-1 and batch-2 measurements of one model, and its batch-1 rows."""
    torch.manual_seed(0)
    model, constructor = build()
    model.train()
    if default is None:
        default = make_golden_v2.default_input(name, model)
    on_meta = copy.deepcopy(model).to("meta")
    at_default = None
    for shape in (default, *((*default[:-2], *smaller[-2:]) for smaller in SMALLER_INPUTS)):
        meta = {str(batch): run(on_meta, shape, batch)[0] for batch in BATCHES}
        at_default = at_default or meta
        if param_bytes(model) + meta[str(BATCHES[-1])].get("bytes", 0) <= MEMORY_BUDGET:
            break
    facts = {"constructor": constructor, "default_input": shape_key(default), "input_shape": list(shape),
             "batches": {}}
    if shape != default:
        facts["meta_default"] = at_default
    rows = []
    for batch in BATCHES:
        measured, batch_rows = run(model, shape, batch)
        facts["batches"][str(batch)] = measured
        if batch == 1:
            rows = batch_rows
    if meta != facts["batches"]:
        facts["meta"] = meta
    return facts, rows


SECTIONS = ("batches", "meta", "meta_default")  # per-batch measurements, one line each


def dumps(document: dict) -> str:
    """JSON with one line per model and batch, so diffs stay readable."""
    lines = ["{"]
    lines += [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in document.items() if k != "models"]
    lines.append('"models": {')
    entries = list(document["models"].items())
    for i, (name, facts) in enumerate(entries):
        head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in facts.items() if k not in SECTIONS)
        parts = [f"{json.dumps(name)}: {{{head},"]
        for section in SECTIONS:
            if section in facts:
                items = [f"  {json.dumps(b)}: {json.dumps(m)}" for b, m in facts[section].items()]
                parts.append(f" {json.dumps(section)}: {{\n" + ",\n".join(items) + "},")
        parts[-1] = parts[-1].rstrip(",")
        lines.append("\n".join(parts) + "}" + ("," if i < len(entries) - 1 else ""))
    lines.append("}}")
    text = "\n".join(lines) + "\n"
    if json.loads(text) != document:
        raise AssertionError("the compact writer does not round-trip")
    return text


def record(name: str) -> tuple[dict, list[dict]]:
    """describe() one model by name, with its family."""
    build, family, default = models()[name]
    facts, rows = describe(name, build, default)
    return {"family": family, **facts}, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="MODEL", help="measure these models, print, write nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    known = models()
    header = {"generator": "tools/make_golden_memory.py", "torch": torch.__version__,
              "torchvision": torchvision.__version__, "dtype": "float32", "batches": list(BATCHES)}
    summary = {**header, "models": {}}
    tensors = {**header, "batch": 1, "models": {}}
    for name in args.only or known:
        began = time.time()
        facts, rows = record(name)
        summary["models"][name] = facts
        tensors["models"][name] = rows
        saved = [facts["batches"][str(b)].get("bytes", facts["batches"][str(b)].get("error")) for b in BATCHES]
        note = "  meta differs" if "meta" in facts else ""
        print(f"{name:28s} {shape_key(facts['input_shape']):>14s}  saved b1 {saved[0]}  b2 {saved[1]}{note}"
              f"  {time.time() - began:.0f}s", flush=True)
    if args.only:
        return
    SUMMARY.write_text(dumps(summary))
    text = json.dumps(tensors, separators=(",", ":")).replace('},{"node"', '},\n{"node"')
    TENSORS.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    print(f"wrote {SUMMARY} and {TENSORS} ({TENSORS.stat().st_size:,d} bytes) in {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
