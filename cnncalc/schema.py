"""The JSON Schema (draft 2020-12) of a report's JSON: ``Report.to_dict()``, ``cnncalc MODEL --format json``.

``cnncalc schema`` prints ``report_schema()``. Every key the JSON can carry is listed with its meaning
(docs/json.md is the same table in prose), and objects admit no other keys, so a key added to the JSON
without its schema fails the tests that validate every zoo model's JSON. The ``memory`` object is
described from the ``Memory`` value itself (one sample report, float32 and int8), so a field added there
appears here without editing this module.
"""

from __future__ import annotations

from .version import __version__

DRAFT = "https://json-schema.org/draft/2020-12/schema"

__all__ = ["report_schema", "DRAFT"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict, optional=()) -> dict:
    return {"type": "object", "properties": properties,
            "required": [key for key in properties if key not in optional], "additionalProperties": False}


def _described(schema: dict, text: str) -> dict:
    return {**schema, "description": text}


DEFS = {
    "count": {
        "description": "A non-negative count; a string in sympy syntax (e.g. \"216*(H - 2)*(W - 2)\") when it depends "
                       "on the input's symbols.",
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
    },
    "dim": {
        "description": "One axis of a shape: a positive integer, or a string in sympy syntax when symbolic.",
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string"}],
    },
    "coordinate": {
        "description": "A receptive-field value along one axis: an integer (a start is negative where padding reaches "
                       "past the image), or a string: a ratio such as \"1/2\" after upsampling, or a symbolic value.",
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    },
    "shape": {
        "description": "A tensor shape, channels first; with the batch axis in front when the batch is not 1.",
        "type": "array", "items": _ref("dim"), "minItems": 1,
    },
    "per_axis": {
        "description": "One value per spatial axis (height and width for images).",
        "type": "array", "items": _ref("coordinate"), "minItems": 1, "maxItems": 3,
    },
    "receptive_field": _described(_object({
        "size": _described(_ref("per_axis"), "Extent in input pixels of the region that can influence one output pixel."),
        "stride": _described(_ref("per_axis"), "Input distance between neighbouring output pixels."),
        "start": _described(_ref("per_axis"), "Input coordinate of the first pixel of output pixel 0's region."),
    }), "A receptive field, per spatial axis (docs/formulas.md)."),
}


def _layer() -> dict:
    return _object({
        "name": {"type": "string", "description": "The dotted module path, as PyTorch's named_modules() names it; a "
                                                   "merge (Add/Mul/Concat) or a folded block is named by its block."},
        "type": {"type": "string", "description": "The layer class (Conv2d, ...), Add/Mul/Concat for a merge, or the "
                                                   "block's container class for a folded block."},
        "input_shape": _described(_ref("shape"), "The row's input shape."),
        "output_shape": _described(_ref("shape"), "The row's output shape."),
        "params": _described(_ref("count"), "Learnable parameters of the row (a folded block: of its rows)."),
        "macs": _described(_ref("count"), "Multiply-accumulates of the row for the batch."),
        "receptive_field": _described(_nullable(_ref("receptive_field")),
                                      "The receptive field after this row, or null once the spatial mapping has ended."),
        "output_numel": _described(_ref("count"), "Elements of the output for the whole batch (the product of "
                                                  "output_shape)."),
        "activation_bytes": _described(_ref("count"), "Bytes of the outputs this row computes, for the batch and dtype "
                                                      "(a folded block: every output inside it)."),
        "folded_rows": {"type": "integer", "minimum": 1,
                        "description": "Only on a folded block (--depth): how many rows it sums."},
    }, optional=("folded_rows",))


def _sample_memories() -> list[dict]:
    """The "memory" object of one small report, in float32 and in int8 (where training fields may be null)."""
    from .analysis import analyze
    from .layers import BatchNorm2d, Conv2d
    from .graph import Sequential

    report = analyze(Sequential(Conv2d(1, 2, 3), BatchNorm2d(2)), (1, 4, 4), warn=False)
    return [report.memory(dtype).to_dict() for dtype in ("float32", "int8")]


def _inferred(samples: list) -> dict:
    """A schema for one memory field from its sample values: text, a count, or an object of such fields."""
    present = [s for s in samples if s is not None]
    if present and all(isinstance(s, dict) for s in present):
        keys = list(dict.fromkeys(k for s in present for k in s))
        schema = _object({k: _inferred([s.get(k) for s in present]) for k in keys},
                         optional=[k for k in keys if any(k not in s for s in present)])
    elif present and all(isinstance(s, str) for s in present):
        schema = {"type": "string"}
    else:
        schema = _ref("count")
    return _nullable(schema) if len(present) < len(samples) else schema


def report_schema() -> dict:
    """The report's JSON Schema as a dict (``json.dumps`` it to write the file ``cnncalc schema`` prints)."""
    memory = _inferred(_sample_memories())
    return {
        "$schema": DRAFT,
        "title": "cnncalc report",
        "description": f"The JSON of cnncalc {__version__}: `cnncalc MODEL --format json` and Report.to_dict(). "
                       "Counts are integers, or strings in sympy syntax when the input has symbols.",
        **_object({
            "model": {"type": "string", "description": "The model's name (zoo name, file name or class name)."},
            "input_shape": _described(_ref("shape"), "The input shape."),
            "layers": {"type": "array", "items": _ref("layer"),
                       "description": "One object per row, in execution order (blocks folded with --depth)."},
            "totals": _described(_object({
                "params": _described(_ref("count"), "Learnable parameters."),
                "trainable_params": _described(_ref("count"), "Parameters not frozen."),
                "buffers": _described(_ref("count"), "BatchNorm running statistics and other buffers."),
                "macs": _described(_ref("count"), "Multiply-accumulates for the batch."),
                "flops": _described(_ref("count"), "2 x macs."),
                "output_shape": _described(_ref("shape"), "The network's output shape."),
            }), "Totals over every row (folding does not change them)."),
            "receptive_field": _described(_nullable(_ref("receptive_field")),
                                          "The model's receptive field: that of the last feature map with spatial "
                                          "extent; null without one."),
            "local_receptive_field": _described(_nullable(_ref("receptive_field")),
                                                "The receptive field of the convolution path up to the first operation "
                                                "that sees the whole input (global pool, attention, a gate)."),
            "batch": _described(_ref("dim"), "The batch size (--batch)."),
            "dtype": {"type": "string", "description": "The element type of the memory figures (--dtype)."},
            "depth": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}],
                      "description": "The --depth the rows were folded at, or null for every row."},
            "memory": _described(memory, "report.memory(dtype, batch): every field of the Memory value, in bytes."),
            "extra_ops": {"type": "object", "additionalProperties": _ref("count"),
                          "description": "Operations beyond the MACs for the batch, by kind (bias, norm, activation, "
                                         "pool, add, ...)."},
            "version": {"type": "string", "description": "The cnncalc version that wrote the JSON."},
            "assumptions": {"type": "array", "items": {"type": "string"},
                            "description": "Only with symbols, when some are needed: the equalities the numbers rely "
                                           "on that the symbols leave open."},
        }, optional=("assumptions",)),
        "$defs": {**DEFS, "layer": _layer()},
    }
