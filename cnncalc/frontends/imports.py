"""Model files and the local files they import: ``from .unet_parts import *`` and ``from models.resnet
import ResNet18`` are read statically too (never imported), from the same folder or package."""

from __future__ import annotations

import ast
from pathlib import Path

from ..errors import ShapeError
from ..files import read_source

__all__ = ["SourceModule", "resolve"]

# top-level names that are installed libraries, never files next to the model
_LIBRARIES = {
    "torch", "torchvision", "torchaudio", "timm", "keras", "tensorflow", "tf", "numpy", "np", "math", "functools",
    "collections", "typing", "os", "sys", "copy", "itertools", "re", "json", "random", "time", "logging", "warnings",
    "argparse", "pathlib", "dataclasses", "abc", "enum", "matplotlib", "pandas", "sklearn", "scipy", "PIL", "cv2",
    "tqdm", "__future__", "einops", "thop", "torchsummary", "pytorch_lightning", "lightning", "jax", "flax",
}
_SEARCH_UP = 3  # folders above the model file searched for an absolute import (models/resnet.py from main.py)


class SourceModule:
    """One file's code and module-level names (its ``globals``)."""

    def __init__(self, source, path, tree):
        self.source = source
        self.path = path
        self.tree = tree
        self.globals = {}
        self.classes = {}
        self.models = []  # (name, value): models built at module level
        self.called = set()  # names called by module-level code
        self.name = "__main__"

    @classmethod
    def parse(cls, source, path, reader):
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise ShapeError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise ShapeError(f"{path}: expressions nested too deeply for Python's parser") from None
        except ValueError as exc:  # source code string cannot contain null bytes
            raise ShapeError(f"{path}: not valid Python: {exc}") from None
        _check_nesting(tree, path, reader.budget)
        return cls(source, path, tree)

    @classmethod
    def read(cls, path, reader):
        text = read_source(path)  # a regular file within the size limit, decoded as Python decodes it
        module = cls.parse(text, str(path), reader)
        module.name = Path(path).stem
        return module

    def public(self):
        """What ``from module import *`` brings: ``__all__`` if it is a list of names, else the public names."""
        names = self.globals.get("__all__")
        if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
            return {n: self.globals[n] for n in names if n in self.globals}
        return {n: v for n, v in self.globals.items() if not n.startswith("_")}


def _check_nesting(tree, path, budget):
    """Refuse code nested deeper than the budget (the interpreter recurses on nesting)."""
    todo = [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        if depth > budget.nesting:
            line = getattr(node, "lineno", None)
            where = f"{path}:{line}" if line else path
            raise ShapeError(f"{where}: code nested {budget.exceeded('nesting')}")
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                    if not isinstance(child, (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)))


def resolve(importer, level, dotted):
    """The file that ``from <level dots><dotted> import ...`` in ``importer`` means, if it is a local
    file (a module or a package's ``__init__.py``); None for installed libraries or when not found."""
    if importer == "<source>" or not importer:
        return None
    parts = [p for p in dotted.split(".") if p]
    if level == 0 and (not parts or parts[0] in _LIBRARIES):
        return None
    here = Path(importer).resolve().parent
    if level:
        base = here
        for _ in range(level - 1):
            base = base.parent
        return _file(base, parts)
    for _ in range(_SEARCH_UP + 1):
        found = _file(here, parts)
        if found is not None:
            return found
        if here.parent == here:
            break
        here = here.parent
    return None


def _file(base, parts):
    target = base.joinpath(*parts) if parts else base
    for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return None
