"""The package version, in one place: ``cnncalc.__version__``, the JSON's "version" and the wheel's metadata
(pyproject.toml reads it from here)."""

__version__ = "0.1.0"
