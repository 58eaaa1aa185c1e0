"""Spec files: a network as data (YAML or JSON), loaded safely; see docs/spec-format.md.

```yaml
name: small_resnet          # optional: the report's name
input_shape: [3, 32, 32]    # optional: "3x32x32" or a list; names are symbols
layers:                     # a Sequential (or `model:` for one item)
  - Conv2d: [3, 16, 3]      # positional arguments, as torch.nn
  - BatchNorm2d: 16
  - ReLU                    # no arguments
  - residual:               # output = main(x) + shortcut(x), then post
      main:
        - Conv2d: {in_channels: 16, out_channels: 16, kernel_size: 3, padding: 1}
        - BatchNorm2d: 16
      shortcut: null        # identity (the default)
      post: ReLU
    name: block1            # any item's key in its parent (rows read block1.0, ...)
  - concat: [[{Conv2d: [16, 8, 1]}], [{Conv2d: [16, 8, 3, 1, 1]}]]
  - sequential: [AdaptiveAvgPool2d: 1, Flatten]
    name: head
  - Linear: {args: [16, 10], bias: false}   # positional `args` plus keywords
```

An item is a string (a layer without arguments), a list (an unnamed Sequential), or a mapping with
one type key (a layer class name, ``sequential``, ``residual`` or ``concat``) and an optional
``name``. Layer arguments: a scalar (one positional argument), a list (positional), a mapping
(keywords, with optional positional ``args``) or null. Integers are sizes; a string where a size is
expected is a symbol. Errors name the file, line and key. YAML needs PyYAML
(``pip install 'cnncalc[yaml]'``); JSON needs nothing.
"""

from __future__ import annotations

import dataclasses
import json
import json.decoder
import json.scanner
from collections import OrderedDict
from pathlib import Path

from .. import layers as L
from ..dims import names_as_symbols
from ..errors import ShapeError
from ..files import read_data
from ..graph import Concat, Container, Merge, Residual, Sequential
from ..limits import MAX_DEPTH, check_digits, check_int
from .dataflow import Network, sequential_of
from .loaded import Loaded

CONTAINERS = ("sequential", "residual", "concat", "merge")
_SKIP_FIELDS = {"device", "dtype"}


def layer_types():
    """Leaf layer classes by name (``cnncalc.layers.layer_types``)."""
    return L.layer_types()


class SpecOrigin:
    """Where an item of a spec file is: file and line."""

    receiver = None

    def __init__(self, path, line):
        self.path = path
        self.line = line

    @property
    def where(self):
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def with_argument(self, position, keyword, value):
        return None  # the core's suggestion already uses cnncalc's (= the spec's) names


# --- located data: dicts and lists that remember their lines -----------------------------------------


class LocDict(dict):
    line = 0
    key_lines: dict = {}


class LocList(list):
    line = 0
    item_lines: list = []


def _line_of(value, default=0):
    return getattr(value, "line", 0) or default


