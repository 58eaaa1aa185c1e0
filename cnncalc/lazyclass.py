"""``dataclass``: the standard library's decorator, applied when the class is first used instead of at import.

Making a dataclass compiles its methods (``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and, frozen,
``__setattr__`` and ``__delattr__``): about a millisecond a class, and cnncalc.layers has about a hundred,
most of which one network never uses. That was most of ``import cnncalc`` and so of the command's start-up
(benchmarks/bench_cli.py). A class carries stand-ins that make it on its first use:

- ``__new__``: the first instantiation makes the class (its ``__signature__`` is the class's, so
  ``inspect.signature(cls)`` reads as before); it stays, a dictionary look-up per instantiation;
- ``__dataclass_fields__`` and ``__dataclass_params__``: asking for them makes the class
  (``dataclasses.fields``, ``is_dataclass``, the standard decorator making a subclass); the decorator
  replaces them.

What the standard decorator then makes is exactly what it makes at import, so every behaviour is the
standard one; ``CNNCALC_EAGER_DATACLASSES=1`` applies it at once (tests/test_lazyclass.py compares both).
Making is serialised by a lock, and no object is created before its class is complete.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import threading

__all__ = ["dataclass", "pending"]

_LOCK = threading.RLock()
_PENDING: dict = {}  # class -> the decorator's keyword arguments, until the class is made
_MADE: set = set()  # classes made, complete (the lock-free test on every instantiation)
_EAGER = bool(os.environ.get("CNNCALC_EAGER_DATACLASSES"))
_TRIGGERS = ("__dataclass_fields__", "__dataclass_params__")


def dataclass(cls=None, /, **params):
    """``dataclasses.dataclass`` with the same arguments, applied on the class's first use (not with slots=True,
    which makes a new class: applied at once)."""

    def wrap(cls):
        if _EAGER or params.get("slots"):
            return dataclasses.dataclass(cls, **params)
        _PENDING[cls] = params
        cls.__new__ = staticmethod(_New(cls))
        for name in _TRIGGERS:
            setattr(cls, name, _Trigger(cls, name))
        return cls

    return wrap if cls is None else wrap(cls)


def pending() -> list:
    """The classes not made yet (their names), for tests and curiosity."""
    return sorted(cls.__qualname__ for cls in _PENDING)


def _make(cls):
    """Apply the standard decorator to ``cls`` (once), then remove its stand-ins."""
    with _LOCK:
        params = _PENDING.pop(cls, None)  # popped first: the decorator asks inspect.signature(cls) for a docstring
        if params is None:
            return
        try:
            dataclasses.dataclass(cls, **params)  # sets both trigger names itself; makes pending bases through them
        except BaseException:
            _PENDING[cls] = params  # a broken class fails again on its next use, not silently
            raise
        _MADE.add(cls)


class _New:
    """A lazy class's ``__new__``: make the class (the first time), then create the object as the next ``__new__``
    would. It stays after the class is made: CPython keeps calling a class's ``__new__`` through its Python-level
    slot even once the override is deleted, and ``object.__new__`` then refuses the constructor's arguments."""

    def __init__(self, cls):
        self.cls = cls

    def __call__(self, klass, *args, **kwargs):
        if self.cls not in _MADE:
            _make(self.cls)
        new = super(self.cls, klass).__new__
        return new(klass) if new is object.__new__ else new(klass, *args, **kwargs)

    @property
    def __signature__(self):
        _make(self.cls)
        return inspect.signature(self.cls.__init__)  # inspect drops its first parameter, as for any __new__


class _Trigger:
    """A pending class's ``__dataclass_fields__`` / ``__dataclass_params__``: reading it makes the class."""

    def __init__(self, cls, name):
        self.cls, self.name = cls, name

    def __get__(self, obj, owner):
        _make(self.cls)
        if isinstance(self.cls.__dict__.get(self.name), _Trigger):
            raise AttributeError(self.name)  # never made: do not loop
        return getattr(owner if obj is None else obj, self.name)
