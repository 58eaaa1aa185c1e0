"""Which model a source file defines: what its own code builds first, then builder functions, then
the module classes nothing else uses; constructor arguments from the caller (``--args``) or, for a
class that needs them, from the file's own call of it (``net = VGG('VGG11')`` in its ``test()``)."""

from __future__ import annotations

import ast

from ..errors import ShapeError
from .interpreter import is_model_value, required_args
from .values import ClassInfo, Function, Instance, Partial, SeqMod, Unknown

__all__ = ["choose", "instantiate"]

_MODEL_CALLS = {"Sequential", "Model", "Functional"}  # nn.Sequential, keras.Model, keras.Sequential


def _names_in(node, own):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id != own}


def _called_name(call):
    func = call.func
    while isinstance(func, ast.Call):  # Net().to(device) is handled below; partial(...)(...) here
        func = func.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _model_call(expr, makers):
    """Is ``expr`` a call that builds a model (``Net(...)``, ``nn.Sequential(...)``, ``Net().to(dev)``)?"""
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in (
            "to", "cuda", "cpu", "eval", "train", "float", "half", "double"):
        expr = expr.func.value
    return isinstance(expr, ast.Call) and _called_name(expr) in makers


def _returns_model(fdef, makers):
    """Does the function return a model: ``return Net(...)``, or ``model = Net(...)`` ... ``return model``?"""
    built = set()
    returns = []
    todo = list(fdef.body)
    while todo:
        stmt = todo.pop()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            returns.append(stmt.value)
        if isinstance(stmt, ast.Assign) and _model_call(stmt.value, makers):
            built |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute) \
                and stmt.value.func.attr == "add" and isinstance(stmt.value.func.value, ast.Name):
            pass  # model.add(...): the model was built by an assignment already
        todo.extend(ast.iter_child_nodes(stmt))
    return any(_model_call(r, makers) or isinstance(r, ast.Name) and r.id in built for r in returns)


def _returns_value(fdef):
    return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fdef))


def candidates(reader):
    """[(name, value)] in order of preference: models the file builds at module level, then builder
    functions (no required arguments, returning a model), then module classes nothing else uses."""
    module = reader.main
    g = module.globals
    built = []
    for name, value in module.models:
        if g.get(name) is value and all(v is not value for _, v in built):
            built.append((name, value))
    if built:
        return built, "built"
    torch_classes = {n: c for n, c in module.classes.items() if c.is_torch_module}
    local_classes = {n for n, v in g.items() if isinstance(v, ClassInfo) and v.is_torch_module}
    functions = {n: v for n, v in g.items() if isinstance(v, Function) and v.module is module}
    makers = set(local_classes) | _MODEL_CALLS
    builders = {}
    changed = True
    while changed:  # builders may call builders
        changed = False
        for name, f in functions.items():
            if name not in builders and _returns_model(f.node, makers):
                builders[name] = f
                makers.add(name)
                changed = True
    partials = {n: v for n, v in g.items() if isinstance(v, Partial) and _partial_builds(v, builders, local_classes)}
    chosen = [n for n, f in builders.items() if not required_args(f.node) and n not in module.called] + list(partials)
    used = set()
    for cls in torch_classes.values():
        used |= _names_in(cls.node, cls.name)
    for name, f in functions.items():  # a class a builder or factory makes is not itself the model
        if name in builders or _returns_value(f.node):
            used |= _names_in(f.node, name)
    for name in chosen:
        value = g[name]
        if isinstance(value, Function):
            used |= _names_in(value.node, name)
        else:
            used |= {_target_name(value)}
    classes = [n for n in torch_classes if n not in used]
    sequences = [n for n, v in g.items() if isinstance(v, SeqMod) and v.kind == "Sequential"]
    return [(n, g[n]) for n in chosen + classes + sequences], "defined"


def _partial_builds(value, builders, classes):
    return _target_name(value) in set(builders) | set(classes)


def _target_name(partial):
    func = partial.func
    while isinstance(func, Partial):
        func = func.func
    if isinstance(func, Function):
        return func.name
    if isinstance(func, ClassInfo):
        return func.name
    return None


