"""The forward data flow recorded by a reader (the source interpreter, or torch.fx for live modules)
turned into cnncalc containers: chains of leaves, residual adds/products and concatenations become
``Sequential`` / ``Residual`` / ``Concat``, named as ``named_modules()`` names them."""

from __future__ import annotations

from collections import OrderedDict

from ..errors import ShapeError
from ..graph import INPUT, Concat, Merge, Residual, Sequential, flow
from ..layers import Identity

__all__ = ["FlowNode", "Network", "Recorder", "build", "shape_of", "to_network"]


class FlowNode:
    """One step of the forward data flow. ``dom`` is its immediate dominator (the latest node every
    path from the input passes through: a merge's fork), ``depth`` its depth in the dominator tree."""

    __slots__ = ("id", "kind", "parents", "layer", "name", "origin", "scope", "dom", "depth", "shape", "op")

    def __init__(self, id_, kind, parents, layer=None, name="", origin=None, scope="", op=None):
        self.id = id_
        self.kind = kind  # "input", "leaf", "add", "mul", "cat" (channels), or "merge" (any other ``graph.Merge``)
        self.op = op  # a "merge": dict(op=..., dim=..., mode=...) for graph.Merge
        self.parents = parents
        self.layer = layer
        self.name = name
        self.origin = origin
        self.scope = scope
        dom = parents[0] if parents else None
        for p in parents[1:]:
            dom = _intersect(dom, p)
        self.dom = dom
        self.depth = 0 if dom is None else dom.depth + 1
        self.shape = _UNSET


_UNSET = object()


def shape_of(node, input_shape):
    """The unbatched output shape of ``node`` for the model input ``input_shape`` (computed once per node,
    without recursion); None where a layer refuses its input (the analysis names it later)."""
    todo = [node]
    while todo:
        current = todo[-1]
        if current.shape is not _UNSET:
            todo.pop()
            continue
        pending = [p for p in current.parents if p.shape is _UNSET]
        if pending:
            todo.extend(pending)
            continue
        todo.pop()
        current.shape = _node_shape(current, input_shape)
    return node.shape


def _block_shape(block, shape):
    """The output shape of a container on ``shape`` (its own data flow, shapes only)."""
    outs = []
    for step in flow(block):
        received = [shape if q == INPUT else outs[q] for q in step.inputs]
        outs.append(tuple(step.layer.merge(tuple(received)) if step.is_merge else step.layer.infer(received[0])))
    return outs[-1] if outs else tuple(shape)


def _node_shape(node, input_shape):
    if node.kind == "input":
        return tuple(input_shape)
    shapes = [p.shape for p in node.parents]
    if any(s is None for s in shapes):
        return None
    try:
        if node.kind == "leaf":
            if not node.layer.is_leaf:  # a block converted whole (a Keras layer with its activation)
                return _block_shape(node.layer, shapes[0])
            return tuple(node.layer.infer(shapes[0]))
        if node.kind == "cat":
            return Concat(Identity()).merge(shapes)
        if node.kind == "merge":
            return Merge(*[Identity() for _ in shapes], **node.op).merge(shapes)
        return Residual(Identity(), op=node.kind).merge(shapes)
    except (ShapeError, TypeError, ValueError, ZeroDivisionError):
        return None


def _intersect(a, b):
    """The nearest common dominator of ``a`` and ``b`` (None when they come from different inputs)."""
    while a is not b:
        if a is None or b is None:
            return None
        if a.depth >= b.depth:
            a = a.dom
        else:
            b = b.dom
    return a


class Recorder:
    """The nodes of one recorded forward, in order, with the index ``fold_cat`` consults."""

    def __init__(self):
        self.nodes = []
        self._cats = {}  # tuple of parent ids -> the latest concatenation of exactly those

    def new(self, kind, parents, **fields):
        if kind == "cat":
            parents = self.fold_cat(parents)
        node = FlowNode(len(self.nodes), kind, parents, **fields)
        self.nodes.append(node)
        if kind == "cat":
            self._cats[tuple(p.id for p in parents)] = node
        return node

    def fold_cat(self, parents):
        """Reuse an earlier concatenation of a prefix of ``parents``: cat([x0, x1, x2]) after
        m = cat([x0, x1]) is cat([m, x2]). torchvision's DenseNet concatenates the whole feature list in
        every layer; folded, each layer is one ``Concat(input, new_features)`` and nothing is counted twice."""
        parents = list(parents)
        while len(parents) > 2:
            ids = [p.id for p in parents]
            prefix = next((self._cats[key] for j in range(len(ids) - 1, 1, -1)
                           if (key := tuple(ids[:j])) in self._cats), None)
            if prefix is None:
                break
            parents = [prefix] + parents[len(prefix.parents):]
        return parents


