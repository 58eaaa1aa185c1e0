"""Homework checking: grade a student's answers (output shape, params, MACs, FLOPs, receptive field, memory)
for a layer, a stack of layers, a zoo model or a model file on an input, with the explanation of the correct
value where an answer is wrong, in English or Chinese.

A homework file (YAML or JSON, read as spec files are: ``frontends.spec.read_document``) holds ``questions``, each::

    - id: q1                                  # optional
      layer: conv out=96 k=11 s=4 p=0         # or  stack: [conv out=8 k=3, conv out=8 k=3]
      input: 3x227x227                        #     model: alexnet | model: net.py (class: Net)
      answers: {output_shape: 96x55x55, params: 34944, macs: 105415200, receptive_field: 11}

One question also fits on one line, parsed by a strict small grammar (never ``eval``)::

    conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944
    conv in=1x32x32 out=8 k=3 | conv out=8 k=3 | maxpool k=2 -> rf=6 rf@2=5
    vgg16 in=3x224x224 -> params=138M flops=31G

    line    := subject "->" answer*
    subject := layer ("|" layer)*  |  (zoo model | file.py | file.yaml | file.json) setting*
    layer   := kind setting*       (conv, convtranspose, maxpool, avgpool, linear, bn, relu, flatten, pad, gap)
    setting := key "=" value       (in, at, layout, dtype, batch, class; out, k, s, p, d, g, op, bias, ceil, tf)
    answer  := [shape] key["@" layer] "=" value
               (shape, params, macs, flops, rf, jump, params_memory, activations)

Padding may be a number, ``same`` or ``valid`` (PyTorch's rules) and ``tf=true`` gives TensorFlow's 'same'.
Counts may be rounded the way people write them (``138M``, ``1.8G``, ``1.8GFLOPs``): they are right when the
value rounds to them, and the tolerance is said. Memory is in B, KB, MB, GB (MB may be read as MiB, said so)
or KiB, MiB, GiB. A shape answered channels last (``55x55x96`` for 96x55x55) is accepted when that reading is
unambiguous, and said so. ``at=`` names a model's layer as PyTorch does (``features.4``); in a stack it is
the layer's position, counted from 1.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from . import i18n
from .analysis import analyze
from .dims import format_shape, parse_shape
from .errors import ShapeError
from .layout import check_layout, looks_channels_last, to_channels_first
from .limits import MAX_DIGITS, check_digits, check_int
from .report import DTYPE_BYTES

ANSWER_KEYS = ("output_shape", "params", "macs", "flops", "receptive_field", "jump", "params_memory", "activations")
_ANSWER_ALIASES = {
    "shape": "output_shape", "output": "output_shape", "output_shape": "output_shape", "params": "params",
    "parameters": "params", "macs": "macs", "flops": "flops", "rf": "receptive_field", "receptive_field": "receptive_field",
    "jump": "jump", "rf_stride": "jump", "params_memory": "params_memory", "params_size": "params_memory",
    "weights_memory": "params_memory", "model_size": "params_memory", "activations": "activations",
    "activation_memory": "activations", "forward_memory": "activations",
}
_KINDS = {"conv": "conv", "conv2d": "conv", "conv1d": "conv", "conv3d": "conv", "convtranspose": "convtranspose",
          "deconv": "convtranspose", "convtranspose2d": "convtranspose", "maxpool": "maxpool", "pool": "maxpool",
          "maxpool2d": "maxpool", "avgpool": "avgpool", "avgpool2d": "avgpool", "linear": "linear", "fc": "linear",
          "dense": "linear", "bn": "batchnorm", "batchnorm": "batchnorm", "batchnorm2d": "batchnorm", "relu": "relu",
          "flatten": "flatten", "pad": "pad", "zeropad": "pad", "gap": "gap", "globalavgpool": "gap"}
_SETTINGS = {
    "conv": ("out", "k", "s", "p", "d", "g", "bias", "tf"),
    "convtranspose": ("out", "k", "s", "p", "op", "d", "g", "bias"),
    "maxpool": ("k", "s", "p", "d", "ceil", "tf"),
    "avgpool": ("k", "s", "p", "ceil", "tf"),
    "linear": ("out", "bias"),
    "batchnorm": (),
    "relu": (),
    "flatten": (),
    "pad": ("p",),
    "gap": (),
}
_QUESTION_SETTINGS = ("in", "at", "layout", "dtype", "batch", "class")
_WINDOWED = ("conv", "convtranspose", "maxpool", "avgpool")
_MODEL_SUFFIXES = (".py", ".yaml", ".yml", ".json")
_TOKEN = re.compile(r"([a-z_]+)(?:@([A-Za-z0-9_.]+))?=(\S+)")
_INT = re.compile(r"[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+")  # 34944, 34,944 or 34_944
_ROUNDED = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]+)?)(?:e(?P<exp>[+-]?[0-9]+))?\s*(?P<scale>[kKMGT]?)\s*"
                      r"(?P<unit>[A-Za-z]*)", re.I)
_SCALES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_COUNT_UNITS = {"params": ("", "params", "param", "p"), "macs": ("", "macs", "mac", "madds"),
                "flops": ("", "flops", "flop")}
_BYTE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30}
IN_PLACE = ("ReLU", "ReLU6", "LeakyReLU", "ELU", "SiLU", "GELU", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh",
            "Dropout", "Dropout2d", "Identity", "Flatten", "StochasticDepth")  # no new activation memory (views or in place)


# --- answers -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """A numeric answer: ``value`` exactly, or rounded (``tolerance`` > 0) as written (``text``); ``unit`` the
    bytes per unit for memory (None: a count of values), ``binary`` when MB may also mean MiB."""

    value: Fraction
    tolerance: Fraction
    text: str
    unit: int | None = None
    binary: bool = False

    def matches(self, truth, scale=1) -> bool:
        return abs(self.value * scale - truth) <= self.tolerance * scale

    def __str__(self):
        return self.text


def _int(text, what):
    """A non-negative integer; digits may be grouped in threes with , or _ (34,944)."""
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ShapeError(f"{what}: expected an integer, got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ShapeError(f"{what}: expected a non-negative integer, got {text}")
        return check_int(text, what)
    text = text.strip()
    if not _INT.fullmatch(text):
        raise ShapeError(f"{what}: expected an integer, got {_brief(text)} (digits, grouped in threes as 34,944 if at all)")
    return int(check_digits(text, what).replace("_", "").replace(",", ""))


def _brief(value, width=40):
    """A value for an error message, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _amount(value, key, where) -> Amount:
    """A count (params, MACs, FLOPs) or a memory size as written: exact digits, or rounded (138M, 1.8GFLOPs, 93MB)."""
    if isinstance(value, bool):
        raise ShapeError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int):
        return Amount(Fraction(_int(value, where)), Fraction(0), str(value))
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip()
    if _INT.fullmatch(text):
        return Amount(Fraction(_int(text, where)), Fraction(0), text)
    match = _ROUNDED.fullmatch(text)
    if match is None:
        raise ShapeError(f"{where}: {text!r} is not a number such as 34944, 34,944, 138M or 1.8G")
    exponent = match["exp"] or "0"
    digits = len(match["num"]) + (int(exponent) if len(exponent) < 8 else 10**8)  # 1e999999999: a billion digits
    if digits > MAX_DIGITS.value:
        raise MAX_DIGITS.refuse(where, "a number of about", digits)
    number, exp = match["num"], int(exponent)
    decimals = len(number.split(".")[1]) if "." in number else 0
    scale, unit = _SCALES[match["scale"].lower()], match["unit"].lower()
    step = Fraction(10) ** (exp - decimals) * scale  # one unit of the last digit written
    value = Fraction(number) * Fraction(10) ** exp * scale
    tolerance = step / 2 if (decimals or exp or scale != 1) else Fraction(0)
    if key in ("params_memory", "activations"):
        if unit in ("", "values"):
            return Amount(value, tolerance, text)
        byte_unit = (match["scale"].lower() + unit) if match["scale"] else unit
        if byte_unit not in _BYTE_UNITS:
            raise ShapeError(f"{where}: {text!r}: give memory in B, KB, MB, GB or KiB, MiB, GiB")
        size = _BYTE_UNITS[byte_unit]
        value, step = Fraction(number) * Fraction(10) ** exp * size, Fraction(10) ** (exp - decimals) * size
        return Amount(value, step / 2 if (decimals or exp or size != 1) else Fraction(0), text, size,
                      binary=byte_unit in ("kb", "mb", "gb"))
    if unit not in _COUNT_UNITS[key]:
        raise ShapeError(f"{where}: {text!r}: the unit {match['unit']!r} is not {key}")
    return Amount(value, tolerance, text)


