"""Python's built-in functions and the methods of built-in values, modules and tensors, as the source
interpreter runs them (within its budget: nothing here builds an unbounded value)."""

from __future__ import annotations

import ast

from ..errors import ShapeError
from .common import decorator_name, describe, kind, named_modules, reason
from .keras import KerasModel, KerasTensor
from .torch_names import SPLITS
from .values import (
    OPAQUE, Builtin, ClassInfo, ConstTensor, Ext, Function, ParamValue, Instance, LeafMod, Method, ModuleRef, Partial, SeqMod, Super,
    Symbolic, Tensor, Unknown, is_module,
)

__all__ = ["call_builtin", "call_method"]

_EXCEPTION_NAMES = {"NotImplementedError", "ValueError", "TypeError", "RuntimeError", "AssertionError", "KeyError",
                    "Exception"}


def _guarded(function):
    """Python errors of a built-in or a method become the interpreter's one-line error at ``node``."""
    def run(reader, *args):
        node = args[-2] if function is _builtin else args[-1]
        try:
            return function(reader, *args)
        except ShapeError:
            raise
        except (TypeError, ValueError, OverflowError, IndexError, KeyError, ZeroDivisionError, AttributeError) as exc:
            raise reader.error(node, f"cannot evaluate {describe(node)}: {reason(exc)}") from None
    return run


def call_builtin(reader, name, args, kwargs, node, env):
    return _guarded(_builtin)(reader, name, args, kwargs, node, env)


def _unknown_in(reader, values, node):
    for v in values:
        if isinstance(v, Unknown):
            raise reader.unknown(v, node)
        if isinstance(v, Symbolic):
            raise reader.unknown_argument(v, node)


_SEES_UNKNOWN = {"super", "print", "isinstance", "issubclass", "hasattr", "getattr", "setattr", "callable", "type",
                 "id", "globals", "vars"}


