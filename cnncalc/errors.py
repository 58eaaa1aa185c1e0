"""The error classes and the one warning class cnncalc raises."""


class ShapeError(ValueError):
    """An impossible configuration: names the layer, the rule and the numbers.

    When ``analyze`` raises it for a layer or merge that refuses its input, ``layer`` is that layer
    (or block), ``input_shape`` what it received (a merge: the branches' shapes) and ``reason`` the
    layer's own message without the leading "name (Type): ", so readers of model files can point at
    the line that wrote the layer.
    """

    layer = None
    input_shape = None
    reason = None


class LimitError(ShapeError):
    """An input over one of cnncalc's budgets (``cnncalc.limits``): the message names the limit and how to raise it."""


class ShapeWarning(UserWarning):
    """A legal but suspicious configuration, e.g. floor truncation dropping input pixels."""
