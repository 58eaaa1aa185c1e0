"""Measure what torchinfo, fvcore, ptflops, torchscan and torch.utils.flop_counter report for three
torchvision networks, beside cnncalc's numbers, and write docs/comparison-data.json.

Run with a Python that has torch, torchvision and the peer tools (not a cnncalc dependency):

    /opt/tvenv/bin/pip install torchinfo fvcore ptflops torchscan
    /opt/tvenv/bin/python tools/compare_peers.py          # measure, write the JSON and the page's tables
    python tools/compare_peers.py --page                  # only re-render docs/comparison.md from the JSON

A tool that is missing or fails is recorded as such; the numbers are never typed in by hand.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncalc  # noqa: E402

DATA = ROOT / "docs" / "comparison-data.json"
PAGE = ROOT / "docs" / "comparison.md"
MARKER = ("<!-- comparison-table -->\n", "<!-- /comparison-table -->")

# torchvision constructor -> cnncalc zoo name
MODELS = {"resnet18": "resnet18", "alexnet": "alexnet_torchvision", "mobilenet_v2": "mobilenet_v2"}
SHAPE = (3, 224, 224)


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _quiet(fn):
    """Run a tool with its printing and warnings silenced; return (value, error text)."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            return fn(), None
    except Exception as exc:  # a peer tool's failure is data, not a crash
        return None, f"{type(exc).__name__}: {exc}"


def torchinfo_numbers(model, x):
    import torchinfo

    stats = torchinfo.summary(model, input_data=x, verbose=0)
    return {"params": stats.total_params, "mult_adds": stats.total_mult_adds}


def fvcore_numbers(model, x):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return {"flops": analysis.total(), "by_operator": dict(analysis.by_operator()),
            "unsupported_ops": dict(analysis.unsupported_ops())}


def ptflops_numbers(model, backend):
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(model, SHAPE, as_strings=False, print_per_layer_stat=False,
                                             backend=backend)
    return {"macs": macs, "params": params}


def torchscan_numbers(model):
    from torchscan import crawl_module

    report = crawl_module(model, SHAPE)
    totals = report["totals"]
    return {key: totals[key].get("value") for key in ("parameters", "module_flops", "operator_flops", "macs", "dmas")
            if key in totals}


def flop_counter_numbers(model, x):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(x)
    return {"flops": counter.get_total_flops()}


def cnncalc_numbers(name):
    report = cnncalc.analyze(cnncalc.model(name), SHAPE, warn=False)
    return {"params": report.params, "macs": report.macs, "flops": report.flops, "extra_ops": report.extra_ops}


def measure(tv_name, zoo_name):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, tv_name)(weights=None).eval()
    x = torch.zeros(1, *SHAPE)
    row = {"torchvision": tv_name, "cnncalc_model": zoo_name, "cnncalc": cnncalc_numbers(zoo_name)}
    with torch.no_grad():
        jobs = {
            "torchinfo": lambda: torchinfo_numbers(model, x),
            "fvcore": lambda: fvcore_numbers(model, x),
            "ptflops_pytorch": lambda: ptflops_numbers(model, "pytorch"),
            "ptflops_aten": lambda: ptflops_numbers(model, "aten"),
            "torchscan": lambda: torchscan_numbers(model),
            "torch_flop_counter": lambda: flop_counter_numbers(model, x),
        }
        for tool, job in jobs.items():
            value, error = _quiet(job)
            row[tool] = value if error is None else {"error": error}
    return row


# (label, JSON path inside a model's entry, what the number is)
ROWS = [
    ("cnncalc", ("cnncalc", "macs"), "MACs"),
    ("torch.utils.flop_counter", ("torch_flop_counter", "flops"), "FLOPs"),
    ("torchinfo", ("torchinfo", "mult_adds"), "Mult-Adds"),
    ("fvcore", ("fvcore", "flops"), '"flops"'),
    ("ptflops (aten backend)", ("ptflops_aten", "macs"), "MACs"),
    ("ptflops (pytorch backend)", ("ptflops_pytorch", "macs"), "MACs"),
    ("torchscan", ("torchscan", "macs"), "MACs"),
    ("torchscan", ("torchscan", "module_flops"), "FLOPs"),
]
VERSIONS = {"torch.utils.flop_counter": "torch", "torchinfo": "torchinfo", "fvcore": "fvcore", "ptflops": "ptflops",
            "torchscan": "torchscan"}


def _get(entry, path):
    value = entry
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def table(data) -> str:
    """The measured numbers as markdown: one table per network, each number beside cnncalc's MACs."""
    versions = data["versions"]
    out = []
    for entry in data["models"]:
        macs = entry["cnncalc"]["macs"]
        out += [f"**{entry['torchvision']}** (torchvision; cnncalc `{entry['cnncalc_model']}`), input "
                f"{'x'.join(str(d) for d in data['input_shape'])}, batch {data['batch']}:", "",
                "| tool | reports | value | value / cnncalc MACs | value - cnncalc MACs |", "|---|---|---:|---:|---:|"]
        for label, path, what in ROWS:
            value = _get(entry, path)
            tool, _, backend = label.partition(" (")
            dist = VERSIONS.get(tool)
            name = f"{tool} {versions.get(dist)}" if dist else tool
            name += f" ({backend}" if backend else ""
            if not isinstance(value, int):
                out.append(f"| {name} | {what} | not available | | |")
                continue
            out.append(f"| {name} | {what} | {value:,} | {value / macs:.4f} | {value - macs:+,} |")
        params = {entry["cnncalc"]["params"]} | {_get(entry, (tool, key)) for tool, key in (
            ("torchinfo", "params"), ("ptflops_aten", "params"), ("ptflops_pytorch", "params"), ("torchscan", "parameters"))}
        agree = "all tools agree" if len(params - {None}) == 1 else "the tools disagree: " + ", ".join(
            f"{p:,}" for p in sorted(params - {None}))
        out += ["", f"Parameters: {entry['cnncalc']['params']:,} ({agree}).", ""]
    return "\n".join(out)


def fill_page(text, data) -> str:
    """The page with the text between the comparison-table markers replaced by ``table(data)``."""
    start, end = MARKER
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + table(data) + "\n" + end + tail


def main():
    if "--page" in sys.argv:  # only re-render the page from the committed data (no torch needed)
        data = json.loads(DATA.read_text(encoding="utf-8"))
        PAGE.write_text(fill_page(PAGE.read_text(encoding="utf-8"), data), encoding="utf-8")
        print(f"wrote {PAGE}")
        return
    data = {
        "input_shape": list(SHAPE),
        "batch": 1,
        "versions": {d: _version(d) for d in ("torch", "torchvision", "torchinfo", "fvcore", "ptflops", "torchscan")},
        "models": [measure(tv, zoo) for tv, zoo in MODELS.items()],
    }
    DATA.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    PAGE.write_text(fill_page(PAGE.read_text(encoding="utf-8"), data), encoding="utf-8")
    print(f"wrote {DATA} and {PAGE}")


if __name__ == "__main__":
    main()
