"""Homework checking: grade a student's answers (output shape, params, MACs, receptive field) for a
layer or a model on an input, with the explanation of the correct value where an answer is wrong.

A homework file (YAML through ``yaml.safe_load``, or JSON) holds ``questions``, each::

    - id: q1                                  # optional
      layer: conv out=96 k=11 s=4 p=0         # or  model: alexnet  (optionally  at: features.0)
      input: 3x227x227
      answers: {output_shape: 96x55x55, params: 34944, macs: 105415200, receptive_field: 11}

One question also fits on one line, parsed by a strict small grammar (never ``eval``)::

    conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944

    line    := kind setting* "->" [shape] answer*
    kind    := conv | convtranspose | maxpool | avgpool | linear | a zoo model name
    setting := key "=" value      (in, out, k, s, p, d, g, op, bias, ceil, at)
    answer  := key "=" value      (shape, params, macs, rf)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .analysis import analyze
from .dims import format_shape, parse_shape, product
from .limits import check_digits, check_int
from .errors import ShapeError
from .layers import AvgPool2d, Conv2d, ConvTranspose2d, Linear, MaxPool2d

ANSWER_KEYS = ("output_shape", "params", "macs", "receptive_field")
_ANSWER_ALIASES = {"shape": "output_shape", "output": "output_shape", "output_shape": "output_shape",
                   "params": "params", "parameters": "params", "macs": "macs", "rf": "receptive_field",
                   "receptive_field": "receptive_field"}
_KINDS = {"conv": "conv", "conv2d": "conv", "convtranspose": "convtranspose", "deconv": "convtranspose",
          "convtranspose2d": "convtranspose", "maxpool": "maxpool", "pool": "maxpool", "maxpool2d": "maxpool",
          "avgpool": "avgpool", "avgpool2d": "avgpool", "linear": "linear", "fc": "linear"}
_SETTINGS = {
    "conv": ("out", "k", "s", "p", "d", "g", "bias"),
    "convtranspose": ("out", "k", "s", "p", "op", "d", "g", "bias"),
    "maxpool": ("k", "s", "p", "d", "ceil"),
    "avgpool": ("k", "s", "p", "ceil"),
    "linear": ("out", "bias"),
}
_TOKEN = re.compile(r"([a-z_]+)=(\S+)")
_INT = re.compile(r"[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+")  # 34944, 34,944 or 34_944


# --- questions -------------------------------------------------------------------------------------------


@dataclass
class Question:
    """A layer (kind + settings) or a zoo model, an input shape, and the student's answers."""

    kind: str
    settings: dict
    input_shape: tuple
    answers: dict
    id: str = ""
    at: str | None = None

    def build(self):
        """The layer or model the question is about."""
        if self.kind not in _SETTINGS:
            from . import zoo

            return zoo.model(self.kind)
        v, c_in = self.settings, self.input_shape[0]
        k = v.get("k")
        if k is None and self.kind != "linear":
            raise ShapeError(f"{self.where}: the kernel size k= is missing")
        bias = v.get("bias", True)
        if self.kind == "conv":
            return Conv2d(c_in, _need(v, "out", self), k, v.get("s", 1), v.get("p", 0), v.get("d", 1), v.get("g", 1), bias)
        if self.kind == "convtranspose":
            return ConvTranspose2d(c_in, _need(v, "out", self), k, v.get("s", 1), v.get("p", 0), v.get("op", 0),
                                   v.get("g", 1), bias, v.get("d", 1))
        if self.kind == "maxpool":
            return MaxPool2d(k, v.get("s"), v.get("p", 0), v.get("d", 1), ceil_mode=v.get("ceil", False))
        if self.kind == "avgpool":
            return AvgPool2d(k, v.get("s"), v.get("p", 0), ceil_mode=v.get("ceil", False))
        return Linear(self.layer_input[0], _need(v, "out", self), bias)

    @property
    def layer_input(self):
        """The shape the layer or model reads: for linear, the input flattened (in=3x4x5 is 60 features)."""
        return (product(self.input_shape),) if self.kind == "linear" else self.input_shape

    @property
    def where(self):
        """How error messages name the question."""
        return f"question {self.id}" if self.id else repr(self.title)

    @property
    def title(self):
        if self.kind not in _SETTINGS:
            return f"{self.kind}{' at ' + self.at if self.at else ''} on {format_shape(self.input_shape)}"
        settings = " ".join(f"{k}={_show(v)}" for k, v in self.settings.items())
        return f"{self.kind} in={format_shape(self.input_shape)} {settings}".strip()


