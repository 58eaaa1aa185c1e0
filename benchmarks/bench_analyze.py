"""In-process speed of ``cnncalc.analyze`` on ResNet-152, against torchinfo.summary in the same run.

Targets (issue 2): concrete 3x224x224 under 5 ms per call and at least 50x faster than torchinfo;
symbolic 3xHxW under 1 s. Run: ``python benchmarks/bench_analyze.py`` (torchinfo and torch optional:
``pip install torch==2.13.0 torchinfo``; without them only cnncalc's times are printed).
"""

from __future__ import annotations

import statistics
import sys
import time

import cnncalc


def best_of(fn, repeat=7, number=20):
    """Median over ``repeat`` runs of the mean time of ``number`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def torch_resnet152():
    """ResNet-152 in plain torch (torchvision is not needed): the peer network for torchinfo."""
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.body(x) + (x if self.down is None else self.down(x)))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 8, 2), (256, 36, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers).eval()


def main():
    model = cnncalc.model("resnet152")
    report = cnncalc.analyze(model, (3, 224, 224), warn=False)
    concrete = best_of(lambda: cnncalc.analyze(model, (3, 224, 224), warn=False))
    print(f"cnncalc.analyze resnet152 3x224x224: {concrete * 1e3:.2f} ms per call "
          f"({len(report.layers)} rows, {report.params:,} params) [target < 5 ms]")
    start = time.perf_counter()
    symbolic = cnncalc.analyze(model, "3xHxW", warn=False)
    sym_time = time.perf_counter() - start
    print(f"cnncalc.analyze resnet152 3xHxW (first call, sympy import included): {sym_time:.3f} s "
          f"-> output feature map {symbolic.layers[-4].output_shape} [target < 1 s]")
    try:
        import torch
        from torchinfo import summary
    except ImportError:
        print("torchinfo/torch not installed: no peer ratio (pip install torch==2.13.0 torchinfo)")
        return 0
    torch.set_num_threads(2)
    net = torch_resnet152()
    stats = summary(net, input_size=(1, 3, 224, 224), verbose=0)
    assert stats.total_params == report.params, (stats.total_params, report.params)
    peer = best_of(lambda: summary(net, input_size=(1, 3, 224, 224), verbose=0), repeat=3, number=3)
    print(f"torchinfo.summary resnet152: {peer * 1e3:.1f} ms per call")
    print(f"ratio torchinfo / cnncalc: {peer / concrete:.0f}x [target >= 50x]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
