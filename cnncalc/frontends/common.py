"""Small helpers the source interpreter and its built-ins share: how code and values are named in
messages, and the module tree walk."""

from __future__ import annotations

import ast
import re

from .values import Instance, SeqMod, Symbolic, Tensor, Unknown

__all__ = ["describe", "one_line", "named_modules", "decorator_name", "kind", "reason"]


def describe(node):
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError):
        text = type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."



def one_line(text, limit=300):
    """A message as one line of at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."



def named_modules(root):
    """(path, module) pairs as ``named_modules()`` lists them: pre-order, each module once."""
    out, seen, todo = [], set(), [("", root)]
    while todo:
        path, mod = todo.pop()
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        out.append((path, mod))
        children = list(mod.modules.items()) if isinstance(mod, Instance) else mod.children if isinstance(mod, SeqMod) else []
        todo.extend((f"{path}.{n}" if path else n, m) for n, m in reversed(children))
    return out



def decorator_name(d):
    if isinstance(d, ast.Call):
        d = d.func
    try:
        return ast.unparse(d)
    except (RecursionError, ValueError):
        return ""



def kind(value):
    """What a value is, in words (never its repr)."""
    if isinstance(value, Unknown):
        return "a value not known statically"
    if isinstance(value, (Symbolic,)):
        return f"the argument {value.name}"
    if isinstance(value, Tensor):
        return "a tensor"
    return type(value).__name__ if type(value).__module__ == "builtins" else "a " + type(value).__name__.lower()



def reason(exc):
    """An exception's message for a user (no internal reprs)."""
    text = str(exc) or type(exc).__name__
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>", "a value", text)
    text = re.sub(r"'cnncalc\.frontends\.\w+\.(\w+)'", r"'\1'", text)
    return one_line(text, 160)