def _builtin(reader, name, args, kwargs, node, env):

    if name not in _SEES_UNKNOWN:
        unknown = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, Unknown)), None)
        if unknown is not None:
            return Unknown(unknown.root)  # len(dataset.classes): still unknown, and nameless

    if name == "super":
        cls = env.get("__class__")
        inst = env.get("self") if "self" in env else next((v for k, v in env.items() if not k.startswith(("\0", "__"))), None)
        if args:
            cls, inst = args[0], args[1] if len(args) > 1 else inst
        if not isinstance(cls, ClassInfo):
            raise reader.error(node, "super() outside a method of a class in the model file")
        return Super(cls, inst)
    if name == "print":
        return None
    if name in _EXCEPTION_NAMES:
        return None
    if name == "isinstance":
        if len(args) != 2:
            raise reader.error(node, "isinstance() takes 2 arguments")
        return reader.is_instance(args[0], args[1], node)
    if name == "issubclass":
        return isinstance(args[0], ClassInfo) and isinstance(args[1], ClassInfo) and args[1] in args[0].mro()
    if name == "hasattr":
        return _hasattr(reader, args[0], args[1], node)
    if name == "getattr":
        if len(args) == 3 and not _hasattr(reader, args[0], args[1], node):
            return args[2]
        return reader.attribute(args[0], _name(reader, args[1], node), node)
    if name == "setattr":
        target, key, value = args
        key = _name(reader, key, node)
        if isinstance(target, ModuleRef):
            target.module.globals[key] = value
        elif isinstance(target, Instance):
            reader.set_attribute(target, key, value)
        elif isinstance(target, ClassInfo):
            target.attrs[key] = value
        elif not isinstance(target, Unknown):
            raise reader.error(node, f"cannot follow {describe(node)}")
        return None
    if name == "globals":
        return reader.module.globals
    if name == "vars" and args and isinstance(args[0], Instance):
        return dict(args[0].attrs)
    if name in ("callable",):
        return isinstance(args[0], (Function, Builtin, Partial, ClassInfo, Method)) or is_module(args[0])
    if name == "len":
        value = args[0]
        if isinstance(value, SeqMod):
            return len(value.children)
        if isinstance(value, Instance):
            return len(value.modules)
        _unknown_in(reader, [value], node)
        if isinstance(value, range):
            return len(value)
        if not isinstance(value, (list, tuple, dict, str, set, frozenset)):
            raise reader.error(node, f"cannot evaluate {describe(node)}: len() of {kind(value)}")
        return len(value)
    if name == "range":
        _unknown_in(reader, args, node)
        plain = [reader.number(a, node) for a in args]
        for a in plain:
            if hasattr(a, "free_symbols") and not a.is_number:
                raise reader.symbols_needed(a, node)
        if not all(type(a) is int for a in plain):
            raise reader.error(node, f"cannot evaluate {describe(node)}: range() needs integers")
        return range(*plain)
    if name in ("int", "float", "round", "abs", "divmod", "pow", "bool", "str", "repr", "ord", "chr", "hash", "format"):
        return _conversion(reader, name, args, kwargs, node)
    if name in ("min", "max"):
        if len(args) == 1:
            args = reader.materialise(args[0], node)
        _unknown_in(reader, args, node)
        values = [reader.number(a, node) for a in args]
        if any(hasattr(v, "free_symbols") for v in values):
            from ..dims import generic_max, generic_min

            return generic_min(values) if name == "min" else generic_max(values)
        key = kwargs.get("key")
        if key is not None:
            return (min if name == "min" else max)(values, key=lambda v: reader.apply(key, [v], {}, node))
        if not values and "default" in kwargs:
            return kwargs["default"]
        return min(values) if name == "min" else max(values)
    if name == "sum":
        items = reader.materialise(args[0], node)
        total = args[1] if len(args) > 1 else kwargs.get("start", 0)
        tensors = [t for t in items if isinstance(t, Tensor)]
        if tensors:  # sum of feature maps: successive adds
            if len(tensors) != len(items):
                raise reader.error(node, f"cannot follow {describe(node)}: a sum of tensors and numbers")
            out = tensors[0]
            for t in tensors[1:]:
                out = reader.merge("add", [out, t], node)
            return out
        _unknown_in(reader, items, node)
        for item in items:
            total = reader.binop(ast.Add(), total, item, node)
        return total
    if name in ("any", "all"):
        values = [reader.truth(v, node) for v in reader.materialise(args[0], node)]
        return any(values) if name == "any" else all(values)
    if name == "sorted":
        items = reader.materialise(args[0], node)
        _unknown_in(reader, items, node)
        key = kwargs.get("key")
        out = sorted(items, key=None if key is None else lambda v: reader.apply(key, [v], {}, node))
        return out[::-1] if kwargs.get("reverse") else out
    if name == "reversed":
        value = args[0]
        if isinstance(value, range):
            return value[::-1]
        return reader.materialise(value, node)[::-1]
    if name in ("list", "tuple", "set", "frozenset"):
        items = reader.materialise(args[0], node) if args else []
        if name == "list":
            return items
        if name == "tuple":
            return tuple(items)
        return reader.hashable(set if name == "set" else frozenset, items, node)
    if name == "dict":
        out = {}
        if args:
            source = args[0]
            out.update(source if isinstance(source, dict) else dict(reader.materialise(source, node)))
        out.update(kwargs)
        return reader.check_size(out, node)
    if name == "enumerate":
        start = args[1] if len(args) > 1 else kwargs.get("start", 0)
        return enumerate(reader.iterate(args[0], node), start)
    if name == "zip":
        return zip(*(reader.iterate(a, node) for a in args))
    if name == "map":
        func = args[0]
        items = zip(*(reader.iterate(a, node) for a in args[1:]))
        return [reader.apply(func, list(group), {}, node) for group in _bounded(reader, items, node)]
    if name == "filter":
        func = args[0]
        items = reader.materialise(args[1], node)
        return [v for v in items if reader.truth(v if func is None else reader.apply(func, [v], {}, node), node)]
    if name == "iter":
        return reader.iterate(args[0], node)
    if name == "next":
        iterator = args[0]
        if isinstance(iterator, list):
            if not iterator:
                if len(args) > 1:
                    return args[1]
                raise reader.error(node, f"cannot evaluate {describe(node)}: the iterator is empty")
            return iterator.pop(0)
        try:
            return next(iter(iterator))
        except StopIteration:
            if len(args) > 1:
                return args[1]
            raise reader.error(node, f"cannot evaluate {describe(node)}: the iterator is empty") from None
    if name == "type":
        if args and isinstance(args[0], Instance):
            return args[0].cls
        if args and isinstance(args[0], Partial):
            return Ext("functools.partial")
        raise reader.error(node, f"cannot follow {describe(node)}")
    if name == "id":
        return id(args[0])
    raise reader.error(node, f"cannot call {name}()")