def _shape_answer(value, where):
    if isinstance(value, (list, tuple)) and value:
        return tuple(_int(v, where) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (_int(value, where),)
    if not isinstance(value, str):
        raise ShapeError(f"{where}: expected a shape such as 96x55x55, got {value!r}")
    return parse_shape(value)


def _rf_answer(value, where):
    """A receptive-field answer: one size (every axis), AxB, or a mapping with ``size``."""
    if isinstance(value, dict):
        if "size" not in value:
            raise ShapeError(f"{where}: a receptive_field mapping needs a size")
        value = value["size"]
    return _shape_answer(value, where)


def _answer(key, value, where):
    if key == "output_shape":
        return _shape_answer(value, where)
    if key in ("receptive_field", "jump"):
        return _rf_answer(value, where)
    return _amount(value, key, where)


def _answer_key(key, where):
    name = _ANSWER_ALIASES.get(str(key).lower())
    if name is None:
        raise ShapeError(f"{where}: unknown answer {key!r} (use {', '.join(ANSWER_KEYS)})")
    return name


def _answers(raw, where):
    """{answer: value} and {layer: {answer: value}} from a mapping (a layer's answers under its name)."""
    if not isinstance(raw, dict) or not raw:
        raise ShapeError(f"{where}: answers must be a mapping such as {{output_shape: 96x55x55, params: 34944}}")
    out, per_layer = {}, {}
    for key, value in raw.items():
        if isinstance(value, dict) and str(key).lower() not in _ANSWER_ALIASES:
            per_layer[str(key)] = {_answer_key(k, where): _answer(_answer_key(k, where), v, f"{where}: {key}.{k}")
                                   for k, v in value.items()}
            continue
        name = _answer_key(key, where)
        out[name] = _answer(name, value, f"{where}: {key}")
    return out, per_layer


# --- questions -------------------------------------------------------------------------------------------


@dataclass
class Question:
    """A layer, a stack of layers, a zoo model or a model file; an input shape; the student's answers."""

    kind: str
    settings: dict
    input_shape: tuple
    answers: dict
    id: str = ""
    at: str | None = None
    stack: tuple = ()  # ((kind, settings), ...) for a stack of layers
    path: str | None = None  # a model file (.py read statically, .yaml/.json spec)
    cls: str | None = None
    layout: str | None = None
    dtype: str = "float32"
    batch: int = 1
    per_layer: dict = field(default_factory=dict)  # {layer: {answer: value}}

    @property
    def layers(self):
        """The question's layers as (kind, settings): one for a layer question, several for a stack."""
        return self.stack or ((self.kind, self.settings),)

    @property
    def is_network(self):
        return self.kind not in _SETTINGS

    def build(self, shape):
        """The layer, stack or model the question is about, on the channels-first ``shape``."""
        if self.path is not None:
            from .frontends import load_file

            return load_file(self.path, cls=self.cls).build(shape)
        if self.is_network:
            from . import zoo

            return zoo.model(self.kind)
        from .graph import Sequential

        built, current = [], shape
        for kind, settings in self.layers:
            layer = _build_layer(kind, settings, current, self)
            current = analyze(layer, current, warn=False, layout="chw").output_shape
            built.append(layer)
        return built[0] if len(built) == 1 else Sequential(*built)

    @property
    def where(self):
        """How error messages name the question."""
        return f"question {self.id}" if self.id else repr(self.title)

    @property
    def title(self):
        if self.is_network:
            name = os.path.basename(self.path) if self.path else self.kind
            extra = f" class={self.cls}" if self.cls else ""
            return f"{name}{extra}{' at=' + self.at if self.at else ''} in={format_shape(self.input_shape)}"
        parts = []
        for i, (kind, settings) in enumerate(self.layers):
            shown = " ".join(f"{k}={_show(v)}" for k, v in settings.items())
            first = f" in={format_shape(self.input_shape)}" if i == 0 else ""
            parts.append(f"{kind}{first} {shown}".strip())
        extra = (f" at={self.at}" if self.at else "") + (f" layout={self.layout}" if self.layout else "")
        return " | ".join(parts) + extra


def _build_layer(kind, settings, shape, question):
    from . import calculators
    from .layers import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, Flatten, ReLU

    v = settings
    if kind == "relu":
        return ReLU()
    if kind == "flatten":
        return Flatten()
    if kind == "gap":
        rank = len(shape) - 1
        return (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d)[rank - 1](1)
    if kind == "batchnorm":
        return calculators.build("batchnorm", shape).model
    if kind == "pad":
        return calculators.build("pad", shape, padding=_need(v, "p", question)).model
    if kind not in ("linear",) and v.get("k") is None:
        raise ShapeError(f"{question.where}: the kernel size k= is missing")
    common = dict(kernel_size=v.get("k"), padding=v.get("p", 0), tf_same=v.get("tf", False))
    if kind == "linear":
        return calculators.build("linear", shape, out=_need(v, "out", question), bias=v.get("bias", True)).model
    if kind == "conv":
        return calculators.build("conv", shape, out=_need(v, "out", question), stride=v.get("s", 1),
                                 dilation=v.get("d", 1), groups=v.get("g", 1), bias=v.get("bias", True), **common).model
    if kind == "convtranspose":
        return calculators.build("convtranspose", shape, out=_need(v, "out", question), kernel_size=v.get("k"),
                                 stride=v.get("s", 1), padding=v.get("p", 0), output_padding=v.get("op", 0),
                                 dilation=v.get("d", 1), groups=v.get("g", 1), bias=v.get("bias", True)).model
    extra = {"dilation": v.get("d", 1)} if kind == "maxpool" else {}
    return calculators.build(kind, shape, stride=v.get("s"), ceil_mode=v.get("ceil", False), **common, **extra).model


def _need(values, key, question):
    if key not in values:
        raise ShapeError(f"{question.where}: {key}= is missing")
    return values[key]


def _show(value):
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _setting(key, value, where):
    """One layer setting: an int, one per axis (3x5 or [3, 5]), a boolean for bias/ceil/tf, or for p a padding word."""
    if key in ("bias", "ceil", "tf"):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1"):
            return True
        if str(value).lower() in ("false", "no", "0"):
            return False
        raise ShapeError(f"{where}: {key} must be true or false, got {value!r}")
    if key == "p" and str(value).lower() in ("same", "valid"):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 3:
            raise ShapeError(f"{where}: {key} must be one integer or one per axis, got {value!r}")
        return tuple(_int(v, f"{where}: {key}") for v in value)
    if isinstance(value, str) and "x" in value:
        parts = value.split("x")
        if len(parts) > 3:
            raise ShapeError(f"{where}: {key} must be one integer or one per axis such as 3x5, got {value!r}")
        return tuple(_int(p, f"{where}: {key}") for p in parts)
    return _int(value, f"{where}: {key}")


def _kind(name, where):
    text = str(name)
    kind = _KINDS.get(text.lower())
    if kind is not None:
        return kind, None
    if text.lower().endswith(_MODEL_SUFFIXES):
        return Path(text).stem, text
    from . import zoo

    if text in zoo.models():
        return text, None
    raise ShapeError(f"{where}: unknown layer or model {name!r} (use conv, convtranspose, maxpool, avgpool, linear, bn, "
                     "relu, flatten, pad, gap, a zoo name or a .py/.yaml/.json file)")


def _question_setting(question_values, key, value, where):
    if key in question_values:
        raise ShapeError(f"{where}: {key}= is given twice")
    if key == "layout":
        value = check_layout(str(value).lower())
    elif key == "dtype":
        if value not in DTYPE_BYTES:
            raise ShapeError(f"{where}: dtype must be one of {', '.join(DTYPE_BYTES)}, got {value!r}")
    elif key == "batch":
        value = _int(value, f"{where}: batch")
    question_values[key] = value


def parse_inline(text: str, where: str = "inline question", base: str | Path | None = None) -> Question:
    """Parse ``conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944`` (see the module docstring)."""
    if not isinstance(text, str) or "->" not in text:
        raise ShapeError(f"{where}: expected 'KIND key=value ... -> answers', got {text!r}")
    left, right = text.split("->", 1)
    parts = [part.split() for part in left.split("|")]
    if not parts[0]:
        raise ShapeError(f"{where}: the layer kind is missing in {text!r}")
    common: dict = {}
    stack = []
    path = None
    kind = None
    for tokens in parts:
        if not tokens:
            raise ShapeError(f"{where}: an empty layer between '|' in {text!r}")
        kind, path = _kind(tokens[0], where)
        if (kind not in _SETTINGS) and len(parts) > 1:
            raise ShapeError(f"{where}: a stack is made of layers, not models ({tokens[0]!r})")
        settings = {}
        allowed = _SETTINGS.get(kind, ())
        for token in tokens[1:]:
            match = _TOKEN.fullmatch(token)
            if not match or match.group(2):
                raise ShapeError(f"{where}: {token!r} is not key=value")
            key, _, value = match.groups()
            if key in _QUESTION_SETTINGS:
                if key == "class" and kind in _SETTINGS:
                    raise ShapeError(f"{where}: class= names a class of a .py file")
                _question_setting(common, key, value, where)
            elif key in settings:
                raise ShapeError(f"{where}: {key}= is given twice")
            elif key in allowed:
                settings[key] = _setting(key, value, where)
            else:
                raise ShapeError(f"{where}: {kind} takes {', '.join(('in',) + allowed) or 'in, at'}, not {key}=")
        stack.append((kind, settings))
    if "in" not in common:
        raise ShapeError(f"{where}: the input shape in=CxHxW is missing")
    answers: dict = {}
    per_layer: dict = {}
    for i, token in enumerate(right.split()):
        match = _TOKEN.fullmatch(token)
        if match:
            key, layer, value = match.groups()
            name = _answer_key(key, where)
            target = per_layer.setdefault(layer, {}) if layer else answers
            if name in target:
                raise ShapeError(f"{where}: {key}= is given twice")
            target[name] = _answer(name, value, f"{where}: {key}")
        elif i == 0:
            answers["output_shape"] = _answer("output_shape", token, where)
        else:
            raise ShapeError(f"{where}: {token!r} is not key=value (answers are shape, params, macs, flops, rf, jump, "
                             "params_memory, activations)")
    if not answers and not per_layer:
        raise ShapeError(f"{where}: no answer after '->'")
    if path is not None and base is not None and not os.path.isabs(path):
        path = os.path.join(str(base), path)
    first_kind, first_settings = stack[0]
    return Question(first_kind, first_settings if len(stack) == 1 else {}, parse_shape(common["in"]), answers,
                    at=common.get("at"), stack=tuple(stack) if len(stack) > 1 else (), path=path, cls=common.get("class"),
                    layout=common.get("layout"), dtype=common.get("dtype", "float32"), batch=common.get("batch", 1),
                    per_layer=per_layer)


def _question(item, index, base):
    where = f"question {item.get('id', index + 1) if isinstance(item, dict) else index + 1}"
    if isinstance(item, str):
        question = parse_inline(item, where, base)
        question.id = str(index + 1)
        return question
    if not isinstance(item, dict):
        raise ShapeError(f"{where}: expected a mapping or a one-line question, got {item!r}")
    unknown = set(item) - {"id", "layer", "stack", "model", "input", "answers", "at", "class", "layout", "dtype", "batch"}
    if unknown:
        raise ShapeError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    if sum(k in item for k in ("layer", "stack", "model")) != 1:
        raise ShapeError(f"{where}: give exactly one of layer:, stack: or model:")
    if "input" not in item:
        raise ShapeError(f"{where}: input: is missing")
    answers, per_layer = _answers(item.get("answers"), where)
    qid = str(item.get("id", index + 1))
    common: dict = {}
    for key in ("layout", "dtype", "batch"):
        if key in item:
            _question_setting(common, key, item[key], where)
    options = dict(id=qid, at=None if item.get("at") is None else str(item["at"]), layout=common.get("layout"),
                   dtype=common.get("dtype", "float32"), batch=common.get("batch", 1), per_layer=per_layer)
    input_shape = parse_shape(str(item["input"]))
    if "model" in item:
        kind, path = _kind(item["model"], where)
        if kind in _SETTINGS:
            raise ShapeError(f"{where}: model: names a zoo model or a model file, not the layer {item['model']!r}")
        if path is not None and base is not None and not os.path.isabs(path):
            path = os.path.join(str(base), path)
        return Question(kind, {}, input_shape, answers, path=path, cls=item.get("class"), **options)
    layers = item["stack"] if "stack" in item else [item["layer"]]
    if not isinstance(layers, list) or not layers:
        raise ShapeError(f"{where}: stack: must be a list of layers such as 'conv out=8 k=3'")
    stack = tuple(_stack_layer(layer, where) for layer in layers)
    kind, settings = stack[0]
    return Question(kind, settings if len(stack) == 1 else {}, input_shape, answers,
                    stack=stack if len(stack) > 1 else (), **options)


def _stack_layer(layer, where):
    if isinstance(layer, str):
        parsed = parse_inline(f"{layer} in=1 -> params=0", where)
        if parsed.stack or parsed.is_network:
            raise ShapeError(f"{where}: {layer!r} is not one layer")
        return parsed.kind, parsed.settings
    if not isinstance(layer, dict) or "type" not in layer:
        raise ShapeError(f"{where}: a layer is a line such as 'conv out=96 k=11' or a mapping with type:")
    kind, _ = _kind(layer["type"], where)
    allowed = _SETTINGS.get(kind)
    if allowed is None:
        raise ShapeError(f"{where}: layer type {layer['type']!r} is a model: use model:")
    settings = {}
    for key, value in layer.items():
        if key == "type":
            continue
        if key not in allowed:
            raise ShapeError(f"{where}: {kind} takes {', '.join(allowed)}, not {key}")
        settings[key] = _setting(key, value, where)
    return kind, settings


def load_questions(data, base: str | Path | None = None) -> list:
    """Questions from parsed YAML/JSON: ``{questions: [...]}`` or a bare list; model files relative to ``base``."""
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ShapeError("a homework file holds a non-empty list under questions:")
    return [_question(item, i, base) for i, item in enumerate(items)]


def read_questions(path) -> list:
    """Questions from a .yaml/.yml (needs PyYAML: ``pip install cnncalc[yaml]``) or .json file."""
    from .frontends.spec import read_document

    path = str(path)
    data = read_document(path, yaml=path.lower().endswith((".yaml", ".yml")))  # size, nesting, digits; no aliases
    try:
        return load_questions(data, os.path.dirname(os.path.abspath(path)))
    except ShapeError as exc:
        raise ShapeError(str(exc) if str(exc).startswith(path) else f"{path}: {exc}") from None


# --- grading ---------------------------------------------------------------------------------------------------


@dataclass
class Mark:
    """One graded answer: ``notes`` say how it was read (channels last, rounded, MiB), ``explanation`` why the
    correct value is what it is (when the answer is wrong)."""

    question: str
    answer: str
    given: object
    correct: object
    right: bool
    explanation: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    layer: str | None = None


@dataclass
class Grade:
    """All graded answers and the score; ``render()`` prints them in ``lang``, Jupyter shows HTML."""

    marks: list
    lang: str = "en"
    notices: dict = field(default_factory=dict)  # question title -> lines about how its input was read

    @property
    def score(self):
        return sum(m.right for m in self.marks)

    @property
    def total(self):
        return len(self.marks)

    @property
    def all_right(self):
        return self.score == self.total

    def to_dict(self):
        return {
            "score": self.score, "total": self.total,
            "answers": [
                {"question": m.question, "answer": m.answer, "layer": m.layer, "given": _plain(m.given),
                 "correct": _plain(m.correct), "right": m.right, "notes": m.notes, "explanation": m.explanation}
                for m in self.marks
            ],
            "notices": self.notices,
        }

    def _answer_name(self, mark):
        name = i18n.text(f"check.answer.{mark.answer}", self.lang)
        return f"{name}@{mark.layer}" if mark.layer else name

    def render(self) -> str:
        lang, c = self.lang, i18n.colon(self.lang)
        lines, current = [], None
        for m in self.marks:
            if m.question != current:
                current = m.question
                lines.append(current)
                lines.extend(f"  {n}" for n in self.notices.get(current, ()))
            verdict = i18n.text("check.right", lang) if m.right else i18n.text("check.wrong", lang, correct=_correct_text(m))
            if m.notes:
                joined = "; ".join(m.notes) if lang == "en" else "；".join(m.notes)
                verdict += f" ({joined})" if lang == "en" else f"（{joined}）"
            lines.append(f"  [{'x' if m.right else ' '}] {self._answer_name(m)} = {_plain(m.given)}{c}{verdict}")
            lines.extend(f"        {line}" for line in m.explanation)
        percent = round(100 * self.score / self.total) if self.total else 0
        lines.append(i18n.text("check.score", lang, score=self.score, total=self.total, percent=percent))
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.render()

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.render())

    def _repr_html_(self) -> str:
        from html import escape

        rows, current = [], None
        for m in self.marks:
            if m.question != current:
                current = m.question
                notes = "".join(f"<br><em>{escape(n)}</em>" for n in self.notices.get(current, ()))
                rows.append(f"<tr><th colspan='4' style='text-align:left'><code>{escape(current)}</code>{notes}</th></tr>")
            verdict = (i18n.text("check.right", self.lang) if m.right
                       else i18n.text("check.wrong", self.lang, correct=_correct_text(m)))
            detail = "".join(f"<br><em>{escape(n)}</em>" for n in m.notes)
            detail += "".join(f"<br><code>{escape(line)}</code>" for line in m.explanation)
            rows.append(f"<tr><td>{'✓' if m.right else '✗'}</td><td>{escape(self._answer_name(m))}</td>"
                        f"<td><code>{escape(str(_plain(m.given)))}</code></td><td>{escape(verdict)}{detail}</td></tr>")
        percent = round(100 * self.score / self.total) if self.total else 0
        score = i18n.text("check.score", self.lang, score=self.score, total=self.total, percent=percent)
        return f"<div class='cnncalc-check'><table>{''.join(rows)}</table><strong>{escape(score)}</strong></div>"


