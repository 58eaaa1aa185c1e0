"""Walk a network's data flow once and produce the report: per-layer rows and totals.

Data flows one way: the model's nodes (``graph.flow``) are visited in order, each turning the values
of the nodes it reads (shape, receptive field) into its own; every leaf and every merge becomes a
``Row``. Concrete inputs stay plain ints end to end (sympy is never imported); symbolic inputs give
sympy expressions.
"""

from __future__ import annotations

import warnings

from .dims import Dim, ShapeLike, as_dim, as_shape, format_shape, is_positive, known
from .errors import ShapeError, ShapeWarning
from .graph import INPUT, flow
from .layers import Layer, axis_names
from .layout import looks_channels_last, read_shape, signal_channels_last, to_channels_first
from .limits import check_int
from .receptive_field import ReceptiveField
from .report import Report, Row

__all__ = ["analyze"]


def analyze(model: Layer, input_shape: ShapeLike, *, batch: Dim = 1, name: str | None = None, warn: bool = True,
            layout: str | None = None) -> Report:
    """Analyse ``model`` (a layer or container, or a live ``torch.nn.Module``) on an unbatched
    ``input_shape`` such as (3, 224, 224) or "3xHxW".

    ``layout="hwc"`` reads the shape channels last (``"32x32x3"`` is 3x32x32); the default reads it channels
    first, and says so in a warning when the shape looks channels last (``layout.looks_channels_last``).
    """
    typed = as_shape(input_shape)
    if not isinstance(model, Layer) and type(model).__module__.split(".")[0] != "cnncalc":
        from .frontends.live import convert, is_torch_module

        if is_torch_module(model):  # its traced data flow, converted for this input (cnncalc.frontends.live)
            name = name or type(model).__name__
            model = convert(model, read_shape(typed, layout))
    looks = layout is None and looks_channels_last(typed)
    if not looks and not (layout is None and signal_channels_last(typed)):
        return _analyze(model, read_shape(typed, layout), batch, name, warn, [])
    try:
        return _analyze(model, typed, batch, name, warn, [_layout_note(typed)] if looks else [])
    except ShapeError as exc:  # the reading a student most likely meant, said in the error
        if not looks:  # a signal (length x channels?): offered only when that reading works
            try:
                _analyze(model, to_channels_first(typed), batch, name, False, [])
            except ShapeError:
                raise exc from None
        hint = f"{format_shape(typed)} looks channels last: layout='hwc' reads it as {format_shape(to_channels_first(typed))}"
        error = ShapeError(f"{exc}; {hint}")
        error.layer, error.input_shape = exc.layer, exc.input_shape
        error.reason = None if exc.reason is None else f"{exc.reason}; {hint}"  # the message ends with its reason
        raise error from None


def _analyze(model, input_dims, batch, name, warn, notes) -> Report:
    batch = as_dim(batch, "batch")
    if is_positive(batch) is False:
        raise ShapeError(f"invalid batch {batch}: the batch size must be at least 1")
    # only a feature map (C, *spatial) with 1 to 3 spatial axes has a spatial mapping
    start = ReceptiveField.of_input(len(input_dims) - 1) if 2 <= len(input_dims) <= 4 else None
    rows: list = []
    seen: set = set()
    assumptions: list = []
    upsampled = False
    constant: list = []  # per row: its value does not depend on the input (a buffer and what it feeds)

    for node in flow(model):
        layer, row_name = node.layer, node.name
        if not node.is_merge:
            q = node.inputs[0]
            if q == INPUT:
                shape, rf, local = input_dims, start, start
            else:
                before = rows[q]
                shape, rf, local = before.output_shape, before.receptive_field, before.local_receptive_field
            upsampled = upsampled or layer.upsamples
            try:
                out = layer.infer(shape)
                macs = layer.macs(shape, out)
                _within_digits(out, layer.params, macs)
            except ShapeError as exc:
                raise _refused(exc, layer, row_name, layer.type, shape) from None
            for got, expected in layer.requires(shape):
                if type(got) is not int or type(expected) is not int:
                    _assume(assumptions, row_name, layer.type, got, expected)
            if layer.windowed:
                dropped = layer.dropped(shape)
                if any(dropped):
                    notes.append(_truncation_note(row_name, layer, shape, dropped))
            new_rf = layer.rf_at(rf, shape)
            new_local = new_rf if local is rf else layer.rf_at(local, shape)
            shared = id(layer) in seen
            seen.add(id(layer))
            constant.append(layer.source or (q != INPUT and constant[q]))
            if batch != 1 and not constant[-1]:  # torch computes a buffer's branch once for the batch
                macs = macs * batch
            rows.append(Row(row_name, layer, shape, out, 0 if shared else layer.params, macs, new_rf, layer.type, shared,
                            inputs=node.inputs, rf_in=rf, local_rf=new_local))
            continue
        values = [(input_dims, start, start) if q == INPUT else
                  (rows[q].output_shape, rows[q].receptive_field, rows[q].local_receptive_field) for q in node.inputs]
        shapes = tuple(v[0] for v in values)
        kind = layer.merge_kind()
        try:
            out = layer.merge(shapes)
            macs = layer.merge_macs(shapes, out)
        except ShapeError as exc:
            raise _refused(exc, layer, row_name or "model", kind, shapes) from None
        for got, expected in layer.requires(shapes):
            if type(got) is not int or type(expected) is not int:
                _assume(assumptions, row_name, kind, got, expected)
        rfs = [v[1] for v in values]
        new_rf = None if any(rf is None for rf in rfs) else layer.merge_rf(rfs, shapes)
        locals_ = [v[2] for v in values if v[2] is not None]  # a global branch (a gate) leaves the local field
        new_local = new_rf if new_rf is not None else layer.merge_rf(locals_, shapes) if locals_ else None
        fork = input_dims if node.fork == INPUT else rows[node.fork].output_shape
        constant.append(all(q != INPUT and constant[q] for q in node.inputs))
        if batch != 1 and not constant[-1]:
            macs = macs * batch
        rows.append(Row(row_name or kind.lower(), layer, fork, out, 0, macs, new_rf, kind, inputs=node.inputs,
                        input_shapes=shapes, rf_in=rfs[0], local_rf=new_local, spans=node.spans))
    if upsampled:
        _trace_upsampled(rows)
    if warn:
        for note in notes:
            warnings.warn(note, ShapeWarning, stacklevel=3)
    local_rf = next((r.local_receptive_field for r in reversed(rows) if r.local_receptive_field is not None), start)
    shape = rows[-1].output_shape if rows else input_dims
    return Report(model, input_dims, rows, shape, _model_rf(rows, start), notes, batch, name, assumptions, local_rf)