def _bounded(reader, items, node):
    for count, item in enumerate(items):
        if count >= reader.budget.items:
            raise reader.error(node, f"too many items: {reader.budget.exceeded('items')}")
        reader.tick(node)
        yield item


def _conversion(reader, name, args, kwargs, node):

    _unknown_in(reader, args, node)
    if name == "str" and args and isinstance(args[0], (int, float, str, bool, type(None))):
        return reader.check_size(str(args[0]), node)
    if name in ("repr", "hash"):
        return {"repr": repr, "hash": hash}[name](args[0])
    if name == "format":
        reader.check_format(args[1] if len(args) > 1 else "", node)
        return format(*args)
    if name == "bool":
        return reader.truth(args[0], node) if args else False
    values = [reader.number(a, node) for a in args]
    if any(hasattr(v, "free_symbols") for v in values):
        import sympy

        if name == "int":
            return sympy.floor(values[0])
        if name == "abs":
            return abs(values[0])
        raise reader.error(node, f"cannot evaluate {describe(node)}: it depends on an unknown size")
    if name in ("int", "float") and args and isinstance(args[0], str):
        return {"int": int, "float": float}[name](args[0][:64])
    for v in values:
        if not isinstance(v, (int, float)):
            raise reader.error(node, f"cannot evaluate {describe(node)}: {kind(v)} is not a number")
    if name == "pow" and len(values) >= 2:
        reader.check_power(ast.Pow(), values[0], values[1], node)
    fn = {"int": int, "float": float, "round": round, "abs": abs, "divmod": divmod, "pow": pow, "str": str,
          "ord": ord, "chr": chr}[name]
    return reader.check_size(fn(*values), node)


def _name(reader, value, node):
    if not isinstance(value, str):
        raise reader.error(node, "an attribute name must be a known string")
    return value


def _hasattr(reader, obj, name, node):
    name = _name(reader, name, node)
    if isinstance(obj, Instance):
        return name in obj.modules or name in obj.attrs or obj.cls.lookup(name)[0] is not None
    if isinstance(obj, ClassInfo):
        return obj.lookup(name)[0] is not None
    if isinstance(obj, SeqMod):
        return obj.get(name) is not None
    if isinstance(obj, LeafMod):
        return name in getattr(obj.layer, "__dataclass_fields__", {}) or name in ("weight", "bias")
    if isinstance(obj, Unknown):
        raise reader.unknown(obj, node)
    return hasattr(obj, name) and not name.startswith("_")


# --- methods ------------------------------------------------------------------------------------

_STR_METHODS = {"lower", "upper", "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "isdigit",
                "capitalize", "title", "count", "find", "index", "isidentifier", "isalpha"}


def call_method(reader, obj, name, args, kwargs, node):
    return _guarded(_method)(reader, obj, name, args, kwargs, node)


