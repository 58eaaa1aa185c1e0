"""Worst-case time and memory over the hostile-input suite (tests/hostile/cases*.py), against a plain run.

Every case runs as the tests run it (its own process forked from a zygote that imported cnncalc, the
address space limited, 20 s deadline); the peer is a good input measured in the same run as a user
runs it, a new interpreter: ``cnncalc resnet18`` (start-up, analysis and table), so the ratios say how
much more the worst hostile input costs than an ordinary command. Targets (issue 16): no case over 20 s
or 2 GiB, the worst under 10x the ordinary command's time.
Run: ``python benchmarks/bench_hostile.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hostile"))

from harness import Case, problems, run_cases  # noqa: E402

PEER = Case("peer-resnet18", ["resnet18"], expect="ok", match="Total params: 11,689,512", fresh=True)


def _cases():
    tables = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "tests" / "hostile").glob("cases*.py"))
    return [case for table in tables for case in importlib.import_module(table).CASES]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of the suite; each case's median is reported")
    parser.add_argument("--workers", type=int, default=None)
    options = parser.parse_args()
    cases = _cases()
    seconds, rss, broken = defaultdict(list), defaultdict(list), set()
    started = time.monotonic()
    for _ in range(options.repeat):
        results = run_cases(cases + [PEER], workers=options.workers)
        for case in cases + [PEER]:
            result = results[case.id]
            seconds[case.id].append(result.seconds)
            rss[case.id].append(result.max_rss)
            if problems(case, result):
                broken.add(case.id)
    wall = time.monotonic() - started
    median = {k: statistics.median(v) for k, v in seconds.items()}
    peak = {k: max(v) for k, v in rss.items()}
    peer_s, peer_m = median.pop(PEER.id), peak.pop(PEER.id)
    print(f"{len(cases)} cases x {options.repeat}: {wall:.1f} s wall; {len(broken)} break the contract"
          + (f": {', '.join(sorted(broken))}" if broken else ""))
    print(f"peer (cnncalc resnet18): {peer_s:.2f} s, {peak_mib(peer_m)} MiB peak RSS")
    print("slowest cases:")
    for key in sorted(median, key=median.get, reverse=True)[:5]:
        print(f"  {key:32} {median[key]:6.2f} s  ({median[key] / peer_s:5.1f}x the peer)  {peak_mib(peak[key])} MiB")
    print("largest peak memory:")
    for key in sorted(peak, key=peak.get, reverse=True)[:5]:
        print(f"  {key:32} {peak_mib(peak[key]):6} MiB ({peak[key] / peer_m:4.1f}x the peer)  {median[key]:.2f} s")
    group = {case.id: case.group or "-" for case in cases}
    by_class = defaultdict(list)
    for key in median:
        by_class[group[key]].append(key)
    print("worst per class (time, memory):")
    for name, keys in sorted(by_class.items()):
        slow, big = max(keys, key=median.get), max(keys, key=peak.get)
        print(f"  {name:13} {len(keys):3} cases  {median[slow]:6.2f} s ({slow})  {peak_mib(peak[big])} MiB ({big})")
    worst = max(median.values())
    print(f"worst time {worst:.2f} s = {worst / peer_s:.1f}x the peer [target < 10x, and < 20 s]; "
          f"worst memory {peak_mib(max(peak.values()))} MiB [target < 2048 MiB]")


def peak_mib(n):
    return n >> 20


if __name__ == "__main__":
    main()
