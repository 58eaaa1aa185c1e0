"""Forward+backward of ResNet-50 (batch 1, 3x224x224, float32): the NumPy reference against PyTorch CPU.

Both run in this process on the same number of threads (``--threads``, default: all cores) with the
same weights; the timings are medians of ``--repeat`` runs after a warm-up. The machine's NumPy sgemm
peak is measured in the same run (a 2048^3 matmul), and the reference's GEMM work
(3 x forward MACs: forward, input gradient, weight gradient) is reported as a fraction of it.

    python benchmarks/bench_reference.py [--threads N] [--repeat R] [--model resnet50] [--size 224]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    return parser.parse_args()


ARGS = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads BLAS
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import cnncalc  # noqa: E402
from cnncalc.graph import Concat, Residual, Sequential  # noqa: E402
from cnncalc.reference import forward_backward, init_parameters  # noqa: E402


class TorchNet(torch.nn.Module):
    """A cnncalc network run by torch: each container becomes a module, each leaf a functional call."""

    def __init__(self, model, params):
        super().__init__()
        self.model = model
        self.weights = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()})
        self.names = {}
        from cnncalc.reference.runner import parameter_names
        from cnncalc.graph import program

        for i, names in parameter_names(model).items():
            self.names[id(program(model)[i][1])] = {local: full.replace(".", "__") for full, local in names.items()}

    def p(self, layer, local):
        key = self.names.get(id(layer), {}).get(local)
        return None if key is None else self.weights[key]

    def run(self, layer, x):
        if isinstance(layer, Sequential):
            for child in layer.children():
                x = self.run(child, x)
            return x
        if isinstance(layer, Residual):
            y = self.run(layer.main, x) + (x if layer.shortcut is None else self.run(layer.shortcut, x))
            return y if layer.post is None else self.run(layer.post, y)
        if isinstance(layer, Concat):
            return torch.cat([self.run(child, x) for child in layer.children()], 1)
        kind = layer.type
        if kind == "Conv2d":
            return TF.conv2d(x, self.p(layer, "weight"), self.p(layer, "bias"), layer.stride, layer.padding, layer.dilation, layer.groups)
        if kind == "BatchNorm2d":
            c = layer.num_features
            return TF.batch_norm(x, torch.zeros(c, dtype=x.dtype), torch.ones(c, dtype=x.dtype), self.p(layer, "weight"), self.p(layer, "bias"), training=True, eps=layer.eps)
        if kind == "ReLU":
            return TF.relu(x)
        if kind == "MaxPool2d":
            return TF.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        if kind == "AdaptiveAvgPool2d":
            return TF.adaptive_avg_pool2d(x, layer.output_size)
        if kind == "Flatten":
            return torch.flatten(x, layer.start_dim, layer.end_dim)
        if kind == "Linear":
            return TF.linear(x, self.p(layer, "weight"), self.p(layer, "bias"))
        raise NotImplementedError(kind)

    def forward(self, x):
        return self.run(self.model, x)


def median_time(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sgemm_peak(n=2048, repeat=5):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    return 2 * n**3 / median_time(lambda: a @ b, repeat)


def main():
    torch.set_num_threads(ARGS.threads)
    model = cnncalc.model(ARGS.model)
    shape = (3, ARGS.size, ARGS.size)
    macs = cnncalc.analyze(model, shape, warn=False).macs
    params = init_parameters(model, seed=0, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((1,) + shape, dtype=np.float32)

    # the same weights and input; both float32 results are compared with the float64 reference (which
    # tests/test_reference.py checks against torch in float64): the timings mean something only if they agree
    net = TorchNet(model, params)
    tx = torch.tensor(x, requires_grad=True)
    ours = forward_backward(model, x, params=params)
    theirs = net(tx)
    theirs.sum().backward()
    exact = forward_backward(model, x.astype(np.float64), params={k: v.astype(np.float64) for k, v in params.items()})

    def err(a, b):
        return float(np.abs(a - b).max() / np.abs(b).max())

    agreement = (
        f"output: reference {err(ours.output, exact.output):.1e}, torch {err(theirs.detach().numpy(), exact.output):.1e}; "
        f"input gradient: reference {err(ours.grad_input, exact.grad_input):.1e}, torch {err(tx.grad.numpy(), exact.grad_input):.1e}"
    )

    def run_torch():
        net.zero_grad(set_to_none=True)
        t = torch.tensor(x, requires_grad=True)
        net(t).sum().backward()

    peak = sgemm_peak()
    t_ref = median_time(lambda: forward_backward(model, x, params=params), ARGS.repeat)
    t_torch = median_time(run_torch, ARGS.repeat)
    peak_after = sgemm_peak()
    gemm_flops = 2 * 3 * macs  # forward, input gradient and weight gradient GEMMs
    print(f"{ARGS.model} batch 1, {'x'.join(map(str, shape))} float32, forward+backward, {ARGS.threads} thread(s)")
    print(f"  float32 vs float64 reference (max relative): {agreement}")
    print(f"  NumPy sgemm peak: {peak / 1e9:.1f} GFLOP/s (before), {peak_after / 1e9:.1f} GFLOP/s (after)")
    print(f"  reference: {t_ref:.3f} s   torch: {t_torch:.3f} s   ratio reference/torch: {t_ref / t_torch:.2f}")
    print(f"  GEMM work {gemm_flops / 1e9:.1f} GFLOP: reference at {gemm_flops / t_ref / 1e9:.1f} GFLOP/s = "
          f"{gemm_flops / t_ref / max(peak, peak_after):.0%} of the sgemm peak (floor {gemm_flops / max(peak, peak_after):.3f} s)")


if __name__ == "__main__":
    main()