def _method(reader, obj, name, args, kwargs, node):

    if isinstance(obj, Super):  # super().__init__(...): nn.Sequential subclasses register their layers
        if name == "forward":
            return reader.forward_of_base(obj, args, kwargs, node)
        bases = obj.cls.external_bases()
        if name == "__init__" and isinstance(obj.instance, Instance):
            for base in obj.cls.mro()[1:]:
                if any(decorator_name(d) in ("dataclass", "dataclasses.dataclass") for d in base.node.decorator_list):
                    reader.dataclass_init(base, obj.instance, args, kwargs, node)
                    return None
        if isinstance(obj.instance, Instance) and (args or kwargs):
            if "torch.nn.Sequential" in bases:
                reader.register_sequential(obj.instance, args, kwargs, node)
            elif "torch.nn.ModuleList" in bases or "torch.nn.ModuleDict" in bases:
                kind = "ModuleList" if "torch.nn.ModuleList" in bases else "ModuleDict"
                for child_name, child in reader.make_sequential(kind, args, node).children:
                    obj.instance.modules[child_name] = child
        return None
    if isinstance(obj, Tensor):
        return tensor_method(reader, obj, name, args, kwargs, node)
    if isinstance(obj, (ParamValue, ConstTensor)):
        if name in ("expand", "expand_as", "repeat") and isinstance(obj, ParamValue):
            return ParamValue(obj.shape, obj.trainable, obj.name, expanded=True)
        if name in ("size", "dim"):
            return obj.shape if name == "size" and not args else len(obj.shape) if name == "dim" else obj.shape[args[0]]
        if name.endswith("_") or name in ("to", "float", "detach", "clone"):
            return obj  # in-place initialisation (normal_, zero_, uniform_) and conversions
        raise reader.error(node, f"cannot follow {describe(node)}: a parameter's {name}() is not understood")
    if isinstance(obj, ModuleRef):
        raise reader.error(node, f"cannot follow {describe(node)}")
    if is_module(obj) and name in ("modules", "named_modules", "apply", "parameters", "named_parameters", "buffers",
                                   "children", "named_children"):
        if name in ("children", "named_children"):
            pairs = list(obj.modules.items()) if isinstance(obj, Instance) else list(obj.children) if isinstance(obj, SeqMod) else []
            return pairs if name == "named_children" else [m for _, m in pairs]
        every = named_modules(obj)
        if name == "apply":  # module.apply(fn): fn(m) for every sub-module, then the module itself
            for _, m in every[1:] + every[:1]:
                reader.apply(args[0], [m], {}, node, {})
            return obj
        if name in ("parameters", "named_parameters", "buffers"):
            return [OPAQUE]
        return every if name == "named_modules" else [m for _, m in every]
    if isinstance(obj, Instance) and name in ("add_module", "register_module"):
        if len(args) + len(kwargs) != 2:
            raise reader.error(node, f"{name}() takes a name and a module")
        key, module = args[0] if args else kwargs.get("name"), args[1] if len(args) > 1 else kwargs.get("module")
        reader.set_attribute(obj, _name(reader, key, node), module)
        return None
    if isinstance(obj, Instance) and name in ("register_buffer", "register_parameter"):
        obj.attrs[_name(reader, args[0], node)] = OPAQUE
        return None
    if isinstance(obj, Instance) and name in ("load_state_dict", "state_dict", "zero_grad"):
        return None
    if isinstance(obj, Instance) and name in ("items", "values", "keys"):
        pairs = list(obj.modules.items())
        if name == "items":
            return pairs
        return [p[0] for p in pairs] if name == "keys" else [p[1] for p in pairs]
    if isinstance(obj, Instance) and name in ("append", "extend", "insert"):
        seq = SeqMod("ModuleList", list(obj.modules.items()), obj.origin)
        _seq_method(reader, seq, name, args, node)
        obj.modules.clear()
        obj.modules.update(seq.children)
        return None
    if isinstance(obj, list):
        return _list_method(reader, obj, name, args, kwargs, node)
    if isinstance(obj, dict):
        return _dict_method(reader, obj, name, args, kwargs, node)
    if isinstance(obj, str):
        return _str_method(reader, obj, name, args, kwargs, node)
    if isinstance(obj, tuple) and name in ("index", "count"):
        return getattr(obj, name)(*args)
    if isinstance(obj, set) and name in ("add", "update", "discard"):
        getattr(obj, name)(*args)
        return reader.check_size(obj, node) and None
    if isinstance(obj, SeqMod):
        if name in ("items", "keys", "values") and obj.kind == "ModuleDict":
            pairs = list(obj.children)
            return pairs if name == "items" else [p[0] for p in pairs] if name == "keys" else [p[1] for p in pairs]
        if name == "add_module":
            obj.add(_name(reader, args[0], node), args[1])
            return None
        if name in ("append", "extend", "insert"):
            _seq_method(reader, obj, name, args, node)
            return None
    if isinstance(obj, (KerasModel, KerasTensor)):
        return obj.method(reader, name, args, kwargs, node)
    raise reader.error(node, f"cannot follow {describe(node)}")


def _seq_method(reader, seq, name, args, node):
    if name == "append":
        items = [args[0]] if args else []
    elif name == "extend":
        items = reader.materialise(args[0], node) if args else []
    else:
        raise reader.error(node, "insert() into a module list is not understood: build the list in order")
    reader.modules_only(items, node)
    for m in items:
        if len(seq.children) >= reader.budget.items:
            raise reader.error(node, f"too many modules: {reader.budget.exceeded('items')}")
        seq.add(str(len(seq.children)), m)


