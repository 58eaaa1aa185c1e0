"""The interpreter behind the source reader: runs the subset of Python that model definitions use,
statically (``ast`` only, never import/exec/eval), and records the forward data flow.

The subset: literals and arithmetic (``math``, integer and float operations), module-level constants,
functions, lambdas, ``functools.partial``, classes defined in the file or in the files it imports from
its own folder or package (``from .unet_parts import *``, ``from models.resnet import ResNet18``),
``if``/``for``/bounded ``while`` with ``break``/``continue``, comprehensions, the common built-ins
(``len``, ``range``, ``sum``, ``min``, ``reversed``, ``sorted``, ``hasattr``, ``getattr``, ``setattr``,
...). A constructor argument without a default becomes a symbol of the same name (``num_classes``).

Module-level code that cannot be read (loading data, choosing a device, training) is not an error:
the names it defines become ``Unknown`` and the error appears only if the model needs one of them,
naming the line that could not be read and why.

PyTorch: ``nn.Module`` subclasses build ``torch.nn`` layers in ``__init__``; ``forward`` is then run
on a symbolic tensor, recording a data-flow graph (layers, ``+`` / ``torch.add`` for residuals,
``torch.cat(..., 1)`` for concatenations) that is turned into cnncalc's ``Sequential`` / ``Residual``
/ ``Concat`` tree. When the input shape is known, ``x.size(2)`` and ``x.shape[-2:]`` are its sizes.
A module without ``forward`` applies its sub-modules in order, as ``nn.Sequential``. Rows are named
as ``named_modules()`` names them (``layer1.0.conv1``); functional calls after the function in their
module (``relu``, ``relu_1``), as torch.fx does.

Keras: ``Sequential([...])``, ``model.add(...)`` and the functional API; see ``keras.py``.

Everything runs under a ``Budget`` (steps, sizes, nesting). Anything outside the subset raises
``ShapeError("file:line: ...")`` saying what was not understood, in one line.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import math
import re

from .. import layers as L
from ..dims import symbol
from ..errors import ShapeError
from . import builtins as _builtins
from .budget import Budget
from .dataflow import Recorder, build, shape_of, to_network
from .common import decorator_name as _decorator_name, describe as _describe, kind as _kind, named_modules, one_line
from .common import reason as _reason
from .imports import SourceModule, resolve
from .keras import KerasLayer, KerasModel, KerasTensor, keras_call
from .loaded import Origin, refuse_upstream
from .torch_names import SPLITS, TORCH_LAYERS, known_op, merge_op, ops_for, scalar_layer, split_layers
from .values import (
    BATCH, OPAQUE, SHAPE, Batch, Bound, Break, Builtin, ClassInfo, ConstTensor, Continue, Ext, ParamValue, Function, Instance, LeafMod,
    Method, ModuleRef, Opaque, Partial, Return, SeqMod, ShapeOf, Super, Symbolic, Tensor, Unknown, is_module,
)


class Unsupported(ShapeError):
    """Raised inside the interpreter; ``located`` turns it into ``ShapeError("file:line: ...")``."""

    def __init__(self, node, message, path):
        super().__init__(message)
        self.node = node
        self.message = message
        self.path = path

    @property
    def where(self):
        return f"{self.path}:{getattr(self.node, 'lineno', 0) or 1}"


class OverBudget(Unsupported):
    """A budget limit was reached: never skipped as unreadable script code."""


_ARITHMETIC = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.BitAnd: lambda a, b: a & b,
    ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b,
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
_BUILTIN_NAMES = (
    "range", "len", "int", "float", "str", "bool", "list", "tuple", "dict", "set", "frozenset", "enumerate", "zip",
    "super", "min", "max", "sum", "any", "all", "sorted", "reversed", "isinstance", "issubclass", "hasattr", "getattr",
    "setattr", "print", "round", "abs", "divmod", "pow", "map", "filter", "callable", "repr", "format", "globals",
    "type", "iter", "next", "id", "hash", "ord", "chr", "vars", "NotImplementedError", "ValueError", "TypeError",
    "RuntimeError", "AssertionError", "KeyError", "Exception", "object",
)
_BUILTINS = {name: Builtin(name) for name in _BUILTIN_NAMES}
# nn.Module methods that return the module itself: devices, dtypes, modes
_MODULE_SELF = {"to", "cuda", "cpu", "eval", "train", "float", "double", "half", "bfloat16", "requires_grad_",
                "share_memory", "type", "to_empty", "zero_grad"}
_MODULE_METHODS = {"add_module", "register_module", "items", "values", "keys", "children", "named_children",
                   "modules", "named_modules", "apply", "parameters", "named_parameters", "buffers",
                   "register_buffer", "register_parameter", "load_state_dict", "state_dict", "append", "extend",
                   "insert"} | _MODULE_SELF
# calls whose result is discarded and that cannot build or change a module: skipped when unreadable
_HARMLESS_PREFIXES = ("print", "logging.", "warnings.", "torch.manual_seed", "torch.cuda.", "torch.backends.",
                      "numpy.random.", "random.", "os.", "sys.", "time.", "torch.set_", "torch.hub.", "tf.random.",
                      "keras.utils.", "tensorflow.random.", "np.random.", "torch._C.", "torch.jit.", "torch.utils.")
_MATH = {
    "floor": math.floor, "ceil": math.ceil, "sqrt": math.sqrt, "log": math.log, "log2": math.log2, "log10": math.log10,
    "exp": math.exp, "pow": math.pow, "gcd": math.gcd, "isqrt": math.isqrt, "prod": math.prod, "fabs": math.fabs,
    "trunc": math.trunc, "lcm": math.lcm, "isclose": math.isclose, "sin": math.sin, "cos": math.cos,
}
_MATH_CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "tau": math.tau}
_EXCEPTIONS = (TypeError, ValueError, OverflowError, IndexError, KeyError, ZeroDivisionError, AttributeError,
               ArithmeticError, MemoryError)


class Reader:
    """Interprets one source file (and the sibling files it imports); ``choose``/``instantiate`` give the
    model value, ``torch_model`` runs its forward."""

    def __init__(self, source, path="<source>", budget=None):
        self.budget = budget or Budget.from_env()
        self.path = path
        self.steps = 0
        self.depth = 0
        self.files = {}  # resolved path -> SourceModule (local imports, read once)
        self.main = SourceModule.parse(source, path, self)
        self.module = self.main
        self.recorder = Recorder()
        self.scope_counts = {}
        self.paths = {}
        self.scopes = []  # module paths of the forwards being run
        self.input_shape = None
        self.run_module(self.main)

    # --- budget and errors ----------------------------------------------------------------------

    def error(self, node, message):
        return Unsupported(node, message, self.module.path)

    def over(self, node, name):
        return OverBudget(node, f"stopped: {self.budget.exceeded(name)}", self.module.path)

    def tick(self, node):
        self.steps += 1
        if self.steps > self.budget.steps:
            raise self.over(node, "steps")

    def check_size(self, value, node):
        """Refuse an integer, string or collection above the budget's caps."""
        if type(value) is int:
            if value.bit_length() > self.budget.int_bits:
                raise self.error(node, f"cannot evaluate {_describe(node)}: the integer has "
                                       f"{self.budget.exceeded('int_digits')}")
        elif isinstance(value, (str, list, tuple, dict, set, frozenset, bytes)):
            if len(value) > self.budget.items:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {self.budget.exceeded('items')}")
        return value

    def located(self, exc):
        """A one-line ShapeError with ``file:line: `` in front (the node where the interpreter stopped)."""
        if isinstance(exc, Unsupported):
            error = ShapeError(one_line(f"{exc.where}: {exc.message}"))
        else:
            error = ShapeError(one_line(str(exc)))
        if getattr(exc, "root", None):
            error.root = exc.root
        return error

    def origin(self, node, receiver=None):
        return Origin(self.module.path, node, self.module.source, receiver)

    def unknown(self, value, node):
        """The error for an Unknown value the model needs: where it came from, once."""
        use = f"{self.module.path}:{getattr(node, 'lineno', 0)}"
        suffix = "" if value.root.startswith(use + ":") else f" (needed at {use})"
        error = ShapeError(one_line(value.root + suffix))
        error.root = value.root
        return error

    def root_of(self, exc):
        """The message an Unknown keeps for a failure: the first cause, never wrapped again."""
        return getattr(exc, "root", None) or str(self.located(exc))

    def model_variable(self, value):
        """The module-level variable name holding ``value``, if the file builds it at module level."""
        return next((n for n, v in self.main.models if v is value), None)

    # --- module level ---------------------------------------------------------------------------

    def run_module(self, module):
        """Module-level code is read leniently: a statement that cannot be followed (data loading,
        training) only matters if the chosen model refers to what it defines."""
        previous, self.module = self.module, module
        try:
            for stmt in module.tree.body:
                self.module_statement(stmt, module)
        finally:
            self.module = previous

    def module_statement(self, stmt, module):
        g = module.globals
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self.import_statement(stmt, g)
        elif isinstance(stmt, ast.ClassDef):
            self.define_class(stmt, g)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            g[stmt.name] = Function(stmt, module)
        elif isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
            for inner in stmt.body:  # the script part: read as module-level code
                self.module_statement(inner, module)
        elif isinstance(stmt, (ast.Try, ast.With)):
            for inner in stmt.body:  # try: import ... / with strategy.scope(): model = ...
                self.module_statement(inner, module)
        else:
            names = _assigned_names(stmt)
            module.called |= {n.func.id for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            try:
                self.statement(stmt, g)
            except OverBudget:
                raise
            except ShapeError as exc:
                root = self.root_of(exc)
                for name in names:
                    g[name] = Unknown(root, name)
                return
            for name in names:
                value = g.get(name)
                if is_model_value(value) and all(v is not value for _, v in module.models):
                    module.models.append((name, value))

    def define_class(self, stmt, env):
        bases = []
        for b in stmt.bases:
            try:
                bases.append(self.eval(b, env))
            except OverBudget:
                raise
            except ShapeError:
                bases.append(None)
        info = ClassInfo(stmt, bases, self.module)
        for inner in stmt.body:
            if isinstance(inner, (ast.Assign, ast.AnnAssign)) and inner.value is not None:
                targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                if not all(isinstance(t, ast.Name) for t in targets):
                    continue
                try:
                    value = self.eval(inner.value, env)
                except OverBudget:
                    raise
                except ShapeError as exc:
                    value = Unknown(self.root_of(exc))
                for t in targets:
                    info.attrs[t.id] = value
        env[stmt.name] = info
        if env is self.module.globals:
            self.module.classes[stmt.name] = info

    def import_statement(self, stmt, env):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = self.local_module(0, alias.name, stmt)
                if alias.asname:
                    env[alias.asname] = local if local is not None else Ext(alias.name)
                else:
                    root = alias.name.split(".")[0]
                    env[root] = local if local is not None and "." not in alias.name else Ext(root)
            return
        local = self.local_module(stmt.level, stmt.module or "", stmt)
        for alias in stmt.names:
            if alias.name == "*":
                if local is not None:
                    env.update(local.public())
                continue
            name = alias.asname or alias.name
            if local is not None:
                if alias.name in local.globals:
                    env[name] = local.globals[alias.name]
                    continue
                sub = self.local_module(stmt.level, f"{stmt.module}.{alias.name}" if stmt.module else alias.name, stmt)
                env[name] = sub if sub is not None else Unknown(
                    f"{self.module.path}:{stmt.lineno}: {local.path} defines no {alias.name!r}", name)
            elif stmt.level:
                env[name] = Unknown(f"{self.module.path}:{stmt.lineno}: cannot find the local module "
                                    f"{'.' * stmt.level}{stmt.module or ''} next to {self.module.path}", name)
            else:
                env[name] = Ext(f"{stmt.module}.{alias.name}")

    def local_module(self, level, dotted, node):
        """The SourceModule of a file imported from the same folder or package, or None (an installed
        library: torch, keras, ...)."""
        path = resolve(self.module.path, level, dotted)
        if path is None:
            return None
        if path in self.files:
            return self.files[path]
        if len(self.files) >= self.budget.files:
            raise self.over(node, "files")
        module = SourceModule.read(path, self)
        self.files[path] = module
        self.run_module(module)
        return module

    # --- statements -----------------------------------------------------------------------------

    def execute(self, body, env):
        for stmt in body:
            self.statement(stmt, env)

    def statement(self, stmt, env):
        self.tick(stmt)
        try:
            self._statement(stmt, env)
        except (ShapeError, Return, Break, Continue):
            raise
        except RecursionError:
            raise self.error(stmt, "nested too deeply to follow") from None
        except _EXCEPTIONS as exc:
            raise self.error(stmt, f"cannot evaluate {_describe(stmt)}: {_reason(exc)}") from None

    def _statement(self, stmt, env):
        if isinstance(stmt, ast.Assign):
            try:
                value = self.eval(stmt.value, env)
            except OverBudget:
                raise
            except ShapeError as exc:
                if not self.lenient_assignment(stmt, env):
                    raise
                value = Unknown(self.root_of(exc))
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
            if isinstance(stmt.value, ast.Constant):  # docstrings
                return
            try:
                self.eval(stmt.value, env)
            except OverBudget:
                raise
            except ShapeError:
                if not self.harmless(stmt.value, env):
                    raise
        elif isinstance(stmt, ast.Return):
            raise Return(None if stmt.value is None else self.eval(stmt.value, env))
        elif isinstance(stmt, ast.If):
            test = self.eval(stmt.test, env)
            self.execute(stmt.body if self.truth(test, stmt.test) else stmt.orelse, env)
        elif isinstance(stmt, ast.For):
            self.for_loop(stmt, env)
        elif isinstance(stmt, ast.While):
            self.while_loop(stmt, env)
        elif isinstance(stmt, ast.Break):
            raise Break()
        elif isinstance(stmt, ast.Continue):
            raise Continue()
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            env[stmt.name] = Function(stmt, self.module, env)
        elif isinstance(stmt, ast.ClassDef):
            self.define_class(stmt, env)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self.import_statement(stmt, env)
        elif isinstance(stmt, ast.With):
            self.execute(stmt.body, env)  # with torch.no_grad(): / with strategy.scope():
        elif isinstance(stmt, ast.Try):
            self.execute(stmt.body + stmt.orelse + stmt.finalbody, env)
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    env.pop(target.id, None)
        elif isinstance(stmt, ast.Raise):
            raise self.error(stmt, f"the code raises an error here: {_describe(stmt)}")
        elif isinstance(stmt, (ast.Pass, ast.Assert, ast.Global, ast.Nonlocal)):
            pass
        else:
            raise self.error(stmt, f"cannot follow a {type(stmt).__name__} statement here: {_describe(stmt)}")

    def lenient_assignment(self, stmt, env):
        """An assignment that cannot be read (``self.device = torch.device(...)``) leaves its targets
        Unknown instead of failing, unless it builds layers (those must be read or refused) or runs in a
        forward (whose every step is the model)."""
        if self.scopes:
            return False
        return not any(isinstance(n, ast.Call) and _builds_layer(self, n.func, env) for n in ast.walk(stmt.value))

    def harmless(self, call, env):
        """An unreadable expression statement that cannot change the model: printing, logging, seeding."""
        if not isinstance(call, ast.Call):
            return False
        try:
            func = self.eval(call.func, env)
        except ShapeError:
            return False
        if isinstance(func, Unknown):
            return True
        if isinstance(func, Builtin):
            return func.name == "print"
        return isinstance(func, Ext) and func.qualname.startswith(_HARMLESS_PREFIXES)

    def for_loop(self, stmt, env):
        def turns():
            for item in self.iterate(self.eval(stmt.iter, env), stmt.iter):
                self.assign(stmt.target, item, env)
                yield

        self.loop(stmt, turns(), env)

    def while_loop(self, stmt, env):
        def turns():
            while self.truth(self.eval(stmt.test, env), stmt.test):
                yield

        self.loop(stmt, turns(), env)

    def loop(self, stmt, turns, env):
        """Run the body once per turn (each a step of the budget); ``else`` unless a ``break`` ended it."""
        for _ in turns:
            self.tick(stmt)
            try:
                self.execute(stmt.body, env)
            except Continue:
                continue
            except Break:
                return
        self.execute(stmt.orelse, env)

    def truth(self, value, node):
        if isinstance(value, Unknown):
            raise self.unknown(value, node)
        if isinstance(value, Symbolic):
            raise self.unknown_argument(value, node)
        if hasattr(value, "free_symbols"):
            raise self.symbols_needed(value, node)
        if isinstance(value, (Tensor, ShapeOf, Batch)):
            raise self.error(node, f"cannot decide the condition {_describe(node)}: it depends on an unknown value")
        if isinstance(value, SeqMod):
            return bool(value.children)
        return bool(value)

    def iterate(self, value, node):
        """An iterable over ``value``'s items; ranges stay lazy (the step budget stops a long loop)."""
        if isinstance(value, range):
            return value
        if isinstance(value, (list, tuple, dict, str, set, frozenset)):
            return list(value)
        if isinstance(value, (map, filter, zip, enumerate, reversed, _Iter)):
            return value
        if isinstance(value, SeqMod):
            return [m for _, m in value.children] if value.kind != "ModuleDict" else [n for n, _ in value.children]
        if isinstance(value, Instance) and "torch.nn.Sequential" in value.cls.external_bases():
            return list(value.modules.values())
        if isinstance(value, Symbolic):
            raise self.unknown_argument(value, node)
        if isinstance(value, Unknown):
            raise self.unknown(value, node)
        if isinstance(value, ShapeOf):
            raise self.error(node, f"cannot iterate over {_describe(node)}: the input shape is not known (give one)")
        raise self.error(node, f"cannot iterate over {_describe(node)}: not a known sequence")

    def materialise(self, value, node):
        """``list(value)`` within the budget's size cap."""
        out = []
        for item in self.iterate(value, node):
            out.append(item)
            if len(out) > self.budget.items:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {self.budget.exceeded('items')}")
        return out

    def assign(self, target, value, env):
        if isinstance(target, ast.Name):
            if isinstance(value, Unknown) and value.name is None:
                value = value.named(target.id)
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, Unknown):
                for t in target.elts:
                    self.assign(t.value if isinstance(t, ast.Starred) else t, value, env)
                return
            items = self.materialise(value, target)
            starred = [i for i, t in enumerate(target.elts) if isinstance(t, ast.Starred)]
            if starred:
                i = starred[0]
                after = len(target.elts) - i - 1
                if len(items) < len(target.elts) - 1:
                    raise self.error(target, f"cannot unpack {len(items)} values into {_describe(target)}")
                parts = items[:i] + [items[i:len(items) - after]] + items[len(items) - after:]
                for t, v in zip(target.elts, parts):
                    self.assign(t.value if isinstance(t, ast.Starred) else t, v, env)
                return
            if len(items) != len(target.elts):
                raise self.error(target, f"cannot unpack {len(items)} values into {_describe(target)}")
            for t, v in zip(target.elts, items):
                self.assign(t, v, env)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, env)
            if isinstance(obj, Instance):
                self.set_attribute(obj, target.attr, value)
            elif isinstance(obj, ClassInfo):
                obj.attrs[target.attr] = value
            elif isinstance(obj, (Unknown, Opaque, LeafMod)):
                pass  # an attribute of something the model does not need, or a note on a layer (fc.stddev)
            elif isinstance(obj, KerasModel) and target.attr in ("trainable", "name"):
                pass
            else:
                raise self.error(target, f"cannot assign to {_describe(target)}")
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, env)
            key = self.eval(target.slice, env) if not isinstance(target.slice, ast.Slice) else self.slice(target.slice, env)
            if isinstance(obj, (list, dict)):
                obj[key] = value
                self.check_size(obj, target)
            elif isinstance(obj, SeqMod) and is_module(value):
                name = obj.children[key][0] if isinstance(key, int) else str(key)
                obj.add(name, value)
            elif isinstance(obj, ModuleRef):
                obj.module.globals[str(key)] = value
            elif isinstance(obj, (Unknown, Opaque)):
                pass
            else:
                raise self.error(target, f"cannot assign to {_describe(target)}")
        else:
            raise self.error(target, f"cannot assign to {_describe(target)}")

    def set_attribute(self, obj, name, value):
        if isinstance(value, ParamValue) and value.name is None:
            value.name = name
        if is_module(value):
            obj.modules[name] = value
            obj.attrs.pop(name, None)
        else:
            obj.modules.pop(name, None)
            obj.attrs[name] = value

    # --- expressions ----------------------------------------------------------------------------

    def lookup(self, name, env, node):
        scope = env
        while scope is not None:
            if name in scope:
                return scope[name]
            scope = scope.get("\0outer")
        g = self.module.globals
        if name in g:
            return g[name]
        if name in _BUILTINS:
            return _BUILTINS[name]
        if name == "F":  # the universal alias of torch.nn.functional, often used without its import
            return Ext("torch.nn.functional")
        if name == "__name__":
            return self.module.name
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        raise self.error(node, f"unknown name {name!r}")

    def eval(self, node, env):
        try:
            value = self._eval(node, env)
        except RecursionError:
            raise self.error(node, "nested too deeply to follow") from None
        return value

    def _eval(self, node, env):
        kind = type(node)
        if kind is ast.Name:
            return self.lookup(node.id, env, node)
        if kind is ast.Attribute:
            return self.attribute(self.eval(node.value, env), node.attr, node)
        if kind is ast.Call:
            return self.call(node, env)
        if kind is ast.Constant:
            value = node.value
            return value if type(value) is not int and type(value) is not str else self.check_size(value, node)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    items.extend(self.materialise(self.eval(elt.value, env), elt))
                else:
                    items.append(self.eval(elt, env))
            self.check_size(items, node)
            if isinstance(node, ast.Set):
                return self.hashable(set, items, node)
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            out = {}
            for k, v in zip(node.keys, node.values):
                if k is None:  # {**base, 'x': 1}
                    value = self.eval(v, env)
                    if isinstance(value, Unknown):
                        raise self.unknown(value, v)
                    if not isinstance(value, dict):
                        raise self.error(v, f"cannot expand {_describe(v)}: not a dict")
                    out.update(value)
                else:
                    key = self.eval(k, env)
                    self.hashable(set, [key], k)
                    out[key] = self.eval(v, env)
            return self.check_size(out, node)
        if isinstance(node, ast.UnaryOp):
            value = self.eval(node.operand, env)
            if isinstance(node.op, ast.Not):  # `if not mid_channels:` (None, 0, an empty list...)
                return not self.truth(value, node.operand)
            if isinstance(value, Unknown):
                return value
            if isinstance(value, Tensor) and isinstance(node.op, ast.USub):
                return self.leaf(value, scalar_layer("neg", None), self.name_in_scope("neg"), self.origin(node))
            self.require_number(value, node.operand)
            value = self.number(value, node)
            if isinstance(node.op, ast.USub):
                return -value
            if isinstance(node.op, ast.UAdd):
                return value
            if isinstance(node.op, ast.Invert) and type(value) is int:
                return ~value
            raise self.error(node, f"cannot evaluate {_describe(node)}")
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left, env), self.eval(node.right, env), node)
        if isinstance(node, ast.BoolOp):
            value = None
            for v in node.values:  # short-circuit, returning the deciding value as Python does
                value = self.eval(v, env)
                if self.truth(value, v) == isinstance(node.op, ast.Or):
                    return value
            return value
        if isinstance(node, ast.Compare):
            return self.compare(node, env)
        if isinstance(node, ast.JoinedStr):  # f-strings: module names such as f"denseblock{i + 1}"
            text = "".join(v.value if isinstance(v, ast.Constant) else self.format_value(v, env) for v in node.values)
            return self.check_size(text, node)
        if isinstance(node, ast.FormattedValue):
            return self.format_value(node, env)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body if self.truth(self.eval(node.test, env), node.test) else node.orelse, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.eval(node.value, env), node.attr, node)
        if isinstance(node, ast.Subscript):
            return self.subscript(self.eval(node.value, env), node, env)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self.comprehension(node, env)
        if isinstance(node, ast.Lambda):
            return Function(node, self.module, env)
        if isinstance(node, ast.NamedExpr):
            value = self.eval(node.value, env)
            self.assign(node.target, value, env)
            return value
        if isinstance(node, ast.Slice):
            return self.slice(node, env)
        raise self.error(node, f"cannot evaluate {_describe(node)}")

    def hashable(self, kind, items, node):
        try:
            return kind(items)
        except TypeError as exc:
            raise self.error(node, f"cannot evaluate {_describe(node)}: {_reason(exc)}") from None

    def slice(self, node, env):
        parts = [None if p is None else self.plain(self.eval(p, env), p) for p in (node.lower, node.upper, node.step)]
        if parts[2] == 0:
            raise self.error(node, f"cannot evaluate {_describe(node)}: slice step cannot be zero")
        return slice(*parts)

    def compare(self, node, env):
        left = self.eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp, env)
            if isinstance(left, Unknown) or isinstance(right, Unknown):
                return left if isinstance(left, Unknown) else right
            if isinstance(op, (ast.Is, ast.IsNot)):
                result = _COMPARE[type(op)](left, right)
            else:
                self.require_plain(left, node)
                self.require_plain(right, node)
                try:
                    result = _COMPARE[type(op)](left, right)
                except TypeError as exc:
                    raise self.error(node, f"cannot evaluate {_describe(node)}: {_reason(exc)}") from None
            if not result:
                return False
            left = right
        return True

    def comprehension(self, node, env):
        local = {"\0outer": env}
        out = {} if isinstance(node, ast.DictComp) else []

        def loop(level):
            gen = node.generators[level]
            for item in self.iterate(self.eval(gen.iter, local), gen.iter):
                self.tick(gen)
                self.assign(gen.target, item, local)
                if not all(self.truth(self.eval(cond, local), cond) for cond in gen.ifs):
                    continue
                if level + 1 < len(node.generators):
                    loop(level + 1)
                elif isinstance(node, ast.DictComp):
                    out[self.eval(node.key, local)] = self.eval(node.value, local)
                else:
                    out.append(self.eval(node.elt, local))
                if len(out) > self.budget.items:
                    raise self.error(node, f"cannot evaluate {_describe(node)}: {self.budget.exceeded('items')}")

        loop(0)
        if isinstance(node, ast.SetComp):
            return self.hashable(set, out, node)
        if isinstance(node, ast.GeneratorExp):
            return _Iter(out)
        return out

    def format_value(self, node, env):
        value = self.eval(node.value, env)
        if isinstance(value, Unknown):
            raise self.unknown(value, node)
        if isinstance(value, Symbolic):
            value = value.name
        if not isinstance(value, (int, float, str, bool, type(None))) and not hasattr(value, "free_symbols"):
            raise self.error(node, f"cannot format {_describe(node.value)}: not a known number or string")
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("s"):
            value = str(value)
        spec = "" if node.format_spec is None else self.eval(node.format_spec, env)
        self.check_format(spec, node)
        try:
            return format(value, spec)
        except (ValueError, TypeError) as exc:
            raise self.error(node, f"cannot format {_describe(node.value)}: {_reason(exc)}") from None

    def check_format(self, spec, node):
        """Refuse a format width or precision above the size cap (f'{1:1000000000}')."""
        for number in re.findall(r"\d+", str(spec)):
            if len(number) > 7 or int(number) > self.budget.items:
                raise self.error(node, f"cannot format: width {number} is {self.budget.exceeded('items')}")

    def require_number(self, value, node):
        if isinstance(value, Symbolic):
            return
        if not isinstance(value, (int, float)) and not hasattr(value, "free_symbols"):
            raise self.error(node, f"{_describe(node)} is not a number")

    def symbols_needed(self, value, node):
        """A size that depends on a constructor argument without a default, needed as a known number."""
        names = sorted(str(s) for s in value.free_symbols)
        return self.error(node, f"{_describe(node)} needs the value of {', '.join(names)}, a constructor argument "
                                "without a default: give it (--args, or args=/kwargs= in Python)")

    def require_plain(self, value, node):
        if isinstance(value, Symbolic):
            raise self.unknown_argument(value, node)
        if hasattr(value, "free_symbols") and not getattr(value, "is_number", False):
            raise self.symbols_needed(value, node)
        if isinstance(value, (Tensor, ShapeOf, Batch)):
            raise self.error(node, f"cannot compare {_describe(node)}: it depends on an unknown value")

    def plain(self, value, node):
        """A value that must be known exactly (a slice bound, a dict key)."""
        if isinstance(value, Unknown):
            raise self.unknown(value, node)
        self.require_plain(value, node)
        return value

    def number(self, value, node):
        """A value usable in arithmetic: a Symbolic (or a named Unknown) becomes a sympy symbol."""
        if isinstance(value, Symbolic):
            return symbol(value.name)
        return value

    def binop(self, op, left, right, node):
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return left if isinstance(left, Unknown) else right
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            return self.tensor_binop(op, left, right, node)
        if isinstance(left, ConstTensor) or isinstance(right, ConstTensor):
            if isinstance(left, ConstTensor) and isinstance(right, ConstTensor) and left.shape != right.shape:
                raise self.error(node, f"cannot evaluate {_describe(node)}: tensors of different shapes")
            return left if isinstance(left, ConstTensor) else right
        if isinstance(left, Batch) or isinstance(right, Batch):
            raise self.error(node, f"cannot follow {_describe(node)}: arithmetic on the batch size x.size(0)")
        if type(op) not in _ARITHMETIC:
            raise self.error(node, f"cannot evaluate {_describe(node)}")
        if isinstance(left, (list, tuple, str)) or isinstance(right, (list, tuple, str)):
            self.check_repeat(op, left, right, node)
            try:
                return self.check_size(_ARITHMETIC[type(op)](left, right), node)
            except TypeError:
                raise self.error(node, f"cannot evaluate {_describe(node)}") from None
        if isinstance(left, dict) and isinstance(right, dict) and isinstance(op, ast.BitOr):
            return {**left, **right}
        self.require_number(left, node)
        self.require_number(right, node)
        left, right = self.number(left, node), self.number(right, node)
        self.check_power(op, left, right, node)
        try:
            result = _ARITHMETIC[type(op)](left, right)
        except (TypeError, ZeroDivisionError, OverflowError, ValueError) as exc:
            raise self.error(node, f"cannot evaluate {_describe(node)}: {_reason(exc)}") from None
        return self.check_size(result, node)

    def check_repeat(self, op, left, right, node):
        """Refuse 'a' * 10**9 before building it."""
        if isinstance(op, ast.Mult):
            seq, times = (left, right) if isinstance(left, (list, tuple, str)) else (right, left)
            if type(times) is int and len(seq) * max(times, 0) > self.budget.items:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {self.budget.exceeded('items')}")
        elif isinstance(op, ast.Add) and hasattr(left, "__len__") and hasattr(right, "__len__"):
            if len(left) + len(right) > self.budget.items:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {self.budget.exceeded('items')}")

    def check_power(self, op, left, right, node):
        """Refuse 10**10**10 and 1 << 10**9 before computing them."""
        if type(left) is not int or type(right) is not int:
            return
        if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1:
            bits = right * math.log2(abs(left))
        elif isinstance(op, ast.LShift) and right > 0:
            bits = right + left.bit_length()
        else:
            return
        if bits > self.budget.int_bits:
            raise self.error(node, f"cannot evaluate {_describe(node)}: the integer would have "
                                   f"{self.budget.exceeded('int_digits')}")

    def attribute(self, obj, name, node):
        if isinstance(obj, Unknown):
            return obj
        if isinstance(obj, Ext):
            if obj.qualname == "math" and name in _MATH_CONSTANTS:
                return _MATH_CONSTANTS[name]
            if obj.qualname == "sys" and name == "modules":
                return Ext("sys.modules")
            return Ext(f"{obj.qualname}.{name}")
        if isinstance(obj, Instance):
            if name in obj.modules:
                return obj.modules[name]
            if name in obj.attrs:
                return obj.attrs[name]
            value, owner = obj.cls.lookup(name)
            if isinstance(value, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = _decorator(value)
                if kind == "property":
                    return self.call_function(value, [obj], {}, owner, node)
                return Bound(value, owner, None if kind == "staticmethod" else obj.cls if kind == "classmethod" else obj)
            if value is not None:
                return value
            if name in _MODULE_METHODS:
                return Method(obj, name)
            if name == "__class__":
                return obj.cls
            if name == "__module__":
                return obj.cls.module.name
            raise self.error(node, f"{obj.cls.name} has no attribute {name!r} set before it is used")
        if isinstance(obj, ClassInfo):
            value, owner = obj.lookup(name)
            if value is None:
                if name in ("__name__", "__qualname__"):
                    return obj.name
                if name == "__module__":
                    return obj.module.name
                raise self.error(node, f"class {obj.name} has no attribute {name!r}")
            if isinstance(value, ast.FunctionDef):
                return Bound(value, owner, obj if _decorator(value) == "classmethod" else None)
            return value
        if isinstance(obj, Super):
            for cls in obj.cls.mro()[1:]:
                if name in cls.methods:
                    return Bound(cls.methods[name], cls, obj.instance)
            if name == "__init__":
                return Method(obj, "__init__")
            if name == "forward" and obj.instance is not None:
                return Method(obj, "forward")
            raise self.error(node, f"cannot follow super().{name}")
        if isinstance(obj, Opaque):
            return obj
        if isinstance(obj, (ParamValue, ConstTensor)):
            if name == "shape":
                return obj.shape
            if name in ("data", "requires_grad"):
                return obj if name == "data" else getattr(obj, "trainable", False)
            return Method(obj, name)
        if isinstance(obj, LeafMod):
            if name in ("weight", "bias"):
                return OPAQUE
            if name in _MODULE_METHODS:
                return Method(obj, name)
            if name in getattr(obj.layer, "__dataclass_fields__", {}):  # e.g. model.fc.in_features
                return getattr(obj.layer, name)
            if name == "training":
                return False
            raise self.error(node, f"cannot follow {_describe(node)}")
        if isinstance(obj, Tensor):
            if name == "shape":
                return self.tensor_size(obj, None, node)
            if name == "ndim":
                return self.tensor_dim(obj, node)
            if name in ("device", "dtype"):
                return Unknown(f"{self.module.path}:{node.lineno}: the tensor's {name} is not known statically")
            return Method(obj, name)
        if isinstance(obj, SeqMod):
            child = obj.get(name)
            if child is not None:
                return child
            return Method(obj, name)
        if isinstance(obj, (list, dict, str, set, tuple, KerasModel, ModuleRef, KerasTensor)):
            return Method(obj, name)
        if isinstance(obj, Function) and name == "__name__":
            return obj.name
        if isinstance(obj, Partial) and name in ("func", "args", "keywords"):
            return {"func": obj.func, "args": tuple(obj.args), "keywords": dict(obj.kwargs)}[name]
        raise self.error(node, f"cannot follow {_describe(node)}")

    def unknown_argument(self, value, node):
        return self.error(
            node, f"{_describe(node)} needs the value of {value.name}, a constructor argument without a default: "
            f"give it (--args, or args=/kwargs= in Python) or choose a builder that passes it (--class)")

    def subscript(self, obj, node, env):
        key = self.slice(node.slice, env) if isinstance(node.slice, ast.Slice) else self.eval(node.slice, env)
        if isinstance(obj, Unknown):
            return obj
        if isinstance(obj, Symbolic):
            raise self.unknown_argument(obj, node)
        if isinstance(key, Unknown):
            raise self.unknown(key, node)
        if isinstance(obj, Tensor):
            return self.tensor_index(obj, key, node)
        if isinstance(obj, ShapeOf):
            if key == 0:
                return BATCH
            raise self.error(node, f"cannot follow {_describe(node)}: the input shape is not known (give one): "
                                   "only the batch size [0] is understood without it")
        if isinstance(obj, Ext) and obj.qualname == "sys.modules":
            return ModuleRef(self.module)
        if isinstance(obj, SeqMod):
            if isinstance(key, slice):
                return SeqMod("Sequential", obj.children[key], obj.origin)
            if isinstance(key, str):
                child = obj.get(key)
                if child is None:
                    raise self.error(node, f"cannot evaluate {_describe(node)}: no module named {key!r}")
                return child
            if isinstance(key, int):
                try:
                    return obj.children[key][1]
                except IndexError:
                    raise self.error(node, f"cannot evaluate {_describe(node)}: index {key} out of range") from None
        if isinstance(obj, Instance) and "torch.nn.Sequential" in obj.cls.external_bases():
            children = list(obj.modules.items())
            if isinstance(key, int):
                return children[key][1]
            if isinstance(key, slice):
                return SeqMod("Sequential", children[key], obj.origin)
        if isinstance(obj, (list, tuple, dict, str, range)):
            if isinstance(key, Symbolic):
                raise self.unknown_argument(key, node)
            try:
                return obj[key]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {_reason(exc)}") from None
        raise self.error(node, f"cannot evaluate {_describe(node)}")

    # --- calls ----------------------------------------------------------------------------------

    def call(self, node, env):
        func = self.eval(node.func, env)
        if isinstance(func, Ext) and func.qualname.startswith("torch.nn.init."):
            return None  # weight initialisation: no effect on shapes or counts
        if isinstance(func, (Opaque, Unknown)):
            return func
        if isinstance(func, Method) and is_module(func.obj) and func.name in _MODULE_SELF:
            return func.obj  # model.to(device): its arguments need not be known
        args, kwargs = [], {}
        for a in node.args:
            if isinstance(a, ast.Starred):
                args.extend(self.materialise(self.eval(a.value, env), a))
            else:
                args.append(self.eval(a, env))
        for k in node.keywords:
            if k.arg is None:
                value = self.eval(k.value, env)
                if isinstance(value, Unknown):
                    raise self.unknown(value, k.value)
                if not isinstance(value, dict):
                    raise self.error(k.value, f"cannot expand {_describe(k.value)}: not a dict")
                kwargs.update({str(key): v for key, v in value.items()})
            else:
                kwargs[k.arg] = self.eval(k.value, env)
        return self.apply(func, args, kwargs, node, env)

    def apply(self, func, args, kwargs, node, env=None):
        if isinstance(func, Ext):
            return self.call_external(func.qualname, args, kwargs, node)
        if isinstance(func, Builtin):
            return self.call_builtin(func.name, args, kwargs, node, env or {})
        if isinstance(func, ClassInfo):
            if func.is_torch_module:
                return self.new_instance(func, args, kwargs, node)
            return self.plain_instance(func, args, kwargs, node)
        if isinstance(func, Bound):
            self_args = [] if func.self_value is None else [func.self_value]
            return self.call_function(func.func, self_args + list(args), kwargs, func.owner, node)
        if isinstance(func, Function):
            return self.call_function(func.node, args, kwargs, None, node, func.module, func.closure)
        if isinstance(func, Partial):
            return self.apply(func.func, func.args + list(args), {**func.kwargs, **kwargs}, node, env)
        if isinstance(func, Method):
            return self.call_method(func.obj, func.name, args, kwargs, node)
        if isinstance(func, Symbolic):
            raise self.unknown_argument(func, node)
        if isinstance(func, Unknown):
            return func
        if isinstance(func, Instance) and isinstance(func.cls.lookup("forward")[0], ast.FunctionDef):
            return self.forward(func, list(args), node, kwargs)  # its own forward takes what it takes
        if is_module(func):
            for a in args:
                if isinstance(a, Unknown):
                    raise self.unknown(a, node)
            if isinstance(func, LeafMod) and isinstance(func.layer, L.MultiheadAttention):
                return self.forward(func, list(args) + [kwargs[k] for k in ("query", "key", "value") if k in kwargs], node)
            if len(args) != 1 or kwargs or not isinstance(args[0], Tensor):
                raise self.error(node, f"cannot follow {_describe(node)}: a module is called with one tensor")
            return self.forward(func, args[0], node)
        if isinstance(func, (KerasLayer, KerasModel)):
            return func.call(self, args, kwargs, node)
        raise self.error(node, f"cannot call {_describe(getattr(node, 'func', node))}")

    def call_function(self, fdef, args, kwargs, owner, node, module=None, closure=None):
        module = module or (owner.module if owner is not None else self.module)
        previous, self.module = self.module, module
        try:
            local = self.bind(fdef, args, kwargs, node)
            if owner is not None:
                local["__class__"] = owner
            if closure is not None:
                local["\0outer"] = closure
            if isinstance(fdef, ast.Lambda):
                return self.eval(fdef.body, local)
            return self.run_body(fdef, local, node)
        finally:
            self.module = previous

    def run_body(self, fdef, local, node):
        """Execute a function body; its return value (None without a return)."""
        if self.depth >= self.budget.calls:
            raise self.over(node, "calls")
        self.tick(node)
        self.depth += 1
        try:
            self.execute(fdef.body, local)
        except Return as ret:
            return ret.value
        except (Break, Continue):
            raise self.error(node, "break or continue outside a loop") from None
        finally:
            self.depth -= 1
        return None

    def bind(self, fdef, args, kwargs, node, symbolic=False):
        """Local variables for a call: positional, keyword, defaults, *args, **kwargs; with ``symbolic``
        a missing argument becomes a Symbolic of its name (the model's constructor arguments)."""
        spec = fdef.args
        params = [a.arg for a in spec.posonlyargs + spec.args]
        name = getattr(fdef, "name", "<lambda>")
        defaults = [self.eval(d, self.module.globals) for d in spec.defaults]
        local = {}
        if len(args) > len(params) and spec.vararg is None:
            raise self.error(node, f"{name}() takes {len(params)} positional arguments, {len(args)} given")
        for param, value in zip(params, args):
            local[param] = value.named(param, True) if isinstance(value, Unknown) and value.name is None else value
        if spec.vararg is not None:
            local[spec.vararg.arg] = tuple(args[len(params):])
        extra = {}
        keyword_only = [a.arg for a in spec.kwonlyargs]
        for key, value in kwargs.items():
            if key in params or key in keyword_only:
                if key in local:
                    raise self.error(node, f"{name}() got multiple values for {key!r}")
                local[key] = value.named(key, True) if isinstance(value, Unknown) and value.name is None else value
            elif spec.kwarg is not None:
                extra[key] = value
            else:
                raise self.error(node, f"{name}() got an unexpected keyword argument {key!r}")
        if spec.kwarg is not None:
            local[spec.kwarg.arg] = extra
        first_default = len(params) - len(defaults)
        for i, param in enumerate(params):
            if param not in local:
                if i >= first_default:
                    local[param] = defaults[i - first_default]
                elif symbolic:
                    local[param] = Symbolic(param)
                else:
                    raise self.error(node, f"{name}() is missing the argument {param!r}")
        for a, d in zip(spec.kwonlyargs, spec.kw_defaults):
            if a.arg not in local:
                if d is not None:
                    local[a.arg] = self.eval(d, self.module.globals)
                elif symbolic:
                    local[a.arg] = Symbolic(a.arg)
                else:
                    raise self.error(node, f"{name}() is missing the argument {a.arg!r}")
        return local

    def new_instance(self, cls, args, kwargs, node, symbolic=False):
        inst = Instance(cls, self.origin(node))
        init, owner = cls.lookup("__init__")
        if isinstance(init, ast.FunctionDef):
            previous, self.module = self.module, owner.module
            try:
                local = self.bind(init, [inst] + list(args), kwargs, node, symbolic=symbolic)
                local["__class__"] = owner
                self.run_body(init, local, node)
            finally:
                self.module = previous
        elif args or kwargs:
            if "torch.nn.Sequential" in cls.external_bases():
                self.register_sequential(inst, args, kwargs, node)
            elif "torch.nn.ModuleList" in cls.external_bases() or "torch.nn.ModuleDict" in cls.external_bases():
                kind = "ModuleList" if "torch.nn.ModuleList" in cls.external_bases() else "ModuleDict"
                for name, child in self.make_sequential(kind, args, node).children:
                    inst.modules[name] = child
            else:
                raise self.error(node, f"{cls.name}() takes no arguments")
        return inst

    def plain_instance(self, cls, args, kwargs, node):
        """An instance of a plain class of the file (a config object, a dataclass, a record)."""
        inst = Instance(cls, self.origin(node))
        init, owner = cls.lookup("__init__")
        if isinstance(init, ast.FunctionDef):
            self.call_function(init, [inst] + list(args), kwargs, owner, node)
        elif any(_decorator_name(d) in ("dataclass", "dataclasses.dataclass") for c in cls.mro() for d in c.node.decorator_list):
            self.dataclass_init(cls, inst, args, kwargs, node)
        elif args or kwargs:
            raise self.error(node, f"class {cls.name} is not an nn.Module and has no __init__")
        return inst

    def dataclass_init(self, cls, inst, args, kwargs, node):
        """The __init__ a @dataclass writes: its annotated fields in order, with their defaults."""
        fields = []
        for c in reversed(cls.mro()):
            for stmt in c.node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    fields = [f for f in fields if f[0] != stmt.target.id] + [(stmt.target.id, stmt.value, c)]
        if len(args) > len(fields):
            raise self.error(node, f"{cls.name}() takes {len(fields)} arguments, {len(args)} given")
        values = dict(zip((f[0] for f in fields), args))
        for key, value in kwargs.items():
            if key not in (f[0] for f in fields) or key in values:
                raise self.error(node, f"{cls.name}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        for name, default, owner in fields:
            if name not in values:
                if default is None:
                    raise self.error(node, f"{cls.name}() is missing the argument {name!r}")
                previous, self.module = self.module, owner.module
                try:
                    values[name] = self.eval(default, owner.module.globals)
                finally:
                    self.module = previous
        inst.attrs.update(values)
        post, owner = cls.lookup("__post_init__")
        if isinstance(post, ast.FunctionDef):
            self.call_function(post, [inst], {}, owner, node)

    def register_sequential(self, inst, args, kwargs, node):
        seq = self.make_sequential("Sequential", args, node)
        for name, child in seq.children:
            inst.modules[name] = child

    def make_sequential(self, kind, args, node):
        if len(args) > 1 and kind != "Sequential":
            raise self.error(node, f"nn.{kind}() takes one iterable of modules, {len(args)} given")
        if kind == "ModuleList":
            items = self.materialise(args[0], node) if args else []
            return SeqMod(kind, [(str(i), m) for i, m in enumerate(self.modules_only(items, node))], self.origin(node))
        if len(args) == 1 and isinstance(args[0], dict):
            pairs = list(args[0].items())
        elif kind == "ModuleDict":
            if args and not isinstance(args[0], (list, tuple, dict)):
                raise self.error(node, f"{_describe(node)}: expected a dict or a list of (name, module) pairs")
            pairs = list(args[0].items()) if args and isinstance(args[0], dict) else list(args[0]) if args else []
        else:
            pairs = [(str(i), m) for i, m in enumerate(args)]
        mods = self.modules_only([m for _, m in pairs], node)
        return SeqMod(kind, [(str(k), m) for (k, _), m in zip(pairs, mods)], self.origin(node))

    def modules_only(self, items, node):
        for m in items:
            if isinstance(m, Unknown):
                raise self.unknown(m, node)
            if not is_module(m):
                raise self.error(node, f"{_describe(node)}: expected torch.nn modules, got {_kind(m)}")
        return items

    def call_builtin(self, name, args, kwargs, node, env):
        return _builtins.call_builtin(self, name, args, kwargs, node, env)

    def is_instance(self, value, classes, node):
        """isinstance() of a module value against torch.nn classes or classes of the file."""
        for cls in classes if isinstance(classes, tuple) else (classes,):
            if isinstance(cls, ClassInfo):
                if isinstance(value, Instance) and cls in value.cls.mro():
                    return True
            elif isinstance(cls, Ext) and cls.qualname.startswith("torch.nn."):
                kind = cls.qualname[len("torch.nn."):]
                if kind == "Module" and is_module(value):
                    return True
                if isinstance(value, LeafMod) and (value.layer.type == kind or kind.startswith("modules.")
                                                   and value.layer.type == kind.rsplit(".", 1)[1]):
                    return True
                if isinstance(value, SeqMod) and value.kind == kind:
                    return True
                if isinstance(value, Instance) and cls.qualname in value.cls.external_bases():
                    return True
            elif isinstance(cls, Builtin) and cls.name in _PY_TYPES:
                if isinstance(value, _PY_TYPES[cls.name]) and not (cls.name == "int" and isinstance(value, bool)):
                    return True
            elif isinstance(cls, Ext):
                kind = cls.qualname.rsplit(".", 1)[-1]
                if kind in _ABSTRACT and isinstance(value, _ABSTRACT[kind]):
                    return True
                continue  # a class of another library: not one of the values the reader builds
            else:
                raise self.error(node, f"isinstance() against {_describe(node.args[1])} is not understood")
        return False

    def call_external(self, q, args, kwargs, node):
        if q.startswith("keras."):
            return keras_call(self, q, args, kwargs, node)
        if q in ("collections.OrderedDict", "typing.OrderedDict"):
            return dict(self.materialise(args[0].items() if isinstance(args[0], dict) else args[0], node)) if args else {}
        if q in ("functools.partial",):
            if not args:
                raise self.error(node, "partial() needs a function")
            return Partial(args[0], args[1:], kwargs)
        if q.startswith("math."):
            return self.math(q[5:], args, node)
        if q in ("copy.deepcopy", "copy.copy"):
            return self.copy_value(args[0], node)
        if q.startswith(("numpy.", "np.")):
            return self.numpy(q.split(".", 1)[1], args, kwargs, node)
        if q == "torch.nn.functional.scaled_dot_product_attention" and len(args) >= 3 and \
                all(isinstance(a, Tensor) for a in args[:3]):
            return self.general_merge({"op": "attention"}, list(args[:3]), node)
        if q in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            data = args[0] if args else kwargs.get("data")
            if not isinstance(data, ConstTensor):
                raise self.error(node, f"{_describe(node)}: the parameter's shape is not known")
            return ParamValue(data.shape, kwargs.get("requires_grad", args[1] if len(args) > 1 else True) is not False)
        if q.startswith("torch.nn.") and q.count(".") == 2:
            name = q[len("torch.nn."):]
            if name in ("Sequential", "ModuleList", "ModuleDict"):
                return self.make_sequential(name, args, node)
            if name in TORCH_LAYERS:
                return LeafMod(self.construct(TORCH_LAYERS[name], args, kwargs, node), self.origin(node))
            raise self.error(node, f"{_describe(node.func)} ({q}) is not supported by cnncalc")
        if q in _EXTERNAL_LAYERS:
            return LeafMod(self.construct(_EXTERNAL_LAYERS[q], args, kwargs, node), self.origin(node))
        if q.startswith("torch.nn.functional."):
            return self.torch_op(q.rsplit(".", 1)[1], args, kwargs, node, function=True)
        if q.startswith("torch.") and q.count(".") == 1:
            name = q[len("torch."):]
            if name == "cat" or name == "concat" or name == "concatenate":
                return self.cat(args, kwargs, node)
            if name in ("add", "mul") and len(args) == 2 and not kwargs and all(isinstance(a, Tensor) for a in args):
                return self.merge(name, args, node)
            if name in ("sub", "div", "matmul", "bmm") and len(args) == 2 and all(isinstance(a, Tensor) for a in args):
                return self.general_merge(merge_op(name), args, node)
            if name == "stack":
                tensors = args[0] if args else kwargs.get("tensors")
                if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, Tensor) for t in tensors):
                    raise self.error(node, f"{_describe(node)}: expected a list of tensors")
                return self.general_merge(merge_op("stack", args[1] if len(args) > 1 else kwargs.get("dim", 0)),
                                          list(tensors), node)
            if name in SPLITS and args and isinstance(args[0], Tensor):
                return self.split(name, args[0], args[1:], kwargs, node)
            if name in ("zeros", "ones", "randn", "rand", "empty", "full") and (args or kwargs.get("size")):
                sizes = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
                if name == "full":
                    sizes = args[0]
                return ConstTensor(tuple(self.layer_argument(v, node) for v in sizes))
            if args and isinstance(args[0], Tensor):
                return self.torch_op(name, args, kwargs, node, function=True)
            if name in ("device", "cuda", "is_tensor"):
                return Unknown(f"{self.module.path}:{node.lineno}: {_describe(node)} is not known statically")
        if q == "torch.cuda.is_available":
            return False  # cnncalc's numbers do not depend on the device: the CPU path is taken
        if q in ("torch.Size",):
            return tuple(args[0]) if args else ()
        if q == "torch._assert":
            return self.torch_assert(args, node)
        if q == "typing.cast":
            return args[1] if len(args) > 1 else None
        if q.startswith("typing.") or q == "torch.jit.is_scripting" or q == "torch.jit.is_tracing":
            return False if q.startswith("torch.jit") else None
        raise self.error(node, f"{_describe(node.func)} ({q}) is not understood")

    def torch_assert(self, args, node):
        condition = args[0] if args else True
        if condition is False:
            raise self.error(node, f"the model refuses this input: {args[1] if len(args) > 1 else 'torch._assert'}")
        return None

    def math(self, name, args, node):
        if name not in _MATH:
            raise self.error(node, f"math.{name}() is not understood")
        if any(hasattr(a, "free_symbols") or isinstance(a, Symbolic) for a in args) and name in ("floor", "ceil"):
            import sympy

            value = self.number(args[0], node)
            return sympy.floor(value) if name == "floor" else sympy.ceiling(value)
        plain = [self.plain(a, node) for a in args]
        self.require_args(plain, node)
        try:
            return self.check_size(_MATH[name](*plain), node)
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.error(node, f"cannot evaluate {_describe(node)}: {_reason(exc)}") from None

    def numpy(self, name, args, kwargs, node):
        simple = {"prod": math.prod, "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "log2": math.log2,
                  "sum": sum, "abs": abs}
        if name in simple and not kwargs:
            value = [self.plain(a, node) for a in args]
            if name in ("prod", "sum"):
                value = [self.materialise(value[0], node)]
            self.require_args(value if name not in ("prod", "sum") else value[0], node)
            try:
                return self.check_size(simple[name](*value), node)
            except (TypeError, ValueError, OverflowError) as exc:
                raise self.error(node, f"cannot evaluate {_describe(node)}: {_reason(exc)}") from None
        raise self.error(node, f"numpy.{name}() is not understood")

    def require_args(self, values, node):
        for v in values:
            if not isinstance(v, (int, float)):
                raise self.error(node, f"cannot evaluate {_describe(node)}: {_kind(v)} is not a number")

    def copy_value(self, value, node):
        """copy.deepcopy of a module (a fresh layer object: not shared) or a plain value."""
        if isinstance(value, LeafMod):
            return LeafMod(_fresh(value.layer), value.origin)
        if isinstance(value, SeqMod):
            return SeqMod(value.kind, [(n, self.copy_value(m, node)) for n, m in value.children], value.origin)
        if isinstance(value, Instance):
            inst = Instance(value.cls, value.origin)
            inst.attrs = dict(value.attrs)
            for n, m in value.modules.items():
                inst.modules[n] = self.copy_value(m, node)
            return inst
        if isinstance(value, (list, dict, tuple)):
            return copy.deepcopy(value) if not _has_modules(value) else type(value)(
                self.copy_value(v, node) for v in value) if not isinstance(value, dict) else {
                k: self.copy_value(v, node) for k, v in value.items()}
        return value

    def construct(self, cls, args, kwargs, node):
        args = [self.layer_argument(a, node) for a in args]
        kwargs = {k: self.layer_argument(v, node) for k, v in kwargs.items()}
        try:
            return cls(*args, **kwargs)
        except (TypeError, ShapeError, ValueError, OverflowError) as exc:
            raise self.error(node, f"{_describe(node)}: {_reason(exc)}") from None

    def layer_argument(self, value, node):
        if isinstance(value, Unknown):
            if value.argument and value.name and value.name.isidentifier():
                return symbol(value.name)  # Net(num_classes=len(dataset.classes)): a size symbol
            raise self.unknown(value, node)
        if isinstance(value, (list, tuple)):
            return type(value)(self.layer_argument(v, node) for v in value)
        return self.number(value, node)

    # --- forward: the data flow -----------------------------------------------------------------

    def new_node(self, kind, parents, **fields):
        return Tensor(self.recorder.new(kind, parents, **fields))

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
            attention = isinstance(module.layer, L.MultiheadAttention)
            if isinstance(x, list):
                if attention and x and all(t is x[0] for t in x) and isinstance(x[0], Tensor):
                    x = x[:1]  # self-attention: attn(x, x, x)
                if len(x) != 1 or not isinstance(x[0], Tensor):
                    raise self.error(node, f"cannot follow {_describe(node)}: a layer is called with one tensor"
                                           + (" (attention: query = key = value)" if attention else ""))
                x = x[0]
            name = self.paths.get(id(module)) or self.name_in_scope(module.layer.type.lower())
            out = self.leaf(x, module.layer, name, module.origin)
            if attention:  # (output, attention weights): the weights are not followed
                return (out, Unknown(f"{self.module.path}:{getattr(node, 'lineno', 0)}: the attention weights are not followed"))
            return out
        if isinstance(module, SeqMod):
            if module.kind != "Sequential":
                raise self.error(node, f"an nn.{module.kind} cannot be called: iterate over it")
            if isinstance(x, list):
                x = x[0] if len(x) == 1 else x
            for _, child in module.children:
                x = self.forward(child, x, node)
            return x
        fwd, owner = module.cls.lookup("forward")
        self.scopes.append(self.paths.get(id(module), ""))
        try:
            if isinstance(fwd, ast.FunctionDef):
                args = list(x) if isinstance(x, list) else [x]
                return self.call_function(fwd, [module] + args, kwargs or {}, owner, node)
            if isinstance(x, list):
                x = x[0] if len(x) == 1 else x
            for _, child in module.modules.items():
                x = self.forward(child, x, node)
            return x
        finally:
            self.scopes.pop()

    def torch_op(self, name, args, kwargs, node, function, receiver=None):
        """A torch operation on a tensor (``F.relu(x)``, ``torch.flatten(x, 1)``, ``x.view(...)``) as layers
        (the table in ``torch_names``)."""
        if not args or not isinstance(args[0], Tensor):
            raise self.error(node, f"{_describe(node)} is not understood")
        if not known_op(name):
            if function:
                raise self.error(node, f"{_describe(node)} is not understood")
            raise self.error(node, f"cannot follow {_describe(node)}: tensor method {name}() is not understood")
        x = args[0]
        rest = [self.op_argument(a, node) for a in args[1:]]
        kw = {k: self.op_argument(v, node) for k, v in kwargs.items()}
        shape = self.shape(x)
        try:
            layers = ops_for(name, rest, kw, function=function, shape=shape)
        except ShapeError as exc:
            raise self.error(node, f"{_describe(node)}: {exc}") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.error(node, f"{_describe(node)}: {_reason(exc)}") from None
        origin = self.origin(node, receiver)
        for layer in layers:
            x = self.leaf(x, layer, self.name_in_scope(name.rstrip("_")), origin)
        return x

    def op_argument(self, value, node):
        if isinstance(value, Tensor):
            raise self.error(node, f"cannot follow {_describe(node)}: a tensor as an argument is not understood")
        if isinstance(value, (list, tuple)):
            return type(value)(self.op_argument(v, node) for v in value)
        if isinstance(value, ShapeOf):
            raise self.error(node, f"cannot follow {_describe(node)}: the input shape is not known (give one)")
        return self.layer_argument(value, node)

    def cat(self, args, kwargs, node):
        tensors = args[0] if args else kwargs.get("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
        if isinstance(dim, Unknown):
            raise self.unknown(dim, node)
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise self.error(node, f"{_describe(node)}: the dim must be a known integer")
        if isinstance(tensors, (list, tuple)) and len(tensors) == 2 and any(isinstance(t, ParamValue) for t in tensors) \
                and any(isinstance(t, Tensor) for t in tensors):  # a class token: cat((cls_tokens, x), dim=1)
            param = next(t for t in tensors if isinstance(t, ParamValue))
            return self.parameter_op("cat", param, next(t for t in tensors if isinstance(t, Tensor)), node, dim)
        if not isinstance(tensors, (list, tuple)) or not tensors or not all(isinstance(t, Tensor) for t in tensors):
            raise self.error(node, f"{_describe(node)}: expected a list of tensors")
        if len(tensors) == 1:
            return tensors[0]  # cat of one tensor is that tensor (DenseNet's first layer)
        shape = self.shape(tensors[0])
        rank = len(shape) + 1 if shape is not None else None
        if dim in (1, -3) and (rank in (None, 4) or dim == 1) or rank is not None and dim < 0 and dim + rank == 1:
            return self.merge("cat", list(tensors), node)
        return self.general_merge({"op": "cat", "dim": dim}, list(tensors), node)

    def merge(self, kind, tensors, node):
        parents = [t.node for t in tensors]
        return self.new_node(kind, parents, origin=self.origin(node), scope=self.current_scope())

    def tensor_binop(self, op, left, right, node):
        kind = _TENSOR_OPS.get(type(op))
        if isinstance(left, Tensor) and isinstance(right, Tensor):
            if kind in ("add", "mul"):
                return self.merge(kind, [left, right], node)
            if kind in ("sub", "div", "matmul"):
                return self.general_merge({"op": kind}, [left, right], node)
        tensor, other = (left, right) if isinstance(left, Tensor) else (right, left)
        if isinstance(other, ParamValue) and kind in ("add", "mul") and not other.expanded:
            return self.parameter_op(kind, other, tensor, node)
        if kind in ("add", "sub", "mul", "div", "pow") and isinstance(other, (int, float)) and not isinstance(other, bool):
            try:
                layer = scalar_layer(kind, other, tensor_first=tensor is left)
            except ShapeError as exc:
                raise self.error(node, f"cannot follow {_describe(node)}: {exc}") from None
            return self.leaf(tensor, layer, self.name_in_scope(kind), self.origin(node))
        raise self.error(node, f"cannot follow {_describe(node)}: only tensor + tensor (a residual add), "
                               "tensor * tensor (a gate), -, /, @ and arithmetic with numbers are understood")

    def general_merge(self, op, tensors, node):
        return self.new_node("merge", [t.node for t in tensors], op=op, origin=self.origin(node),
                             scope=self.current_scope())

    def parameter_op(self, kind, param, tensor, node, dim=1):
        layer = L.ParameterOp(kind, param.shape, dim) if kind == "cat" else L.ParameterOp(kind, param.shape)
        if not param.trainable:
            layer = layer.freeze()
        scope = self.current_scope()
        name = f"{scope}.{param.name}" if scope and param.name else param.name or self.name_in_scope("parameter")
        return self.leaf(tensor, layer, name, self.origin(node))

    def split(self, name, x, args, kwargs, node):
        """x.chunk(2, 1), torch.split(x, 4, 1), x.unbind(1): a tuple of pieces, each an Index of x."""
        shape = self.shape(x)
        rest = [self.op_argument(a, node) for a in args]
        try:
            layers = split_layers(name, rest, kwargs, shape)
        except ShapeError as exc:
            raise self.error(node, f"cannot follow {_describe(node)}: {exc}") from None
        origin = self.origin(node)
        return tuple(self.leaf(x, layer, self.name_in_scope(name), origin) for layer in layers)

    def call_method(self, obj, name, args, kwargs, node):
        return _builtins.call_method(self, obj, name, args, kwargs, node)

    # --- tensor shapes --------------------------------------------------------------------------

    def shape(self, x):
        """The unbatched shape of tensor ``x`` when the input shape is known, else None; when a layer
        before it refuses its input, that layer's diagnosis (file:line) is raised."""
        if self.input_shape is None:
            return None
        shape = shape_of(x.node, self.input_shape)
        if shape is None:
            refuse_upstream(x.node, self.recorder.nodes[0], self.input_shape, self.path)
        return shape

    def tensor_size(self, x, dim, node):
        """``x.size()``, ``x.shape`` (a tuple whose first item is the batch) or ``x.size(dim)``."""
        shape = self.shape(x)
        if shape is None:
            if dim is None:
                return SHAPE
            if dim == 0:
                return BATCH
            raise self.error(node, f"cannot follow {_describe(node)}: x.size({dim}) needs the input shape "
                                   "(give one); without it only the batch size x.size(0) is understood")
        full = (BATCH,) + tuple(shape)
        if dim is None:
            return full
        if not isinstance(dim, int) or not -len(full) <= dim < len(full):
            raise self.error(node, f"cannot follow {_describe(node)}: dimension {dim} is out of range for a "
                                   f"tensor of rank {len(full)}")
        return full[dim]

    def tensor_dim(self, x, node):
        shape = self.shape(x)
        if shape is None:
            raise self.error(node, f"cannot follow {_describe(node)}: the tensor's rank needs the input shape (give one)")
        return len(shape) + 1

    def tensor_index(self, x, key, node):
        shape = self.shape(x)
        try:
            layers = ops_for("__getitem__", [key], {}, function=False, shape=shape)
        except ShapeError as exc:
            raise self.error(node, f"cannot follow {_describe(node)}: {exc}") from None
        origin = self.origin(node)
        for layer in layers:
            x = self.leaf(x, layer, self.name_in_scope("getitem"), origin)
        return x

    # --- the whole model ------------------------------------------------------------------------

    def assign_paths(self, root):
        """Module paths as named_modules() gives them (a module reached twice keeps its first path)."""
        for path, mod in named_modules(root):
            self.paths.setdefault(id(mod), path)

    def torch_model(self, root, name, input_shape=None):
        """Run ``forward`` on a symbolic input and build the cnncalc network with its origins."""
        self.paths = {}
        self.assign_paths(root)
        self.recorder = Recorder()
        self.scope_counts = {}
        self.input_shape = input_shape
        self.steps = 0  # the forward has its own step budget
        x = self.new_node("input", [])
        try:
            out = self.forward(root, x, root.origin.node if root.origin else None)
        except RecursionError:
            raise ShapeError(f"{self.path}: {name} nests modules too deeply to follow") from None
        out = _single_output(out)
        if isinstance(out, Unknown):
            raise self.unknown(out, root.origin.node if root.origin else None)
        if not isinstance(out, Tensor):
            raise ShapeError(f"{self.path}: {name}.forward does not return a tensor")
        return to_network(build(out.node, x.node))


# layers of other libraries cnncalc has, by the name the model file imports
_EXTERNAL_LAYERS = {"torchvision.ops.StochasticDepth": L.StochasticDepth,
                    "torchvision.ops.stochastic_depth.StochasticDepth": L.StochasticDepth}
_TENSOR_OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.MatMult: "matmul",
               ast.Pow: "pow"}