def _not_a_chain(node):
    where = node.origin.where if node.origin else "forward"
    return ShapeError(f"{where}: the forward data flow is not a chain of residual/concat blocks "
                      "(a tensor is used again after a later branch point)")


def build(node, stop, seen=None):
    """Items from ``stop`` (excluded) to ``node``: ("leaf", node) or ("block", node, branches).
    Linear in the number of nodes: each node is visited once (a node reached twice means the graph is
    not a nesting of blocks, which is refused rather than counted twice)."""
    seen = set() if seen is None else seen
    items = []
    while node is not stop:
        if node.kind == "input" or node.id < stop.id or node.id in seen:
            raise _not_a_chain(node)
        seen.add(node.id)
        if node.kind == "leaf":
            items.append(("leaf", node))
            node = node.parents[0]
            continue
        fork = node.dom
        if fork is None:
            raise ShapeError(f"{node.origin.where if node.origin else 'forward'}: the merged tensors do not come from the same input")
        items.append(("block", node, [build(p, fork, seen) for p in node.parents]))
        node = fork
    items.reverse()
    return items


def _leaf_names(items):
    for item in items:
        if item[0] == "leaf":
            yield item[1].name
        else:
            for branch in item[2]:
                yield from _leaf_names(branch)


def _common_prefix(names):
    parts = [n.split(".") for n in names]
    if not parts:
        return ""
    prefix = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        prefix.append(group[0])
    if prefix and any(len(p) == len(prefix) for p in parts):
        prefix.pop()  # a leaf's own name is not a block name
    return ".".join(prefix)


def _relative(name, prefix):
    if not prefix:
        return name
    if name == prefix:
        return ""
    return name[len(prefix) + 1:]


def _under(name, prefix):
    return not prefix or name.startswith(prefix + ".")


def sequential_of(pairs):
    """A Sequential whose child names may repeat (a module applied twice keeps its name)."""
    return Sequential.from_pairs(pairs)


class Network:
    """The converted model and where each layer and merge was written (by object id)."""

    def __init__(self, model, origins):
        self.model = model
        self.origins = origins


def to_network(items):
    origins = {}
    model = sequential_of(_assemble(items, "", origins))
    return Network(model, origins)


def _assemble(items, prefix, origins):
    pairs = []
    for item in items:
        node = item[1]
        if item[0] == "leaf":
            origins.setdefault(id(node.layer), node.origin)
            pairs.append((_relative(node.name, prefix), node.layer))
            continue
        branches = item[2]
        names = [n for b in branches for n in _leaf_names(b)]
        scope = node.scope  # None when unknown (torch.fx): the block is named by its leaves' common path
        name = scope if scope is not None and all(_under(n, scope) for n in names) and _under(scope, prefix) else _common_prefix(names)
        if not _under(name, prefix) and name != prefix:
            name = prefix
        seqs = [sequential_of(_assemble(b, name, origins)) for b in branches]
        # a merge in a module's forward whose branches reach outside it (a U-Net's Up.forward(x1, x2)):
        # the block is named by its leaves, its merge row by that module
        merge_name = _relative(scope, name) if scope and scope != name and _under(scope, name) else ""
        if node.kind in ("add", "mul"):
            (main, short), (main_seq, short_seq) = branches, seqs
            if not main and short:  # x + f(x), x * gate(x): the computed branch is the main path
                main_seq, short_seq, short = short_seq, main_seq, main
            block = Residual(main_seq, short_seq if short else None, shortcut_name="_shortcut", merge_name=merge_name,
                             op=node.kind)
        elif node.kind == "merge":
            block = Merge(OrderedDict((f"_{i}", s) for i, s in enumerate(seqs)), merge_name=merge_name, **node.op)
        else:
            block = Concat(OrderedDict((f"_{i}", s) for i, s in enumerate(seqs)), merge_name=merge_name)
        origins[id(block)] = node.origin
        pairs.append((_relative(name, prefix), block))
    return pairs
