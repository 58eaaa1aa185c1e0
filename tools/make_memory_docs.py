"""Fill docs/memory.md's agreement table: cnncalc's saved-for-backward bytes against PyTorch's own count.

PyTorch's numbers come from tests/golden/saved_for_backward.json (tools/make_golden_memory.py, run with
torchvision: every torchvision network in train mode, batch 1 and 2, saved_tensors_hooks, one count per
storage, parameters excluded); cnncalc's are computed here, for every network of that file that the zoo
has, at the file's input shape. tests/test_memory.py re-renders the page and compares.

    python tools/make_memory_docs.py [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402

DATA = ROOT / "tests" / "golden" / "saved_for_backward.json"
PAGE = ROOT / "docs" / "memory.md"
MARKER = ("<!-- memory-table -->\n", "<!-- /memory-table -->")
BATCHES = ("1", "2")


def rows(data):
    """(name, input shape, [(torch bytes, cnncalc bytes) per batch]) for each zoo network the data measured."""
    zoo = set(cnncalc.models())
    out = []
    for name, facts in data["models"].items():
        if name not in zoo:
            continue
        shape = tuple(facts["input_shape"])
        report = cnncalc.analyze(cnncalc.model(name), shape, warn=False)
        pairs = [(facts["batches"][b].get("bytes"), report.memory(batch=int(b)).saved_for_backward) for b in BATCHES]
        out.append((name, shape, pairs))
    return out


def table(data):
    lines = [f"PyTorch {data['torch']}, torchvision {data['torchvision']}, {data['dtype']}, train mode:", "",
             "| network | input | batch 1: PyTorch | cnncalc | batch 2: PyTorch | cnncalc | largest difference |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, shape, pairs in rows(data):
        if any(theirs is None for theirs, _ in pairs):  # torch refused to train: both say so
            cells = " | ".join("refused | refused" if theirs is None else f"{theirs:,} | {mine:,}" for theirs, mine in pairs)
            worst = max(abs(mine - theirs) / theirs for theirs, mine in pairs if theirs is not None)
            lines.append(f"| {name} | {'x'.join(map(str, shape))} | {cells} | {worst:.2%} |")
            continue
        worst = max(abs(mine - theirs) / theirs for theirs, mine in pairs)
        cells = " | ".join(f"{theirs:,} | {mine:,}" for theirs, mine in pairs)
        lines.append(f"| {name} | {'x'.join(map(str, shape))} | {cells} | {worst:.2%} |")
    return "\n".join(lines) + "\n"


def fill_page(page, data):
    head, rest = page.split(MARKER[0], 1)
    _, tail = rest.split(MARKER[1], 1)
    return head + MARKER[0] + table(data) + MARKER[1] + tail


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    data = json.loads(args.data.read_text(encoding="utf-8"))
    PAGE.write_text(fill_page(PAGE.read_text(encoding="utf-8"), data), encoding="utf-8")
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
