"""The interpreter behind the source reader: runs the subset of Python that model definitions use,
statically (``ast`` only, never import/exec/eval), and records the forward data flow.

A small interpreter runs the subset of Python that model definitions use: literals and arithmetic,
module-level constants, ``__init__`` arguments (their defaults; an argument without a default
becomes a symbol of the same name, e.g. ``num_cls``), lists, tuples, dicts, ``if`` on known values,
``for`` over known sequences, helper methods and functions, classes defined in the same file.

PyTorch: ``nn.Module`` subclasses build ``torch.nn`` layers in ``__init__``; ``forward`` is then run
on a symbolic tensor, recording a data-flow graph (layers, ``+`` / ``torch.add`` for residuals,
``torch.cat(..., 1)`` for concatenations) that is turned into cnncalc's ``Sequential`` / ``Residual``
/ ``Concat`` tree. A module without ``forward`` applies its sub-modules in order, as
``nn.Sequential``. Rows are named as ``named_modules()`` names them (``layer1.0.conv1``); functional
calls are named after the function in their module (``relu``, ``relu_1``), as torch.fx does.

Keras: ``Sequential([...])`` and ``model.add(...)``; see ``keras.py``.

Anything outside this subset raises ``ShapeError("file:line: ...")`` saying what was not understood.
"""

from __future__ import annotations

import ast
import copy
from collections import OrderedDict

from .. import layers as L
from ..dims import symbol
from ..errors import ShapeError
from .dataflow import FlowNode, build, fold_cat, to_network
from .keras import KerasInput, KerasLayer, KerasModel, keras_call
from .loaded import Origin
from .torch_names import FUNCTIONAL, TENSOR_METHODS, TORCH_FUNCTIONS, TORCH_LAYERS, layer_arguments, mean_layers

class Unsupported(ShapeError):
    """Raised inside the interpreter; ``read`` turns it into ``ShapeError("file:line: ...")``."""

    def __init__(self, node, message):
        super().__init__(message)
        self.node = node
        self.message = message


# --- values the interpreter manipulates ---------------------------------------------------------


class Ext:
    """An imported name: ``torch.nn``, ``torch.nn.functional.relu``, ``keras.layers.Conv2D``."""

    def __init__(self, qualname):
        self.qualname = _normalise(qualname)

    def __repr__(self):
        return self.qualname


def _normalise(qualname):
    for prefix, short in (("tensorflow.keras", "keras"), ("tensorflow.python.keras", "keras"), ("tf.keras", "keras")):
        if qualname == prefix or qualname.startswith(prefix + "."):
            return short + qualname[len(prefix):]
    return qualname


class Symbolic:
    """An ``__init__`` argument without a default: usable as a size (a sympy symbol), nothing else."""

    def __init__(self, name):
        self.name = name


class LeafMod:
    """A ``torch.nn`` layer built in ``__init__``: one cnncalc layer and where it was written."""

    def __init__(self, layer, origin):
        self.layer = layer
        self.origin = origin


class SeqMod:
    """``nn.Sequential`` / ``nn.ModuleList`` / ``nn.ModuleDict``: named children in order."""

    def __init__(self, kind, children, origin):
        self.kind = kind
        self.children = list(children)
        self.origin = origin


class ClassInfo:
    """A class defined in the file."""

    def __init__(self, node, bases, reader):
        self.node = node
        self.name = node.name
        self.bases = bases
        self.methods = {s.name: s for s in node.body if isinstance(s, ast.FunctionDef)}
        self.attrs = {}
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
                try:
                    value = reader.eval(stmt.value, reader.globals)
                except ShapeError:
                    continue  # a class attribute that is not a constant: an error only if used
                for t in stmt.targets:
                    self.attrs[t.id] = value

    def lookup(self, name):
        """A method or class attribute, searched through the local base classes."""
        for cls in self.mro():
            if name in cls.methods:
                return cls.methods[name], cls
            if name in cls.attrs:
                return cls.attrs[name], None
        return None, None

    def mro(self):
        out, todo = [], [self]
        while todo:
            cls = todo.pop(0)
            if cls not in out:
                out.append(cls)
                todo.extend(b for b in cls.bases if isinstance(b, ClassInfo))
        return out

    def external_bases(self):
        return {b.qualname for cls in self.mro() for b in cls.bases if isinstance(b, Ext)}

    @property
    def is_torch_module(self):
        return bool(self.external_bases() & {"torch.nn.Module", "torch.nn.Sequential", "torch.nn.ModuleDict", "torch.nn.ModuleList"})


class Instance:
    """An instance of a local ``nn.Module`` subclass: registered sub-modules and plain attributes."""

    def __init__(self, cls, origin):
        self.cls = cls
        self.modules = OrderedDict()
        self.attrs = {"training": False}  # shapes are those of inference (dropout has none anyway)
        self.origin = origin


class Bound:
    """A method bound to an instance (or a class, for ``super()`` calls)."""

    def __init__(self, func, owner, self_value):
        self.func = func
        self.owner = owner
        self.self_value = self_value


class Function:
    """A function defined at module level."""

    def __init__(self, node):
        self.node = node


class Super:
    def __init__(self, cls, instance):
        self.cls = cls
        self.instance = instance


class Method:
    """A method of a built-in value (``list.append``, ``x.view``, ``model.add``)."""

    def __init__(self, obj, name):
        self.obj = obj
        self.name = name


