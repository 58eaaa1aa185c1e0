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
from ..errors import ShapeError
from ..graph import Concat, Container, Merge, Residual, Sequential
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
    try:
        import yaml
    except ImportError:
        raise ShapeError(f"{path}: reading YAML needs PyYAML: pip install 'cnncalc[yaml]' (or use JSON)") from None

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        out = LocDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def sequence(loader, node):
        out = LocList(loader.construct_object(n, deep=True) for n in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [n.start_mark.line + 1 for n in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: safe loading only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ShapeError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


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

    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        s, end = s_and_end
        pairs, new_end = json.decoder.JSONObject(s_and_end, strict, scan_once, None, list, memo)
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

        values, new_end = json.decoder.JSONArray(s_and_end, recording)
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


class _Builder:
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
            return None, self.sequence(value, key, line)
        if not isinstance(value, dict):
            raise self.fail(line, key, f"expected a layer name, a list or a mapping, got {value!r}")
        line = _line_of(value, line)
        name = value.get("name")
        if name is not None and not isinstance(name, (str, int)):
            raise self.fail(line, f"{key}.name", f"a name must be a string, got {name!r}")
        kinds = [k for k in value if k not in ("name", "merge_name")]
        if len(kinds) != 1:
            raise self.fail(line, key, f"expected one layer type (and an optional name), got keys {sorted(map(str, kinds))}")
        merge_name = value.get("merge_name")
        if merge_name is not None and kinds[0] not in ("residual", "concat", "merge"):
            raise self.fail(line, f"{key}.merge_name", "only a residual, a concat or a merge has a merge row to name")
        kind = kinds[0]
        body = value[kind]
        where = f"{key}.{kind}"
        body_line = getattr(value, "key_lines", {}).get(kind, line)
        if kind == "sequential":
            if not isinstance(body, list):
                raise self.fail(body_line, where, "expected a list of items")
            layer = self.sequence(body, where, body_line)
        elif kind == "residual":
            layer = self.residual(body, where, body_line, str(merge_name or ""))
        elif kind == "concat":
            layer = self.concat(body, where, body_line, str(merge_name or ""))
        elif kind == "merge":
            layer = self.merge(body, where, body_line, str(merge_name or ""))
        else:
            layer = self.leaf(kind, body, where, body_line)
        return (None if name is None else str(name)), layer

    def sequence(self, items, key, line):
        pairs = []
        lines = getattr(items, "item_lines", [])
        for i, value in enumerate(items):
            item_line = lines[i] if i < len(lines) else line
            name, layer = self.item(value, f"{key}[{i}]", item_line)
            pairs.append((str(i) if name is None else name, layer))
        return sequential_of(pairs)

    def part(self, value, key, line):
        """A residual's main/shortcut/post or a concat branch: a list is a Sequential, else one item."""
        if value is None:
            return None
        if isinstance(value, list):
            return self.sequence(value, key, _line_of(value, line))
        return self.item(value, key, line)[1]

    def residual(self, body, key, line, merge_name=""):
        if not isinstance(body, dict) or "main" not in body:
            raise self.fail(line, key, "expected a mapping with main (and optional shortcut, post)")
        unknown = set(body) - {"main", "shortcut", "post", "shortcut_name", "post_name", "op"}
        if unknown:
            raise self.fail(line, key, f"unknown keys {sorted(unknown)}: expected main, shortcut, post, shortcut_name, post_name, op")
        if body.get("op", "add") not in ("add", "mul"):
            raise self.fail(line, f"{key}.op", f"op must be add or mul, got {body.get('op')!r}")
        lines = getattr(body, "key_lines", {})
        parts = {k: self.part(body.get(k), f"{key}.{k}", lines.get(k, line)) for k in ("main", "shortcut", "post")}
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
            pairs.append((str(i) if name is None else str(name), self.part(value, f"{key}[{i}]", item_line)))
        if len({n for n, _ in pairs}) != len(pairs):
            raise self.fail(line, key, "branch names must differ")
        return OrderedDict(pairs)

    def concat(self, body, key, line, merge_name=""):
        block = Concat(self.branches(body, key, line), merge_name=merge_name)
        self.origins[id(block)] = SpecOrigin(self.path, line)
        return block

    def merge(self, body, key, line, merge_name=""):
        if not isinstance(body, dict) or "branches" not in body:
            raise self.fail(line, key, "expected a mapping with branches (and op, dim, mode)")
        unknown = set(body) - {"branches", "op", "dim", "mode"}
        if unknown:
            raise self.fail(line, key, f"unknown keys {sorted(unknown)}: expected branches, op, dim, mode")
        lines = getattr(body, "key_lines", {})
        branches = self.branches(body["branches"], f"{key}.branches", lines.get("branches", line))
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
            raise self.fail(line, key, f"unknown layer type {kind!r}: expected one of {', '.join(sorted(self.types))}, "
                            f"or {', '.join(CONTAINERS)}")
        args, kwargs = [], {}
        if isinstance(body, list):
            args = list(body)
        elif isinstance(body, dict):
            kwargs = {k: v for k, v in body.items() if k != "args"}
            args = list(body.get("args") or [])
        elif body is not None:
            args = [body]
        args = [_from_json(a) for a in args]
        kwargs = {str(k): _from_json(v) for k, v in kwargs.items()}
        try:
            layer = cls(*args, **kwargs)
        except TypeError as exc:
            raise self.fail(line, key, f"arguments not understood: {exc}") from None
        except ShapeError as exc:
            raise self.fail(line, key, str(exc)) from None
        self.origins[id(layer)] = SpecOrigin(self.path, line)
        return layer


def _from_json(value):
    """Lists become tuples (pairs, tables); everything else as read."""
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
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
        model = builder.sequence(spec["layers"], "layers", lines.get("layers", 0))
    else:
        model = builder.item(spec["model"], "model", lines.get("model", 0))[1]
    shape = spec.get("input_shape")
    if shape is not None:
        try:
            shape = as_shape(shape if isinstance(shape, str) else tuple(shape))
        except (ShapeError, TypeError) as exc:
            raise builder.fail(lines.get("input_shape", 0), "input_shape", str(exc)) from None
    name = spec.get("name")
    return (None if name is None else str(name)), shape, Network(model, builder.origins)


def load_spec(path):
    """A spec file (.yaml, .yml, .json) read into a ``Loaded``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ShapeError(f"{path}: cannot read: {exc.strerror}") from None
    data = parse_json(text, path) if str(path).lower().endswith(".json") else parse_yaml(text, path)
    name, shape, network = read_spec(data, path)
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


def _item(layer, name, index):
    """One item of a parent's list: the layer, plus its name unless it is the position."""
    spec = _node_spec(layer)
    if name != str(index):
        if not isinstance(spec, dict):
            spec = {spec: None}
        spec = dict(spec)
        spec["name"] = name
    return spec


def _part(layer):
    """A residual part or concat branch: a Sequential as a list, anything else as one item."""
    if type(layer) is Sequential:
        return [_item(child, name, i) for i, (name, child) in enumerate(layer.named_children())]
    return _node_spec(layer)


def _node_spec(layer):
    spec = _block_spec(layer)
    if getattr(layer, "merge_name", ""):
        spec["merge_name"] = layer.merge_name
    return spec


def _block_spec(layer):
    if type(layer) is Sequential:
        return {"sequential": _part(layer)}
    if isinstance(layer, Residual):
        body = {"main": _part(layer.main)}
        if layer.shortcut is not None:
            body["shortcut"] = _part(layer.shortcut)
        if layer.post is not None:
            body["post"] = _part(layer.post)
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
            part = _part(child)
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
        doc["layers"] = _part(model)
    else:
        doc["model"] = _node_spec(model)
    return doc


__all__ = ["from_spec", "read_spec", "load_spec", "to_spec", "parse_json", "parse_yaml", "layer_types"]
