"""In-process speed of ``cnncalc.analyze`` on ViT-L/16 and Swin-B, against torchinfo.summary on torchvision's
own networks in the same run.

Target (issue: analysing vit_l_16 or swin_b stays under 10 ms): each concrete analysis at the default
input under 10 ms per call; the ratio against torchinfo is printed. torchvision and torchinfo live in a
separate virtualenv (never in the one the tests use); run from the repository root with cnncalc on the path:

    PYTHONPATH=. /opt/tvenv/bin/python benchmarks/bench_transformers.py

Without torch, torchvision or torchinfo only cnncalc's times are printed.
"""

from __future__ import annotations

import sys
import time

from bench_analyze import best_of  # the same timing as the ResNet benchmark (this folder is on the path)

import cnncalc

NETWORKS = ("vit_l_16", "swin_b")


def main():
    ours = {}
    for name in NETWORKS:
        shape = cnncalc.zoo.describe(name).default_input
        start = time.perf_counter()
        model = cnncalc.model(name)
        build = time.perf_counter() - start
        report = cnncalc.analyze(model, shape, warn=False)
        ours[name] = best_of(lambda: cnncalc.analyze(model, shape, warn=False))
        print(f"cnncalc.analyze {name} {'x'.join(map(str, shape))}: {ours[name] * 1e3:.2f} ms per call "
              f"({len(report.layers)} rows, {report.params:,} params, {report.macs:,} MACs; building the model "
              f"{build * 1e3:.1f} ms once) [target < 10 ms]")
    try:
        import torch
        import torchvision
        from torchinfo import summary
    except ImportError:
        print("torch, torchvision or torchinfo not installed: no peer ratio")
        return 0
    torch.set_num_threads(2)
    for name in NETWORKS:
        net = getattr(torchvision.models, name)(weights=None).eval()
        size = (1,) + cnncalc.zoo.describe(name).default_input
        stats = summary(net, input_size=size, verbose=0)
        report = cnncalc.zoo.describe(name).analyze(warn=False)
        assert stats.total_params == report.params, (name, stats.total_params, report.params)
        peer = best_of(lambda: summary(net, input_size=size, verbose=0), repeat=3, number=1)
        print(f"torchinfo.summary {name}: {peer * 1e3:.0f} ms per call; ratio torchinfo / cnncalc: "
              f"{peer / ours[name]:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
