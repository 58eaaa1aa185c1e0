"""The values the source interpreter manipulates besides Python's own numbers, strings and containers."""

from __future__ import annotations

import ast
from collections import OrderedDict

__all__ = [
    "Ext", "Symbolic", "Unknown", "LeafMod", "SeqMod", "ClassInfo", "Instance", "Bound", "Function", "Partial",
    "Super", "Method", "Builtin", "Opaque", "OPAQUE", "Batch", "BATCH", "ShapeOf", "SHAPE", "Tensor", "ModuleRef",
    "Return", "Break", "Continue", "is_module", "ConstTensor", "ParamValue",
]


class Ext:
    """An imported name: ``torch.nn``, ``torch.nn.functional.relu``, ``keras.layers.Conv2D``."""

    __slots__ = ("qualname",)

    def __init__(self, qualname):
        self.qualname = _normalise(qualname)

    def __repr__(self):
        return self.qualname

    def __eq__(self, other):
        return isinstance(other, Ext) and other.qualname == self.qualname

    def __hash__(self):
        return hash(self.qualname)


def _normalise(qualname):
    for prefix, short in (("tensorflow.keras", "keras"), ("tensorflow.python.keras", "keras"), ("tf.keras", "keras")):
        if qualname == prefix or qualname.startswith(prefix + "."):
            return short + qualname[len(prefix):]
    return qualname


class Symbolic:
    """A constructor argument without a default: usable as a size (a sympy symbol), nothing else."""

    def __init__(self, name):
        self.name = name


class Unknown:
    """A value the reader could not compute (data loading, devices, training code). Harmless until the
    model needs it; then the error names the line that could not be read and why (``root``), once."""

    __slots__ = ("root", "name", "argument")

    def __init__(self, root, name=None, argument=False):
        self.root = root  # "file:line: what could not be read"
        self.name = name  # the variable it was assigned to, if any
        self.argument = argument  # passed as a constructor/function argument: usable as a size symbol

    def named(self, name, argument=False):
        return Unknown(self.root, name, argument)


class LeafMod:
    """A ``torch.nn`` layer built in ``__init__``: one cnncalc layer and where it was written."""

    def __init__(self, layer, origin):
        self.layer = layer
        self.origin = origin


class SeqMod:
    """``nn.Sequential`` / ``nn.ModuleList`` / ``nn.ModuleDict``: named children in order (looked up by
    name in constant time, so appending to a long ModuleList stays linear)."""

    def __init__(self, kind, children, origin):
        self.kind = kind
        self.origin = origin
        self.children = []
        self._index = {}
        for name, child in children:
            self.add(name, child)

    def add(self, name, child):
        name = str(name)
        if name in self._index:
            self.children[self._index[name]] = (name, child)
        else:
            self._index[name] = len(self.children)
            self.children.append((name, child))

    def get(self, name):
        i = self._index.get(str(name))
        return None if i is None else self.children[i][1]


class ClassInfo:
    """A class defined in a model file (``module`` is the file's ``SourceModule``)."""

    def __init__(self, node, bases, module):
        self.node = node
        self.name = node.name
        self.bases = bases
        self.module = module
        self.methods = {s.name: s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.attrs = {}

    def lookup(self, name):
        """A method (with its class) or class attribute, searched through the local base classes."""
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
        return bool(self.external_bases() & {"torch.nn.Module", "torch.nn.Sequential", "torch.nn.ModuleDict",
                                             "torch.nn.ModuleList"})


class Instance:
    """An instance of a local ``nn.Module`` subclass: registered sub-modules and plain attributes."""

    def __init__(self, cls, origin):
        self.cls = cls
        self.modules = OrderedDict()
        self.attrs = {"training": False}  # shapes are those of inference (dropout has none anyway)
        self.origin = origin


def is_module(value):
    return isinstance(value, (LeafMod, SeqMod, Instance))


class Bound:
    """A method bound to an instance (or a class, for ``super()`` calls)."""

    def __init__(self, func, owner, self_value):
        self.func = func
        self.owner = owner
        self.self_value = self_value


class Function:
    """A function (``def`` or ``lambda``) of a model file, with the variables of the function it was
    defined in (``closure``: None at module level)."""

    def __init__(self, node, module, closure=None):
        self.node = node
        self.module = module
        self.closure = closure

    @property
    def name(self):
        return getattr(self.node, "name", "<lambda>")


class Partial:
    """``functools.partial(func, *args, **kwargs)``."""

    def __init__(self, func, args, kwargs):
        self.func = func
        self.args = list(args)
        self.kwargs = dict(kwargs)


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

    def __repr__(self):
        return "x.size(0)"


class ShapeOf:
    """``x.size()`` / ``x.shape`` when the input shape is not known: only ``[0]`` (the batch) is understood."""


BATCH = Batch()
SHAPE = ShapeOf()


class Tensor:
    """A tensor of the forward: the data-flow node that produces it."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node


class ConstTensor:
    """A tensor made in ``__init__`` (``torch.zeros(1, 1, 768)``): its shape only."""

    def __init__(self, shape):
        self.shape = tuple(shape)


class ParamValue:
    """``nn.Parameter(torch.zeros(...))`` held by a module: used in ``forward`` it becomes a
    ``ParameterOp`` row (a class token, a position embedding, a layer scale)."""

    def __init__(self, shape, trainable=True, name=None, expanded=False):
        self.shape = tuple(shape)
        self.trainable = trainable
        self.name = name
        self.expanded = expanded


class ModuleRef:
    """``sys.modules[__name__]``: ``setattr`` on it defines a module-level name."""

    def __init__(self, module):
        self.module = module


class Return(Exception):
    def __init__(self, value):
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass
