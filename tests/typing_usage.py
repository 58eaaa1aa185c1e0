"""Typed use of the public API: tests/test_typing.py runs mypy on this file (it is not a test module)."""

from __future__ import annotations

import cnncalc
from cnncalc import Conv2d, MaxPool2d, ReLU, Report, Sequential

net = Sequential(Conv2d(3, 8, 3, padding=1), ReLU(), MaxPool2d(2))
report: Report = cnncalc.analyze(net, "3x32x32", batch=2)
params: int = report.params
shape: tuple = report.output_shape
field = report.receptive_field
sizes: tuple = field.size if field is not None else ()
memory = report.memory("float16")
bytes_: int = memory.params_bytes
zoo: list = cnncalc.models()
resnet = cnncalc.model("resnet18", num_classes=10)
explained: str = cnncalc.explain(net, (3, 32, 32), lang="zh").render()
padding = cnncalc.same_padding(3, stride=1)
