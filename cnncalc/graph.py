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

from .dims import known, product
from .formulas import attention_macs, matmul_macs
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
    merge_name = ""  # Residual/Merge: the merge row's name under the block's path (default: the block's)

    def merge_macs(self, shapes: tuple, out: tuple):
        """MACs of the merge itself (a matrix product's; adds and joins have none)."""
        return 0

    def merge_rf(self, fields: list, shapes: tuple):
        """The receptive field leaving the merge, from the branches' (none of them None): their union
        where the branches sit side by side, None where the merge mixes the spatial axes."""
        return _union(fields)

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
        return _broadcast(shapes, "residual add" if self.op == "add" else "element-wise product")

    def requires(self, shapes):
        """(got, expected) sizes the merge needs equal, where neither broadcasts (for assumptions)."""
        return _broadcast_requires(shapes)


_MERGE_KINDS = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "cat": "Concat", "stack": "Stack",
                "matmul": "MatMul", "attention": "Attention", "resize": "Resize", "side": "Side"}
_RESIZE_MODES = ("nearest", "bilinear", "bicubic", "linear", "trilinear", "area")
_ELEMENTWISE = {"add": "sum", "sub": "difference", "mul": "element-wise product", "div": "quotient"}


class Merge(Container):
    """Branches applied to the same input, their outputs combined by ``op``:

    - ``add``, ``sub``, ``mul``, ``div``: element-wise, with PyTorch's broadcasting;
    - ``cat``, ``stack``: joined along ``dim`` (batched numbering: 1 is the channels);
    - ``matmul``: ``a @ b`` of two branches, batched over the leading axes (MACs = batch*n*k*m);
    - ``attention``: ``F.scaled_dot_product_attention(q, k, v)`` of three branches (MACs =
      batch*L*S*(E + E_v));
    - ``resize``: the first branch interpolated (``mode``) to the spatial size of the second,
      ``F.interpolate(x, size=y.shape[-2:])`` (a segmentation head resized to its input);
    - ``side``: the first branch passes on unchanged; the others compute tensors the next layer reads
      besides it (Swin V2's relative position bias, made by an MLP from a buffer, for its window
      attention). A dependency, no arithmetic: the first branch's receptive field passes.

    A matrix product, attention or resize mixes its positions: the receptive field ends there.
    """

    def __init__(self, *branches, op="cat", dim=1, mode="nearest", merge_name=""):
        if op not in _MERGE_KINDS:
            raise ShapeError(f"Merge: op must be one of {', '.join(_MERGE_KINDS)}, got {op!r}")
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ShapeError(f"Merge: dim must be an integer, got {dim!r}")
        if mode not in _RESIZE_MODES:
            raise ShapeError(f"Merge: mode must be one of {', '.join(_RESIZE_MODES)}, got {mode!r}")
        self.op = op
        self.dim = dim
        self.mode = mode
        self.merge_name = merge_name
        self._children = _named(branches, type(self).__name__)
        if not self._children:
            raise ShapeError(f"{type(self).__name__} needs at least one branch")
        needed = {"matmul": 2, "attention": 3, "resize": 2}.get(op)
        if needed is not None and len(self._children) != needed:
            raise ShapeError(f"Merge: op {op!r} joins {needed} branches, got {len(self._children)}")

    def _key(self):
        return super()._key() + (self.merge_name, self.op, self.dim, self.mode)

    def _rebuild(self, kids):
        named = OrderedDict((name, kid) for (name, _), kid in zip(self._children, kids))
        return Merge(named, op=self.op, dim=self.dim, mode=self.mode, merge_name=self.merge_name)

    def merge_kind(self):
        return _MERGE_KINDS[self.op]

    def _axis(self, shapes, extra=0):
        """The merge's dim as an unbatched axis of inputs of the first branch's rank (+ ``extra`` for stack)."""
        rank = len(shapes[0]) + 1 + extra
        if not -rank <= self.dim < rank:
            raise ShapeError(f"{self.op}: dim {self.dim} is out of range for a batched input of rank {rank}")
        axis = self.dim % rank
        if axis == 0:
            raise ShapeError(f"{self.op}: dim {self.dim} is the batch dimension, which is not supported")
        return axis - 1

    def merge(self, shapes):
        if self.op in _ELEMENTWISE:
            return _broadcast(shapes, _ELEMENTWISE[self.op])
        if self.op == "cat":
            i, first = self._axis(shapes), shapes[0]
            for other in shapes[1:]:
                if len(other) != len(first) or any(known(a) and known(b) and a != b
                                                   for j, (a, b) in enumerate(zip(first, other)) if j != i):
                    where = "along channels" if i == 0 else f"along dim {self.dim}"
                    rest = "after the channel" if i == 0 else f"except dim {self.dim}"
                    raise ShapeError(f"cannot concatenate {_text(first)} and {_text(other)} {where}: sizes {rest} must match")
            return first[:i] + (sum((s[i] for s in shapes), 0),) + first[i + 1:]
        if self.op == "stack":
            i, first = self._axis(shapes, 1), shapes[0]
            for other in shapes[1:]:
                if len(other) != len(first) or any(known(a) and known(b) and a != b for a, b in zip(first, other)):
                    raise ShapeError(f"stack expects each tensor to be equal size, but got {_text(first)} and {_text(other)}")
            return first[:i] + (len(shapes),) + first[i:]
        if self.op == "side":
            return shapes[0]
        if self.op == "resize":
            x, like = shapes
            if len(x) < 2 or len(like) < len(x) - 1:
                raise ShapeError(f"interpolate {_text(x)} to the size of {_text(like)}: it needs as many spatial dims")
            return x[:1] + tuple(like[len(like) - (len(x) - 1):])
        if self.op == "matmul":
            a, b = shapes
            if len(a) < 2 or len(b) < 2:
                raise ShapeError(f"matmul of {_text(a)} and {_text(b)}: each needs at least 2 dims besides the batch")
            if known(a[-1]) and known(b[-2]) and a[-1] != b[-2]:
                raise ShapeError(f"matmul: mat1 and mat2 shapes cannot be multiplied ({a[-2]}x{a[-1]} and {b[-2]}x{b[-1]})")
            return _broadcast((a[:-2], b[:-2]), "matmul batch") + (a[-2], b[-1])
        q, k, v = shapes
        if len(q) < 2 or len(k) != len(q) or len(v) != len(q):
            raise ShapeError(f"scaled_dot_product_attention of {_text(q)}, {_text(k)}, {_text(v)}: query, key and "
                             "value need the same number of dims, at least 2 besides the batch")
        if known(q[-1]) and known(k[-1]) and q[-1] != k[-1]:
            raise ShapeError(f"scaled_dot_product_attention: query's last dim {q[-1]} differs from key's {k[-1]}")
        if known(k[-2]) and known(v[-2]) and k[-2] != v[-2]:
            raise ShapeError(f"scaled_dot_product_attention: key and value hold {k[-2]} and {v[-2]} tokens")
        return _broadcast((q[:-2], k[:-2], v[:-2]), "attention batch") + (q[-2], v[-1])

    def requires(self, shapes):
        if self.op in _ELEMENTWISE:
            return _broadcast_requires(shapes)
        if self.op == "cat":
            i = self._axis(shapes)
            return tuple((b, a) for other in shapes[1:] for j, (a, b) in enumerate(zip(shapes[0], other)) if j != i)
        if self.op == "stack":
            return tuple(pair for other in shapes[1:] for pair in zip(other, shapes[0]))
        if self.op == "matmul":
            return ((shapes[0][-1], shapes[1][-2]),)
        if self.op in ("resize", "side"):
            return ()
        q, k, v = shapes
        return ((q[-1], k[-1]), (k[-2], v[-2]))

    def merge_macs(self, shapes, out):
        if self.op == "matmul":
            a, b = shapes
            return matmul_macs(product(out[:-2]), a[-2], a[-1], b[-1])
        if self.op == "attention":
            q, k, v = shapes
            return attention_macs(product(out[:-2]), q[-2], k[-2], q[-1], v[-1])
        return 0

    def merge_rf(self, fields, shapes):
        if self.op == "side":
            return fields[0]
        if self.op in ("matmul", "attention", "resize"):
            return None
        if self.op == "cat" and self._axis(shapes) in fields[0].tensor_dims:
            return None  # joined along a spatial axis
        joined = _union(fields)
        if joined is None or self.op != "stack":
            return joined
        i = self._axis(shapes, 1)
        return joined.moved(tuple(d if d < i else d + 1 for d in joined.tensor_dims))


