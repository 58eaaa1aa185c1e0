"""Exact receptive fields by tracing input coordinates back, where the recurrence is not exact.

The recurrence of ``formulas.rf_conv`` is exact for windows (convolution, pooling, padding): every
output pixel reads the same shape of region, shifted by the stride. A transposed convolution with
stride s breaks this: its output pixel o reads the inputs i with i*s - p + t*d == o (t < k), so
neighbouring output pixels sit 1/s input pixels apart and read regions of different extents, which
repeat with period s. ``formulas.rf_conv_transpose`` keeps the real-valued hull of those regions.

This module traces sets of integer coordinates instead. Per axis, a set is a tuple of disjoint
intervals (lo, hi); each row of a report maps a set of its output coordinates to the set of its input
coordinates it reads (``Layer.windows``), a merge to the union over its branches. From the sets
S(o) of output pixels o = 0 .. P-1, P the product of the up-strides on the way (S(o + P) is S(o)
shifted by P*stride), the receptive field is:
size = the largest extent max S(o) - min S(o) + 1, start = min S(0), stride = (min S(P) - min S(0))/P.

Feature maps are taken to extend without end (the receptive-field convention: ``start`` is minus the
effective padding), unless ``clip`` is set: then every layer's input is cut to its real extent
[0, n - 1], which gives exactly the input pixels that can reach an output pixel (``validate``).

The work grows with P and with the regions' sizes (a stride-10**9 transposed convolution has P = 10**9),
so it is counted: each output pixel traced, each row visited and each interval or pixel produced is a
step, charged before it is taken, and more than ``limits.MAX_TRACE`` steps refuse the analysis.
``plan`` refuses at once rows whose periods alone add up to more (twenty chained x2 upsamplings).
"""

from __future__ import annotations

import math
from fractions import Fraction

from .graph import INPUT
from .limits import MAX_TRACE
from .receptive_field import POINTWISE, SAME, ReceptiveField

__all__ = ["Tracer"]


