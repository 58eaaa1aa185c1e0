"""Channels first or channels last: how a typed shape is read, said out loud when it could be either.

cnncalc works channels first (``CxHxW``, PyTorch). Tutorials and exams often write images channels last
(``32x32x3``: height x width x channels, TensorFlow). ``layout="hwc"`` reads a shape that way (the last
axis becomes the first); ``layout="chw"`` (the default) takes it as written. A shape that *looks*
channels last under the default reading (``looks_channels_last``) is never guessed: the front doors
(calculators, ``check``, the CLI) state how it was read and give the other reading too.
"""

from __future__ import annotations

from .dims import format_shape, known
from .errors import ShapeError

LAYOUTS = ("chw", "hwc")
CHANNEL_COUNTS = (1, 3, 4)  # grey, RGB, RGBA: what a channels-last image ends with

__all__ = ["LAYOUTS", "check_layout", "looks_channels_last", "signal_channels_last", "to_channels_first", "to_channels_last", "read_shape"]


def check_layout(layout) -> str:
    """``layout`` if it names a layout (None means the default, channels first), else ShapeError."""
    if layout is None:
        return "chw"
    if layout not in LAYOUTS:
        raise ShapeError(f"unknown layout {layout!r}: choose chw (channels first) or hwc (channels last)")
    return layout


def looks_channels_last(shape: tuple) -> bool:
    """True for a map written channels last: at least two spatial axes, a last axis of 1, 3 or 4 and every
    other axis larger (``32x32x3``, ``227x227x3``, ``28x28x1``, ``16x112x112x3``)."""
    if len(shape) < 3 or not all(known(d) for d in shape):
        return False
    return shape[-1] in CHANNEL_COUNTS and all(d > shape[-1] for d in shape[:-1])


def signal_channels_last(shape: tuple) -> bool:
    """True for a 1-D signal that may be written length x channels (``8000x1``): two known axes, the last
    smaller. Too ambiguous to say out loud when it reads as written: the other reading is offered only
    when this one fails."""
    return len(shape) == 2 and all(known(d) for d in shape) and shape[1] < shape[0]


def to_channels_first(shape: tuple) -> tuple:
    """``HxWxC`` (any number of spatial axes) as ``CxHxW``."""
    return (shape[-1],) + tuple(shape[:-1])


def to_channels_last(shape: tuple) -> tuple:
    """``CxHxW`` as ``HxWxC``; vectors stay as they are."""
    return tuple(shape[1:]) + (shape[0],) if len(shape) > 1 else tuple(shape)


def read_shape(shape: tuple, layout: str | None) -> tuple:
    """The channels-first shape for a shape typed in ``layout`` (None: channels first, the default)."""
    if check_layout(layout) == "chw":
        return tuple(shape)
    if len(shape) < 2:
        raise ShapeError(f"layout hwc needs a map with channels last, such as 32x32x3, got {format_shape(shape)}")
    return to_channels_first(shape)
