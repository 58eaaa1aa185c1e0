"""``cnncalc.lazyclass.dataclass``: the layer classes made on first use behave exactly as the standard
decorator makes them at import (compared with ``CNNCALC_EAGER_DATACLASSES=1``), and a network only makes
the classes it uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

FINGERPRINT = r"""
import dataclasses, inspect, json, pickle
import cnncalc
from cnncalc import layers, lazyclass

out = {}
report = cnncalc.analyze(cnncalc.model("resnet18"), "3x64x64")  # instances first, for half of the classes
out["rows"] = [repr(r.layer) for r in report.layers if r.layer is not None and r.layer.is_leaf]
classes = sorted({c for c in vars(layers).values() if isinstance(c, type) and c.__module__ == layers.__name__},
                 key=lambda c: c.__qualname__)
for cls in classes:
    entry = {"doc": cls.__doc__, "dataclass": dataclasses.is_dataclass(cls)}
    try:
        entry["signature"] = str(inspect.signature(cls))
    except (TypeError, ValueError) as exc:
        entry["signature"] = type(exc).__name__
    if entry["dataclass"]:
        entry["fields"] = [(f.name, "-" if f.default is dataclasses.MISSING else repr(f.default),
                            f.default_factory is dataclasses.MISSING, f.kw_only, f.init, f.repr, f.compare, f.hash)
                           for f in dataclasses.fields(cls)]
        entry["params"] = repr(cls.__dataclass_params__)
        entry["match_args"] = list(getattr(cls, "__match_args__", ()))
        entry["methods"] = sorted(n for n in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")
                                  if n in cls.__dict__)
    out[cls.__qualname__] = entry
conv = layers.Conv2d(3, 8, 3, padding=1)
out["instance"] = [repr(conv), hash(conv) == hash(layers.Conv2d(3, 8, 3, padding=1)), conv == layers.Conv2d(3, 8, 3, 1, 1),
                   conv != layers.Conv2d(3, 8, 3), pickle.loads(pickle.dumps(conv)) == conv,
                   repr(dataclasses.replace(conv, out_channels=4))]
errors = []
for make in (lambda: layers.Linear(), lambda: layers.Linear(1, 2, 3, 4, 5, 6), lambda: layers.GroupNorm(2, 4, bogus=1)):
    try:
        make()
    except TypeError as exc:
        errors.append(str(exc))
try:
    conv.in_channels = 4
except dataclasses.FrozenInstanceError as exc:
    errors.append(str(exc))
out["errors"] = errors
out["pending"] = lazyclass.pending()
print(json.dumps(out))
"""


def _fingerprint(eager: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CNNCALC_EAGER_DATACLASSES"}
    env["PYTHONHASHSEED"] = "0"
    if eager:
        env["CNNCALC_EAGER_DATACLASSES"] = "1"
    result = subprocess.run([sys.executable, "-c", FINGERPRINT], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_lazy_classes_are_the_standard_dataclasses():
    eager, lazy = _fingerprint(True), _fingerprint(False)
    assert eager.pop("pending") == [] and lazy.pop("pending") == []  # the fingerprint made every class
    assert lazy.keys() == eager.keys() and len(lazy) > 90
    for key in eager:
        assert lazy[key] == eager[key], key
    assert lazy["errors"][0] == "Linear.__init__() missing 2 required positional arguments: 'in_features' and 'out_features'"


def test_a_network_makes_only_the_classes_it_uses():
    code = ("import cnncalc\nfrom cnncalc import lazyclass\nbefore = len(lazyclass.pending())\n"
            "cnncalc.analyze(cnncalc.model('resnet50'), '3x224x224')\nafter = lazyclass.pending()\n"
            "print(before, len(after), 'Conv2d' in after, 'GroupNorm' in after)")
    env = {k: v for k, v in os.environ.items() if k != "CNNCALC_EAGER_DATACLASSES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120).stdout.split()
    before, after = int(out[0]), int(out[1])
    assert before > 80 and after > before - 15 and out[2:] == ["False", "True"]


def test_concurrent_first_use_waits_for_the_class():
    from cnncalc.lazyclass import dataclass

    @dataclass(frozen=True)
    class Fresh:
        a: int
        b: int = 2

    barrier, results = threading.Barrier(8), []

    def build():
        barrier.wait()
        results.append(Fresh(1))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [Fresh(1, 2)] * 8 and repr(results[0]) == "test_concurrent_first_use_waits_for_the_class.<locals>.Fresh(a=1, b=2)"


def test_a_broken_class_fails_on_every_use():
    from cnncalc.lazyclass import dataclass

    @dataclass(frozen=True)
    class Broken:
        a: int = 1
        b: int  # a field without a default after one with a default

    for _ in range(2):
        with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
            Broken()
