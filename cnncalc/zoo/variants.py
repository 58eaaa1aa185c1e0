"""One builder function per network of a family: the family's builder closed over its variant."""

from __future__ import annotations


def named(build, name: str, doc: str):
    """``build`` under the zoo name ``name`` (its ``__name__``, as ``zoo.model`` finds it) with ``doc``."""
    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build