class Concat(Merge):
    """Branches applied to the same input, outputs joined along channels (Inception, DenseNet)."""

    def __init__(self, *branches, merge_name=""):
        super().__init__(*branches, op="cat", dim=1, merge_name=merge_name)

    def _rebuild(self, kids):
        return Concat(OrderedDict((name, kid) for (name, _), kid in zip(self._children, kids)), merge_name=self.merge_name)


def _union(fields):
    """The union of the branches' receptive fields, or None when their spatial axes are not at the same places."""
    out = fields[0]
    for other in fields[1:]:
        if other.tensor_dims != out.tensor_dims:
            return None
        out = out.join(other)
    return out


def _broadcast(shapes, what):
    """The element-wise result shape of branches of equal rank, with PyTorch's broadcasting of 1s."""
    first = shapes[0]
    out = list(first)
    for other in shapes[1:]:
        if len(other) != len(first) or any(
            known(a) and known(b) and a != b and a != 1 and b != 1 for a, b in zip(out, other)
        ):
            raise ShapeError(f"{what} of mismatched shapes {_text(first)} and {_text(other)}{_projection_hint(other, first)}")
        out = [b if a == 1 else a for a, b in zip(out, other)]
    return tuple(out)


def _broadcast_requires(shapes):
    first = shapes[0]
    return tuple((got, expected) for other in shapes[1:] for got, expected in zip(other, first)
                 if not (got == 1 or expected == 1))


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
        elif isinstance(layer, Merge):
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


__all__ = ["Sequential", "Residual", "Concat", "Merge", "Container", "Identity", "Node", "INPUT", "flow", "unique_leaves"]