def _correct_text(mark):
    """The correct value as the verdict writes it: grouped digits when the answer was rounded or grouped, one
    receptive-field size when every axis has it."""
    if mark.answer in ("params_memory", "activations") and isinstance(mark.given, Amount) and mark.given.unit:
        return _bytes(mark.correct, mark.given.unit)
    if isinstance(mark.correct, int) and isinstance(mark.given, Amount) and not mark.given.text.isdigit():
        return f"{mark.correct:,}"
    if mark.answer in ("receptive_field", "jump") and len(set(mark.correct)) == 1 and len(mark.given) == 1:
        return _plain(mark.correct[0])
    return _plain(mark.correct)


def _plain(value):
    if isinstance(value, tuple):
        return format_shape(value)
    if isinstance(value, Amount):
        return value.text
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return value


@dataclass
class _Truth:
    """The correct values of one question (of one layer for ``at=`` and per-layer answers) and the rows behind them."""

    values: dict
    rows: list  # the rows whose parameters and MACs the answers count
    report: object
    row: object = None  # the layer the answers are about, if one
    chain: list = field(default_factory=list)  # the rows up to that layer: where its shape and receptive field come from


def _truth(report, question, at=None):
    rows = report.layers
    if at is not None:  # that layer's own parameters and MACs; its output and receptive field
        row = _row_at(report, at, question)
        own = _layer_rows(report, row, question)
        rf = row.receptive_field
        return _Truth({"output_shape": row.output_shape, "params": sum(r.params for r in own),
                       "macs": sum(r.macs for r in own), "flops": 2 * sum(r.macs for r in own),
                       "receptive_field": None if rf is None else rf.size, "jump": None if rf is None else rf.stride},
                      own, report, row, rows[: rows.index(row) + 1] if question.stack else own)
    rf = report.receptive_field
    size = DTYPE_BYTES[question.dtype]
    values = {"output_shape": report.output_shape, "params": report.params, "macs": report.macs,
              "receptive_field": None if rf is None else rf.size, "jump": None if rf is None else rf.stride,
              "params_memory": report.params * size, "activations": _activation_values(report) * size * report.batch}
    values["flops"] = 2 * values["macs"]
    return _Truth(values, list(rows), report, chain=list(rows))