def _merged(intervals):
    """Sorted, disjoint, non-adjacent intervals covering the same integers."""
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _read(window, intervals, spend):
    """The input coordinates that the output coordinates ``intervals`` read through ``window``;
    ``spend(n)`` is told each loop's length before it runs."""
    k, s, p, d, up = window.k, window.s, window.p, window.d, window.up
    out = []
    for a, b in intervals:
        if up:  # inputs i with a <= i*s - p + t*d <= b
            spend(k)
            for t in range(k):
                lo, hi = -((-(a + p - t * d)) // s), (b + p - t * d) // s
                if lo <= hi:
                    out.append((lo, hi))
        elif s == 1:
            spend(k)
            out.extend((a - p + t * d, b - p + t * d) for t in range(k))
        elif d == 1:
            if k >= s:
                out.append((a * s - p, b * s - p + k - 1))
            else:
                spend(b - a + 1)
                out.extend((o * s - p, o * s - p + k - 1) for o in range(a, b + 1))
        else:
            spend((b - a + 1) * k)
            out.extend((x, x) for x in {o * s - p + t * d for o in range(a, b + 1) for t in range(k)})
    spend(len(out))  # sorting and merging them
    return _merged(out)


class Tracer:
    """Back-tracing through the rows of one report, along the rows whose local receptive field is
    known (where a row's receptive field is known, it is its local one)."""

    def __init__(self, rows, clip=False):
        self.rows = rows
        self.clip = clip
        self.parents = []  # per row: the rows (or INPUT) it reads
        self.periods = []  # per row: per axis, the product of the up-strides before it
        self.windows = []
        for row in rows:
            self._add(row)
        self.concrete = all(w.numbers for windows in self.windows if windows is not None for w in windows)
        self._cache = {}
        self._budget = MAX_TRACE.value
        self._spent = 0
        self._row = None  # the row being traced, for the message when the budget runs out

    def plan(self, rows):
        """Refuse, before any work, tracing ``rows`` when one step per output pixel of their periods is
        already over the budget."""
        need = self._spent
        for i in rows:
            need += sum(self.periods[i])
            if need > self._budget:
                self._row = i
                self._spend(need - self._spent)

    def _spend(self, steps):
        self._spent += steps
        if self._spent > self._budget:
            row = self.rows[self._row] if self._row is not None else None
            label = "receptive field" if row is None else f"{row.name} ({row.type})" if row.name else row.type
            raise MAX_TRACE.refuse(label, "tracing the receptive field after upsampling needs more than",
                                   self._budget, self._budget)

    def _add(self, row):
        """Record a row's parents, windows and periods."""
        parents = tuple(q for q in row.inputs if q == INPUT or self.rows[q].local_receptive_field is not None)
        field = row.local_receptive_field
        axes = field.axes if field is not None else len(row.input_shape) - 1
        windows = None if row.is_merge or field is None else row.layer.windows(row.input_shape)
        if windows is POINTWISE or (windows is not None and not field.channels_first):
            windows = None  # reads each position at itself (or the layout moved: the field passes through)
        periods = [math.lcm(*(1 if q == INPUT else self.periods[q][a] for q in parents)) for a in range(axes)]
        if windows is not None:
            periods = [P * w.s if w.up else P for P, w in zip(periods, windows)]
        self.parents.append(parents)
        self.periods.append(tuple(periods))
        self.windows.append(windows)

    def region(self, i, axis, intervals):
        """The input pixels (intervals) that row i's output coordinates ``intervals`` read along ``axis``."""
        key = (i, axis, intervals)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        stack, inputs = [key], {}
        while stack:  # parents before children, without recursion (networks may be deep)
            node = stack[-1]
            if node not in inputs:
                inputs[node] = self._inputs(*node)
                stack.extend(q for q in inputs[node] if q[0] != INPUT and q not in self._cache and q not in inputs)
                continue
            stack.pop()
            if node not in self._cache:
                parts = [q[2] if q[0] == INPUT else self._cache[q] for q in inputs[node]]
                self._cache[node] = parts[0] if len(parts) == 1 else _merged(iv for part in parts for iv in part)
        return self._cache[key]

    def _inputs(self, i, axis, intervals):
        """(parent, axis, intervals) read by row i's ``intervals``."""
        windows = self.windows[i]
        self._spend(1)
        if windows is not None and windows[axis] != SAME:
            intervals = _read(windows[axis], intervals, self._spend)
            if self.clip:
                n = self.rows[i].input_shape[1 + axis]
                intervals = tuple((max(lo, 0), min(hi, n - 1)) for lo, hi in intervals if hi >= 0 and lo <= n - 1)
        return [(q, axis, intervals) for q in self.parents[i]]

    def hull(self, i, axis, o):
        """(first, last) input pixel that output pixel o of row i reads along ``axis``, or None."""
        self._row = i
        region = self.region(i, axis, ((o, o),))
        return (region[0][0], region[-1][1]) if region else None

    def receptive_field(self, i, hull_rf: ReceptiveField) -> ReceptiveField:
        """Row i's field from exact regions; an axis whose output pixels read nothing at all (bias only)
        has size 0 and ``hull_rf``'s stride and start."""
        sizes, strides, starts = [], [], []
        self._row = i
        for axis in range(hull_rf.axes):
            P = self.periods[i][axis]
            self._spend(P)  # one trace per output pixel of the period, before the list of P is made
            hulls = [self.hull(i, axis, o) for o in range(P)]
            o0 = next((o for o, h in enumerate(hulls) if h is not None), None)
            if o0 is None:
                sizes.append(0)
                strides.append(hull_rf.stride[axis])
                starts.append(hull_rf.start[axis])
                continue
            lo0 = hulls[o0][0]
            stride = Fraction(self.hull(i, axis, o0 + P)[0] - lo0, P)  # S(o + P) = S(o) + P*stride
            sizes.append(max(hi - lo + 1 for lo, hi in filter(None, hulls)))
            strides.append(int(stride) if stride.denominator == 1 else stride)
            starts.append(lo0 if o0 == 0 else math.floor(lo0 - o0 * stride))  # pixel 0 reads nothing: aligned
        return ReceptiveField(tuple(sizes), tuple(strides), tuple(starts))
