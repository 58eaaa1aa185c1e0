"""A Report in machine formats: JSON (``Report.to_dict``), CSV and markdown.

Each takes the table's ``depth`` (blocks deeper than it folded into one row) and ``dtype``; shapes carry
the batch axis when the batch is not 1, as in the table.
"""

from __future__ import annotations

import csv
import io
import json

from ..dims import format_shape, to_json_value
from ..report import batched
from .table import count, rf_text

__all__ = ["to_json", "to_csv", "to_markdown", "FORMATS"]


def to_json(report, depth=None, dtype="float32") -> str:
    return json.dumps(report.to_dict(depth=depth, dtype=dtype), indent=2)


AXES = {1: ("",), 2: ("_h", "_w"), 3: ("_d", "_h", "_w")}  # the receptive-field columns' suffixes by rank


def _flat_row(row, batch, axes):
    rf = row.receptive_field
    record = {
        "name": row.name,
        "type": row.type,
        "input_shape": format_shape(batched(row.input_shape, batch)),
        "output_shape": format_shape(batched(row.output_shape, batch)),
        "params": to_json_value(row.params),
        "macs": to_json_value(row.macs),
    }
    for key in ("size", "stride", "start"):
        values = ("",) * len(axes) if rf is None else tuple(to_json_value(v) for v in getattr(rf, key))
        record.update((f"rf_{key}{axis}", value) for axis, value in zip(axes, values))
    return record


def to_csv(report, depth=None, dtype="float32") -> str:
    buffer = io.StringIO()
    rank = next((len(r.receptive_field.size) for r in report.layers if r.receptive_field is not None), 2)
    records = [_flat_row(r, report.batch, AXES[rank]) for r in report.rows(depth)]
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def to_markdown(report, depth=None, dtype="float32") -> str:
    head = "| Layer | Type | Output Shape | Params | MACs | RF size/stride |"
    lines = [head, "|---|---|---|---:|---:|---|"]
    for row in report.rows(depth):
        lines.append(
            f"| {row.name} | {row.type} | {format_shape(batched(row.output_shape, report.batch))} | {count(row.params)} | "
            f"{count(row.macs)} | {rf_text(row.receptive_field)} |"
        )
    lines.append(f"| **Total** | | {format_shape(batched(report.output_shape, report.batch))} | **{count(report.params)}** | "
                 f"**{count(report.macs)}** | {rf_text(report.receptive_field)} |")
    return "\n".join(lines) + "\n"


FORMATS = {"json": to_json, "csv": to_csv, "markdown": to_markdown}