class Builtin:
    def __init__(self, name):
        self.name = name


class Opaque:
    """A layer's weight or bias tensor (``m.weight.data.normal_(0, 0.01)`` in init code): any attribute
    or call gives itself; it cannot be used as a size or in the forward data flow."""

    def __repr__(self):
        return "<a layer's weight or bias>"


OPAQUE = Opaque()


class Batch:
    """``x.size(0)`` / ``x.shape[0]``: the batch size, only meaningful inside ``view``/``reshape``."""


class ShapeOf:
    """``x.size()`` / ``x.shape``: only ``[0]`` (the batch) is understood."""


BATCH = Batch()
SHAPE = ShapeOf()


class Tensor:
    def __init__(self, node):
        self.node = node


class Return(Exception):
    def __init__(self, value):
        self.value = value


_BUILTINS = {name: Builtin(name) for name in ("range", "len", "int", "list", "tuple", "dict", "enumerate", "zip",
                                             "super", "min", "max", "isinstance", "print", "float", "round", "abs")}
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_MODULE_METHODS = {"add_module", "register_module", "items", "values", "keys", "children", "named_children",
                   "modules", "named_modules", "apply", "parameters"}
_MAX_DEPTH = 40  # nested calls of interpreted functions: model code never goes this deep


def _describe(node):
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


