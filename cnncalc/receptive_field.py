"""The receptive field as a value: how far one output pixel reaches into the input, per spatial axis.

A layer says how each spatial axis of its output reads its input with one ``Window`` per axis
(``Layer.windows``); ``ReceptiveField.through(windows)`` moves the field through the layer and
``join`` unites the fields of branches that meet. The recurrences themselves live in ``formulas``.

A field also knows where its spatial axes are in the (unbatched) tensor, ``dims``: (1, 2) for a
(C, H, W) map, (0, 1) after permuting it to (H, W, C). Layers that reorder axes move them, layers
that act on one axis (a Linear on the last) leave the field alone unless that axis is spatial.
Normalisers (means, variances, softmax sums) count as constants, as BatchNorm at inference is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple, Sequence

from . import formulas as F
from .dims import generic_max, generic_min, to_json_value

__all__ = ["Window", "ReceptiveField", "SAME", "POINTWISE"]


class Window(NamedTuple):
    """How one axis of a layer's output reads its input.

    Output coordinate o reads o*s - p + t*d for t < k; with ``up`` (a transposed convolution) it reads
    the inputs i with i*s - p + t*d == o. ``Window()`` reads exactly what it writes.
    """

    k: object = 1
    s: object = 1
    p: object = 0
    d: object = 1
    up: bool = False

    @property
    def numbers(self) -> bool:
        """True when k, s, p and d are all plain ints (the window can be traced pixel by pixel)."""
        return all(type(v) is int for v in (self.k, self.s, self.p, self.d))


SAME = Window()  # one axis read as it is written
POINTWISE = ()  # ``Layer.windows`` of a layer that reads every spatial position at itself, whatever the layout


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """Per spatial axis: ``size`` (region extent), ``stride`` (jump between neighbouring output pixels)
    and ``start`` (first input pixel of output pixel 0's region), in input pixels; ``dims``, the
    tensor axes the spatial axes are at now (None: channels first, 1..n). Immutable; read it by name
    (``rf.size[0]``), move it with ``through`` and ``join``."""

    size: tuple
    stride: tuple
    start: tuple
    dims: tuple | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of_input(cls, axes: int) -> ReceptiveField:
        """The field of the input itself: every pixel sees itself."""
        return cls((1,) * axes, (1,) * axes, (0,) * axes)

    @property
    def axes(self) -> int:
        return len(self.size)

    @property
    def tensor_dims(self) -> tuple:
        """The (unbatched) tensor axes of the spatial axes, in order: (1, ..., n) when channels come first."""
        return tuple(range(1, len(self.size) + 1)) if self.dims is None else self.dims

    @property
    def channels_first(self) -> bool:
        return self.tensor_dims == tuple(range(1, len(self.size) + 1))

    def through(self, windows: Sequence[Window]) -> ReceptiveField:
        """The field after a layer that reads its input through ``windows`` (one per axis)."""
        sizes, strides, starts = [], [], []
        for r, j, x, w in zip(self.size, self.stride, self.start, windows):
            if w is not SAME:
                r, j, x = (F.rf_conv_transpose if w.up else F.rf_conv)(r, j, x, w.k, w.s, w.p, w.d)
            sizes.append(r)
            strides.append(j)
            starts.append(x)
        return ReceptiveField(tuple(sizes), tuple(strides), tuple(starts), self.dims)

    def moved(self, dims: tuple) -> ReceptiveField:
        """The same field with its spatial axes at the tensor axes ``dims``."""
        return self if dims == self.tensor_dims else replace(self, dims=dims)

    def join(self, other: ReceptiveField) -> ReceptiveField:
        """The union of two branches' fields: from the first start to the last end, the coarser stride."""
        starts = tuple(generic_min((a, b)) for a, b in zip(self.start, other.start))
        ends = tuple(generic_max((a + r, b + q)) for a, r, b, q in zip(self.start, self.size, other.start, other.size))
        strides = tuple(generic_max((a, b)) for a, b in zip(self.stride, other.stride))
        return ReceptiveField(tuple(e - s for e, s in zip(ends, starts)), strides, starts, self.dims)

    def to_dict(self) -> dict:
        return {key: [to_json_value(v) for v in getattr(self, key)] for key in ("size", "stride", "start")}
