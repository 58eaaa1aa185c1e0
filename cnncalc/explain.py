"""Explanations (``explain``) live in ``cnncalc.render.explain``; this name keeps ``cnncalc.explain`` working."""

from __future__ import annotations

from .render.explain import FORMATS, LANGS, Explanation, LayerExplanation, Line, explain

__all__ = ["explain", "Explanation", "LayerExplanation", "Line", "LANGS", "FORMATS"]
