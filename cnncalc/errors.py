"""The one error class and the one warning class cnncalc raises."""


class ShapeError(ValueError):
    """An impossible configuration: names the layer, the rule and the numbers."""


class ShapeWarning(UserWarning):
    """A legal but suspicious configuration, e.g. floor truncation dropping input pixels."""