def _activation_values(report):
    """The values a forward pass stores: the input and every layer's output, in-place layers and views aside."""
    from .dims import product

    return product(report.input_shape) + sum(r.output_numel for r in report.layers if r.type not in IN_PLACE)


def _row_at(report, at, question):
    if question.stack and str(at).isdigit():  # a stack's layers are counted from 1
        n = int(at)
        starts = _stack_rows(report, question)
        if not 1 <= n <= len(starts):
            raise ShapeError(f"{question.where}: at={at}: the stack has {len(starts)} layers")
        return starts[n - 1]
    for row in report.layers:
        if row.name == at:
            return row
    raise ShapeError(f"{question.where}: no layer named {at!r} in {question.kind}")


def _layer_rows(report, row, question):
    """The rows of the layer ``row`` ends: one, or in a stack all the steps of that layer (flatten and linear)."""
    if not question.stack:
        return [row]
    first = row.name.split(".")[0]
    return [r for r in report.layers if r.name == first or r.name.startswith(first + ".")]


def _stack_rows(report, question):
    """For each layer of a stack, the row of its last step (a linear after a map is flatten then linear)."""
    out = []
    for i in range(len(question.layers)):
        mine = [r for r in report.layers if r.name == str(i) or r.name.startswith(f"{i}.")]
        out.append(mine[-1])
    return out


