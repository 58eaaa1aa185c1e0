"""Render the model zoo's pictures into docs/img/ (tests/test_svg.py regenerates one and compares).

    python tools/make_figures.py            # write every figure
    python tools/make_figures.py --check    # exit 1 if a committed figure is stale
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import cnncalc
from cnncalc import svg, zoo

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
# (model, picture): the architecture drawing for the families, the receptive-field plot for a few
FIGURES = [
    *((name, "arch") for name in ("lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "resnet152",
                                  "densenet121", "densenet201", "mobilenet_v2", "squeezenet1_1")),
    *((name, "rf") for name in ("lenet5", "alexnet", "vgg16", "resnet50")),
]


def path(name, kind):
    return IMG / (f"{name}.svg" if kind == "arch" else f"{name}_rf.svg")


def figure(name, kind):
    """The SVG text of one figure, at the model's default input size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnncalc.ShapeWarning)
        report = cnncalc.analyze(cnncalc.model(name), zoo.describe(name).default_input, name=name)
    return svg.svg(report) if kind == "arch" else svg.rf_plot(report)


def main(argv):
    check = "--check" in argv
    stale = []
    IMG.mkdir(parents=True, exist_ok=True)
    for name, kind in FIGURES:
        text, target = figure(name, kind), path(name, kind)
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
    if stale:
        print("stale figures: " + ", ".join(stale) + " (run python tools/make_figures.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