def _need(values, key, question):
    if key not in values:
        raise ShapeError(f"{question.where}: {key}= is missing")
    return values[key]


def _show(value):
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _int(text, what):
    """A non-negative integer; digits may be grouped in threes with , or _ (34,944), nothing else (2,24 is
    not 224)."""
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ShapeError(f"{what}: expected an integer, got {_brief(text)}")
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


def _setting(key, value, where):
    """One layer setting: an int, a pair (3x5 or [3, 5]), or a boolean for bias/ceil."""
    if key in ("bias", "ceil"):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1"):
            return True
        if str(value).lower() in ("false", "no", "0"):
            return False
        raise ShapeError(f"{where}: {key} must be true or false, got {value!r}")
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ShapeError(f"{where}: {key} must be one integer or a pair, got {_brief(value)}")
        return tuple(_int(v, f"{where}: {key}") for v in value)
    if isinstance(value, str) and "x" in value:
        parts = value.split("x")
        if len(parts) != 2:
            raise ShapeError(f"{where}: {key} must be one integer or a pair such as 3x5, got {_brief(value)}")
        return tuple(_int(p, f"{where}: {key}") for p in parts)
    return _int(value, f"{where}: {key}")


def _shape_answer(value, where):
    if isinstance(value, (list, tuple)) and value:
        return tuple(_int(v, where) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (_int(value, where),)
    if not isinstance(value, str):
        raise ShapeError(f"{where}: expected a shape such as 96x55x55, got {_brief(value)}")
    try:
        return parse_shape(value)
    except ShapeError as exc:
        raise ShapeError(f"{where}: {exc}") from None


def _rf_answer(value, where):
    """A receptive-field answer: one size (square), AxB, or a mapping with ``size``."""
    if isinstance(value, dict):
        if "size" not in value:
            raise ShapeError(f"{where}: a receptive_field mapping needs a size")
        value = value["size"]
    dims = _shape_answer(value, where)
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2:
        raise ShapeError(f"{where}: expected one receptive-field size or HxW, got {value!r}")
    return dims


def _answers(raw, where):
    if not isinstance(raw, dict) or not raw:
        raise ShapeError(f"{where}: answers must be a mapping such as {{output_shape: 96x55x55, params: 34944}}")
    out = {}
    for key, value in raw.items():
        name = _ANSWER_ALIASES.get(str(key).lower())
        if name is None:
            raise ShapeError(f"{where}: unknown answer {key!r} (use {', '.join(ANSWER_KEYS)})")
        if name == "output_shape":
            out[name] = _shape_answer(value, f"{where}: {key}")
        elif name == "receptive_field":
            out[name] = _rf_answer(value, f"{where}: {key}")
        else:
            out[name] = _int(value, f"{where}: {key}")
    return out


def _kind(name, where):
    kind = _KINDS.get(str(name).lower())
    if kind is not None:
        return kind
    from . import zoo

    if str(name) in zoo.models():
        return str(name)
    raise ShapeError(f"{where}: unknown layer or model {name!r} (use conv, convtranspose, maxpool, avgpool, linear or a zoo name)")


def parse_inline(text: str, where: str = "inline question") -> Question:
    """Parse ``conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944`` (see the module docstring)."""
    if not isinstance(text, str) or "->" not in text:
        raise ShapeError(f"{where}: expected 'KIND key=value ... -> answers', got {text!r}")
    left, right = text.split("->", 1)
    tokens = left.split()
    if not tokens:
        raise ShapeError(f"{where}: the layer kind is missing in {text!r}")
    kind = _kind(tokens[0], where)
    settings, input_text, at = {}, None, None
    allowed = _SETTINGS.get(kind, ())
    for token in tokens[1:]:
        match = _TOKEN.fullmatch(token)
        if not match:
            raise ShapeError(f"{where}: {token!r} is not key=value")
        key, value = match.groups()
        if key in settings or (key == "in" and input_text is not None):
            raise ShapeError(f"{where}: {key}= is given twice")
        if key == "in":
            input_text = value
        elif key == "at" and kind not in _SETTINGS:
            at = value
        elif key in allowed:
            settings[key] = _setting(key, value, where)
        else:
            raise ShapeError(f"{where}: {kind} takes {', '.join(('in',) + allowed) or 'in, at'}, not {key}=")
    if input_text is None:
        raise ShapeError(f"{where}: the input shape in=CxHxW is missing")
    answers = {}
    for i, token in enumerate(right.split()):
        match = _TOKEN.fullmatch(token)
        if match:
            answers[match.group(1)] = match.group(2)
        elif i == 0:
            answers["output_shape"] = token
        else:
            raise ShapeError(f"{where}: {token!r} is not key=value (answers are shape, params, macs, rf)")
    return Question(kind, settings, parse_shape(input_text), _answers(answers, where), at=at)


def _question(item, index):
    where = f"question {item.get('id', index + 1) if isinstance(item, dict) else index + 1}"
    if isinstance(item, str):
        question = parse_inline(item, where)
        question.id = str(index + 1)
        return question
    if not isinstance(item, dict):
        raise ShapeError(f"{where}: expected a mapping or a one-line question, got {item!r}")
    unknown = set(item) - {"id", "layer", "model", "input", "answers", "at"}
    if unknown:
        raise ShapeError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    if ("layer" in item) == ("model" in item):
        raise ShapeError(f"{where}: give exactly one of layer: or model:")
    if "input" not in item:
        raise ShapeError(f"{where}: input: is missing")
    input_shape = parse_shape(str(item["input"]))
    answers = _answers(item.get("answers"), where)
    qid = str(item.get("id", index + 1))
    if "model" in item:
        return Question(_kind(item["model"], where), {}, input_shape, answers, qid, item.get("at"))
    layer = item["layer"]
    if isinstance(layer, str):
        parsed = parse_inline(f"{layer} in={format_shape(input_shape)} -> params=0", where)
        return Question(parsed.kind, parsed.settings, input_shape, answers, qid)
    if not isinstance(layer, dict) or "type" not in layer:
        raise ShapeError(f"{where}: layer: must be a line such as 'conv out=96 k=11' or a mapping with type:")
    kind = _kind(layer["type"], where)
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
    return Question(kind, settings, input_shape, answers, qid)


def load_questions(data) -> list:
    """Questions from parsed YAML/JSON: ``{questions: [...]}`` or a bare list."""
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ShapeError("a homework file holds a non-empty list under questions:")
    return [_question(item, i) for i, item in enumerate(items)]


def read_questions(path) -> list:
    """Questions from a .yaml/.yml (needs PyYAML: ``pip install cnncalc[yaml]``) or .json file, read as spec
    files are (``frontends.spec.read_document``: size, nesting and digit limits, no YAML aliases)."""
    from .frontends.spec import read_document

    path = str(path)
    try:
        return load_questions(read_document(path, yaml=path.lower().endswith((".yaml", ".yml"))))
    except ShapeError as exc:
        raise ShapeError(str(exc) if str(exc).startswith(path) else f"{path}: {exc}") from None


# --- grading ---------------------------------------------------------------------------------------------------


@dataclass
class Mark:
    """One graded answer."""

    question: str
    answer: str
    given: object
    correct: object
    right: bool
    explanation: list = field(default_factory=list)


@dataclass
class Grade:
    """All graded answers and the score."""

    marks: list

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
                {"question": m.question, "answer": m.answer, "given": _plain(m.given), "correct": _plain(m.correct),
                 "right": m.right, "explanation": m.explanation}
                for m in self.marks
            ],
        }

    def render(self) -> str:
        lines, current = [], None
        for m in self.marks:
            if m.question != current:
                current = m.question
                lines.append(current)
            verdict = "right" if m.right else f"wrong: the answer is {_plain(m.correct)}"
            lines.append(f"  [{'x' if m.right else ' '}] {m.answer} = {_plain(m.given)}: {verdict}")
            lines.extend(f"        {line}" for line in m.explanation)
        percent = round(100 * self.score / self.total) if self.total else 0
        lines.append(f"Score: {self.score}/{self.total} ({percent}%)")
        return "\n".join(lines) + "\n"

    def __str__(self):
        return self.render()


