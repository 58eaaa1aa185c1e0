"""Pure-NumPy reference forward and backward: ``torch.nn.functional`` look-alikes and a whole-network runner.

Importing this package imports numpy; ``import cnncalc`` alone never does.
"""

from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional_all
from .runner import Step, Trace, forward, forward_backward, init_buffers, init_parameters, parameter_names

__all__ = list(_functional_all) + [
    "forward_backward", "forward", "init_parameters", "init_buffers", "parameter_names", "Trace", "Step",
]