def _built_by_file(reader, names):
    """The candidates the file's own helper functions build (``net = ResNet18()`` in ``test()``)."""
    out = []
    for f in reader.main.globals.values():
        if isinstance(f, Function) and f.module is reader.main:
            for call in ast.walk(f.node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in names \
                        and call.func.id not in out:
                    out.append(call.func.id)
    return out


def choose(reader, cls=None):
    """(name, value, why): the model named ``cls`` (a class, builder function or variable), or the
    file's own choice (see ``candidates``)."""
    g = reader.main.globals
    if cls is not None:
        if cls not in g:
            found = ", ".join(n for n, _ in candidates(reader)[0]) or "none"
            raise ShapeError(f"{reader.path}: no class, function or variable named {cls!r} (found: {found})")
        value = g[cls]
        if isinstance(value, Unknown):
            raise ShapeError(value.root)
        return cls, value, None
    found, how = candidates(reader)
    if not found:
        unread = [n for n, v in g.items() if isinstance(v, Unknown) and ("model" in n.lower() or "net" in n.lower())]
        if unread:  # say why the model variable was not understood
            raise ShapeError(g[unread[-1]].root)
        raise ShapeError(f"{reader.path}: no model found: expected an nn.Module subclass, a function returning one, "
                         "an nn.Sequential or a Keras model")
    if len(found) == 1:
        return found[0][0], found[0][1], None
    names = [n for n, _ in found]
    if how == "defined":
        own = _built_by_file(reader, set(names))
        if len(own) == 1:
            return own[0], g[own[0]], f"{own[0]} is the model the file's own code builds"
    raise ShapeError(f"{reader.path}: several models: {', '.join(names)}: choose one (--class NAME)")


def instantiate(reader, value, name, args=(), kwargs=None):
    """The model value: a class instantiated (missing constructor arguments become size symbols, or
    come from the file's own call of the class), a builder called, or a variable as it is."""
    kwargs = dict(kwargs or {})
    node = getattr(value, "node", None)
    if isinstance(value, ClassInfo):
        if not args and not kwargs and required_args_of(value):
            found = _literal_call(reader, value.name)
            if found is not None:
                args, kwargs = found
        return reader.new_instance(value, list(args), kwargs, value.node, symbolic=True)
    if isinstance(value, Function):
        if required_args(value.node) > len(args) + len(kwargs):
            found = _literal_call(reader, name) if not args and not kwargs else None
            if found is None:
                missing = _missing(value.node, args, kwargs)
                raise ShapeError(f"{reader.path}:{value.node.lineno}: {name}() needs the argument "
                                 f"{missing}: give it with --args (Python: args=/kwargs=)")
            args, kwargs = found
        return reader.apply(value, list(args), kwargs, value.node)
    if isinstance(value, Partial):
        return reader.apply(value, list(args), kwargs, node)
    if args or kwargs:
        raise ShapeError(f"{reader.path}: {name} is a model variable, not a class or function: it takes no arguments")
    if is_model_value(value) or isinstance(value, Instance):
        return value
    raise ShapeError(f"{reader.path}: {name} is not a model")


def required_args_of(cls):
    init, _ = cls.lookup("__init__")
    return required_args(init) - 1 if isinstance(init, ast.FunctionDef) else 0


def _missing(fdef, args, kwargs):
    spec = fdef.args
    params = [a.arg for a in spec.posonlyargs + spec.args]
    required = params[: len(params) - len(spec.defaults)]
    out = [p for p in required[len(args):] if p not in kwargs]
    out += [a.arg for a, d in zip(spec.kwonlyargs, spec.kw_defaults) if d is None and a.arg not in kwargs]
    return ", ".join(repr(p) for p in out) or "?"


def _literal_call(reader, name):
    """(args, kwargs) of the first call ``name(<constants>)`` in the file (its test or main code), or None."""
    for node in ast.walk(reader.main.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name \
                and (node.args or node.keywords):
            try:
                args = [ast.literal_eval(a) for a in node.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                continue
            if len(kwargs) == len(node.keywords):
                return args, kwargs
    return None
