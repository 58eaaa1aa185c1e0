"""A Report in machine formats: JSON (``Report.to_dict``), CSV and markdown."""

from __future__ import annotations

import csv
import io
import json

from ..dims import format_shape, to_json_value
from .table import count, rf_text

__all__ = ["to_json", "to_csv", "to_markdown", "FORMATS"]


def to_json(report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def _flat_row(row):
    rf = row.receptive_field
    record = {
        "name": row.name,
        "type": row.type,
        "input_shape": format_shape(row.input_shape),
        "output_shape": format_shape(row.output_shape),
        "params": to_json_value(row.params),
        "macs": to_json_value(row.macs),
    }
    for key in ("size", "stride", "start"):
        values = ("", "") if rf is None else tuple(to_json_value(v) for v in getattr(rf, key))
        record[f"rf_{key}_h"], record[f"rf_{key}_w"] = values
    return record


def to_csv(report) -> str:
    buffer = io.StringIO()
    records = [_flat_row(r) for r in report.layers]
    writer = csv.DictWriter(buffer, fieldnames=list(_flat_row(report.layers[0]).keys()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def to_markdown(report) -> str:
    head = "| Layer | Type | Output Shape | Params | MACs | RF size/stride |"
    lines = [head, "|---|---|---|---:|---:|---|"]
    for row in report.layers:
        lines.append(
            f"| {row.name} | {row.type} | {format_shape(row.output_shape)} | {count(row.params)} | "
            f"{count(row.macs)} | {rf_text(row.receptive_field)} |"
        )
    lines.append(f"| **Total** | | {format_shape(report.output_shape)} | **{count(report.params)}** | "
                 f"**{count(report.macs)}** | {rf_text(report.receptive_field)} |")
    return "\n".join(lines) + "\n"


FORMATS = {"json": to_json, "csv": to_csv, "markdown": to_markdown}