def _plain(value):
    if isinstance(value, tuple):
        return format_shape(value)
    return value


def _row(report, at, question):
    for row in report.layers:
        if row.name == at:
            return row
    raise ShapeError(f"{question.where}: no layer named {at!r} in {question.kind}")


def _correct(question, report):
    """The true value of each answer the question asks for, and the rows that explain it."""
    if question.at is not None:
        row = _row(report, question.at, question)
        rf = row.receptive_field
        return {"output_shape": row.output_shape, "params": row.params, "macs": row.macs,
                "receptive_field": None if rf is None else rf.size}, [row]
    rf = report.receptive_field
    return {"output_shape": report.output_shape, "params": report.params, "macs": report.macs,
            "receptive_field": None if rf is None else rf.size}, report.layers


def _explanation(question, model, answer, rows, lang):
    """Why the correct value is what it is: a layer's own derivation (explain), or for a whole model
    the chain of shapes, the per-layer contributions and their sum, or each layer's receptive field."""
    from .render.explain import TEXT, explain

    words = TEXT[lang]
    if len(rows) > 1 and answer == "output_shape":
        return [f"{r.name}: {format_shape(r.input_shape)} -> {format_shape(r.output_shape)}"
                for r in rows if r.input_shape != r.output_shape]
    if len(rows) > 1 and answer in ("params", "macs"):
        parts = [(r.name, getattr(r, answer)) for r in rows if getattr(r, answer)]
        return [f"{name}: {value}" for name, value in parts] + [
            f"{words['total']} = {' + '.join(str(v) for _, v in parts)} = {sum(v for _, v in parts)}"
        ]
    label = {"output_shape": words["output"], "params": words["params"], "macs": words["macs"],
             "receptive_field": words["rf"]}[answer]
    names = {r.name for r in rows}
    out = []
    for layer in explain(model, question.layer_input, lang=lang).layers:
        if layer.name not in names:
            continue
        for line in layer.lines:
            if line.label.startswith(label) and not (line.note or line.plain):
                prefix = f"{layer.name}: " if len(rows) > 1 else ""
                out.append(prefix + " = ".join(([line.lhs] if line.lhs else []) + line.steps))
    return out