def parse_yaml(text, path):
    """YAML, safely: PyYAML's SafeLoader (plain data only, never a Python object), with the line of each
    mapping, key and list item; aliases are refused (nine nested ``*a`` lists would expand to a billion
    items), and so are keys that are not scalars, nesting over MAX_DEPTH and integers over MAX_DIGITS."""
    try:
        import yaml
    except ImportError:
        raise ShapeError(f"{path}: reading YAML needs PyYAML: pip install 'cnncalc[yaml]' (or use JSON)") from None
    limit = MAX_DEPTH.value

    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                raise ShapeError(f"{path}:{event.start_mark.line + 1}: the alias *{event.anchor}: YAML aliases are not "
                                 "read (they can expand exponentially): write the item out")
            self.depth += 1
            try:
                if self.depth > limit:
                    raise MAX_DEPTH.refuse(f"{path}:{event.start_mark.line + 1}", "lists and mappings nest at least",
                                           self.depth, limit)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    def mapping(loader, node):
        out = LocDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ShapeError(f"{path}:{key_node.start_mark.line + 1}: a mapping key must be a name or a number, "
                                 f"not a {'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}")
            key = loader.construct_object(key_node, deep=True)
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def sequence(loader, node):
        out = LocList(loader.construct_object(n, deep=True) for n in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [n.start_mark.line + 1 for n in node.value]
        return out

    def integer(loader, node):
        where = f"{path}:{node.start_mark.line + 1}"
        check_digits(node.value, where, "an integer of")
        return check_int(yaml.SafeLoader.construct_yaml_int(loader, node), where, "an integer of")

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    Loader.add_constructor("tag:yaml.org,2002:int", integer)
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: safe loading only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ShapeError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar the safe constructors choke on: 2001-13-45
        if isinstance(exc, ShapeError):
            raise
        raise ShapeError(f"{path}: not valid YAML: {exc}") from None


def parse_json(text, path):
    """JSON with the line of each object, key and array item (found from the parser's offsets)."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)

    def line_at(offset):
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    limit, depth = MAX_DEPTH.value, [0]

    def integer(digits):
        return int(check_digits(digits, str(path), "an integer of"))

    def nested(end, parse):
        """Parse one list or mapping, counting how deep it sits."""
        depth[0] += 1
        try:
            if depth[0] > limit:
                raise MAX_DEPTH.refuse(f"{path}:{line_at(end)}", "lists and mappings nest at least", depth[0], limit)
            return parse()
        finally:
            depth[0] -= 1

    decoder = json.JSONDecoder(parse_int=integer)

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        s, end = s_and_end
        pairs, new_end = nested(end, lambda: json.decoder.JSONObject(s_and_end, strict, scan_once, None, list, memo))
        out = LocDict(pairs)
        out.line = line_at(end - 1)
        out.key_lines = {}
        pos = end
        for key, _ in pairs:
            at = s.find(json.dumps(key), pos, new_end)
            out.key_lines[key] = line_at(at if at >= 0 else end)
            pos = at if at >= 0 else pos
        return out, new_end

    def parse_array(s_and_end, scan_once):
        s, end = s_and_end
        item_starts = []

        def recording(text, idx):  # called once per direct item, at its first character
            item_starts.append(idx)
            return scan_once(text, idx)

        values, new_end = nested(end, lambda: json.decoder.JSONArray(s_and_end, recording))
        out = LocList(values)
        out.line = line_at(end - 1)
        out.item_lines = [line_at(i) for i in item_starts]
        return out, new_end

    decoder.parse_object = parse_object
    decoder.parse_array = parse_array
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise ShapeError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None


# --- spec -> network --------------------------------------------------------------------------------


def _drive(steps):
    """Run a generator that yields the generators whose results it needs, on an explicit stack: specs
    and networks may nest deeper than Python's recursion limit."""
    stack, value = [steps], None
    while stack:
        try:
            needed = stack[-1].send(value)
        except StopIteration as done:
            stack.pop()
            value = done.value
            continue
        stack.append(needed)
        value = None
    return value


class _Key:
    """The path of an item for error messages (``layers[2].residual.main[0]``), spelled out only when
    printed: a copy per level would cost the square of a deep spec's depth."""

    __slots__ = ("parent", "part")

    def __init__(self, parent, part):
        self.parent, self.part = parent, part

    def __str__(self):
        parts, key = [], self
        while isinstance(key, _Key):
            parts.append(key.part)
            key = key.parent
        parts.append(str(key))
        parts.reverse()
        if len(parts) > 12:  # a deep spec: the root and the innermost items say where
            parts[4:-6] = ["..."]
        return "".join(parts)


class _Builder:
    """Items to layers and containers. Each method that reads nested items is a generator for ``_drive``:
    ``(yield self.item(...))`` is the built item."""

    def __init__(self, path):
        self.path = path
        self.types = layer_types()
        self.origins = {}

    def fail(self, line, key, message):
        return ShapeError(f"{self.path}:{line}: {key}: {message}" if line else f"{self.path}: {key}: {message}")

    def item(self, value, key, line):
        """(name or None, layer) for one item."""
        if isinstance(value, str):
            return None, self.leaf(value, None, key, line)
        if isinstance(value, list):
            return None, (yield self.sequence(value, key, line))
        if not isinstance(value, dict):
            raise self.fail(line, key, f"expected a layer name, a list or a mapping, got {_brief(value)}")
        line = _line_of(value, line)
        name = value.get("name")
        if name is not None and not isinstance(name, (str, int)):
            raise self.fail(line, _Key(key, ".name"), f"a name must be a string, got {_brief(name)}")
        kinds = [k for k in value if k not in ("name", "merge_name")]
        if len(kinds) != 1:
            raise self.fail(line, key, f"expected one layer type (and an optional name), got keys {sorted(map(str, kinds))}")
        merge_name = value.get("merge_name")
        if merge_name is not None and kinds[0] not in ("residual", "concat", "merge"):
            raise self.fail(line, _Key(key, ".merge_name"), "only a residual, a concat or a merge has a merge row to name")
        kind = kinds[0]
        body = value[kind]
        where = _Key(key, f".{kind}")
        body_line = getattr(value, "key_lines", {}).get(kind, line)
        if kind == "sequential":
            if not isinstance(body, list):
                raise self.fail(body_line, where, "expected a list of items")
            layer = yield self.sequence(body, where, body_line)
        elif kind == "residual":
            layer = yield self.residual(body, where, body_line, str(merge_name or ""))
        elif kind == "concat":
            layer = yield self.concat(body, where, body_line, str(merge_name or ""))
        elif kind == "merge":
            layer = yield self.merge(body, where, body_line, str(merge_name or ""))
        elif not isinstance(kind, str):
            raise self.fail(line, key, f"a layer type is a name, got {_brief(kind)}")
        else:
            layer = self.leaf(kind, body, where, body_line)
        return (None if name is None else str(name)), layer

    def sequence(self, items, key, line):
        pairs = []
        lines = getattr(items, "item_lines", [])
        for i, value in enumerate(items):
            item_line = lines[i] if i < len(lines) else line
            name, layer = yield self.item(value, _Key(key, f"[{i}]"), item_line)
            pairs.append((str(i) if name is None else name, layer))
        return sequential_of(pairs)

    def part(self, value, key, line):
        """A residual's main/shortcut/post or a concat branch: a list is a Sequential, else one item."""
        if value is None:
            return None
        if isinstance(value, list):
            return (yield self.sequence(value, key, _line_of(value, line)))
        return (yield self.item(value, key, line))[1]

    def residual(self, body, key, line, merge_name=""):
        if not isinstance(body, dict) or "main" not in body:
            raise self.fail(line, key, "expected a mapping with main (and optional shortcut, post)")
        unknown = set(body) - {"main", "shortcut", "post", "shortcut_name", "post_name", "op"}
        if unknown:
            raise self.fail(line, key, f"unknown keys {sorted(map(str, unknown))}: expected main, shortcut, post, "
                            "shortcut_name, post_name, op")
        if body.get("op", "add") not in ("add", "mul"):
            raise self.fail(line, _Key(key, ".op"), f"op must be add or mul, got {_brief(body.get('op'))}")
        lines = getattr(body, "key_lines", {})
        parts = {}
        for k in ("main", "shortcut", "post"):
            parts[k] = yield self.part(body.get(k), _Key(key, f".{k}"), lines.get(k, line))
        block = Residual(parts["main"], parts["shortcut"], parts["post"],
                         shortcut_name=str(body.get("shortcut_name", "shortcut")),
                         post_name=str(body.get("post_name", "post")), merge_name=merge_name,
                         op=body.get("op", "add"))
        self.origins[id(block)] = SpecOrigin(self.path, line)
        return block

    def branches(self, body, key, line):
        """(name, part) of each branch of a concat or merge."""
        if not isinstance(body, list) or not body:
            raise self.fail(line, key, "expected a list of branches")
        lines = getattr(body, "item_lines", [])
        pairs = []
        for i, value in enumerate(body):
            item_line = lines[i] if i < len(lines) else line
            name = value.get("name") if isinstance(value, dict) else None
            pairs.append((str(i) if name is None else str(name), (yield self.part(value, _Key(key, f"[{i}]"), item_line))))
        if len({n for n, _ in pairs}) != len(pairs):
            raise self.fail(line, key, "branch names must differ")
        return OrderedDict(pairs)

    def concat(self, body, key, line, merge_name=""):
        block = Concat((yield self.branches(body, key, line)), merge_name=merge_name)
        self.origins[id(block)] = SpecOrigin(self.path, line)
        return block

    def merge(self, body, key, line, merge_name=""):
        if not isinstance(body, dict) or "branches" not in body:
            raise self.fail(line, key, "expected a mapping with branches (and op, dim, mode)")
        unknown = set(body) - {"branches", "op", "dim", "mode"}
        if unknown:
            raise self.fail(line, key, f"unknown keys {sorted(map(str, unknown))}: expected branches, op, dim, mode")
        lines = getattr(body, "key_lines", {})
        branches = yield self.branches(body["branches"], _Key(key, ".branches"), lines.get("branches", line))
        options = {k: body[k] for k in ("op", "dim", "mode") if k in body}
        try:
            block = Merge(branches, merge_name=merge_name, **options)
        except ShapeError as exc:
            raise self.fail(line, key, str(exc)) from None
        self.origins[id(block)] = SpecOrigin(self.path, line)
        return block

    def leaf(self, kind, body, key, line):
        cls = self.types.get(kind)
        if cls is None:
            raise self.fail(line, key, f"unknown layer type {_brief(kind)}: expected one of {', '.join(sorted(self.types))}, "
                            f"or {', '.join(CONTAINERS)}")
        args, kwargs = [], {}
        if isinstance(body, list):
            args = list(body)
        elif isinstance(body, dict):
            kwargs = {k: v for k, v in body.items() if k != "args"}
            args = body.get("args") or []
            if not isinstance(args, list):
                raise self.fail(line, _Key(key, ".args"), f"expected a list of positional arguments, got {_brief(args)}")
        elif body is not None:
            args = [body]
        bad = next((k for k in kwargs if not isinstance(k, str) or not k.isidentifier()), None)
        if bad is not None:
            raise self.fail(line, key, f"{_brief(bad)} is not an argument name")
        args = [_from_json(a) for a in args]
        kwargs = {k: _from_json(v) for k, v in kwargs.items()}
        try:
            with names_as_symbols():  # a string where a size belongs is a symbol in a spec
                layer = cls(*args, **kwargs)
        except TypeError as exc:
            raise self.fail(line, key, f"arguments not understood: {exc}") from None
        except ShapeError as exc:
            raise self.fail(line, key, str(exc)) from None
        self.origins[id(layer)] = SpecOrigin(self.path, line)
        return layer


def _brief(value, width=60):
    """A value for an error message, cut to ``width`` characters (a hostile file may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _from_json(value, depth=0):
    """Lists become tuples (pairs, tables); everything else as read."""
    if isinstance(value, list):
        if depth >= 8:  # no layer argument nests deeper than a table of pairs
            raise ShapeError(f"layer arguments nest more than 8 lists deep: {_brief(value)}")
        return tuple(_from_json(v, depth + 1) for v in value)
    return value


def from_spec(spec_or_path):
    """The network of a spec: a parsed document (a dict) or a .yaml/.yml/.json file."""
    if isinstance(spec_or_path, dict):
        return read_spec(spec_or_path)[2].model
    return load_spec(spec_or_path).model


def read_spec(spec, path="<spec>"):
    """(name, input_shape or None, Network) from a parsed spec document."""
    from ..dims import as_shape

    builder = _Builder(path)
    if not isinstance(spec, dict):
        raise ShapeError(f"{path}: a spec is a mapping with `layers` (or `model`), got {type(spec).__name__}")
    unknown = set(spec) - {"name", "input_shape", "layers", "model", "cnncalc_spec"}
    lines = getattr(spec, "key_lines", {})
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise builder.fail(lines.get(key, _line_of(spec)), key, "unknown key: expected name, input_shape, layers or model")
    if ("layers" in spec) == ("model" in spec):
        raise builder.fail(_line_of(spec), "layers", "give exactly one of `layers` (a list) or `model` (one item)")
    if "layers" in spec:
        if not isinstance(spec["layers"], list):
            raise builder.fail(lines.get("layers", 0), "layers", "expected a list of items")
        model = _drive(builder.sequence(spec["layers"], "layers", lines.get("layers", 0)))
    else:
        model = _drive(builder.item(spec["model"], "model", lines.get("model", 0)))[1]
    shape = spec.get("input_shape")
    if shape is not None:
        if not isinstance(shape, (str, list)):
            raise builder.fail(lines.get("input_shape", 0), "input_shape",
                               f"expected a shape such as 3x32x32 or [3, 32, 32], got {_brief(shape)}")
        try:
            shape = as_shape(shape if isinstance(shape, str) else tuple(shape))
        except ShapeError as exc:
            raise builder.fail(lines.get("input_shape", 0), "input_shape", str(exc)) from None
    name = spec.get("name")
    return (None if name is None else str(name)), shape, Network(model, builder.origins)


def read_document(path, yaml=None):
    """A JSON or YAML file parsed (``files.read_data``: a regular file within the size limit, then
    ``parse_json`` or ``parse_yaml``): spec and homework files alike. ``yaml`` None: YAML unless the
    name ends in .json."""
    text = read_data(path)
    if yaml is None:
        yaml = not str(path).lower().endswith(".json")
    return parse_yaml(text, path) if yaml else parse_json(text, path)


def load_spec(path):
    """A spec file (.yaml, .yml, .json) read into a ``Loaded``."""
    name, shape, network = read_spec(read_document(path), path)
    return Loaded(name or Path(path).stem, str(path), "spec", lambda _shape: network, shape)


# --- network -> spec --------------------------------------------------------------------------------


def _to_json(value):
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if value is Ellipsis:
        return "..."
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if hasattr(value, "free_symbols"):
        if value.is_Symbol:
            return str(value)
        raise ShapeError(f"cannot write the size {value} to a spec: only integers and plain symbols")
    if hasattr(value, "numerator"):
        raise ShapeError(f"cannot write the size {value} to a spec: not an integer")
    raise ShapeError(f"cannot write {value!r} to a spec")


def _leaf_spec(layer):
    kind = layer.type
    if kind not in layer_types():
        raise ShapeError(f"cannot write a {kind} to a spec: not a cnncalc layer type")
    if isinstance(layer, L.Reshape):
        args = [None if v is None else _to_json(v) for v in layer.shape]
        return {kind: {"args": args, "method": layer.method}} if layer.method != "view" else {kind: args}
    if not dataclasses.is_dataclass(layer):
        return kind
    args, kwargs = [], {}
    for f in dataclasses.fields(layer):
        if f.name in _SKIP_FIELDS:
            continue
        value = getattr(layer, f.name)
        if f.name == "stride" and isinstance(layer, (L.MaxPool2d, L.AvgPool2d)) and value == layer.kernel_size:
            continue  # PyTorch's default: the kernel size
        if f.default is dataclasses.MISSING and not f.kw_only:
            args.append(_compact(value))
        elif f.default is dataclasses.MISSING or not _same(value, f.default):
            kwargs[f.name] = _compact(value)
    if not kwargs:
        return {kind: args} if args else kind
    return {kind: {"args": args, **kwargs} if args else kwargs}


def _compact(value):
    """A pair of equal sizes as one number (every pair argument accepts an int), else as JSON."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and not isinstance(value[0], tuple):
        return _to_json(value[0])
    return _to_json(value)


def _same(value, default):
    """A normalised field (pairs as tuples) equal to its default (often a plain int)."""
    if value == default:
        return True
    return isinstance(value, tuple) and len(set(value)) == 1 and value[0] == default and not isinstance(default, tuple)


# _item, _part, _node_spec and _block_spec are generators for ``_drive``: networks nest without limit.


def _item(layer, name, index):
    """One item of a parent's list: the layer, plus its name unless it is the position."""
    spec = yield _node_spec(layer)
    if name != str(index):
        if not isinstance(spec, dict):
            spec = {spec: None}
        spec = dict(spec)
        spec["name"] = name
    return spec


def _part(layer):
    """A residual part or concat branch: a Sequential as a list, anything else as one item."""
    if type(layer) is Sequential:
        items = []
        for i, (name, child) in enumerate(layer.named_children()):
            items.append((yield _item(child, name, i)))
        return items
    return (yield _node_spec(layer))


def _node_spec(layer):
    spec = yield _block_spec(layer)
    if getattr(layer, "merge_name", ""):
        spec["merge_name"] = layer.merge_name
    return spec


def _block_spec(layer):
    if type(layer) is Sequential:
        return {"sequential": (yield _part(layer))}
    if isinstance(layer, Residual):
        body = {"main": (yield _part(layer.main))}
        if layer.shortcut is not None:
            body["shortcut"] = yield _part(layer.shortcut)
        if layer.post is not None:
            body["post"] = yield _part(layer.post)
        if layer.shortcut_name != "shortcut":
            body["shortcut_name"] = layer.shortcut_name
        if layer.post_name != "post":
            body["post_name"] = layer.post_name
        if layer.op != "add":
            body["op"] = layer.op
        return {"residual": body}
    if isinstance(layer, Merge):
        branches = []
        for i, (name, child) in enumerate(layer.named_children()):
            part = yield _part(child)
            if name != str(i):
                part = {"sequential": part, "name": name} if isinstance(part, list) else {**_as_dict(part), "name": name}
            branches.append(part)
        if isinstance(layer, Concat):
            return {"concat": branches}
        body = {"branches": branches, "op": layer.op}
        if layer.dim != 1:
            body["dim"] = layer.dim
        if layer.mode != "nearest":
            body["mode"] = layer.mode
        return {"merge": body}
    if isinstance(layer, Container):
        raise ShapeError(f"cannot write a {type(layer).__name__} container to a spec")
    return _leaf_spec(layer)


def _as_dict(spec):
    return spec if isinstance(spec, dict) else {spec: None}


def to_spec(model, name=None, input_shape=None):
    """A spec document (a dict ready for JSON or YAML) that loads back to the same analysis."""
    doc = {}
    if name is not None:
        doc["name"] = str(name)
    if input_shape is not None:
        from ..dims import as_shape

        doc["input_shape"] = [_to_json(d) for d in as_shape(input_shape)]
    if type(model) is Sequential:
        doc["layers"] = _drive(_part(model))
    else:
        doc["model"] = _drive(_node_spec(model))
    return doc


def nesting(doc) -> int:
    """How many lists and mappings deep ``doc`` nests (the document itself is level 1)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def dumps(doc) -> str:
    """A spec document as JSON text (indented), refused when it nests deeper than a spec file may be read
    (MAX_DEPTH): what cannot be loaded back is not written."""
    MAX_DEPTH.check(nesting(doc), "--format spec", "the spec would nest")
    return json.dumps(doc, indent=2)


__all__ = ["from_spec", "read_spec", "load_spec", "read_document", "to_spec", "dumps", "parse_json", "parse_yaml",
           "layer_types"]