def _ordinal(n, lang):
    if lang == "zh":
        return str(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def grade(questions, *, lang=None, layout=None) -> Grade:
    """Grade each answer of each question against the analysis (``layout``: the default for every question)."""
    lang = i18n.check_lang(lang)
    marks, notices = [], {}
    for question in questions:
        title, notes, report, model = _analysed(question, lang, layout)
        if notes:
            notices[title] = notes
        truth = _truth(report, question, question.at)
        for answer in ANSWER_KEYS:
            if answer in question.answers:
                marks.append(_mark(question, title, answer, question.answers[answer], truth, model, lang))
        first_wrong = None
        for layer, answers in _in_network_order(question, report):
            layer_truth = _truth(report, question, layer)
            for answer in ANSWER_KEYS:
                if answer not in answers:
                    continue
                mark = _mark(question, title, answer, answers[answer], layer_truth, model, lang, layer)
                if not mark.right and first_wrong is None:
                    first_wrong = mark
                    row = layer_truth.row
                    mark.explanation.insert(0, i18n.text("check.first_wrong", lang, name=row.name or layer, type=row.type))
                marks.append(mark)
    return Grade(marks, lang, notices)


def _in_network_order(question, report):
    if not question.per_layer:
        return []
    order = {}
    for name in question.per_layer:
        row = _row_at(report, name, question)
        order[name] = report.layers.index(row)
    return sorted(question.per_layer.items(), key=lambda item: order[item[0]])


def _analysed(question, lang, default_layout):
    """(title, notices, report, model): the question analysed on its input read as its layout says."""
    layout = question.layout or default_layout
    title = (i18n.text("check.question", lang, id=question.id) + i18n.colon(lang) + question.title if question.id
             else question.title)
    typed = question.input_shape
    if question.kind == "linear" and not question.stack:
        layout = layout or "chw"  # a vector or a map to flatten: any order has the same features

    def run(shape):
        model = question.build(shape)
        return analyze(model, shape, warn=False, layout="chw", batch=question.batch)

    notes = []
    if question.stack and question.at is not None and str(question.at).isdigit():
        n = int(question.at)
        if 1 <= n <= len(question.layers):
            notes.append(i18n.text("check.at", lang, at=question.at, nth=_ordinal(n, lang), type=question.layers[n - 1][0]))
    if layout == "hwc":
        shape = to_channels_first(typed)
        notes.append(i18n.text("check.layout_hwc", lang, typed=format_shape(typed), first=format_shape(shape)))
    elif layout is None and looks_channels_last(typed):
        from .calculators import read_input

        shape, _ = read_input(typed, None, lang, run)  # refuses (saying the other reading) when only that one works
        other = _other_reading(question, run, to_channels_first(typed), lang)
        if other:
            notes.append(i18n.text("check.layout_note", lang, shape=format_shape(typed), c=typed[0],
                                   first=format_shape(to_channels_first(typed)), answers=other))
    else:
        shape = typed
    first_kind = question.layers[0][0]
    if not question.is_network and first_kind in _WINDOWED and len(shape) == 2 and shape[0] > 4:
        layer = {"conv": "Conv1d", "convtranspose": "ConvTranspose1d", "maxpool": "MaxPool1d", "avgpool": "AvgPool1d"}
        notes.append(i18n.text("layout.one_d", lang, shape=format_shape(shape), c=shape[0], n=shape[1], layer=layer[first_kind]))
    report = run(shape)
    return title, notes, report, question.build(shape)


def _other_reading(question, run, shape, lang):
    """The answers the question asks for, under the channels-last reading (for the notice), or ''."""
    try:
        report = run(shape)
    except ShapeError:
        return ""
    truth = _truth(report, question, question.at).values
    parts = []
    for answer in ANSWER_KEYS:
        if answer in question.answers and truth.get(answer) is not None:
            parts.append(f"{i18n.text(f'check.answer.{answer}', lang)} {_shown(truth[answer])}")
    return ("，" if lang == "zh" else ", ").join(parts)


def _shown(value):
    return format_shape(value) if isinstance(value, tuple) else f"{value:,}" if isinstance(value, int) else str(value)


def _mark(question, title, answer, given, truth, model, lang, layer=None):
    correct = truth.values.get(answer)
    if correct is None:
        raise ShapeError(f"{question.where}: the output has no receptive field (its spatial map ended)")
    notes = []
    if answer == "output_shape":
        right = tuple(given) == tuple(correct)
        if not right:
            right, notes = _channels_last_answer(given, correct, lang)
    elif answer in ("receptive_field", "jump"):
        right = tuple(given) * (len(correct) if len(given) == 1 else 1) == tuple(correct)
    else:
        right, notes = _amount_right(given, answer, correct, truth, question, lang)
    explanation = [] if right else _explanation(question, model, answer, given, truth, lang)
    return Mark(title, answer, given, correct, right, explanation, notes, layer)


def _channels_last_answer(given, correct, lang):
    """A shape answered channels last: right when its channels-first reading is the answer and unambiguous."""
    if len(given) != len(correct) or len(correct) < 2 or to_channels_first(tuple(given)) != tuple(correct):
        return False, []
    chw = format_shape(correct)
    if correct[0] in correct[1:]:  # 8x8x8-like or C equal to a spatial size: the reading is not certain
        return False, [i18n.text("check.hwc_ambiguous", lang, given=format_shape(given), chw=chw)]
    return True, [i18n.text("check.hwc_answer", lang, given=format_shape(given), chw=chw)]


def _amount_right(given, answer, correct, truth, question, lang):
    """(right, notes) for a count or a memory size, exact or rounded."""
    notes = []
    if answer in ("params_memory", "activations") and given.unit is None:
        correct_values = correct // DTYPE_BYTES[question.dtype]  # answered in values, not bytes
        right = given.matches(correct_values)
        if right and given.tolerance:
            notes.append(_tolerance(given, correct_values, lang))
        return right, notes
    right = given.matches(correct)
    if right and given.tolerance:
        notes.append(_tolerance(given, correct, lang, given.unit))
    binary = _as_binary(given)
    if not right and binary is not None and binary.matches(correct):  # MB read as MiB, said so
        notes.append(i18n.text("check.mib", lang, value=_bytes(correct, binary.unit)))
        right = True
    if not right and answer == "activations":  # every layer's output kept, ReLU's too, the input not
        report = truth.report
        alternative = sum(r.output_numel for r in report.layers) * DTYPE_BYTES[question.dtype] * report.batch
        if given.matches(alternative) or (binary is not None and binary.matches(alternative)):
            notes.append(i18n.text("check.activations_all", lang, value=_bytes(alternative, given.unit)))
            right = True
    if not right and answer == "flops" and given.matches(truth.values["macs"]):
        notes.append(i18n.text("check.flops_are_macs", lang, given=given.text, flops=f"{truth.values['flops']:,}"))
    if not right and answer == "macs" and "flops" in truth.values and given.matches(truth.values["flops"]):
        notes.append(i18n.text("check.macs_are_flops", lang, given=given.text, macs=f"{correct:,}"))
    if not right and answer == "params":
        notes += _params_mistakes(given, truth, question, lang)
    return right, notes


def _as_binary(given):
    """The same answer read with MB as MiB (KB as KiB, GB as GiB), or None when the unit is not one of those."""
    if not given.binary:
        return None
    k = {10**3: 1, 10**6: 2, 10**9: 3}[given.unit]
    ratio = Fraction(1024**k, 1000**k)
    return Amount(given.value * ratio, given.tolerance * ratio, given.text, 1024**k)


def _bytes(value, unit):
    """``553,430,176 B = 527.80 MiB``: a byte count and the same in the answer's unit."""
    names = {10**3: "KB", 10**6: "MB", 10**9: "GB", 10**12: "TB", 2**10: "KiB", 2**20: "MiB", 2**30: "GiB"}
    if unit in names:
        return f"{value:,} B = {value / unit:.2f} {names[unit]}"
    return f"{value:,} B"


def _tolerance(given, value, lang, unit=None):
    low, high = given.value - given.tolerance, given.value + given.tolerance
    return i18n.text("check.tolerance", lang, given=given.text, low=_number(low, given), high=_number(high, given),
                     value=f"{value:,}" + (" B" if unit else ""))


def _number(value, given):
    """A bound of a rounded answer, written in the answer's own scale and unit (137.5M, 92.5MB)."""
    match = _ROUNDED.fullmatch(given.text.strip())
    scale, unit = match["scale"], match["unit"]
    size = given.unit if given.unit is not None else _SCALES[scale.lower()]
    return f"{float(value / size):.6g}{scale}{unit}"


def _params_mistakes(given, truth, question, lang):
    """Known wrong counts, named: without the biases, with the BatchNorm buffers, one filter only."""
    report = truth.report
    rows = truth.rows
    params = sum(r.params for r in rows)
    biases = sum(r.bias_params for r in rows)
    buffers = sum(r.buffers for r in rows)
    notes = []
    if biases and given.matches(params - biases):
        notes.append(i18n.text("check.no_bias", lang, given=given.text, biases=f"{biases:,}"))
    if buffers and given.matches(params + buffers):
        notes.append(i18n.text("check.with_buffers", lang, given=given.text, buffers=f"{buffers:,}"))
    convs = [r for r in rows if getattr(r.layer, "out_channels", None) and r.params]
    if len(convs) == 1 and len(report.layers) <= 2:
        filters = convs[0].layer.out_channels
        if isinstance(filters, int) and params % filters == 0 and given.matches(params // filters):
            notes.append(i18n.text("check.per_filter_only", lang, given=given.text, filters=filters))
    return notes


def _explanation(question, model, answer, given, truth, lang):
    """Why the correct value is what it is, in a few lines: one layer's derivation (explain); for a network
    the block-by-block chain, where a wrong shape comes from, the largest layer's derivation."""
    from .render.explain import explain

    rows = truth.rows if answer in ("params", "macs") else truth.chain
    many = len(rows) > 1
    if answer in ("params_memory", "activations"):
        return _memory_explanation(question, answer, truth, lang)
    if answer == "flops":
        return [f"FLOPs = 2 × MACs = 2 × {truth.values['macs']:,} = {truth.values['flops']:,}"]
    leaves = [r for r in rows if r.layer is not None]
    if many and (question.is_network or len(rows) > 6):
        return _network_explanation(answer, given, truth, model, lang)
    keys = {"output_shape": ("output", "flatten"), "params": ("per_filter", "params", "bn_params"), "macs": ("macs",),
            "receptive_field": ("rf_size",), "jump": ("rf_jump",)}[answer]
    wanted = {i18n.text(f"explain.{key}", lang, axis="") for key in keys}
    names = {r.name for r in leaves}
    out = []
    explanation = explain(model, truth.report.input_shape, lang=lang)
    for layer in explanation.layers:
        if layer.name not in names:
            continue
        for line in layer.lines:
            if any(w == line.label or (answer in ("receptive_field", "jump") and w.split("（")[0] in line.label)
                   for w in wanted) and not (line.note or line.plain):
                head = _row_label(question, layer.name, layer.type, lang) if many else ""
                named = "" if line.lhs else f"{line.label}{i18n.colon(lang)}"  # the label names a quantity with no symbol
                out.append(head + named + " = ".join(([line.lhs] if line.lhs else []) + line.steps))
    if many and answer in ("params", "macs"):
        parts = [getattr(r, answer) for r in rows if getattr(r, answer)]
        out.append(f"{i18n.text('explain.total', lang)} = {' + '.join(str(v) for v in parts)} = {sum(parts)}")
    return out


def _row_label(question, name, kind, lang):
    """``features.0 (Conv2d): `` for a model's layer; a stack's layers by position from 1, as at= counts them."""
    if question.stack and name:
        first, _, rest = name.partition(".")
        name = str(int(first) + 1) + (f".{rest}" if rest else "") if first.isdigit() else name
    return i18n.text("check.row", lang, name=name, type=kind)


def _network_explanation(answer, given, truth, model, lang):
    """A network's answer in at most a dozen lines: blocks, not layers."""
    from .render.explain import explain

    report = truth.report
    rows = truth.rows
    out = []
    if answer == "output_shape":
        for row in reversed(rows[:-1]):  # the last layer with that shape: where the student stopped
            if row.output_shape in (tuple(given), to_channels_first(tuple(given)) if len(given) > 1 else ()):
                out.append(i18n.text("check.is_output_of", lang, given=format_shape(given), name=row.name, type=row.type,
                                     final=format_shape(truth.values["output_shape"])))
                break
        out.append(i18n.text("check.chain", lang))
        for name, first, last in _blocks(rows):
            if first.input_shape != last.output_shape:
                out.append(f"  {name}{i18n.colon(lang)}{format_shape(first.input_shape)} -> {format_shape(last.output_shape)}")
        return out
    if answer in ("params", "macs"):
        out.append(i18n.text("check.by_block", lang))
        parts = []
        for name, first, last in _blocks(rows):
            block = [r for r in rows if _block_name(r) == name]
            value = sum(getattr(r, answer) for r in block)
            if value:
                parts.append(value)
                out.append(f"  {name}{i18n.colon(lang)}{value:,}")
        out.append(f"  {i18n.text('explain.total', lang)} = {' + '.join(f'{v:,}' for v in parts)} = {sum(parts):,}")
        largest = max(rows, key=lambda r: getattr(r, answer) or 0)
        if getattr(largest, answer):
            out.append(i18n.text("check.largest", lang))
            for layer in explain(model, report.input_shape, lang=lang).layers:
                if layer.name == largest.name:
                    label = i18n.text(f"explain.{answer}", lang)
                    line = next(line for line in layer.lines if line.label == label)
                    out.append("  " + i18n.text("check.row", lang, name=layer.name, type=layer.type) + " = ".join(line.steps))
        return out
    # receptive field: where each block leaves it
    for name, first, last in _blocks(rows):
        rf = last.receptive_field
        if rf is not None:
            size = rf.size if answer == "receptive_field" else rf.stride
            out.append(f"  {name}{i18n.colon(lang)}{format_shape(size) if len(set(size)) > 1 else size[0]}")
    return out


def _block_name(row):
    return row.name.split(".")[0] if row.name else row.type


def _blocks(rows):
    """(block name, first row, last row) for the top-level blocks, in order."""
    out = []
    for row in rows:
        name = _block_name(row)
        if out and out[-1][0] == name:
            out[-1][2] = row
        else:
            out.append([name, row, row])
    return [tuple(b) for b in out]


def _memory_explanation(question, answer, truth, lang):
    size = DTYPE_BYTES[question.dtype]
    report = truth.report
    if answer == "params_memory":
        return [f"{report.params:,} × {size} B = {report.params * size:,} B = {report.params * size / 1e6:.2f} MB "
                f"= {report.params * size / 2**20:.2f} MiB ({i18n.text('check.params_memory_rule', lang, size=size, dtype=question.dtype)})"]
    values = _activation_values(report) * report.batch
    total = values * size
    return [i18n.text("check.activations_rule", lang, count=f"{values:,}", size=size),
            f"{values:,} × {size} B = {total:,} B = {total / 1e6:.2f} MB = {total / 2**20:.2f} MiB"]


def check_file(path: str | Path, *, lang: str | None = None, layout: str | None = None) -> Grade:
    """Grade a homework file (YAML or JSON)."""
    return grade(read_questions(path), lang=lang, layout=layout)


def check_inline(text: str, *, lang: str | None = None, layout: str | None = None) -> Grade:
    """Grade one line such as ``conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944``."""
    return grade([parse_inline(text, base=os.getcwd())], lang=lang, layout=layout)


__all__ = ["Question", "Mark", "Grade", "Amount", "parse_inline", "load_questions", "read_questions", "grade",
           "check_file", "check_inline", "ANSWER_KEYS"]
