"""Time symbolic analysis (closed forms), explain, and solve on the model zoo; print one line per case.

    python benchmarks/bench_symbolic.py            # every zoo model
    python benchmarks/bench_symbolic.py resnet152  # some models

Targets (issue 6): symbolic ResNet-152 at 3xHxW under 1 s; explain of any zoo model under 1 s.
Each explain is timed with its formula caches emptied first (the cold cost of one call).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cnncalc  # noqa: E402
from cnncalc import zoo  # noqa: E402
from cnncalc.symbolic import pretty  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter: sympy imported, its caches empty, then one symbolic ResNet-152.
COLD = """
import time
start = time.perf_counter()
import sympy
imported = time.perf_counter()
import cnncalc
model = cnncalc.model("resnet152")
begin = time.perf_counter()
report = cnncalc.analyze(model, "3xHxW", warn=False)
print(imported - start, time.perf_counter() - begin)
"""


def _timed(func):
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def main(names):
    cold = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, cwd=ROOT, check=True)
    imported, analysed = (float(x) for x in cold.stdout.split())
    print(f"fresh process: import sympy {imported:.3f} s (paid once), then symbolic ResNet-152 at 3xHxW {analysed:.3f} s")
    for args in (["explain", "resnet152"], ["explain", "densenet201", "--lang", "zh", "-f", "latex"]):
        seconds, _ = _timed(lambda: subprocess.run([sys.executable, "-m", "cnncalc.cli", *args], cwd=ROOT, check=True,
                                                   capture_output=True))
        print(f"whole command `cnncalc {' '.join(args)}` (process start, imports, explain, print): {seconds:.3f} s")
    import importlib

    explain_module = importlib.import_module("cnncalc.explain")  # the module (cnncalc.explain is the function)
    from cnncalc.solve import input_sizes

    print(f"{'model':<20}{'symbolic 3xHxW':>16}{'explain':>10}{'explain zh latex':>18}{'input_sizes':>13}  last feature map")
    worst = {"symbolic": 0.0, "explain": 0.0}
    for name in names:
        model = zoo.model(name)
        shape = zoo.describe(name).default_input
        channels = shape[0]
        symbolic, report = _timed(lambda: cnncalc.analyze(model, f"{channels}xHxW", warn=False))
        explain_module._general.cache_clear()
        explain_module._template.cache_clear()
        plain, _ = _timed(lambda: str(explain_module.explain(model, shape)))
        explain_module._general.cache_clear()
        explain_module._template.cache_clear()
        fancy, _ = _timed(lambda: str(explain_module.explain(model, shape, lang="zh", fmt="latex")))
        sizes, _ = _timed(lambda: input_sizes(model, f"{channels}xHxH"))
        maps = [r.output_shape for r in report.layers if len(r.output_shape) == 3 and not r.type.startswith("Adaptive")]
        last = "(" + ", ".join(pretty(d) for d in maps[-1]) + ")" if maps else "-"
        worst["symbolic"] = max(worst["symbolic"], symbolic)
        worst["explain"] = max(worst["explain"], plain, fancy)
        print(f"{name:<20}{symbolic:>15.3f}s{plain:>9.3f}s{fancy:>17.3f}s{sizes:>12.3f}s  {last}")
    print(f"worst: symbolic {worst['symbolic']:.3f} s, explain {worst['explain']:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or zoo.models())