class Reader:
    """Interprets one source file; ``model(cls)`` returns the chosen network."""

    def __init__(self, source, path="<source>"):
        self.source = source
        self.path = path
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise ShapeError(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from None
        self.globals = {}
        self.failed = {}  # module-level names whose definition could not be read: name -> error
        self.classes = {}
        self.keras_models = []  # (name, KerasModel) defined at module level
        self.nodes = []
        self.scope_counts = {}
        self.paths = {}
        self.scopes = []  # module paths of the forwards being run
        self.called = set()  # functions called by module-level code
        self.depth = 0
        for stmt in tree.body:
            self._module_statement(stmt)

    # --- module level ---------------------------------------------------------------------------

    def _module_statement(self, stmt):
        """Module-level code is read leniently: a statement that cannot be followed (data loading,
        training) only matters if the chosen model refers to what it defines."""
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self.globals[alias.asname] = Ext(alias.name)
                else:
                    root = alias.name.split(".")[0]
                    self.globals[root] = Ext(root)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if stmt.module and alias.name != "*":
                    self.globals[alias.asname or alias.name] = Ext(f"{stmt.module}.{alias.name}")
        elif isinstance(stmt, ast.ClassDef):
            bases = []
            for b in stmt.bases:
                try:
                    bases.append(self.eval(b, self.globals))
                except ShapeError:
                    bases.append(None)
            info = ClassInfo(stmt, bases, self)
            self.globals[stmt.name] = info
            self.classes[stmt.name] = info
        elif isinstance(stmt, ast.FunctionDef):
            self.globals[stmt.name] = Function(stmt)
        elif isinstance(stmt, ast.If) and ast.unparse(stmt.test) in ("__name__ == '__main__'", "'__main__' == __name__"):
            for inner in stmt.body:  # the script part: read as module-level code
                self._module_statement(inner)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
            names = _assigned_names(stmt)
            self.called |= {n.func.id for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            try:
                self.execute([stmt], self.globals)
            except ShapeError as exc:
                for name in names:
                    self.globals.pop(name, None)
                    self.failed[name] = self.located(exc)
                return
            for name in names:
                self.failed.pop(name, None)
                value = self.globals.get(name)
                if isinstance(value, KerasModel) and all(m is not value for _, m in self.keras_models):
                    self.keras_models.append((name, value))

    # --- choosing the model ---------------------------------------------------------------------

    def candidates(self):
        """Model names: torch module classes that no other class or builder function uses, builder
        functions (no required arguments, naming a module class: ``def ResNet18(): return
        ResNet(BasicBlock, [2, 2, 2, 2])``), module-level Keras models and ``nn.Sequential`` variables."""
        torch_classes = {c.name: c for c in self.classes.values() if c.is_torch_module}

        def names_in(node, own):
            return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id != own}

        def builds_model(fdef):
            return names_in(fdef, fdef.name) & set(torch_classes) or "Sequential" in names_in(fdef, "") | {
                n.attr for n in ast.walk(fdef) if isinstance(n, ast.Attribute)}

        builders = [
            f.node.name for f in self.globals.values()
            if isinstance(f, Function) and not _required_args(f.node) and builds_model(f.node)
            and f.node.name not in self.called  # model = build_model(): the variable is the candidate
        ]
        used = set()
        for cls in torch_classes.values():
            used |= names_in(cls.node, cls.name)
        for name in builders:
            used |= names_in(self.globals[name].node, name)
        out = [name for name in torch_classes if name not in used] + builders
        out += [name for name, _ in self.keras_models]
        out += [name for name, v in self.globals.items() if isinstance(v, SeqMod) and v.kind == "Sequential"]
        return out

    def choose(self, cls=None):
        """The value named ``cls`` (a class, a function returning a model, or a variable), or the only candidate."""
        if cls is None:
            names = self.candidates()
            if not names:
                unread = [n for n in self.failed if "model" in n.lower() or "net" in n.lower()]
                if unread:  # e.g. the Keras functional API: say why the model variable was not understood
                    raise self.failed[unread[-1]]
                raise ShapeError(
                    f"{self.path}: no model found: expected an nn.Module subclass, an nn.Sequential or a Keras Sequential"
                )
            if len(names) > 1:
                raise ShapeError(f"{self.path}: several models: {', '.join(names)}: choose one (cls=..., --class NAME)")
            cls = names[0]
        if cls in self.failed:
            exc = self.failed[cls]
            raise ShapeError(str(exc)) from None
        if cls not in self.globals:
            raise ShapeError(f"{self.path}: no class, function or variable named {cls!r} (found: {', '.join(self.candidates()) or 'none'})")
        return cls, self.globals[cls]

    def instantiate(self, value, name):
        """A module value from a class (its ``__init__`` run with defaults and symbols) or a function."""
        if isinstance(value, ClassInfo):
            return self._new_instance(value, [], {}, value.node, symbolic=True)
        if isinstance(value, Function):
            if _required_args(value.node):
                raise ShapeError(f"{self.path}:{value.node.lineno}: function {name}() takes arguments: choose a class or a function without arguments")
            return self.call_function(value.node, [], {}, None, self.globals, value.node)
        return value

    # --- errors ---------------------------------------------------------------------------------

    def error(self, node, message):
        return Unsupported(node, message)

    def located(self, exc):
        """A ShapeError with ``file:line: `` in front (the node where the interpreter stopped)."""
        if isinstance(exc, Unsupported):
            return ShapeError(f"{self.path}:{exc.node.lineno}: {exc.message}")
        return exc

    def origin(self, node, receiver=None):
        return Origin(self.path, node, self.source, receiver)

    # --- statements -----------------------------------------------------------------------------

    def execute(self, body, env):
        for stmt in body:
            self.statement(stmt, env)

    def statement(self, stmt, env):
        if isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, env)
            for target in stmt.targets:
                self.assign(target, value, env)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value, env), env)
        elif isinstance(stmt, ast.AugAssign):
            current = self.eval(_load(stmt.target), env)
            value = self.binop(stmt.op, current, self.eval(stmt.value, env), stmt)
            self.assign(stmt.target, value, env)
        elif isinstance(stmt, ast.Expr):
            if not isinstance(stmt.value, ast.Constant):  # docstrings
                self.eval(stmt.value, env)
        elif isinstance(stmt, ast.Return):
            raise Return(None if stmt.value is None else self.eval(stmt.value, env))
        elif isinstance(stmt, ast.If):
            test = self.eval(stmt.test, env)
            self.execute(stmt.body if self.truth(test, stmt.test) else stmt.orelse, env)
        elif isinstance(stmt, ast.For):
            for item in self.iterate(self.eval(stmt.iter, env), stmt.iter):
                self.assign(stmt.target, item, env)
                self.execute(stmt.body, env)
            self.execute(stmt.orelse, env)
        elif isinstance(stmt, (ast.Pass, ast.Assert)):
            pass
        else:
            raise self.error(stmt, f"cannot follow a {type(stmt).__name__} statement here: {_describe(stmt)}")

    def truth(self, value, node):
        if isinstance(value, (Tensor, Symbolic)) or hasattr(value, "free_symbols"):
            raise self.error(node, f"cannot decide the condition {_describe(node)}: it depends on an unknown value")
        return bool(value)

    def iterate(self, value, node):
        if isinstance(value, (list, tuple, range, dict)):
            return list(value)
        if isinstance(value, SeqMod):
            return [m for _, m in value.children]
        if isinstance(value, Symbolic):
            raise self.unknown_argument(value, node)
        raise self.error(node, f"cannot iterate over {_describe(node)}: not a known sequence")

    def assign(self, target, value, env):
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.iterate(value, target)
            if len(items) != len(target.elts):
                raise self.error(target, f"cannot unpack {len(items)} values into {_describe(target)}")
            for t, v in zip(target.elts, items):
                self.assign(t, v, env)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, env)
            if not isinstance(obj, Instance):
                raise self.error(target, f"cannot assign to {_describe(target)}")
            self.set_attribute(obj, target.attr, value)
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, env)
            key = self.eval(target.slice, env)
            if isinstance(obj, (list, dict)):
                obj[key] = value
            else:
                raise self.error(target, f"cannot assign to {_describe(target)}")
        else:
            raise self.error(target, f"cannot assign to {_describe(target)}")

    def set_attribute(self, obj, name, value):
        if isinstance(value, (LeafMod, SeqMod, Instance)):
            obj.modules[name] = value
            obj.attrs.pop(name, None)
        else:
            obj.modules.pop(name, None)
            obj.attrs[name] = value

    # --- expressions ----------------------------------------------------------------------------

    def lookup(self, name, env, node):
        if name in env:
            return env[name]
        if name in self.globals:
            return self.globals[name]
        if name in self.failed:
            raise self.error(node, f"{name} is defined by code that cannot be read statically: {self.failed[name]}")
        if name in _BUILTINS:
            return _BUILTINS[name]
        if name == "F":  # the universal alias of torch.nn.functional, often used without its import
            return Ext("torch.nn.functional")
        raise self.error(node, f"unknown name {name!r}")

    def eval(self, node, env):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id, env, node)
        if isinstance(node, (ast.Tuple, ast.List)):
            items = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    items.extend(self.iterate(self.eval(elt.value, env), elt))
                else:
                    items.append(self.eval(elt, env))
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            return {self.eval(k, env): self.eval(v, env) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp):
            value = self.eval(node.operand, env)
            if isinstance(node.op, ast.Not):  # `if not mid_channels:` (None, 0, an empty list...)
                return not self.truth(value, node.operand)
            self.require_number(value, node.operand)
            if isinstance(node.op, ast.USub):
                return -value
            if isinstance(node.op, ast.UAdd):
                return value
            raise self.error(node, f"cannot evaluate {_describe(node)}")
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left, env), self.eval(node.right, env), node)
        if isinstance(node, ast.BoolOp):
            values = [self.truth(self.eval(v, env), v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare):
            left = self.eval(node.left, env)
            for op, comp in zip(node.ops, node.comparators):
                right = self.eval(comp, env)
                self.require_plain(left, node)
                self.require_plain(right, node)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.JoinedStr):  # f-strings: module names such as f"denseblock{i + 1}"
            return "".join(self.eval(v, env) if isinstance(v, ast.Constant) else self.format_value(v, env)
                           for v in node.values)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body if self.truth(self.eval(node.test, env), node.test) else node.orelse, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.eval(node.value, env), node.attr, node)
        if isinstance(node, ast.Subscript):
            return self.subscript(self.eval(node.value, env), node, env)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.ListComp) and len(node.generators) == 1 and not node.generators[0].ifs:
            gen = node.generators[0]
            out = []
            for item in self.iterate(self.eval(gen.iter, env), gen.iter):
                local = dict(env)
                self.assign(gen.target, item, local)
                out.append(self.eval(node.elt, local))
            return out
        raise self.error(node, f"cannot evaluate {_describe(node)}")

    def format_value(self, node, env):
        value = self.eval(node.value, env)
        if not isinstance(value, (int, float, str)):
            raise self.error(node, f"cannot format {_describe(node.value)}: not a known number or string")
        if node.conversion == ord("r"):
            value = repr(value)
        spec = "" if node.format_spec is None else self.eval(node.format_spec, env)
        return format(value, spec)

    def require_number(self, value, node):
        if isinstance(value, Symbolic):
            return
        if not isinstance(value, (int, float)) and not hasattr(value, "free_symbols"):
            raise self.error(node, f"{_describe(node)} is not a number")

    def require_plain(self, value, node):
        if isinstance(value, (Tensor, Symbolic)) or hasattr(value, "free_symbols"):
            raise self.error(node, f"cannot compare {_describe(node)}: it depends on an unknown value")

    def number(self, value, node):
        """A value usable in arithmetic: a Symbolic becomes a sympy symbol."""
        if isinstance(value, Symbolic):
            return symbol(value.name)
        return value

    def binop(self, op, left, right, node):
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            if isinstance(op, (ast.Add, ast.Mult)) and isinstance(left, Tensor) and isinstance(right, Tensor):
                return self.merge("add" if isinstance(op, ast.Add) else "mul", [left, right], node)
            raise self.error(node, f"cannot follow {_describe(node)}: only tensor + tensor (a residual add) and "
                                   "tensor * tensor (a gate) are understood")
        if type(op) not in _BINOPS:
            raise self.error(node, f"cannot evaluate {_describe(node)}")
        if isinstance(left, (list, tuple, str)) or isinstance(right, (list, tuple, str)):
            try:
                return _BINOPS[type(op)](left, right)
            except TypeError:
                raise self.error(node, f"cannot evaluate {_describe(node)}") from None
        self.require_number(left, node)
        self.require_number(right, node)
        try:
            return _BINOPS[type(op)](self.number(left, node), self.number(right, node))
        except (TypeError, ZeroDivisionError) as exc:
            raise self.error(node, f"cannot evaluate {_describe(node)}: {exc}") from None

    def attribute(self, obj, name, node):
        if isinstance(obj, Ext):
            return Ext(f"{obj.qualname}.{name}")
        if isinstance(obj, Instance):
            if name in obj.modules:
                return obj.modules[name]
            if name in obj.attrs:
                return obj.attrs[name]
            value, owner = obj.cls.lookup(name)
            if isinstance(value, ast.FunctionDef):
                return Bound(value, owner, obj)
            if value is not None:
                return value
            if name in _MODULE_METHODS:
                return Method(obj, name)
            raise self.error(node, f"{obj.cls.name} has no attribute {name!r} set before it is used")
        if isinstance(obj, ClassInfo):
            value, owner = obj.lookup(name)
            if value is None:
                raise self.error(node, f"class {obj.name} has no attribute {name!r}")
            return Bound(value, owner, None) if isinstance(value, ast.FunctionDef) else value
        if isinstance(obj, Super):
            for cls in obj.cls.mro()[1:]:
                if name in cls.methods:
                    return Bound(cls.methods[name], cls, obj.instance)
            if name == "__init__":
                return Method(obj, "__init__")
            raise self.error(node, f"cannot follow super().{name}")
        if isinstance(obj, Opaque):
            return obj
        if isinstance(obj, LeafMod):
            if name in ("weight", "bias") or name in _MODULE_METHODS:
                return OPAQUE if name in ("weight", "bias") else Method(obj, name)
            if name in getattr(obj.layer, "__dataclass_fields__", {}):  # e.g. model.fc.in_features
                return getattr(obj.layer, name)
            raise self.error(node, f"cannot follow {_describe(node)}")
        if isinstance(obj, Tensor):
            if name == "shape":
                return SHAPE
            return Method(obj, name)
        if isinstance(obj, SeqMod):
            for child_name, child in obj.children:
                if child_name == name:
                    return child
            return Method(obj, name)
        if isinstance(obj, (list, dict)):
            return Method(obj, name)
        if isinstance(obj, KerasModel):
            return Method(obj, name)
        raise self.error(node, f"cannot follow {_describe(node)}")

    def unknown_argument(self, value, node):
        return self.error(
            node, f"{_describe(node)} needs the value of {value.name}, an __init__ argument without a default "
            "(taken as a size symbol): give it a default or choose a function that passes it (cls=...)")

    def subscript(self, obj, node, env):
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self.eval(p, env) for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            key = slice(*parts)
        else:
            key = self.eval(node.slice, env)
        if isinstance(obj, Symbolic):
            raise self.unknown_argument(obj, node)
        if isinstance(obj, ShapeOf):
            if key == 0:
                return BATCH
            raise self.error(node, f"cannot follow {_describe(node)}: only the batch size [0] of a tensor's shape is understood")
        if isinstance(obj, SeqMod):
            if isinstance(key, slice):
                return SeqMod("Sequential", obj.children[key], obj.origin)
            if isinstance(key, str):
                return self.attribute(obj, key, node)
            if isinstance(key, int):
                return obj.children[key][1]
        if isinstance(obj, (list, tuple, dict, str, range)):
            try:
                return obj[key]
            except (KeyError, IndexError, TypeError) as exc:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {exc!r}") from None
        raise self.error(node, f"cannot evaluate {_describe(node)}")

    # --- calls ----------------------------------------------------------------------------------

    def call(self, node, env):
        func = self.eval(node.func, env)
        if isinstance(func, Ext) and func.qualname.startswith("torch.nn.init."):
            return None  # weight initialisation: no effect on shapes or counts
        if isinstance(func, Opaque):
            return func
        args, kwargs = [], {}
        for a in node.args:
            if isinstance(a, ast.Starred):
                args.extend(self.iterate(self.eval(a.value, env), a))
            else:
                args.append(self.eval(a, env))
        for k in node.keywords:
            if k.arg is None:
                value = self.eval(k.value, env)
                if not isinstance(value, dict):
                    raise self.error(k.value, f"cannot expand {_describe(k.value)}")
                kwargs.update(value)
            else:
                kwargs[k.arg] = self.eval(k.value, env)
        return self.apply(func, args, kwargs, node, env)

    def apply(self, func, args, kwargs, node, env):
        if isinstance(func, Ext):
            return self.call_external(func.qualname, args, kwargs, node)
        if isinstance(func, Builtin):
            return self.call_builtin(func.name, args, kwargs, node, env)
        if isinstance(func, ClassInfo):
            if func.is_torch_module:
                return self._new_instance(func, args, kwargs, node)
            raise self.error(node, f"class {func.name} is not an nn.Module")
        if isinstance(func, Bound):
            self_args = [] if func.self_value is None else [func.self_value]
            return self.call_function(func.func, self_args + args, kwargs, func.owner, self.globals, node)
        if isinstance(func, Function):
            return self.call_function(func.node, args, kwargs, None, self.globals, node)
        if isinstance(func, Method):
            return self.call_method(func.obj, func.name, args, kwargs, node)
        if isinstance(func, Symbolic):
            raise self.unknown_argument(func, node)
        if isinstance(func, Instance) and isinstance(func.cls.lookup("forward")[0], ast.FunctionDef):
            return self.forward(func, args, node, kwargs)  # its own forward takes what it takes
        if isinstance(func, (LeafMod, SeqMod, Instance)):
            if len(args) != 1 or kwargs or not isinstance(args[0], Tensor):
                raise self.error(node, f"cannot follow {_describe(node)}: a module is called with one tensor")
            return self.forward(func, args[0], node)
        if isinstance(func, (KerasModel, KerasLayer, KerasInput)):
            raise self.error(node, "calling a Keras layer or model (the functional API) is not understood: use Sequential")
        raise self.error(node, f"cannot call {_describe(node.func)}")

    def call_function(self, fdef, args, kwargs, owner, env, node):
        local = self.bind(fdef, args, kwargs, node)
        if owner is not None:
            local["__class__"] = owner
        return self.run_body(fdef, local, node)

    def run_body(self, fdef, local, node):
        """Execute a function body; its return value (None without a return)."""
        if self.depth >= _MAX_DEPTH:
            raise self.error(node, "calls nested too deeply (recursion?)")
        self.depth += 1
        try:
            self.execute(fdef.body, local)
        except Return as ret:
            return ret.value
        finally:
            self.depth -= 1
        return None

    def bind(self, fdef, args, kwargs, node, symbolic=False):
        """Local variables for a call: positional, keyword, defaults, *args, **kwargs; with ``symbolic``
        a missing argument becomes a Symbolic of its name (the model's constructor arguments)."""
        spec = fdef.args
        params = [a.arg for a in spec.posonlyargs + spec.args]
        defaults = [self.eval(d, self.globals) for d in spec.defaults]
        local = {}
        if len(args) > len(params) and spec.vararg is None:
            raise self.error(node, f"{fdef.name}() takes {len(params)} positional arguments, {len(args)} given")
        for name, value in zip(params, args):
            local[name] = value
        if spec.vararg is not None:
            local[spec.vararg.arg] = tuple(args[len(params):])
        extra = {}
        for key, value in kwargs.items():
            if key in params or key in [a.arg for a in spec.kwonlyargs]:
                if key in local:
                    raise self.error(node, f"{fdef.name}() got multiple values for {key!r}")
                local[key] = value
            elif spec.kwarg is not None:
                extra[key] = value
            else:
                raise self.error(node, f"{fdef.name}() got an unexpected keyword argument {key!r}")
        if spec.kwarg is not None:
            local[spec.kwarg.arg] = extra
        first_default = len(params) - len(defaults)
        for i, name in enumerate(params):
            if name not in local:
                if i >= first_default:
                    local[name] = defaults[i - first_default]
                elif symbolic:
                    local[name] = Symbolic(name)
                else:
                    raise self.error(node, f"{fdef.name}() is missing the argument {name!r}")
        for a, d in zip(spec.kwonlyargs, spec.kw_defaults):
            if a.arg not in local:
                if d is not None:
                    local[a.arg] = self.eval(d, self.globals)
                elif symbolic:
                    local[a.arg] = Symbolic(a.arg)
                else:
                    raise self.error(node, f"{fdef.name}() is missing the argument {a.arg!r}")
        return local

    def _new_instance(self, cls, args, kwargs, node, symbolic=False):
        inst = Instance(cls, self.origin(node))
        init, owner = cls.lookup("__init__")
        if isinstance(init, ast.FunctionDef):
            local = self.bind(init, [inst] + list(args), kwargs, node, symbolic=symbolic)
            local["__class__"] = owner
            self.run_body(init, local, node)
        elif args or kwargs:
            if "torch.nn.Sequential" in cls.external_bases():
                self._register_sequential(inst, args, kwargs, node)
            else:
                raise self.error(node, f"{cls.name}() takes no arguments")
        return inst

    def _register_sequential(self, inst, args, kwargs, node):
        seq = self.make_sequential("Sequential", args, node)
        for name, child in seq.children:
            inst.modules[name] = child

    def make_sequential(self, kind, args, node):
        if kind == "ModuleList":
            items = list(args[0]) if args else []
            return SeqMod(kind, [(str(i), m) for i, m in enumerate(self._modules(items, node))], self.origin(node))
        if len(args) == 1 and isinstance(args[0], dict):
            pairs = list(args[0].items())
        elif kind == "ModuleDict":
            pairs = list(args[0].items()) if args else []
        else:
            pairs = [(str(i), m) for i, m in enumerate(args)]
        mods = self._modules([m for _, m in pairs], node)
        return SeqMod(kind, [(str(k), m) for (k, _), m in zip(pairs, mods)], self.origin(node))

    def _modules(self, items, node):
        for m in items:
            if not isinstance(m, (LeafMod, SeqMod, Instance)):
                raise self.error(node, f"{_describe(node)}: expected torch.nn modules, got {type(m).__name__}")
        return items

    def call_builtin(self, name, args, kwargs, node, env):
        try:
            if name == "super":
                cls = env.get("__class__")
                inst = env.get("self") if "self" in env else next(iter(env.values()), None)
                if args:
                    cls, inst = args[0], args[1]
                if not isinstance(cls, ClassInfo):
                    raise self.error(node, "super() outside a method of a class in this file")
                return Super(cls, inst)
            if name == "print":
                return None
            if name == "isinstance":
                return self.is_instance(args[0], args[1], node)
            plain = [self.number(a, node) for a in args]
            if name == "range":
                return range(*plain)
            if name == "len":
                value = args[0]
                return len(value.children) if isinstance(value, SeqMod) else len(value)
            if name in ("int", "float", "round", "abs", "min", "max"):
                return {"int": int, "float": float, "round": round, "abs": abs, "min": min, "max": max}[name](*plain)
            if name == "list":
                return self.iterate(args[0], node) if args else []
            if name == "tuple":
                return tuple(self.iterate(args[0], node)) if args else ()
            if name == "dict":
                return dict(*args, **kwargs)
            if name == "enumerate":
                return list(enumerate(self.iterate(args[0], node), *plain[1:]))
            if name == "zip":
                return list(zip(*(self.iterate(a, node) for a in args)))
        except (TypeError, ValueError) as exc:
            raise self.error(node, f"cannot evaluate {_describe(node)}: {exc}") from None
        raise self.error(node, f"cannot call {name}()")

    def is_instance(self, value, classes, node):
        """isinstance() of a module value against torch.nn classes or classes of the file."""
        for cls in classes if isinstance(classes, tuple) else (classes,):
            if isinstance(cls, ClassInfo):
                if isinstance(value, Instance) and cls in value.cls.mro():
                    return True
            elif isinstance(cls, Ext) and cls.qualname.startswith("torch.nn."):
                kind = cls.qualname[len("torch.nn."):]
                if kind == "Module" and isinstance(value, (LeafMod, SeqMod, Instance)):
                    return True
                if isinstance(value, LeafMod) and value.layer.type == kind:
                    return True
                if isinstance(value, SeqMod) and value.kind == kind:
                    return True
                if isinstance(value, Instance) and cls.qualname in value.cls.external_bases():
                    return True
            elif isinstance(cls, Builtin) and cls.name in ("int", "float", "list", "tuple", "dict"):
                if isinstance(value, {"int": int, "float": float, "list": list, "tuple": tuple, "dict": dict}[cls.name]):
                    return True
            else:
                raise self.error(node, f"isinstance() against {_describe(node.args[1])} is not understood")
        return False

    def call_external(self, q, args, kwargs, node):
        if q.startswith("keras."):
                return keras_call(self, q, args, kwargs, node)
        if q in ("collections.OrderedDict", "typing.OrderedDict"):
            return dict(args[0]) if args else {}
        if q.startswith("torch.nn.") and q.count(".") == 2:
            name = q[len("torch.nn."):]
            if name in ("Sequential", "ModuleList", "ModuleDict"):
                return self.make_sequential(name, args, node)
            if name in TORCH_LAYERS:
                return LeafMod(self.construct(TORCH_LAYERS[name], args, kwargs, node), self.origin(node))
            raise self.error(node, f"{_describe(node.func)} ({q}) is not supported by cnncalc")
        if q.startswith("torch.nn.functional."):
            return self.functional(q.rsplit(".", 1)[1], args, kwargs, node)
        if q.startswith("torch.") and q.count(".") == 1:
            name = q[len("torch."):]
            if name in TORCH_FUNCTIONS:
                return self.functional(name, args, kwargs, node)
            if name == "cat":
                return self.cat(args, kwargs, node)
            if name in ("add", "mul"):
                if len(args) == 2 and not kwargs and all(isinstance(a, Tensor) for a in args):
                    return self.merge(name, args, node)
            if name == "mean" and args and isinstance(args[0], Tensor):
                return self.spatial_mean(args[0], args[1:], kwargs, node)
        raise self.error(node, f"{_describe(node.func)} ({q}) is not understood")

    def construct(self, cls, args, kwargs, node):
        args = [self.number(a, node) for a in args]
        kwargs = {k: self.number(v, node) for k, v in kwargs.items()}
        try:
            return cls(*args, **kwargs)
        except TypeError as exc:
            raise self.error(node, f"{_describe(node)}: {exc}") from None
        except ShapeError as exc:
            raise self.error(node, f"{_describe(node)}: {exc}") from None

    # --- forward: the data flow -----------------------------------------------------------------

    def new_node(self, kind, parents, **fields):
        node = FlowNode(len(self.nodes), kind, parents, **fields)
        self.nodes.append(node)
        return Tensor(node)

    def current_scope(self):
        return self.scopes[-1] if self.scopes else ""

    def name_in_scope(self, base):
        scope = self.current_scope()
        key = (scope, base)
        count = self.scope_counts.get(key, 0)
        self.scope_counts[key] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        return f"{scope}.{name}" if scope else name

    def leaf(self, x, layer, name, origin):
        return self.new_node("leaf", [x.node], layer=layer, name=name, origin=origin, scope=self.current_scope())

    def forward(self, module, x, node, kwargs=None):
        """Apply a module to ``x`` (for a module with its own forward, ``x`` may be its argument list)."""
        if isinstance(module, LeafMod):
            name = self.paths.get(id(module)) or self.name_in_scope(module.layer.type.lower())
            return self.leaf(x, module.layer, name, module.origin)
        if isinstance(module, SeqMod):
            if module.kind != "Sequential":
                raise self.error(node, f"an nn.{module.kind} cannot be called: iterate over it")
            for _, child in module.children:
                x = self.forward(child, x, node)
            return x
        fwd, owner = module.cls.lookup("forward")
        self.scopes.append(self.paths.get(id(module), ""))
        try:
            if isinstance(fwd, ast.FunctionDef):
                args = list(x) if isinstance(x, list) else [x]
                out = self.call_function(fwd, [module] + args, kwargs or {}, owner, self.globals, node)
                if not isinstance(out, Tensor):
                    raise self.error(fwd, f"{module.cls.name}.forward must return one tensor")
                return out
            for _, child in module.modules.items():
                x = self.forward(child, x, node)
            return x
        finally:
            self.scopes.pop()

    def functional(self, name, args, kwargs, node, receiver=None):
        if name not in FUNCTIONAL or not args or not isinstance(args[0], Tensor):
            raise self.error(node, f"{_describe(node)} is not understood")
        cls_name, names = FUNCTIONAL[name]
        if len(args) - 1 > len(names):
            raise self.error(node, f"{_describe(node)}: too many arguments")
        bound = dict(zip(names, args[1:]))
        for key, value in kwargs.items():
            if key not in names:
                raise self.error(node, f"{_describe(node)}: unexpected argument {key!r}")
            bound[key] = value
        try:
            bound = layer_arguments(name, bound, function=receiver is None)
        except ShapeError as exc:
            raise self.error(node, f"{_describe(node)}: {exc}") from None
        layer = self.construct(getattr(L, cls_name), [], bound, node)
        return self.leaf(args[0], layer, self.name_in_scope(name), self.origin(node, receiver))

    def cat(self, args, kwargs, node):
        tensors = args[0] if args else kwargs.get("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, Tensor) for t in tensors):
            raise self.error(node, f"{_describe(node)}: expected a list of tensors")
        if dim not in (1, -3):
            raise self.error(node, f"{_describe(node)}: only concatenation along channels (dim=1) is understood")
        if len(tensors) == 1:
            return tensors[0]  # cat of one tensor is that tensor (DenseNet's first layer)
        return self.merge("cat", list(tensors), node)

    def merge(self, kind, tensors, node):
        parents = [t.node for t in tensors]
        if kind == "cat":
            parents = fold_cat(parents, self.nodes)
        return self.new_node(kind, parents, origin=self.origin(node), scope=self.current_scope())

    def call_method(self, obj, name, args, kwargs, node):
        if isinstance(obj, Super):  # super().__init__(...): nn.Sequential subclasses register their layers
            if "torch.nn.Sequential" in obj.cls.external_bases() and isinstance(obj.instance, Instance):
                self._register_sequential(obj.instance, args, kwargs, node)
            return None
        if isinstance(obj, Tensor):
            return self.tensor_method(obj, name, args, kwargs, node)
        if isinstance(obj, (Instance, SeqMod, LeafMod)) and name in ("modules", "named_modules", "apply", "parameters"):
            every = _named_modules(obj)
            if name == "apply":  # module.apply(fn): fn(m) for every sub-module, then the module itself
                for _, m in every[1:] + every[:1]:
                    self.apply(args[0], [m], {}, node, {})
                return obj
            if name == "parameters":
                return [OPAQUE]
            return every if name == "named_modules" else [m for _, m in every]
        if isinstance(obj, Instance) and name in _MODULE_METHODS:  # nn.Module's own registry methods
            if name in ("add_module", "register_module"):
                self.set_attribute(obj, str(args[0]), args[1])
                return None
            pairs = list(obj.modules.items())
            if name in ("items", "named_children"):
                return pairs
            return [p[0] for p in pairs] if name == "keys" else [p[1] for p in pairs]
        if isinstance(obj, list):
            if name == "append":
                obj.append(args[0])
                return None
            if name == "extend":
                obj.extend(self.iterate(args[0], node))
                return None
        if isinstance(obj, dict) and name in ("items", "keys", "values"):
            return list(getattr(obj, name)())
        if isinstance(obj, SeqMod):
            if name == "append":
                obj.children.append((str(len(obj.children)), args[0]))
                return None
            if name == "add_module":
                obj.children.append((str(args[0]), args[1]))
                return None
            if name == "extend":
                for m in self.iterate(args[0], node):
                    obj.children.append((str(len(obj.children)), m))
                return None
        if isinstance(obj, KerasModel):
            return obj.method(self, name, args, kwargs, node)
        raise self.error(node, f"cannot follow {_describe(node)}")

    def spatial_mean(self, x, args, kwargs, node, receiver=None):
        """x.mean((2, 3)) / torch.mean(x, dim=(2, 3), keepdim=False): global average pooling, then the
        flatten that drops the 1x1 axes unless keepdim."""
        try:
            layers = mean_layers(args, kwargs)
        except ShapeError as exc:
            raise self.error(node, f"cannot follow {_describe(node)}: {exc}") from None
        origin = self.origin(node, receiver)
        for layer in layers:
            x = self.leaf(x, layer, self.name_in_scope("mean"), origin)
        return x

    def tensor_method(self, x, name, args, kwargs, node):
        receiver = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else "x"
        if name == "size":
            if not args:
                return SHAPE
            if args[0] == 0:
                return BATCH
            raise self.error(node, f"cannot follow {_describe(node)}: only the batch size x.size(0) is understood")
        if name in ("view", "reshape"):
            sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
            sizes = [None if s is BATCH else self.number(s, node) for s in sizes]
            if any(isinstance(s, (Tensor, ShapeOf)) for s in sizes):
                raise self.error(node, f"cannot follow {_describe(node)}")
            layer = self.construct(L.Reshape, sizes, {"method": name}, node)
            return self.leaf(x, layer, self.name_in_scope(name), self.origin(node, receiver))
        if name in TENSOR_METHODS:
            return self.functional(name, [x] + args, kwargs, node, receiver)
        if name in ("add", "mul") and len(args) == 1 and isinstance(args[0], Tensor):
            return self.merge(name, [x, args[0]], node)
        if name == "mean":
            return self.spatial_mean(x, args, kwargs, node, receiver)
        if name in ("contiguous", "clone", "detach"):
            return x
        raise self.error(node, f"cannot follow {_describe(node)}: tensor method {name}() is not understood")

    # --- the whole model ------------------------------------------------------------------------

    def assign_paths(self, root):
        """Module paths as named_modules() gives them (a module reached twice keeps its first path)."""
        for path, mod in _named_modules(root):
            self.paths.setdefault(id(mod), path)

    def torch_model(self, root, name):
        """Run ``forward`` on a symbolic input and build the cnncalc network with its origins."""
        self.assign_paths(root)
        self.nodes = []
        self.scope_counts = {}
        x = self.new_node("input", [])
        out = self.forward(root, x, root.origin.node if root.origin else None)
        if not isinstance(out, Tensor):
            raise ShapeError(f"{self.path}: {name} does not produce one tensor")
        return to_network(build(out.node, x.node))


def _named_modules(root):
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


def _required_args(fdef):
    spec = fdef.args
    positional = spec.posonlyargs + spec.args
    return len(positional) - len(spec.defaults) + sum(d is None for d in spec.kw_defaults)


def _assigned_names(stmt):
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        call = stmt.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
            return [call.func.value.id]  # model.add(...): a failure poisons model
        return []
    names = []
    for t in targets:
        names.extend(n.id for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
        if isinstance(t, (ast.Attribute, ast.Subscript)) and isinstance(t.value, ast.Name):
            names.append(t.value.id)
    return names


def _load(target):
    """The expression that reads an assignment target (for ``+=``)."""
    node = copy.deepcopy(target)
    for n in ast.walk(node):
        if hasattr(n, "ctx"):
            n.ctx = ast.Load()
    return node
