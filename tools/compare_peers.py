"""Measure what torchinfo, fvcore, ptflops, torchscan and torch.utils.flop_counter report for three
torchvision networks, beside cnncalc's numbers, and write docs/comparison-data.json.

Run with a Python that has torch, torchvision and the peer tools (not a cnncalc dependency):

    /opt/tvenv/bin/pip install torchinfo fvcore ptflops torchscan
    /opt/tvenv/bin/python tools/compare_peers.py

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

import torch  # noqa: E402
import torchvision  # noqa: E402

import cnncalc  # noqa: E402

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


def main():
    data = {
        "input_shape": list(SHAPE),
        "batch": 1,
        "versions": {d: _version(d) for d in ("torch", "torchvision", "torchinfo", "fvcore", "ptflops", "torchscan")},
        "models": [measure(tv, zoo) for tv, zoo in MODELS.items()],
    }
    out = ROOT / "docs" / "comparison-data.json"
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
