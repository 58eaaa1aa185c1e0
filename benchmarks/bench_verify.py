"""``verify`` at network speed: its time over the NumPy forward+backward time of the same network.

For each network (default: densenet121 at 3x224x224, resnet18 at 3x64x64, mobilenet_v2 at 3x64x64,
and with ``--all`` every zoo model at ``cnncalc verify --all``'s small input) this runs, in this
process and on the same threads, the reference's float64 forward+backward pass (the peer: what one
run of the network costs) and ``validate.verify`` (every check of every row), and prints both times
and their ratio. Wall-clock and process CPU times are both shown: on a busy machine the CPU time is
the steadier of the two. The issue's targets: ``verify --all`` under 60 s and densenet121 at 224
under 60 s on 2 cores.

    python benchmarks/bench_verify.py [--all] [--threads N] [MODEL:CxHxW ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["densenet121:3x224x224", "resnet18:3x64x64", "mobilenet_v2:3x64x64"])
    parser.add_argument("--all", action="store_true", help="also every zoo model at verify --all's input")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    return parser.parse_args()


ARGS = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads BLAS
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import cnncalc  # noqa: E402
from cnncalc.cli import _small_input  # noqa: E402
from cnncalc.dims import as_shape  # noqa: E402
from cnncalc.reference import forward_backward, init_parameters  # noqa: E402
from cnncalc.validate import verify  # noqa: E402


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(name, shape):
    model = cnncalc.model(name)
    params = init_parameters(model, 0, np.float64)
    x = np.random.default_rng(0).standard_normal((1,) + shape)
    _, run_wall, run_cpu = timed(lambda: forward_backward(model, x, params=params))
    result, wall, cpu = timed(lambda: verify(model, shape, name=name))
    verdict = "ok" if result.ok else f"{len(result.failures)} FAILED"
    print(f"{name:22s} {'x'.join(map(str, shape)):>10s}  forward+backward {run_wall:6.2f} s ({run_cpu:6.2f} cpu)  "
          f"verify {wall:7.2f} s ({cpu:7.2f} cpu)  ratio {wall / run_wall:5.1f} ({cpu / run_cpu:5.1f} cpu)  "
          f"{len(result.checks)} checks {verdict}")
    return run_wall, run_cpu, wall, cpu


def main():
    print(f"{ARGS.threads} BLAS thread(s); float64 reference forward+backward vs verify")
    for case in ARGS.cases:
        name, _, size = case.partition(":")
        measure(name, as_shape(size))
    if ARGS.all:
        totals = np.zeros(4)
        for name in cnncalc.models():
            totals += measure(name, _small_input(name))
        run_wall, run_cpu, wall, cpu = totals
        print(f"{'verify --all':22s} {'':>10s}  forward+backward {run_wall:6.2f} s ({run_cpu:6.2f} cpu)  "
              f"verify {wall:7.2f} s ({cpu:7.2f} cpu)  ratio {wall / run_wall:5.1f} ({cpu / run_cpu:5.1f} cpu)")


if __name__ == "__main__":
    main()
