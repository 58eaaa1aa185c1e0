"""Write docs/api.md from the public modules' docstrings, and fill the ``<!-- docstring: module.name -->``
markers of every docs page (the formulas page quotes formulas.py this way). tests/test_docs_generated.py
regenerates both and compares, so the reference cannot drift from the code.

    python tools/make_api_docs.py
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOCS = ROOT / "docs"
OUT = DOCS / "api.md"
SCHEMA = DOCS / "spec.schema.json"
# (module, one-line role); every name in the module's __all__ is documented
MODULES = [
    ("cnncalc", "layers, containers, analyze and the report"),
    ("cnncalc.zoo", "the model zoo"),
    ("cnncalc.formulas", "every size formula, once"),
    ("cnncalc.render", "tables and machine formats (the display of a Report)"),
    ("cnncalc.render.svg", "pictures (also importable as cnncalc.svg)"),
    ("cnncalc.frontends", "reading models from files and PyTorch"),
    ("cnncalc.render.explain", "step-by-step explanations (also importable as cnncalc.explain)"),
    ("cnncalc.calculators", "single-layer calculators (the answers, then how they come)"),
    ("cnncalc.solve", "solving for sizes"),
    ("cnncalc.check", "homework checking"),
    ("cnncalc.layout", "channels first or channels last: how a typed shape is read"),
    ("cnncalc.i18n", "every user-facing word, in English and Chinese"),
    ("cnncalc.reference", "the NumPy reference forward and backward"),
]
MARKER = re.compile(r"(<!-- docstring: ([\w.]+) -->\n)(.*?)(<!-- /docstring -->)", re.S)

INTRO = """# Python API reference

Generated from the docstrings by `tools/make_api_docs.py`; do not edit by hand. Everything in the
first section is importable from `cnncalc`; the contract it follows is in the README's definitions.
"""


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_") and inspect.isfunction(v)
                 and v.__module__ == module.__name__]
    return list(names)


def _signature(obj, name):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    empty = inspect.Parameter.empty  # annotations are left out: the docstrings say what the arguments are
    sig = str(sig.replace(parameters=[p.replace(annotation=empty) for p in sig.parameters.values()],
                          return_annotation=empty))
    return f"{name}{re.sub(r' at 0x[0-9a-f]+', '', sig)}"


def _doc(obj):
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else ""


def _markdown(text):
    """A docstring as markdown: asterisks outside code spans are literal (formulas such as d*(k - 1)*j)."""
    parts = text.split("`")
    return "`".join(p.replace("*", "\\*") if i % 2 == 0 else p for i, p in enumerate(parts))


def _members(cls):
    """Public methods and properties defined on the class itself, with their docstrings."""
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_") or name in ("count", "index"):
            continue
        if isinstance(value, property) or inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod)):
            func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
            doc = _doc(func)
            if doc:
                label = name if isinstance(value, property) else _signature(func, name).replace("(self, ", "(").replace("(self)", "()")
                out.append(f"- `{label}`: {_markdown(doc.splitlines()[0])}")
    return out


def _entry(module_name, name, obj):
    if isinstance(obj, (str, tuple, dict, int, frozenset, set, list)):
        return [f"### `{module_name}.{name}`", "", f"Constant: `{obj!r}`", ""]
    kind = "class" if inspect.isclass(obj) else "function"
    lines = [f"### `{module_name}.{name}`", "", "```python", f"{kind} {_signature(obj, name)}", "```", ""]
    doc = _doc(obj)
    if doc and not (inspect.isclass(obj) and doc.startswith(f"{name}(")):
        lines += [_markdown(doc), ""]
    if inspect.isclass(obj):
        members = _members(obj)
        if members:
            lines += members + [""]
    return lines


def api_page() -> str:
    out = [INTRO]
    for module_name, role in MODULES:
        module = importlib.import_module(module_name)
        out += [f"## `{module_name}`: {role}", ""]
        summary = _doc(module).split("\n\n")[0]
        if summary:
            out += [summary, ""]
        for name in _public_names(module):
            out += _entry(module_name, name, getattr(module, name))
    return "\n".join(out).rstrip() + "\n"


def _quote(target):
    module_name, _, name = target.rpartition(".")
    obj = getattr(importlib.import_module(module_name), name)
    return "```text\n" + _signature(obj, name) + "\n\n" + _doc(obj) + "\n```\n"


def fill_markers(text: str) -> str:
    """Each ``<!-- docstring: module.name -->`` ... ``<!-- /docstring -->`` gets the signature and docstring."""
    return MARKER.sub(lambda m: m.group(1) + _quote(m.group(2)) + m.group(4), text)


def spec_schema() -> str:
    """docs/spec.schema.json with its list of layer types from the code."""
    import json

    from cnncalc.layers import layer_types

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    schema["$defs"]["layer_type"]["enum"] = sorted(layer_types())
    return json.dumps(schema, indent=2) + "\n"


def pages():
    """{path: generated text} for api.md, the spec schema and every page with docstring markers."""
    out = {OUT: api_page(), SCHEMA: spec_schema()}
    for page in sorted(DOCS.glob("**/*.md")):
        if page != OUT:
            text = page.read_text(encoding="utf-8")
            if MARKER.search(text):
                out[page] = fill_markers(text)
    return out


if __name__ == "__main__":
    for path, text in pages().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
