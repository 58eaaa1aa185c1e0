"""The public API is typed: every function ``cnncalc`` exports is annotated, the package ships py.typed,
and mypy accepts the package and a typed use of it (tests/typing_usage.py)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import cnncalc

ROOT = Path(__file__).resolve().parents[1]


def public_callables():
    for name in cnncalc.__all__:
        obj = getattr(cnncalc, name)
        if inspect.isfunction(obj):
            yield name, obj
    for cls in (cnncalc.Report, cnncalc.ReceptiveField):
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and not name.startswith("_"):
                yield f"{cls.__name__}.{name}", member


@pytest.mark.parametrize(("name", "func"), list(public_callables()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_functions_are_annotated(name, func):
    sig = inspect.signature(func)
    missing = [p.name for p in sig.parameters.values()
               if p.annotation is inspect.Parameter.empty and p.name not in ("self", "cls")
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert not missing, f"{name}: parameters without a type: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type"


def test_the_package_ships_py_typed():
    assert (ROOT / "cnncalc" / "py.typed").exists()


def test_mypy_accepts_the_package_and_its_typed_use():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "cnncalc", "tests/typing_usage.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_m_cnncalc_is_the_command():
    result = subprocess.run([sys.executable, "-m", "cnncalc", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("cnncalc, version ")


def test_the_wheel_ships_py_typed(tmp_path):
    import zipfile

    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("cnncalc-*.whl")
    assert "cnncalc/py.typed" in zipfile.ZipFile(wheel).namelist()
