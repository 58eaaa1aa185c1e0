"""Containers: Sequential, Residual (main + shortcut, added) and Concat (branches joined along channels).

A network is a tree of containers over leaf layers. ``flow(model)`` turns the tree, without recursion,
into the data flow every consumer walks: a tuple of ``Node``s in execution order, each a leaf layer or a
block's merge, naming the earlier nodes whose outputs it reads. Analysis, the NumPy runner, drawing,
tracing and diagnosis all loop over it (forward, or in reverse for a backward pass); none of them walks
the tree again, so networks of any depth work.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from .dims import known
from .errors import ShapeError
from .layers import Identity, Layer

_LEAF, _SAVE, _NEXT, _MERGE = range(4)
INPUT = -1  # a Node input naming the model's input


def _check_layer(layer, where):
    if not isinstance(layer, Layer):
        raise ShapeError(f"{where}: expected a cnncalc layer, got {type(layer).__name__}")
    return layer


def _named(items, where):
    """Children as ((name, layer), ...) from positional layers or one mapping, as torch.nn.Sequential."""
    if len(items) == 1 and isinstance(items[0], (dict, OrderedDict)):
        pairs = [(str(k), v) for k, v in items[0].items()]
    else:
        pairs = [(str(i), v) for i, v in enumerate(items)]
    return tuple((name, _check_layer(layer, f"{where} child {name!r}")) for name, layer in pairs)


class Container(Layer):
    """A layer made of named child layers; immutable once built."""

    is_leaf = False
    _children: tuple
    merge_name = ""  # Residual/Concat: the merge row's name under the block's path (default: the block's)

    def named_children(self):
        return self._children

    def children(self):
        return tuple(layer for _, layer in self._children)

    def __iter__(self):
        return iter(self.children())

    def __len__(self):
        return len(self._children)

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._children[key][1]
        for name, layer in self._children:
            if name == key:
                return layer
        raise KeyError(key)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        for child, layer in self.__dict__.get("_children", ()):
            if child == name:
                return layer
        raise AttributeError(f"{type(self).__name__} has no child or attribute {name!r}")

    # Equality, hashing, repr and freeze walk the tree with explicit stacks (no recursion), so a
    # 10,000-deep nesting works like a shallow one.

    def _key(self):
        """This node's own data (not its children), compared and hashed with the children's."""
        return (type(self), tuple(name for name, _ in self._children))

    def _kids(self):
        return tuple(layer for _, layer in self._children)

    def _rebuild(self, kids):
        """The same container over new children (in ``_kids`` order)."""
        return type(self)(OrderedDict((name, kid) for (name, _), kid in zip(self._children, kids)))

    def __eq__(self, other):
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if not (isinstance(a, Container) and isinstance(b, Container)):
                if a != b:
                    return False
                continue
            if a._key() != b._key() or len(a._kids()) != len(b._kids()):
                return False
            stack.extend(zip(a._kids(), b._kids()))
        return True

    def __hash__(self):
        return hash(_map_tree(self, hash, lambda node, kids: hash((node._key(), tuple(kids)))))

    def freeze(self):
        return _map_tree(self, lambda leaf: leaf.freeze(), lambda node, kids: node._rebuild(kids))

    @property
    def params(self):
        return sum((leaf.params for leaf in unique_leaves(self)), 0)

    @property
    def buffers(self):
        return sum((leaf.buffers for leaf in unique_leaves(self)), 0)

    def _labelled(self):
        """(label, child) pairs shown by repr."""
        return self._children

    def __repr__(self):
        lines = []
        work = [(self, 0, "")]  # (node, depth, label) or a closing line
        while work:
            item = work.pop()
            if isinstance(item, str):
                lines.append(item)
                continue
            node, depth, label = item
            pad = "  " * depth
            if not isinstance(node, Container):
                lines.append(pad + label + repr(node).replace("\n", "\n" + pad))
                continue
            lines.append(f"{pad}{label}{type(node).__name__}(")
            work.append(pad + ")")
            work.extend((child, depth + 1, f"({name}): ") for name, child in reversed(node._labelled()))
        return "\n".join(lines)


class Sequential(Container):
    """Layers applied one after the other: ``Sequential(a, b)`` or ``Sequential(OrderedDict(name=a, ...))``."""

    def __init__(self, *layers):
        self._children = _named(layers, "Sequential")

    @classmethod
    def from_pairs(cls, pairs) -> Sequential:
        """A Sequential of (name, layer) pairs whose names may repeat (a module applied twice keeps its name)."""
        seq = cls()
        seq._children = tuple((str(name), _check_layer(layer, f"Sequential child {name!r}")) for name, layer in pairs)
        return seq

    def steps(self, prefix):
        return [(layer, _join(prefix, name)) for name, layer in self._children]


class Residual(Container):
    """output = main(x) + shortcut(x) (identity shortcut when None), then ``post`` (e.g. the block's ReLU).

    The main path's name is hidden (its children read ``layer1.0.conv1``, as in torchvision); the
    shortcut and post layer are named ``shortcut_name`` and ``post_name``. With ``op="mul"`` the
    branches are multiplied instead (a squeeze-and-excitation gate: x * sigmoid(fc(pool(x)))), with
    PyTorch's broadcasting either way.
    """

    def __init__(self, main, shortcut=None, post=None, *, shortcut_name="shortcut", post_name="post", merge_name="",
                 op="add"):
        if op not in ("add", "mul"):
            raise ShapeError(f"Residual: op must be 'add' or 'mul', got {op!r}")
        self.op = op
        self.merge_name = merge_name
        self.main = _check_layer(main, "Residual main")
        self.shortcut = None if shortcut is None else _check_layer(shortcut, "Residual shortcut")
        self.post = None if post is None else _check_layer(post, "Residual post")
        self.shortcut_name = shortcut_name
        self.post_name = post_name
        children = [("_main", main)]
        if shortcut is not None:
            children.append((shortcut_name, shortcut))
        if post is not None:
            children.append((post_name, post))
        self._children = tuple(children)

    def _key(self):
        return (Residual, self.shortcut_name, self.post_name, self.shortcut is None, self.post is None, self.merge_name,
                self.op)

    def _rebuild(self, kids):
        kids = list(kids)
        main = kids.pop(0)
        shortcut = None if self.shortcut is None else kids.pop(0)
        post = None if self.post is None else kids.pop(0)
        return Residual(main, shortcut, post, shortcut_name=self.shortcut_name, post_name=self.post_name,
                        merge_name=self.merge_name, op=self.op)

    def _labelled(self):
        return (("main", self.main),) + self._children[1:]

    def merge_kind(self):
        return "Add" if self.op == "add" else "Mul"

    def merge(self, shapes):
        """The shape of the branches added (or multiplied), with PyTorch's broadcasting."""
        what = "residual add" if self.op == "add" else "element-wise product"
        first = shapes[0]
        out = list(first)
        for other in shapes[1:]:
            if len(other) != len(first) or any(
                known(a) and known(b) and a != b and a != 1 and b != 1 for a, b in zip(out, other)
            ):
                raise ShapeError(f"{what} of mismatched shapes {_text(first)} and {_text(other)}{_projection_hint(other, first)}")
            out = [b if a == 1 else a for a, b in zip(out, other)]
        return tuple(out)

    def requires(self, shapes):
        """(got, expected) sizes the merge needs equal, where neither broadcasts (for assumptions)."""
        first = shapes[0]
        return tuple((got, expected) for other in shapes[1:] for got, expected in zip(other, first)
                     if not (got == 1 or expected == 1))


class Concat(Container):
    """Branches applied to the same input, outputs joined along channels (Inception, DenseNet)."""

    def __init__(self, *branches, merge_name=""):
        self.merge_name = merge_name
        self._children = _named(branches, "Concat")
        if not self._children:
            raise ShapeError("Concat needs at least one branch")

    def _key(self):
        return super()._key() + (self.merge_name,)

    def _rebuild(self, kids):
        return Concat(OrderedDict((name, kid) for (name, _), kid in zip(self._children, kids)), merge_name=self.merge_name)

    def merge_kind(self):
        return "Concat"

    def merge(self, shapes):
        """The branches joined along channels: the sizes after the channel must match."""
        first = shapes[0]
        for other in shapes[1:]:
            if len(other) != len(first) or len(first) < 1 or any(
                known(a) and known(b) and a != b for a, b in zip(first[1:], other[1:])
            ):
                raise ShapeError(
                    f"cannot concatenate {_text(first)} and {_text(other)} along channels: sizes after the channel must match"
                )
        return (sum((s[0] for s in shapes), 0),) + tuple(first[1:])

    def requires(self, shapes):
        """(got, expected) sizes after the channels that must be equal (for assumptions)."""
        first = shapes[0]
        return tuple(pair for other in shapes[1:] for pair in zip(other[1:], first[1:]))


def _text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _projection_hint(shortcut, main):
    """Suggest the 1x1 projection that makes a shortcut of shape ``shortcut`` match ``main``."""
    if len(shortcut) != 3 or len(main) != 3 or not all(known(d) for d in shortcut + main):
        return ""
    stride = shortcut[1] // main[1] if main[1] else 1
    if stride < 1 or -(-shortcut[1] // stride) != main[1]:
        return ""
    return f": use a 1x1 projection shortcut Conv2d({shortcut[0]}, {main[0]}, kernel_size=1, stride={stride})"


def _join(prefix, name):
    """A child's dotted path. A name that is empty or starts with "_" is hidden: the child takes the
    parent's path, so its own children read as the parent's (``denselayer1.norm1``, ``layer1.0.conv1``)."""
    if not name or name[0] == "_":
        return prefix
    return f"{prefix}.{name}" if prefix else name


def _program(model):
    """The tree as a step list without recursion: (_LEAF, layer, name) applies a layer; (_SAVE,)
    remembers the input of a branching block; (_NEXT,) ends a branch and restarts from that input;
    (_MERGE, block, name, n) joins the last n branches."""
    steps = []
    # Work items: ("node", layer, name) or ("emit", step). Pushed in reverse, popped in order.
    work = [("node", model, "")]
    while work:
        kind, item, *rest = work.pop()
        if kind == "emit":
            steps.append(item)
            continue
        layer, name = item, rest[0]
        if isinstance(layer, Sequential):
            work.extend(("node", child, child_name) for child, child_name in reversed(layer.steps(name)))
        elif isinstance(layer, Residual):
            todo = [("emit", (_SAVE,))]
            todo.append(("node", layer.main, name))
            todo.append(("emit", (_NEXT,)))
            if layer.shortcut is not None:
                todo.append(("node", layer.shortcut, _join(name, layer.shortcut_name)))
            todo.append(("emit", (_MERGE, layer, _join(name, layer.merge_name), 2)))
            if layer.post is not None:
                todo.append(("node", layer.post, _join(name, layer.post_name)))
            work.extend(reversed(todo))
        elif isinstance(layer, Concat):
            todo = [("emit", (_SAVE,))]
            for i, (child_name, child) in enumerate(layer.named_children()):
                if i:
                    todo.append(("emit", (_NEXT,)))
                todo.append(("node", child, _join(name, child_name)))
            todo.append(("emit", (_MERGE, layer, _join(name, layer.merge_name), len(layer))))
            work.extend(reversed(todo))
        elif isinstance(layer, Container):
            raise ShapeError(f"{name or type(layer).__name__}: unknown container type {type(layer).__name__}")
        else:
            steps.append((_LEAF, layer, name))
    return steps


class Node(NamedTuple):
    """One step of the data flow: a leaf layer applied to one value, or the merge closing a block.

    ``inputs`` are the indices of the nodes whose outputs it reads (``INPUT`` for the model's input):
    one for a leaf, one per branch in order for a merge. A merge's ``fork`` is the node whose output
    every branch starts from, and ``spans`` give, per branch, the range [first, stop) of the nodes that
    branch consists of (empty for an identity shortcut).
    """

    layer: Layer
    name: str
    inputs: tuple
    fork: int = INPUT
    spans: tuple = ()

    @property
    def is_merge(self) -> bool:
        return not self.layer.is_leaf


def flow(model) -> tuple:
    """The data flow of ``model`` as a tuple of ``Node``s (see the module docstring); cached per container."""
    cached = getattr(model, "_flow", None)
    if cached is not None:
        return cached
    nodes: list = []
    current = INPUT
    forks = []  # per open block: [its input, where its current branch starts]
    ended = []  # finished branches of the open blocks: (last node, span)
    for step in _program(model):
        op = step[0]
        if op == _LEAF:
            nodes.append(Node(step[1], step[2], (current,)))
            current = len(nodes) - 1
        elif op == _SAVE:
            forks.append([current, len(nodes)])
        elif op == _NEXT:
            ended.append((current, (forks[-1][1], len(nodes))))
            current, forks[-1][1] = forks[-1][0], len(nodes)
        else:
            n = step[3]
            branches = ended[len(ended) - (n - 1):] + [(current, (forks[-1][1], len(nodes)))]
            del ended[len(ended) - (n - 1):]
            fork = forks.pop()[0]
            nodes.append(Node(step[1], step[2], tuple(b[0] for b in branches), fork, tuple(b[1] for b in branches)))
            current = len(nodes) - 1
    result = tuple(nodes)
    if isinstance(model, Container):
        object.__setattr__(model, "_flow", result)
    return result


def unique_leaves(model) -> list:
    """Leaf layers, each object once (a layer used twice shares its parameters, as in PyTorch)."""
    seen = set()
    out = []
    for node in flow(model):
        if not node.is_merge and id(node.layer) not in seen:
            seen.add(id(node.layer))
            out.append(node.layer)
    return out


def _map_tree(root, leaf_fn, node_fn):
    """Fold a tree bottom-up without recursion: leaf_fn(leaf), node_fn(container, folded children).

    A layer object used in several places is folded once, so shared layers stay shared.
    """
    done = {}
    work = [(root, False)]
    while work:
        node, expanded = work.pop()
        if id(node) in done:
            continue
        if not isinstance(node, Container):
            done[id(node)] = leaf_fn(node)
        elif expanded:
            done[id(node)] = node_fn(node, [done[id(kid)] for kid in node._kids()])
        else:
            work.append((node, True))
            work.extend((kid, False) for kid in node._kids() if id(kid) not in done)
    return done[id(root)]


def container_types(model):
    """Dotted path -> type name of every container with a visible path (a hidden child lends its path away)."""
    types = {}
    work = [(model, "")]
    while work:
        layer, path = work.pop()
        if isinstance(layer, Container):
            types.setdefault(path, type(layer).__name__)
            work.extend((child, _join(path, name)) for name, child in layer.named_children())
    return types


__all__ = ["Sequential", "Residual", "Concat", "Container", "Identity", "Node", "INPUT", "flow", "unique_leaves"]