def grade(questions, *, lang="en") -> Grade:
    """Grade each answer of each question against the analysis."""
    marks = []
    for question in questions:
        model = question.build()
        report = analyze(model, question.layer_input, warn=False)
        correct, rows = _correct(question, report)
        title = f"Question {question.id}: {question.title}" if question.id else question.title
        for answer in ANSWER_KEYS:
            if answer not in question.answers:
                continue
            given, truth = question.answers[answer], correct[answer]
            if truth is None:
                raise ShapeError(f"{question.where}: the output has no receptive field (its spatial map ended)")
            right = tuple(given) == tuple(truth) if answer in ("output_shape", "receptive_field") else given == truth
            explanation = [] if right else _explanation(question, model, answer, rows, lang)
            marks.append(Mark(title, answer, given, truth, right, explanation))
    return Grade(marks)


def check_file(path: str | Path, *, lang: str = "en") -> Grade:
    """Grade a homework file (YAML or JSON)."""
    return grade(read_questions(path), lang=lang)


def check_inline(text: str, *, lang: str = "en") -> Grade:
    """Grade one line such as ``conv in=3x227x227 out=96 k=11 s=4 p=0 -> 96x55x55 params=34944``."""
    return grade([parse_inline(text)], lang=lang)


__all__ = ["Question", "Mark", "Grade", "parse_inline", "load_questions", "read_questions", "grade",
           "check_file", "check_inline"]