def _within_digits(shape, params, macs):
    """Refuse a computed number with more than MAX_DIGITS digits (an upsampling chain multiplies sizes):
    printing it could take longer than computing it."""
    for what, values in (("output size", shape), ("params", (params,)), ("MACs", (macs,))):
        for v in values:
            if type(v) is int:
                check_int(v, "", f"the {what} has")
            elif not known(v):  # a symbolic value's coefficients
                for number in v.atoms(_rational()):
                    check_int(number.p, "", f"a number in the {what} has")
                    check_int(number.q, "", f"a number in the {what} has")


def _rational():
    import sympy  # loaded already: a symbolic value is present

    return sympy.Rational


def _refused(exc, layer, label, kind, received):
    """The ShapeError of a layer or merge that refused its input: naming the row, carrying the layer."""
    error = type(exc)(f"{label} ({kind}): {exc}" if label else f"{kind}: {exc}")  # a LimitError stays one
    error.layer, error.input_shape, error.reason = layer, received, str(exc)
    return error


def _model_rf(rows, start):
    """The receptive field of the last row before the spatial mapping first ends (traced values included)."""
    model_rf = start
    for row in rows:
        if row.receptive_field is None:
            break
        model_rf = row.receptive_field
    return model_rf


def _assume(assumptions, name, kind, got, expected):
    """Record ``got = expected`` when the symbols leave it open (provably unequal was refused in infer)."""
    difference = got - expected
    if not known(difference) and not difference.is_number:
        from .symbolic import pretty

        text = f"{name or kind} ({kind}): {pretty(got)} = {pretty(expected)}"
        if text not in assumptions:  # 3xHxH: both axes need the same
            assumptions.append(text)


def _trace_upsampled(rows):
    """Exact fields for the rows after a transposed convolution or an upsampling with stride > 1
    (``trace``), where the windows are numbers; else the recurrence's hull stays. Where a row's
    receptive field is known it is its local one, so tracing the local fields covers both."""
    from .trace import Tracer

    tracer = Tracer(rows)
    if not tracer.concrete:
        return
    traced_rows = [i for i, row in enumerate(rows) if row.local_receptive_field is not None
                   and tracer.periods[i] != (1,) * row.local_receptive_field.axes]
    tracer.plan(traced_rows)
    for i in traced_rows:
        row = rows[i]
        field = row.local_receptive_field
        traced = tracer.receptive_field(i, field)
        if row.receptive_field is not None:
            row.receptive_field = traced
            row.traced = True
        row.local_receptive_field = traced


def _layout_note(shape):
    first = to_channels_first(shape)
    return (f"input {format_shape(shape)} is read channels first ({shape[0]} channels); if it is written channels "
            f"last (height x width x channels), pass layout='hwc' to read it as {format_shape(first)}")


def _truncation_note(name, layer, shape, dropped):
    parts = []
    for axis, n, lost in zip(axis_names(len(shape) - 1), shape[1:], dropped):
        if lost:
            unit = {"height": "row", "width": "column", "length": "sample", "depth": "frame"}[axis]
            parts.append(f"the last {lost} {unit}{'s' if lost > 1 else ''} of {axis} {n}")
    label = f"{name} ({layer.type})" if name else layer.type
    return f"{label}: floor truncation drops {' and '.join(parts)} (no window reaches them)"
