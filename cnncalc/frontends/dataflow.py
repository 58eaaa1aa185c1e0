"""The forward data flow recorded by a reader (the source interpreter, or torch.fx for live modules)
turned into cnncalc containers: chains of leaves, residual adds/products and concatenations become
``Sequential`` / ``Residual`` / ``Concat``, named as ``named_modules()`` names them."""

from __future__ import annotations

from collections import OrderedDict

from ..errors import ShapeError
from ..graph import Concat, Residual, Sequential

__all__ = ["FlowNode", "Network", "build", "fold_cat", "to_network"]


class FlowNode:
    """One step of the forward data flow."""

    __slots__ = ("id", "kind", "parents", "layer", "name", "origin", "scope")

    def __init__(self, id_, kind, parents, layer=None, name="", origin=None, scope=""):
        self.id = id_
        self.kind = kind  # "input", "leaf", "add", "mul", "cat"
        self.parents = parents
        self.layer = layer
        self.name = name
        self.origin = origin
        self.scope = scope




def fold_cat(parents, nodes):
    """Reuse an earlier concatenation of a prefix of ``parents``: cat([x0, x1, x2]) after
    m = cat([x0, x1]) is cat([m, x2]). torchvision's DenseNet concatenates the whole feature list in
    every layer; folded, each layer is one ``Concat(input, new_features)`` and nothing is counted twice."""
    while len(parents) > 2:
        prefix = next((n for n in reversed(nodes) if n.kind == "cat" and 1 < len(n.parents) < len(parents)
                       and all(a is b for a, b in zip(n.parents, parents))), None)
        if prefix is None:
            break
        parents = [prefix] + parents[len(prefix.parents):]
    return parents


def _ancestors(node):
    seen, todo = {node.id: node}, [node]
    while todo:
        for p in todo.pop().parents:
            if p.id not in seen:
                seen[p.id] = p
                todo.append(p)
    return seen


def build(node, stop):
    """Items from ``stop`` (excluded) to ``node``: ("leaf", node) or ("block", node, branches)."""
    items = []
    while node is not stop:
        if node.id < stop.id or node.kind == "input":
            where = node.origin.where if node.origin else "forward"
            raise ShapeError(f"{where}: the forward data flow is not a chain of residual/concat blocks (a branch reaches back past its block's input)")
        if node.kind == "leaf":
            items.append(("leaf", node))
            node = node.parents[0]
            continue
        common = None
        for p in node.parents:
            ids = set(_ancestors(p))
            common = ids if common is None else common & ids
        if not common:
            raise ShapeError(f"{node.origin.where}: the merged tensors do not come from the same input")
        fork_id = max(common)
        fork = next(n for p in node.parents for i, n in _ancestors(p).items() if i == fork_id)
        items.append(("block", node, [build(p, fork) for p in node.parents]))
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
        else:
            block = Concat(OrderedDict((f"_{i}", s) for i, s in enumerate(seqs)), merge_name=merge_name)
        origins[id(block)] = node.origin
        pairs.append((_relative(name, prefix), block))
    return pairs
