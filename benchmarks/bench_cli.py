"""Whole-process time of ``cnncalc resnet50 --input 3x224x224 --format json`` against a bare ``python -c pass``.

Target (issue 3): under 2.5x the bare interpreter's wall time, measured in the same run; torchinfo as a
process (when installed) for scale. Run: ``python benchmarks/bench_cli.py``.

Both run as an installed package runs for its users: with bytecode caches (a machine that sets
PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every start; the caches go to a
temporary PYTHONPYCACHEPREFIX, not into the source tree), after one warm-up run each.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 11
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="cnncalc-bench-pycache-")


def wall(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)  # warm-up
    return statistics.median(wall_once(cmd) for _ in range(RUNS))


def cpu(cmd):
    """Median user + system CPU time of a child process: steadier than wall time on a busy machine."""
    import resource

    times = []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def peak_rss_mib(cmd):
    """Peak resident memory of a child process (Linux getrusage, KiB -> MiB)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024


TORCHINFO = """
import torch, torchvision
from torchinfo import summary
summary(torchvision.models.resnet50(), input_size=(1, 3, 224, 224), verbose=0)
"""


def main():
    exe = shutil.which("cnncalc")
    cnncalc_cmd = [exe] if exe else [sys.executable, "-m", "cnncalc.cli"]
    cnncalc_cmd += ["resnet50", "--input", "3x224x224", "--format", "json"]
    bare = wall([sys.executable, "-c", "pass"])
    ours = wall(cnncalc_cmd)
    print(f"python -c pass: {bare * 1e3:.0f} ms; cnncalc resnet50 --format json: {ours * 1e3:.0f} ms; "
          f"ratio {ours / bare:.2f}x [target < 2.5x]; peak RSS {peak_rss_mib(cnncalc_cmd):.0f} MiB")
    bare_cpu, ours_cpu = cpu([sys.executable, "-c", "pass"]), cpu(cnncalc_cmd)
    print(f"CPU time (user + system): {bare_cpu * 1e3:.0f} ms and {ours_cpu * 1e3:.0f} ms, ratio {ours_cpu / bare_cpu:.2f}x "
          "(the same runs' CPU, which other processes on the machine disturb less than the wall clock)")
    probe = subprocess.run([sys.executable, "-c", "import torchinfo, torchvision"], capture_output=True)
    if probe.returncode == 0:
        peer_cmd = [sys.executable, "-c", TORCHINFO]
        peer = statistics.median(wall_once(peer_cmd) for _ in range(3))
        print(f"torchinfo resnet50 as a process: {peer * 1e3:.0f} ms ({peer / ours:.0f}x slower), "
              f"peak RSS {peak_rss_mib(peer_cmd):.0f} MiB")
    else:
        print("torchinfo/torchvision not importable here: no peer process measured")
    return 0


def wall_once(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
