"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition").

32x32 input, C1 6@5x5 -> S2 2x2 subsampling -> C3 16@5x5 -> S4 -> C5 120@5x5 -> F6 84 -> output 10,
with tanh squashing. The common modern version (61,706 params) connects C3 to all six S2 maps and
uses parameter-free average pooling and a linear output layer; ``c3_table=True`` restores the
paper's Table I, where each C3 map sees only some S2 maps (60 kernels: 1,516 params instead of 2,416).
"""

from __future__ import annotations

from ..graph import Sequential
from ..layers import AvgPool2d, ConnectionTableConv2d, Conv2d, Flatten, Linear, Tanh

# Table I of the paper: the S2 maps feeding each C3 map. Six maps see 3 neighbours, six see 4
# neighbours, three see 4 non-adjacent maps and the last sees all six: 6*3 + 6*4 + 3*4 + 6 = 60.
C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def lenet5(*, num_classes=10, in_channels=1, c3_table=False):
    """LeNet-5 on a 32x32 image: 61,706 params, or 60,806 with the paper's C3 connection table."""
    c3 = ConnectionTableConv2d(6, 16, 5, table=C3_TABLE) if c3_table else Conv2d(6, 16, kernel_size=5)
    return Sequential(
        dict(
            c1=Conv2d(in_channels, 6, kernel_size=5), c1_tanh=Tanh(), s2=AvgPool2d(2),
            c3=c3, c3_tanh=Tanh(), s4=AvgPool2d(2),
            c5=Conv2d(16, 120, kernel_size=5), c5_tanh=Tanh(),
            flatten=Flatten(),
            f6=Linear(120, 84), f6_tanh=Tanh(),
            output=Linear(84, num_classes),
        )
    )