def _list_method(reader, obj, name, args, kwargs, node):

    if name == "append":
        obj.append(args[0])
    elif name == "extend":
        obj.extend(reader.materialise(args[0], node))
    elif name == "insert":
        obj.insert(args[0], args[1])
    elif name == "pop":
        return obj.pop(*args)
    elif name in ("index", "count"):
        return getattr(obj, name)(*args)
    elif name == "reverse":
        obj.reverse()
    elif name == "copy":
        return list(obj)
    elif name == "clear":
        obj.clear()
    elif name == "remove":
        obj.remove(args[0])
    elif name == "sort":
        key = kwargs.get("key")
        obj.sort(key=None if key is None else lambda v: reader.apply(key, [v], {}, node), reverse=bool(kwargs.get("reverse")))
    else:
        raise reader.error(node, f"cannot follow {describe(node)}: list.{name}() is not understood")
    reader.check_size(obj, node)
    return None


def _dict_method(reader, obj, name, args, kwargs, node):

    if name in ("items", "keys", "values"):
        return list(getattr(obj, name)())
    if name == "get":
        return obj.get(*args)
    if name == "update":
        if args:
            obj.update(args[0] if isinstance(args[0], dict) else dict(reader.materialise(args[0], node)))
        obj.update(kwargs)
        reader.check_size(obj, node)
        return None
    if name in ("pop", "setdefault"):
        return getattr(obj, name)(*args)
    if name == "copy":
        return dict(obj)
    raise reader.error(node, f"cannot follow {describe(node)}: dict.{name}() is not understood")


def _str_method(reader, obj, name, args, kwargs, node):

    if name == "format":
        reader.check_format(obj, node)
        for v in list(args) + list(kwargs.values()):
            if not isinstance(v, (int, float, str, bool, type(None))):
                raise reader.error(node, f"cannot evaluate {describe(node)}: {kind(v)} in a format string")
        return reader.check_size(obj.format(*args, **kwargs), node)
    if name == "join":
        items = reader.materialise(args[0], node)
        if not all(isinstance(i, str) for i in items):
            raise reader.error(node, f"cannot evaluate {describe(node)}: join() of non-strings")
        if sum(map(len, items)) + len(obj) * len(items) > reader.budget.items:
            raise reader.error(node, f"cannot evaluate {describe(node)}: {reader.budget.exceeded('items')}")
        return obj.join(items)
    if name == "replace":
        if not all(isinstance(a, str) for a in args[:2]):
            raise reader.error(node, f"cannot evaluate {describe(node)}")
        if len(obj) * max(1, len(args[1])) > reader.budget.items:
            raise reader.error(node, f"cannot evaluate {describe(node)}: {reader.budget.exceeded('items')}")
        return obj.replace(*args)
    if name in _STR_METHODS:
        return getattr(obj, name)(*args, **kwargs)
    raise reader.error(node, f"cannot follow {describe(node)}: str.{name}() is not understood")


# --- tensors ------------------------------------------------------------------------------------

_PASS_THROUGH = {"contiguous", "clone", "detach", "to", "float", "double", "half", "type_as", "cpu", "cuda",
                 "requires_grad_", "bfloat16"}


def tensor_method(reader, x, name, args, kwargs, node):

    receiver = ast.unparse(node.func.value) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else "x"
    if name == "size":
        dim = args[0] if args else kwargs.get("dim")
        return reader.tensor_size(x, dim, node)
    if name == "dim":
        return reader.tensor_dim(x, node)
    if name == "numel":
        raise reader.error(node, f"cannot follow {describe(node)}: x.numel() counts the batch too")
    if name in _PASS_THROUGH:
        return x
    base = name.rstrip("_")
    if base in ("add", "mul", "sub", "div", "matmul", "pow") and len(args) == 1 and not kwargs:
        op = {"add": ast.Add(), "mul": ast.Mult(), "sub": ast.Sub(), "div": ast.Div(), "matmul": ast.MatMult(),
              "pow": ast.Pow()}[base]
        return reader.tensor_binop(op, x, args[0], node)
    if name in SPLITS:
        return reader.split(name, x, list(args), kwargs, node)
    return reader.torch_op(name, [x] + list(args), kwargs, node, function=False, receiver=receiver)


__all__ += ["tensor_method"]