_ABSTRACT = {"Sequence": (list, tuple, str), "List": list, "Tuple": tuple, "Mapping": dict, "Dict": dict,
             "Iterable": (list, tuple, dict, str, range), "MutableSequence": list, "Callable": (Function, Bound, Partial)}
_PY_TYPES = {"int": int, "float": float, "list": list, "tuple": tuple, "dict": dict, "str": str, "bool": bool,
             "set": set}


class _Iter(list):
    """A generator expression's values (a list that marks it as an iterator for ``next``)."""


def _single_output(out):
    """The tensor of a forward's return value: a tensor, or a tuple/list/dict holding exactly one."""
    if isinstance(out, (tuple, list)):
        tensors = [v for v in out if isinstance(v, Tensor)]
        return tensors[0] if len(tensors) == 1 else out
    if isinstance(out, dict):
        tensors = [v for v in out.values() if isinstance(v, Tensor)]
        return tensors[0] if len(tensors) == 1 else out
    return out


def is_model_value(value):
    return isinstance(value, (Instance, KerasModel)) and (not isinstance(value, Instance) or value.cls.is_torch_module) \
        or isinstance(value, SeqMod) and value.kind == "Sequential"


def required_args(fdef):
    spec = fdef.args
    positional = spec.posonlyargs + spec.args
    return len(positional) - len(spec.defaults) + sum(d is None for d in spec.kw_defaults)


def _assigned_names(stmt):
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.For, ast.While, ast.If)):
        return sorted({n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
    elif isinstance(stmt, ast.Expr):
        call = stmt.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) \
                and call.func.attr in ("add", "append", "extend", "insert", "add_module"):
            return [call.func.value.id]  # model.add(...): a failure poisons model
        return []
    else:
        return []
    names = []
    for t in targets:
        names.extend(n.id for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
        if isinstance(t, (ast.Attribute, ast.Subscript)) and isinstance(t.value, ast.Name):
            names.append(t.value.id)
    return names


def _is_main_guard(test):
    try:
        return ast.unparse(test).replace('"', "'") in ("__name__ == '__main__'", "'__main__' == __name__")
    except (RecursionError, ValueError):
        return False


def _builds_layer(reader, func_node, env):
    """Does this call build a layer or a module (so that failing to read it must not be skipped)?"""
    try:
        func = reader.eval(func_node, env)
    except ShapeError:
        text = _describe(func_node)
        return text.startswith(("nn.", "torch.nn.", "layers.", "keras.")) or text[:1].isupper()
    if isinstance(func, Ext):
        last = func.qualname.rsplit(".", 1)[-1]
        return last[:1].isupper() or func.qualname.startswith(("torch.nn.", "keras.")) and not func.qualname.startswith(
            ("torch.nn.functional.", "torch.nn.init."))
    return isinstance(func, (ClassInfo, Function, Bound, Partial))


def _decorator(fdef):
    """"property", "staticmethod", "classmethod" or None."""
    for d in fdef.decorator_list:
        name = d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else None
        if name in ("property", "staticmethod", "classmethod", "cached_property"):
            return "property" if name == "cached_property" else name
    return None


def _fresh(layer):
    if dataclasses.is_dataclass(layer):
        return dataclasses.replace(layer)
    return copy.copy(layer)


def _has_modules(value):
    items = value.values() if isinstance(value, dict) else value
    return any(is_module(v) or isinstance(v, (list, tuple, dict)) and _has_modules(v) for v in items)


def _load(target):
    """The expression that reads an assignment target (for ``+=``)."""
    node = copy.deepcopy(target)
    for n in ast.walk(node):
        if hasattr(n, "ctx"):
            n.ctx = ast.Load()
    return node

