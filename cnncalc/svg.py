"""The pictures (``svg``, ``rf_plot``) live in ``cnncalc.render.svg``; this name keeps ``cnncalc.svg`` working."""

from __future__ import annotations

from .render.svg import box_size, rf_plot, structure, svg

__all__ = ["svg", "rf_plot", "box_size", "structure"]
