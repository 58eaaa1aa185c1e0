"""Leaf layers: frozen dataclasses with PyTorch's constructor arguments (names, order, defaults).

Shapes are unbatched and channels first: ``(C, L)``, ``(C, H, W)`` or ``(C, D, H, W)`` for feature
maps with one to three spatial axes, ``(F,)`` for vectors. Each layer knows its parameter and buffer
shapes, how it maps an input shape to an output shape (raising ``ShapeError`` exactly where PyTorch
refuses), its MACs, its extra operations, and how each spatial axis of its output reads its input
(``windows``: one ``receptive_field.Window`` per axis, or None where the spatial mapping ends:
adaptive/global pooling, flatten, linear on a map), which moves the receptive field (``rf_at``).

A layer family of any rank (``Conv1d``, ``Conv2d``, ``Conv3d``) is one class over ``rank`` spatial axes.
"""

from __future__ import annotations

import math
from dataclasses import field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from . import formulas as F
from .dims import as_dim, ceil_div, floor_div, format_shape, is_nonnegative, is_positive, known, ntuple, product
from .errors import ShapeError
from .receptive_field import POINTWISE, SAME, ReceptiveField, Window

if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from .lazyclass import dataclass  # the standard decorator, applied on a class's first use (start-up time)

AXES = ("height", "width")  # the spatial axes of a (C, H, W) map
_AXES = {1: ("length",), 2: AXES, 3: ("depth", "height", "width")}
_MAPS = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}


def axis_names(rank: int) -> tuple:
    """The names of ``rank`` spatial axes, as the error messages say them: ("height", "width") for 2."""
    return _AXES[rank]


def _require(condition, message):
    """Raise ShapeError when ``condition`` is False; a symbolic (None) condition passes."""
    if condition is False:
        raise ShapeError(message)


def _differ(a, b) -> bool:
    """True when a and b are provably different numbers."""
    diff = a - b
    return diff != 0 if known(diff) else bool(getattr(diff, "is_number", False) and diff != 0)


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _expect_map(shape, rank=2):
    if len(shape) != rank + 1:
        raise ShapeError(f"expects a {_MAPS[rank]} feature map, receives shape {_shape_text(shape)}")


def _unbatched_dim(dim, rank, what="dim"):
    """A dimension in PyTorch's batched numbering (dim 0 is the batch; negative from the end) as an index
    into the unbatched shape of ``rank`` axes; the batch itself is refused."""
    batched = rank + 1
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ShapeError(f"{what}: dim must be an integer, got {dim!r}")
    if not -batched <= dim < batched:
        raise ShapeError(f"{what}: dim {dim} is out of range for a batched input of rank {batched}")
    index = dim % batched
    if index == 0:
        raise ShapeError(f"{what}: dim {dim} is the batch dimension, which is not supported")
    return index - 1


def _expect_channels(c, expected, what="input channels"):
    if _differ(c, expected):
        raise ShapeError(f"expects {expected} {what}, receives {c}")


def _window_formula(n, k, s, p, d, ceil_mode=False):
    """The output-size formula with the numbers substituted, for error messages."""
    rounding = "ceil" if ceil_mode else "floor"
    span = f"{k}" if d == 1 else f"{d}*({k} - 1) - 1"
    return f"{rounding}(({n} + 2*{p} - {span})/{s}) + 1"


def _truncated(n, k, s, p, d):
    """Trailing input pixels no window reads, worth a warning: concrete sizes only, and only when the
    windows tile the axis without gaps (k_eff >= s). A window narrower than its stride, such as
    ResNet's 1x1 stride-2 shortcut, skips pixels everywhere by design, so its tail is no surprise."""
    if not (known(n) and known(k) and known(s) and known(p) and known(d)):
        return 0
    if F.effective_kernel(k, d) < s:
        return 0
    return F.dropped_pixels(n, k, s, p, d)


def _positive(layer, *names):
    """Refuse a non-positive value of each named argument (an int or a tuple of them)."""
    for arg in names:
        value = getattr(layer, arg)
        for v in value if isinstance(value, tuple) else (value,):
            _require(is_positive(v), f"{layer.type}: {arg} must be positive, got {value}")


def _axis_argument(layer, *names):
    """Refuse an axis number that is not an int (PyTorch: "dim must be int", not 1.5 or "1")."""
    for arg in names:
        value = getattr(layer, arg)
        if type(value) is not int:
            raise ShapeError(f"{layer.type}: {arg} must be an integer, got {value!r:.40}")


def _divisible_by_groups(layer):
    for arg in ("in_channels", "out_channels"):
        value = getattr(layer, arg)
        if known(value) and known(layer.groups) and value % layer.groups:
            raise ShapeError(f"{layer.type}: {arg} ({value}) must be divisible by groups ({layer.groups})")


class Layer:
    """Behaviour shared by every leaf layer; subclasses are frozen dataclasses."""

    is_leaf = True
    torch_module = True  # a torch.nn class of the same name and arguments exists (source and live readers)
    windowed = False  # has a sliding window that can drop pixels (conv/pool)
    upsamples = False  # output pixels read regions of varying extent (trace.py gives the exact field)
    channels_last = False  # ``windows`` slide over the axes before the last ((..., H, W, C) maps: Swin)
    source = False  # the output does not read the input (a module's buffer): computed once for a batch

    @property
    def type(self) -> str:
        return type(self).__name__

    @property
    def torch_type(self) -> str:
        """The torch.nn layer this one computes as (its rules in the reference and the memory tables):
        its own type, or the layer a renamed subclass is (torchvision's Conv3DSimple is an nn.Conv3d)."""
        return self.type

    def parameter_shapes(self) -> dict:
        """Learnable tensors by PyTorch name: ``{"weight": (...), "bias": (...)}``."""
        return {}

    def buffer_shapes(self) -> dict:
        """Non-learnable state tensors (BatchNorm running mean/var)."""
        return {}

    @cached_property
    def params(self):
        return sum((product(s) for s in self.parameter_shapes().values()), 0)

    @cached_property
    def weight_params(self):
        shapes = self.parameter_shapes()
        return product(shapes["weight"]) if "weight" in shapes else 0

    @property
    def bias_params(self):
        return self.params - self.weight_params

    @cached_property
    def buffers(self):
        return sum((product(s) for s in self.buffer_shapes().values()), 0)

    def infer(self, shape: tuple) -> tuple:
        """The output shape for an unbatched input shape (shape-preserving by default)."""
        return shape

    def macs(self, in_shape: tuple, out_shape: tuple):
        return 0

    def extra_ops(self, in_shape: tuple, out_shape: tuple) -> dict:
        """Operations beyond the MACs: bias adds, normalisation, activations, pooling, merges."""
        return {}

    def windows(self, in_shape: tuple) -> tuple | None:
        """Per spatial axis of a channels-first input ``in_shape``, the ``Window`` through which an output
        pixel reads it; ``POINTWISE`` for a layer that reads every position at itself (whatever the
        layout; the default), or None where the spatial mapping ends."""
        return POINTWISE

    def moved_dims(self, in_shape: tuple, dims: tuple) -> tuple | None:
        """Where the spatial axes (at the tensor axes ``dims`` of the input) are in the output, or None
        when the layer mixes one of them entirely (a Linear on a spatial axis) or merges it away."""
        return dims

    def rf_at(self, rf: ReceptiveField | None, in_shape: tuple) -> ReceptiveField | None:
        """The receptive field after this layer, for the input shape ``in_shape``."""
        if rf is None:
            return None
        windows = self.windows(in_shape)
        if windows is None:
            return None
        if windows is not POINTWISE:
            at = tuple(range(len(in_shape) - 1 - rf.axes, len(in_shape) - 1)) if self.channels_last else None
            if not (rf.tensor_dims == at if self.channels_last else rf.channels_first):
                return None  # a window over axes where the spatial axes are not
            rf = rf.through(windows)
        dims = self.moved_dims(in_shape, rf.tensor_dims)
        return None if dims is None else rf.moved(dims)

    def requires(self, in_shape: tuple) -> tuple:
        """The equalities (received, expected) ``infer`` checks, e.g. the input channels: where symbols
        leave one unsettled the analysis records it as an assumption (``Report.assumptions``)."""
        return ()

    def freeze(self) -> Layer:
        """A copy whose parameters are frozen (not trainable); parameter-free layers return themselves."""
        return replace(self, trainable=False) if hasattr(self, "trainable") else self  # type: ignore[type-var]

    def children(self) -> tuple:
        return ()


def _trainable():
    return field(default=True, kw_only=True, repr=False, compare=False)


def _numel(shape):
    return product(shape)


def _bias_ops(layer, out_shape):
    return {"bias": _numel(out_shape)} if layer.bias else {}


# --- convolutions -------------------------------------------------------------------------------


def _conv_padding(padding, kernel_size, dilation, stride, layer):
    """Per axis (before, after) for an int, a tuple, 'valid' or 'same' (stride 1 only, as PyTorch)."""
    rank = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * rank
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ShapeError(f"{layer}: padding='same' is not supported for strided convolutions")
            return tuple(F.torch_same_padding(k, d) for k, d in zip(kernel_size, dilation))
        raise ShapeError(f"{layer}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    p = ntuple(padding, rank, "padding")
    for v in p:
        _require(is_nonnegative(v), f"{layer}: negative padding {v} is not supported")
    return tuple((v, v) for v in p)


@dataclass(frozen=True)
class ConvNd(Layer):
    """Convolution over ``rank`` spatial axes: n_out = floor((n + 2p - d*(k - 1) - 1)/s) + 1 per axis."""

    in_channels: Any
    out_channels: Any
    kernel_size: Any
    stride: Any = 1
    padding: Any = 0
    dilation: Any = 1
    groups: Any = 1
    bias: bool = True
    padding_mode: str = "zeros"
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    windowed = True
    rank = 2

    def __post_init__(self):
        name, rank = self.type, self.rank
        set_ = object.__setattr__
        for arg in ("in_channels", "out_channels", "groups"):
            set_(self, arg, as_dim(getattr(self, arg), arg))
        set_(self, "kernel_size", ntuple(self.kernel_size, rank, "kernel_size", single=False))
        set_(self, "stride", ntuple(self.stride, rank, "stride"))
        set_(self, "dilation", ntuple(self.dilation, rank, "dilation"))
        _positive(self, "in_channels", "out_channels", "groups", "kernel_size", "stride", "dilation")
        _divisible_by_groups(self)
        if self.padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ShapeError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular'")
        if self.padding_mode != "zeros" and isinstance(self.padding, (tuple, list)) and len(self.padding) != rank:
            # F.pad then receives the wrong number of pads for the input, which it refuses
            raise ShapeError(f"{name}: padding_mode={self.padding_mode!r} needs an int or {rank} values, got {self.padding!r}")
        set_(self, "pads", _conv_padding(self.padding, self.kernel_size, self.dilation, self.stride, name))
        if not isinstance(self.padding, str):
            set_(self, "padding", ntuple(self.padding, rank, "padding"))

    def parameter_shapes(self):
        shapes = {"weight": (self.out_channels, F.divide(self.in_channels, self.groups), *self.kernel_size)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def infer(self, shape):
        _expect_map(shape, self.rank)
        _expect_channels(shape[0], self.in_channels)
        out = [self.out_channels]
        for axis, n, k, s, (p0, p1), d in zip(
            axis_names(self.rank), shape[1:], self.kernel_size, self.stride, self.pads, self.dilation
        ):
            self._check_padding_mode(axis, n, p0, p1)
            if p0 == p1:
                n_out = F.conv_out(n, k, s, p0, d)
            else:  # 'same' with an even kernel: PyTorch pads one more pixel after
                n_out = F.conv_out(n + p1 - p0, k, s, p0, d)
            if known(n_out) and n_out <= 0:
                raise ShapeError(
                    f"output {axis} would be {n_out}: {_window_formula(n, k, s, p0, d)} "
                    f"(kernel {F.effective_kernel(k, d)} is larger than the padded input {n + p0 + p1})"
                )
            out.append(n_out)
        return tuple(out)

    def _check_padding_mode(self, axis, n, p0, p1):
        """PyTorch's limits on non-zero padding: reflect needs pad < n, circular pad <= n (wrap once at most)."""
        if self.padding_mode == "zeros":
            return
        pad = max(p0, p1) if known(p0) and known(p1) else None
        if pad is None or not known(n):
            return
        if self.padding_mode == "reflect" and pad >= n:
            raise ShapeError(
                f"padding_mode='reflect' needs padding smaller than the input: padding {pad} >= {axis} {n}"
            )
        if self.padding_mode == "circular" and pad > n:
            raise ShapeError(
                f"padding_mode='circular' cannot wrap around more than once: padding {pad} > {axis} {n}"
            )

    def dropped(self, shape):
        """Per axis, input pixels that floor truncation leaves unread at the end (see ``_truncated``)."""
        return tuple(
            _truncated(n + p1 - p0, k, s, p0, d)
            for n, k, s, (p0, p1), d in zip(shape[1:], self.kernel_size, self.stride, self.pads, self.dilation)
        )

    def macs(self, in_shape, out_shape):
        return F.conv_macs(self.in_channels, self.out_channels, self.kernel_size, out_shape[1:], self.groups)

    def extra_ops(self, in_shape, out_shape):
        return _bias_ops(self, out_shape)

    def windows(self, in_shape):
        return self._windows

    @cached_property
    def _windows(self):
        return tuple(Window(k, s, p0, d) for k, s, (p0, _), d in zip(self.kernel_size, self.stride, self.pads, self.dilation))

    def requires(self, in_shape):
        return ((in_shape[0], self.in_channels),)


@dataclass(frozen=True)
class Conv1d(ConvNd):
    """1D convolution: (C_in, L) -> (C_out, L_out), L_out = floor((L + 2p - d*(k-1) - 1)/s) + 1."""

    rank = 1


@dataclass(frozen=True)
class Conv2d(ConvNd):
    """2D convolution: (C_in, H, W) -> (C_out, H_out, W_out), H_out = floor((H + 2p - d*(k-1) - 1)/s) + 1."""

    rank = 2


@dataclass(frozen=True)
class Conv3d(ConvNd):
    """3D convolution: (C_in, D, H, W) -> (C_out, D_out, H_out, W_out), each as Conv2d's H_out."""

    rank = 3


@dataclass(frozen=True)
class ConnectionTableConv2d(Conv2d):
    """Convolution where output map j sees only the input maps ``table[j]`` (LeNet-5's C3, Torch7's
    SpatialConvolutionMap).

    params = kh*kw*sum_j len(table[j]) + C_out (bias); MACs = H_out*W_out*kh*kw*sum_j len(table[j]).
    A table listing every input for every output is Conv2d; the shape rule is Conv2d's.
    """

    table: tuple = field(default=(), kw_only=True)
    torch_module = False  # Torch7's SpatialConvolutionMap, not torch.nn

    def __post_init__(self):
        super().__post_init__()
        name = self.type
        table = tuple(tuple(int(i) for i in inputs) for inputs in self.table)
        object.__setattr__(self, "table", table)
        if self.groups != 1:
            raise ShapeError(f"{name}: the table replaces groups, which must be 1 (got {self.groups})")
        if known(self.out_channels) and len(table) != self.out_channels:
            raise ShapeError(f"{name}: table has {len(table)} entries, one per output channel ({self.out_channels}) expected")
        for j, inputs in enumerate(table):
            if not inputs or len(set(inputs)) != len(inputs):
                raise ShapeError(f"{name}: table entry {j} {inputs} must list distinct input channels")
            if any(i < 0 or (known(self.in_channels) and i >= self.in_channels) for i in inputs):
                raise ShapeError(f"{name}: table entry {j} {inputs} names a channel outside 0..{self.in_channels - 1}")

    @property
    def connections(self):
        """Number of (input map, output map) pairs joined by a kernel."""
        return sum(len(inputs) for inputs in self.table)

    def parameter_shapes(self):
        shapes = {"weight": (self.connections, *self.kernel_size)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def macs(self, in_shape, out_shape):
        return F.connection_table_macs(self.connections, self.kernel_size, out_shape[1:])


@dataclass(frozen=True)
class ConvTransposeNd(Layer):
    """Transposed convolution over ``rank`` axes: n_out = (n - 1)*s - 2p + d*(k - 1) + output_padding + 1."""

    in_channels: Any
    out_channels: Any
    kernel_size: Any
    stride: Any = 1
    padding: Any = 0
    output_padding: Any = 0
    groups: Any = 1
    bias: bool = True
    dilation: Any = 1
    padding_mode: str = "zeros"
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    upsamples = True
    rank = 2

    def __post_init__(self):
        name, rank = self.type, self.rank
        set_ = object.__setattr__
        for arg in ("in_channels", "out_channels", "groups"):
            set_(self, arg, as_dim(getattr(self, arg), arg))
        if self.padding in ("same", "valid"):
            raise ShapeError(f"{name}: padding={self.padding!r} is not supported for transposed convolutions")
        for arg in ("kernel_size", "stride", "padding", "output_padding", "dilation"):
            set_(self, arg, ntuple(getattr(self, arg), rank, arg, single=arg != "kernel_size"))
        _positive(self, "in_channels", "out_channels", "groups", "kernel_size", "stride", "dilation")
        for arg in ("padding", "output_padding"):
            for v in getattr(self, arg):
                _require(is_nonnegative(v), f"{name}: negative {arg} {v} is not supported")
        _divisible_by_groups(self)
        if self.padding_mode != "zeros":
            raise ShapeError(f"{name}: only 'zeros' padding_mode is supported for {name}")
        for axis, op, s, d in zip(axis_names(rank), self.output_padding, self.stride, self.dilation):
            if known(op) and known(s) and known(d) and not (op < s or op < d):
                raise ShapeError(
                    f"{name}: output_padding {op} must be smaller than either stride {s} or dilation {d} ({axis})"
                )

    def parameter_shapes(self):
        shapes = {"weight": (self.in_channels, F.divide(self.out_channels, self.groups), *self.kernel_size)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def infer(self, shape):
        _expect_map(shape, self.rank)
        _expect_channels(shape[0], self.in_channels)
        out = [self.out_channels]
        for axis, n, k, s, p, op, d in zip(
            axis_names(self.rank), shape[1:], self.kernel_size, self.stride, self.padding, self.output_padding,
            self.dilation,
        ):
            n_out = F.conv_transpose_out(n, k, s, p, op, d)
            if known(n_out) and n_out <= 0:
                raise ShapeError(
                    f"output {axis} would be {n_out}: ({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1"
                )
            out.append(n_out)
        return tuple(out)

    def macs(self, in_shape, out_shape):
        return F.conv_transpose_macs(self.in_channels, self.out_channels, self.kernel_size, in_shape[1:], self.groups)

    def extra_ops(self, in_shape, out_shape):
        return _bias_ops(self, out_shape)

    def windows(self, in_shape):
        return tuple(Window(*args, up=True) for args in zip(self.kernel_size, self.stride, self.padding, self.dilation))

    def requires(self, in_shape):
        return ((in_shape[0], self.in_channels),)


@dataclass(frozen=True)
class ConvTranspose1d(ConvTransposeNd):
    """1D transposed convolution: L_out = (L - 1)*s - 2p + d*(k - 1) + output_padding + 1."""

    rank = 1


@dataclass(frozen=True)
class ConvTranspose2d(ConvTransposeNd):
    """Transposed convolution: H_out = (H - 1)*s - 2p + d*(k - 1) + output_padding + 1."""

    rank = 2


@dataclass(frozen=True)
class ConvTranspose3d(ConvTransposeNd):
    """3D transposed convolution: each spatial axis as ConvTranspose2d's H_out."""

    rank = 3


# --- pooling ------------------------------------------------------------------------------------


class PoolNd(Layer):
    """Shared rules of max and average pooling (PyTorch's pooling_output_shape and pool2d_shape_check)."""

    kernel_size: Any
    stride: Any
    padding: Any
    ceil_mode: bool
    windowed = True
    rank = 2

    def _normalise(self):
        name, rank = self.type, self.rank
        set_ = object.__setattr__
        set_(self, "kernel_size", ntuple(self.kernel_size, rank, "kernel_size"))
        set_(self, "stride", self.kernel_size if self.stride is None or self.stride in ((), [])
             else ntuple(self.stride, rank, "stride"))
        set_(self, "padding", ntuple(self.padding, rank, "padding"))
        _positive(self, "kernel_size", "stride")
        for k, p in zip(self.kernel_size, self.padding):
            _require(is_nonnegative(p), f"{name}: negative padding {p} is not supported")
            if known(k) and known(p) and p > k // 2:
                raise ShapeError(f"{name}: padding {p} must be at most half the kernel size {k} (pad <= {k // 2})")

    @property
    def dilations(self) -> tuple:
        """Per axis, the window's dilation (1 for average pooling, which has none)."""
        return getattr(self, "dilation", (1,) * self.rank)

    def infer(self, shape):
        _expect_map(shape, self.rank)
        out = [shape[0]]
        for axis, n, k, s, p, d in zip(
            axis_names(self.rank), shape[1:], self.kernel_size, self.stride, self.padding, self.dilations
        ):
            n_out = F.pool_out(n, k, s, p, d, self.ceil_mode)
            if known(n_out) and n_out <= 0:
                raise ShapeError(f"output {axis} would be {n_out}: {_window_formula(n, k, s, p, d, self.ceil_mode)}")
            out.append(n_out)
        return tuple(out)

    def dropped(self, shape):
        if self.ceil_mode:
            return (0,) * self.rank
        return tuple(
            _truncated(n, k, s, p, d)
            for n, k, s, p, d in zip(shape[1:], self.kernel_size, self.stride, self.padding, self.dilations)
        )

    def extra_ops(self, in_shape, out_shape):
        return {"pool": _numel(out_shape) * product(self.kernel_size)}

    def windows(self, in_shape):
        return self._windows

    @cached_property
    def _windows(self):
        return tuple(Window(*args) for args in zip(self.kernel_size, self.stride, self.padding, self.dilations))


@dataclass(frozen=True)
class MaxPoolNd(PoolNd):
    """Max pooling: n_out = floor-or-ceil((n + 2p - d*(k - 1) - 1)/s) + 1, stride defaults to kernel_size."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    dilation: Any = 1
    return_indices: bool = False
    ceil_mode: bool = False

    def __post_init__(self):
        object.__setattr__(self, "dilation", ntuple(self.dilation, self.rank, "dilation"))
        _positive(self, "dilation")
        self._normalise()


@dataclass(frozen=True)
class MaxPool1d(MaxPoolNd):
    """Max pooling over L: L_out = floor-or-ceil((L + 2p - d*(k - 1) - 1)/s) + 1."""

    rank = 1


@dataclass(frozen=True)
class MaxPool2d(MaxPoolNd):
    """Max pooling: H_out = floor-or-ceil((H + 2p - d*(k - 1) - 1)/s) + 1, stride defaults to kernel_size."""

    rank = 2


@dataclass(frozen=True)
class MaxPool3d(MaxPoolNd):
    """Max pooling over D, H and W, each axis as MaxPool2d's H_out."""

    rank = 3


class AvgPoolNd(PoolNd):
    """Average pooling: n_out = floor-or-ceil((n + 2p - k)/s) + 1, stride defaults to kernel_size."""

    def __post_init__(self):
        self._normalise()
        divisor = getattr(self, "divisor_override", None)
        if divisor is not None and known(divisor) and divisor == 0:
            raise ShapeError(f"{self.type}: divisor_override must not be zero")


@dataclass(frozen=True)
class AvgPool1d(AvgPoolNd):
    """Average pooling over L: L_out = floor-or-ceil((L + 2p - k)/s) + 1."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    rank = 1


@dataclass(frozen=True)
class AvgPool2d(AvgPoolNd):
    """Average pooling: H_out = floor-or-ceil((H + 2p - k)/s) + 1, stride defaults to kernel_size."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: Any = None

    rank = 2


@dataclass(frozen=True)
class AvgPool3d(AvgPoolNd):
    """Average pooling over D, H and W, each axis as AvgPool2d's H_out; PyTorch also needs every axis of
    the input at least as large as the kernel, padding aside."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: Any = None

    rank = 3

    def infer(self, shape):
        _expect_map(shape, 3)
        if all(known(v) for v in shape[1:] + self.kernel_size) and any(n < k for n, k in zip(shape[1:], self.kernel_size)):
            t, h, w = shape[1:]
            kt, kh, kw = self.kernel_size
            raise ShapeError(f"input image (T: {t} H: {h} W: {w}) smaller than kernel size (kT: {kt} kH: {kh} kW: {kw})")
        return super().infer(shape)


class AdaptivePoolNd(Layer):
    """Adaptive pooling: the output size is given; window i spans [floor(i*n/out), ceil((i+1)*n/out))."""

    rank = 2

    def __post_init__(self):
        size, rank = self.output_size, self.rank
        if isinstance(size, (tuple, list)):
            if len(size) != rank:
                raise ShapeError(f"{self.type}: output_size must be an int or {rank} values, got {size!r}")
            norm = tuple(None if v is None else as_dim(v, "output_size") for v in size)
        else:
            norm = (as_dim(size, "output_size"),) * rank
        for v in norm:
            # PyTorch returns an empty tensor for 0; CONTRACT.md counts a non-positive output size as impossible
            _require(v is None or is_positive(v), f"{self.type}: output_size must be positive, got {size!r}")
        if rank == 1 and None in norm:
            raise ShapeError(f"{self.type}: output_size must be an integer (None keeps an axis only from 2-D on), got {size!r}")
        object.__setattr__(self, "output_size", norm)

    def infer(self, shape):
        _expect_map(shape, self.rank)
        return (shape[0],) + tuple(n if o is None else o for n, o in zip(shape[1:], self.output_size))

    def extra_ops(self, in_shape, out_shape):
        return {"pool": _numel(in_shape)}

    def windows(self, in_shape):
        return None  # every output pixel may see a different window: the spatial mapping ends here


@dataclass(frozen=True)
class AdaptiveAvgPool1d(AdaptivePoolNd):
    """Adaptive average pooling over L to ``output_size``."""

    output_size: Any

    rank = 1


@dataclass(frozen=True)
class AdaptiveAvgPool2d(AdaptivePoolNd):
    """Adaptive average pooling to ``output_size`` (None keeps that axis)."""

    output_size: Any

    rank = 2


@dataclass(frozen=True)
class AdaptiveAvgPool3d(AdaptivePoolNd):
    """Adaptive average pooling over D, H and W to ``output_size`` (None keeps that axis)."""

    output_size: Any

    rank = 3


@dataclass(frozen=True)
class AdaptiveMaxPool1d(AdaptivePoolNd):
    """Adaptive max pooling over L to ``output_size``."""

    output_size: Any
    return_indices: bool = False

    rank = 1


@dataclass(frozen=True)
class AdaptiveMaxPool2d(AdaptivePoolNd):
    """Adaptive max pooling to ``output_size`` (None keeps that axis)."""

    output_size: Any
    return_indices: bool = False

    rank = 2


@dataclass(frozen=True)
class AdaptiveMaxPool3d(AdaptivePoolNd):
    """Adaptive max pooling over D, H and W to ``output_size`` (None keeps that axis)."""

    output_size: Any
    return_indices: bool = False

    rank = 3


# --- upsampling ---------------------------------------------------------------------------------

_UPSAMPLE_MODES = {"nearest": None, "linear": 1, "bilinear": 2, "trilinear": 3}


def _scale_factors(value, rank, name):
    """scale_factor as ``rank`` positive numbers (ints where integral), as torch accepts."""
    factors = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    if len(factors) != rank:
        raise ShapeError(f"{name}: scale_factor must be a number or {rank} values for a {_MAPS[rank]} input, got {value!r}")
    out = []
    for v in factors:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
            raise ShapeError(f"{name}: scale_factor must be a positive finite number, got {value!r:.60}")
        out.append(as_dim(v, "scale_factor") if isinstance(v, int) else int(v) if v.is_integer() else v)
    return tuple(out)


@dataclass(frozen=True)
class Upsample(Layer):
    """Upsampling to ``size`` or by ``scale_factor`` (torch.nn.Upsample): nearest for any rank, linear,
    bilinear and trilinear for inputs with 1, 2 and 3 spatial axes.

    n_out = size, or floor(n * scale_factor). With a whole factor s (n_out = s*n) output pixel o reads,
    per axis: nearest, input floor(o/s), the transposed window k = s, stride s; (bi/tri)linear
    (align_corners=False), the two pixels around (o + 0.5)/s - 0.5, the window k = 2s, padding s/2 for
    an even s. Those receptive fields are exact; other factors, an odd interpolating factor and
    align_corners=True read unevenly spaced pixels, and the receptive field ends there.
    """

    size: Any = None
    scale_factor: Any = None
    mode: str = "nearest"
    align_corners: Any = None
    recompute_scale_factor: Any = None

    upsamples = True

    def __post_init__(self):
        name = self.type
        if (self.size is None) == (self.scale_factor is None):
            raise ShapeError(f"{name}: give exactly one of size and scale_factor")
        if self.mode not in _UPSAMPLE_MODES:
            raise ShapeError(f"{name}: mode {self.mode!r} is not supported: {', '.join(_UPSAMPLE_MODES)}")
        if self.align_corners is not None and self.mode == "nearest":
            raise ShapeError(f"{name}: align_corners can only be set with an interpolating mode (bilinear)")
        if self.size is not None:
            size = self.size if isinstance(self.size, (tuple, list)) else (self.size,)
            object.__setattr__(self, "size", tuple(as_dim(v, "size") for v in size))
            for v in self.size:
                _require(is_positive(v), f"{name}: size must be positive, got {self.size}")
        elif not isinstance(self.scale_factor, (tuple, list)):
            object.__setattr__(self, "scale_factor", _scale_factors(self.scale_factor, 1, name)[0])
        # a tuple scale_factor is checked against the input's rank in infer

    def _rank(self, shape):
        rank = len(shape) - 1
        if rank not in _MAPS:
            raise ShapeError(f"expects a (C, L), (C, H, W) or (C, D, H, W) feature map, receives shape {_shape_text(shape)}")
        needed = _UPSAMPLE_MODES[self.mode]
        if needed is not None and needed != rank:
            raise ShapeError(f"mode {self.mode!r} needs a {_MAPS[needed]} input, receives shape {_shape_text(shape)}")
        return rank

    def infer(self, shape):
        rank = self._rank(shape)
        if self.size is not None:
            if len(self.size) not in (1, rank):
                raise ShapeError(f"size {self.size} does not match the {rank} spatial axes of {_shape_text(shape)}")
            return (shape[0],) + (self.size * rank if len(self.size) == 1 else self.size)
        out = [shape[0]]
        for axis, n, scale in zip(axis_names(rank), shape[1:], _scale_factors(self.scale_factor, rank, self.type)):
            if type(scale) is not int and not known(n):
                raise ShapeError(f"a fractional scale_factor {scale} needs a known {axis}, got {n}")
            n_out = F.upsample_out(n, scale)
            if known(n_out) and n_out <= 0:
                raise ShapeError(f"output {axis} would be {n_out}: floor({n}*{scale})")
            out.append(n_out)
        return tuple(out)

    def windows(self, in_shape):
        """Per axis, the exact transposed Window of a whole factor, or None (see the class docstring)."""
        if self.align_corners:
            return None
        out = self.infer(in_shape)
        windows = []
        for n, n_out in zip(in_shape[1:], out[1:]):
            s = F.divide(n_out, n)
            if type(s) is not int and not getattr(s, "is_Integer", False):
                return None
            s = int(s)
            if self.mode == "nearest":
                windows.append(Window(s, s, 0, up=True))
            elif s % 2 == 0 or s == 1:
                windows.append(Window(2 * s - (s == 1), s, s // 2, up=True))
            else:
                return None  # odd interpolating factors: weights of exactly 0 meet float rounding in torch
        return tuple(windows)


@dataclass(frozen=True)
class UpsamplingNearest2d(Upsample):
    """torch.nn.UpsamplingNearest2d(size, scale_factor): Upsample with mode nearest."""

    def __post_init__(self):
        object.__setattr__(self, "mode", "nearest")
        Upsample.__post_init__(self)


@dataclass(frozen=True)
class UpsamplingBilinear2d(Upsample):
    """torch.nn.UpsamplingBilinear2d(size, scale_factor): Upsample, bilinear with align_corners=True."""

    def __post_init__(self):
        object.__setattr__(self, "mode", "bilinear")
        object.__setattr__(self, "align_corners", True)
        Upsample.__post_init__(self)


# --- normalisation ------------------------------------------------------------------------------


class _ChannelStatistics(Layer):
    """A normaliser with one (gamma, beta) pair per channel when affine and one running (mean, variance)
    pair per channel when tracking statistics: BatchNorm and InstanceNorm of every rank."""

    num_features: Any
    affine: bool
    track_running_stats: bool

    def __post_init__(self):
        object.__setattr__(self, "num_features", as_dim(self.num_features, "num_features"))
        _positive(self, "num_features")

    def parameter_shapes(self):
        c = self.num_features
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def buffer_shapes(self):
        c = self.num_features
        return {"running_mean": (c,), "running_var": (c,)} if self.track_running_stats else {}

    def requires(self, in_shape):
        return ((in_shape[0], self.num_features),) if self.affine or self.track_running_stats else ()

    def extra_ops(self, in_shape, out_shape):
        return {"norm": 2 * _numel(out_shape)}  # inference: one multiply and one add per element


@dataclass(frozen=True)
class BatchNormNd(_ChannelStatistics):
    """Batch normalisation over channels: 2C params (gamma, beta) when affine, 2C buffers (running mean, var)."""

    num_features: Any
    eps: float = 1e-5
    momentum: Any = 0.1
    affine: bool = True
    track_running_stats: bool = True
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    ranks: ClassVar[tuple] = (2,)  # accepted numbers of axes after the channels

    def infer(self, shape):
        if len(shape) - 1 not in self.ranks:
            expected = " or ".join(_MAPS.get(r, "(C,)") for r in self.ranks)
            noun = "feature map" if self.ranks != (0, 1) else "input"
            raise ShapeError(f"expects a {expected} {noun}, receives shape {_shape_text(shape)}")
        if self.affine or self.track_running_stats:  # else no tensor of size num_features exists: PyTorch accepts any C
            _expect_channels(shape[0], self.num_features, "channels (num_features)")
        return shape


@dataclass(frozen=True)
class BatchNorm1d(BatchNormNd):
    """Batch normalisation of (C,) or (C, L) inputs."""

    ranks = (0, 1)


@dataclass(frozen=True)
class BatchNorm2d(BatchNormNd):
    """Batch normalisation over channels: 2C params (gamma, beta) when affine, 2C buffers (running mean, var)."""

    ranks = (2,)


@dataclass(frozen=True)
class BatchNorm3d(BatchNormNd):
    """Batch normalisation of (C, D, H, W) feature maps."""

    ranks = (3,)


@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    """Local response normalisation across ``size`` neighbouring channels (AlexNet); shape-preserving."""

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def __post_init__(self):
        _require(is_positive(as_dim(self.size, "size")), f"{self.type}: size must be positive, got {self.size}")

    def infer(self, shape):
        if len(shape) < 2:
            raise ShapeError(f"expects a (C, ...) input with at least 2 dimensions, receives {_shape_text(shape)}")
        return shape

    def extra_ops(self, in_shape, out_shape):
        return {"norm": (self.size + 3) * _numel(out_shape)}  # size squares and adds, a scale, a power, a divide


def _normalized_shape(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class LastDimsNorm(Layer):
    """Normalisation over the last dims ``normalized_shape`` (one token's features, or a channels-last
    pixel's channels), with a weight (and a bias) of that shape when ``elementwise_affine``."""

    normalized_shape: Any
    elementwise_affine: bool
    bias: Any = False

    def __post_init__(self):
        shape = tuple(as_dim(v, "normalized_shape") for v in _normalized_shape(self.normalized_shape))
        object.__setattr__(self, "normalized_shape", shape)
        _positive(self, "normalized_shape")

    def parameter_shapes(self):
        if not self.elementwise_affine:
            return {}
        return {"weight": self.normalized_shape, **({"bias": self.normalized_shape} if self.bias else {})}

    def infer(self, shape):
        n = len(self.normalized_shape)
        if len(shape) < n or any(_differ(a, b) for a, b in zip(shape[len(shape) - n:], self.normalized_shape)):
            raise ShapeError(
                f"normalized_shape={list(self.normalized_shape)} expects an input of shape [*, "
                f"{', '.join(str(v) for v in self.normalized_shape)}], receives {_shape_text(shape)}"
            )
        return shape

    def requires(self, in_shape):
        n = len(self.normalized_shape)
        return tuple(zip(in_shape[len(in_shape) - n:], self.normalized_shape))

    def extra_ops(self, in_shape, out_shape):
        return {"norm": 2 * _numel(out_shape)}


@dataclass(frozen=True)
class LayerNorm(LastDimsNorm):
    """Layer normalisation over the last dims ``normalized_shape``: weight and bias of that shape."""

    normalized_shape: Any
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()


@dataclass(frozen=True)
class LayerNorm2d(LayerNorm):
    """torchvision's LayerNorm2d (ConvNeXt): LayerNorm over the channels of a (C, H, W) map, each pixel
    on its own (it permutes to channels last and back)."""

    torch_module = False  # torchvision.models.convnext.LayerNorm2d

    def infer(self, shape):
        if len(shape) != 3 or _differ(shape[0], self.normalized_shape[-1]) or len(self.normalized_shape) != 1:
            raise ShapeError(f"normalized_shape={list(self.normalized_shape)} expects a (C, H, W) map with "
                             f"C = {self.normalized_shape[-1]}, receives {_shape_text(shape)}")
        return shape

    def requires(self, in_shape):
        return ((in_shape[0], self.normalized_shape[-1]),)


@dataclass(frozen=True)
class RMSNorm(LastDimsNorm):
    """x/rms(x)*weight over the last dims ``normalized_shape`` (no bias)."""

    normalized_shape: Any
    eps: Any = None
    elementwise_affine: bool = True
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()


@dataclass(frozen=True)
class GroupNorm(Layer):
    """Normalisation of (C, ...) inputs in ``num_groups`` groups of channels; weight and bias of C when affine."""

    num_groups: Any
    num_channels: Any
    eps: float = 1e-5
    affine: bool = True
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    def __post_init__(self):
        for arg in ("num_groups", "num_channels"):
            object.__setattr__(self, arg, as_dim(getattr(self, arg), arg))
        _positive(self, "num_groups", "num_channels")
        if known(self.num_channels) and known(self.num_groups) and self.num_channels % self.num_groups:
            raise ShapeError(f"{self.type}: num_channels ({self.num_channels}) must be divisible by num_groups ({self.num_groups})")

    def parameter_shapes(self):
        c = self.num_channels
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def infer(self, shape):
        if len(shape) < 2:
            raise ShapeError(f"expects a (C, ...) input with at least 2 dimensions, receives {_shape_text(shape)}")
        if self.affine:  # the weight has num_channels entries; without it any multiple of the groups goes
            _expect_channels(shape[0], self.num_channels, "channels (num_channels)")
        elif known(shape[0]) and known(self.num_groups) and shape[0] % self.num_groups:
            raise ShapeError(f"expected number of channels in input to be divisible by num_groups, but got input of "
                             f"shape {_shape_text(shape)} and num_groups={self.num_groups}")
        return shape

    def requires(self, in_shape):
        return ((in_shape[0], self.num_channels),) if self.affine else ()

    def extra_ops(self, in_shape, out_shape):
        return {"norm": 2 * _numel(out_shape)}


@dataclass(frozen=True)
class InstanceNormNd(_ChannelStatistics):
    """Instance normalisation: every channel of every sample on its own; 2C params when affine, 2C
    buffers when tracking running statistics (both off by default, as in PyTorch)."""

    num_features: Any
    eps: float = 1e-5
    momentum: Any = 0.1
    affine: bool = False
    track_running_stats: bool = False
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    rank = 2

    def infer(self, shape):
        _expect_map(shape, self.rank)
        if self.affine or self.track_running_stats:  # else PyTorch only warns about num_features
            _expect_channels(shape[0], self.num_features, "channels (num_features)")
        if not self.track_running_stats and all(known(n) for n in shape[1:]) and product(shape[1:]) == 1:
            raise ShapeError(f"expected more than 1 spatial element to normalise each channel by its own statistics, "
                             f"got input size {_shape_text(shape)}")
        return shape


@dataclass(frozen=True)
class InstanceNorm1d(InstanceNormNd):
    """Instance normalisation of (C, L) inputs."""

    rank = 1


@dataclass(frozen=True)
class InstanceNorm2d(InstanceNormNd):
    """Instance normalisation of (C, H, W) maps."""

    rank = 2


@dataclass(frozen=True)
class InstanceNorm3d(InstanceNormNd):
    """Instance normalisation of (C, D, H, W) maps."""

    rank = 3


# --- element-wise -------------------------------------------------------------------------------


class Elementwise(Layer):
    """A shape-preserving layer applied element by element."""

    op_kind = "activation"

    def extra_ops(self, in_shape, out_shape):
        return {self.op_kind: _numel(out_shape)}


@dataclass(frozen=True)
class ReLU(Elementwise):
    """max(0, x)."""

    inplace: bool = False


@dataclass(frozen=True)
class ReLU6(Elementwise):
    """min(max(0, x), 6) (MobileNetV2)."""

    inplace: bool = False


@dataclass(frozen=True)
class LeakyReLU(Elementwise):
    """max(0, x) + negative_slope*min(0, x)."""

    negative_slope: float = 0.01
    inplace: bool = False


@dataclass(frozen=True)
class ELU(Elementwise):
    """x if x > 0 else alpha*(exp(x) - 1)."""

    alpha: float = 1.0
    inplace: bool = False


@dataclass(frozen=True)
class GELU(Elementwise):
    """x*Phi(x)."""

    approximate: str = "none"

    def __post_init__(self):
        if self.approximate not in ("none", "tanh"):
            raise ShapeError(f"{self.type}: approximate must be 'none' or 'tanh', got {self.approximate!r}")


@dataclass(frozen=True)
class SELU(Elementwise):
    """scale*(max(0, x) + min(0, alpha*(exp(x) - 1)))."""

    inplace: bool = False


@dataclass(frozen=True)
class CELU(Elementwise):
    """max(0, x) + min(0, alpha*(exp(x/alpha) - 1))."""

    alpha: float = 1.0
    inplace: bool = False


@dataclass(frozen=True)
class Mish(Elementwise):
    """x*tanh(softplus(x))."""

    inplace: bool = False


@dataclass(frozen=True)
class Softplus(Elementwise):
    """log(1 + exp(beta*x))/beta (x beyond threshold)."""

    beta: float = 1.0
    threshold: float = 20.0


@dataclass(frozen=True)
class Hardtanh(Elementwise):
    """min(max(x, min_val), max_val)."""

    min_val: float = -1.0
    max_val: float = 1.0
    inplace: bool = False


@dataclass(frozen=True)
class Softsign(Elementwise):
    """x/(1 + |x|)."""


@dataclass(frozen=True)
class LogSigmoid(Elementwise):
    """log(sigmoid(x))."""


@dataclass(frozen=True)
class PReLU(Elementwise):
    """max(0, x) + a*min(0, x) with a learned slope a: one, or one per channel (``num_parameters``)."""

    num_parameters: Any = 1
    init: float = 0.25
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    def __post_init__(self):
        object.__setattr__(self, "num_parameters", as_dim(self.num_parameters, "num_parameters"))
        _positive(self, "num_parameters")

    def parameter_shapes(self):
        return {"weight": (self.num_parameters,)}

    def infer(self, shape):
        if self.num_parameters != 1 and _differ(shape[0], self.num_parameters):  # channels: batched dim 1
            raise ShapeError(f"expects {self.num_parameters} channels (num_parameters), receives shape {_shape_text(shape)}")
        return shape

    def requires(self, in_shape):
        return () if self.num_parameters == 1 else ((in_shape[0], self.num_parameters),)


@dataclass(frozen=True)
class SiLU(Elementwise):
    """x*sigmoid(x)."""

    inplace: bool = False


@dataclass(frozen=True)
class Hardswish(Elementwise):
    """x*relu6(x + 3)/6."""

    inplace: bool = False


@dataclass(frozen=True)
class Hardsigmoid(Elementwise):
    """relu6(x + 3)/6 (MobileNetV3's squeeze-and-excitation gate)."""

    inplace: bool = False


@dataclass(frozen=True)
class Sigmoid(Elementwise):
    """1/(1 + exp(-x))."""


@dataclass(frozen=True)
class Tanh(Elementwise):
    """tanh(x)."""


@dataclass(frozen=True)
class Softmax(Elementwise):
    """exp(x_i)/sum_j exp(x_j) along ``dim`` (batched numbering, as PyTorch); the sum is a normaliser,
    so the receptive field passes through."""

    dim: Any = None

    def __post_init__(self):
        if self.dim is not None and (isinstance(self.dim, bool) or not isinstance(self.dim, int)):
            raise ShapeError(f"{self.type}: dim must be an integer, got {self.dim!r}")

    def infer(self, shape):
        if self.dim is not None and not -(len(shape) + 1) <= self.dim <= len(shape):
            raise ShapeError(f"dim {self.dim} is out of range for a batched input of rank {len(shape) + 1}")
        return shape


@dataclass(frozen=True)
class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``."""


@dataclass(frozen=True)
class Softmin(Softmax):
    """softmax(-x) along ``dim``."""


@dataclass(frozen=True)
class Dropout(Elementwise):
    """Zeroes elements with probability p while training; identity at inference."""

    p: float = 0.5
    inplace: bool = False
    op_kind = "dropout"

    def __post_init__(self):
        if not 0 <= self.p <= 1:
            raise ShapeError(f"{self.type}: dropout probability has to be between 0 and 1, but got {self.p}")


@dataclass(frozen=True)
class Dropout1d(Dropout):
    """Zeroes whole channels of a (C, L) input with probability p while training."""

    def infer(self, shape):
        if len(shape) > 2:
            raise ShapeError(f"dropout1d: Expected 2D or 3D input, but received a {len(shape) + 1}D input")
        return shape


@dataclass(frozen=True)
class Dropout2d(Dropout):
    """Zeroes whole channels with probability p while training."""


@dataclass(frozen=True)
class Dropout3d(Dropout):
    """Zeroes whole channels of a (C, D, H, W) input with probability p while training."""


@dataclass(frozen=True)
class AlphaDropout(Dropout):
    """Dropout that keeps SELU's mean and variance; identity at inference."""


class Identity(Layer):
    """Passes its input through (accepts and ignores any arguments, as PyTorch)."""

    def __init__(self, *args, **kwargs):
        pass

    def __repr__(self):
        return "Identity()"

    def __eq__(self, other):
        return type(other) is Identity

    def __hash__(self):
        return hash(Identity)

    def freeze(self):
        return self


@dataclass(frozen=True)
class StochasticDepth(Layer):
    """torchvision.ops.StochasticDepth(p, mode): drops whole residual branches in training, the
    identity at inference (and here: shapes, parameters and MACs are those of the identity)."""

    torch_module = False  # torchvision.ops.StochasticDepth

    p: float
    mode: str = "row"

    def __post_init__(self):
        if self.mode not in ("row", "batch"):
            raise ShapeError(f"{self.type}: mode must be 'row' or 'batch', got {self.mode!r}")
        if not 0 <= self.p <= 1:
            raise ShapeError(f"{self.type}: drop probability has to be between 0 and 1, got {self.p}")


# --- reshaping and padding ----------------------------------------------------------------------


@dataclass(frozen=True)
class Flatten(Layer):
    """Joins dims start_dim..end_dim (batched numbering: dim 0 is the batch): (C, H, W) -> (C*H*W,)."""

    start_dim: int = 1
    end_dim: int = -1

    def __post_init__(self):
        _axis_argument(self, "start_dim", "end_dim")

    def infer(self, shape):
        rank = len(shape) + 1
        start = self.start_dim + rank if self.start_dim < 0 else self.start_dim
        end = self.end_dim + rank if self.end_dim < 0 else self.end_dim
        if not (0 <= start < rank and 0 <= end < rank):
            raise ShapeError(f"dims {self.start_dim}..{self.end_dim} out of range for a batched input of rank {rank}")
        if start > end:
            raise ShapeError(f"start_dim {self.start_dim} cannot come after end_dim {self.end_dim}")
        if start == 0:
            raise ShapeError("flattening the batch dimension (start_dim=0) is not supported")
        i, j = start - 1, end - 1
        return shape[:i] + (product(shape[i : j + 1]),) + shape[j + 1 :]

    def moved_dims(self, in_shape, dims):
        start, end = (_unbatched_dim(d, len(in_shape), "Flatten") for d in (self.start_dim, self.end_dim))
        if any(start <= d <= end for d in dims):
            return None  # a spatial axis is flattened into others
        return tuple(d if d < start else d - (end - start) for d in dims)


def _crops_fit(axis, n, pads):
    """PyTorch's constant padding crops (negative pads) before it pads, so the crops alone must fit in the
    input; reflection and replication pad and crop in one step (only the output size counts)."""
    crop = sum(-p for p in pads if known(p) and p < 0)
    if known(n) and crop > n:
        raise ShapeError(f"negative padding {pads} crops {crop} pixels from {axis} {n}")


class PadNd(Layer):
    """Padding of the last ``rank`` axes by ``padding`` = (left, right[, top, bottom[, front, back]]),
    the last axis first, as ``F.pad``; negative values crop. An int pads every side."""

    padding: Any
    rank = 2
    mode = "constant"

    def __post_init__(self):
        p, n = self.padding, 2 * self.rank
        if isinstance(p, (tuple, list)):
            if len(p) % 2 or not 2 <= len(p) <= n:  # F.pad with fewer pairs pads only the last axes
                raise ShapeError(f"{self.type}: padding must be an int or {n} values (left, right, ...), got {p!r}")
            p = tuple(as_dim(v, "padding") for v in p) + (0,) * (n - len(p))
        else:
            p = (as_dim(p, "padding"),) * n
        object.__setattr__(self, "padding", p)

    def pads(self) -> tuple:
        """Per spatial axis in shape order, (before, after)."""
        pairs = [self.padding[i : i + 2] for i in range(0, len(self.padding), 2)]
        return tuple(reversed(pairs))

    def infer(self, shape):
        _expect_map(shape, self.rank)
        out = [shape[0]]
        for axis, n, pads in zip(axis_names(self.rank), shape[1:], self.pads()):
            if self.mode == "constant":
                _crops_fit(axis, n, pads)
            if self.mode == "reflect" and known(n) and any(known(p) and p >= n for p in pads):
                raise ShapeError(f"reflection padding {pads} must be smaller than the {axis} {n}")
            n_out = n + pads[0] + pads[1]
            if known(n_out) and n_out <= 0:
                raise ShapeError(f"output {axis} would be {n_out} after padding {self.padding}")
            out.append(n_out)
        return tuple(out)

    def windows(self, in_shape):
        return tuple(Window(1, 1, before) for before, _ in self.pads())


@dataclass(frozen=True)
class ZeroPad1d(PadNd):
    """Zero padding (left, right) of L; negative values crop, as PyTorch."""

    padding: Any

    rank = 1


@dataclass(frozen=True)
class ZeroPad2d(PadNd):
    """Zero padding (left, right, top, bottom); negative values crop, as PyTorch."""

    padding: Any

    rank = 2


@dataclass(frozen=True)
class ZeroPad3d(PadNd):
    """Zero padding (left, right, top, bottom, front, back); negative values crop, as PyTorch."""

    padding: Any

    rank = 3


@dataclass(frozen=True)
class ConstantPad1d(PadNd):
    """Padding (left, right) of L with ``value``."""

    padding: Any
    value: float = 0.0

    rank = 1


@dataclass(frozen=True)
class ConstantPad2d(PadNd):
    """Padding (left, right, top, bottom) with ``value``."""

    padding: Any
    value: float = 0.0

    rank = 2


@dataclass(frozen=True)
class ConstantPad3d(PadNd):
    """Padding (left, right, top, bottom, front, back) with ``value``."""

    padding: Any
    value: float = 0.0

    rank = 3


@dataclass(frozen=True)
class ReflectionPad1d(PadNd):
    """Reflection padding (left, right) of L; each pad must be smaller than L."""

    padding: Any

    rank = 1
    mode = "reflect"


@dataclass(frozen=True)
class ReflectionPad2d(PadNd):
    """Reflection padding (left, right, top, bottom); each pad must be smaller than its axis."""

    padding: Any

    rank = 2
    mode = "reflect"


@dataclass(frozen=True)
class ReflectionPad3d(PadNd):
    """Reflection padding (left, right, top, bottom, front, back); each pad must be smaller than its axis."""

    padding: Any

    rank = 3
    mode = "reflect"


@dataclass(frozen=True)
class ReplicationPad1d(PadNd):
    """Replication padding (left, right) of L: the border value repeated."""

    padding: Any

    rank = 1
    mode = "replicate"


@dataclass(frozen=True)
class ReplicationPad2d(PadNd):
    """Replication padding (left, right, top, bottom): the border values repeated."""

    padding: Any

    rank = 2
    mode = "replicate"


@dataclass(frozen=True)
class ReplicationPad3d(PadNd):
    """Replication padding (left, right, top, bottom, front, back): the border values repeated."""

    padding: Any

    rank = 3
    mode = "replicate"


@dataclass(frozen=True)
class Pad(Layer):
    """``F.pad(x, pad, value=...)`` with constant padding of any axis but the batch, channels included (the
    CIFAR ResNet's option-A shortcut pads its channels with zeros): ``pad`` lists (before, after) for the
    last axis first, then the one before it, ...; negative values crop."""

    pad: Any
    mode: str = "constant"
    value: Any = None

    torch_module = False

    def __post_init__(self):
        pad = tuple(as_dim(v, "pad") for v in (self.pad if isinstance(self.pad, (tuple, list)) else (self.pad,)))
        if not pad or len(pad) % 2:
            raise ShapeError(f"{self.type}: pad must list two sizes per padded axis, got {self.pad!r}")
        if self.mode != "constant":
            raise ShapeError(f"{self.type}: only constant padding of any axis is supported here, got mode={self.mode!r}")
        object.__setattr__(self, "pad", pad)

    def pads(self, rank) -> tuple:
        """Per axis of an unbatched shape of ``rank`` axes, (before, after)."""
        k = len(self.pad) // 2
        if k > rank:
            raise ShapeError(f"padding {k} axes of a batched input of rank {rank + 1} would pad the batch, which is not supported")
        pairs = [tuple(self.pad[2 * e: 2 * e + 2]) for e in range(k)]
        return tuple(pairs[rank - 1 - d] if rank - 1 - d < k else (0, 0) for d in range(rank))

    def infer(self, shape):
        out = []
        for d, (n, (before, after)) in enumerate(zip(shape, self.pads(len(shape)))):
            _crops_fit(f"dimension {d + 1}", n, (before, after))
            n_out = n + before + after
            if known(n_out) and n_out <= 0:
                raise ShapeError(f"padding {self.pad} leaves {n_out} elements of dimension {d + 1} (size {n})")
            out.append(n_out)
        return tuple(out)

    def windows(self, in_shape):
        return tuple(Window(1, 1, before) for before, _ in self.pads(len(in_shape))[1:])


@dataclass(frozen=True)
class SamePad2d(Layer):
    """TensorFlow/Keras padding='same' before a window of ``kernel_size``, ``stride``, ``dilation``.

    The padding depends on the input size: total = max((ceil(n/s) - 1)*s + d*(k - 1) + 1 - n, 0),
    floor(total/2) before and the rest after (formulas.tf_same_padding), so the following unpadded
    window gives ceil(n/s). Shape (C, H, W) -> (C, H + total_h, W + total_w). Zero-filled (Keras pads
    max pooling with -inf and excludes it from averages: the shapes are the same).
    """

    kernel_size: Any
    stride: Any = 1
    dilation: Any = 1

    torch_module = False  # Keras's padding='same' (the readers build it for Keras layers)

    def __post_init__(self):
        for arg in ("kernel_size", "stride", "dilation"):
            object.__setattr__(self, arg, ntuple(getattr(self, arg), 2, arg))
        _positive(self, "kernel_size", "stride", "dilation")

    def pads(self, shape):
        """((top, bottom), (left, right)) for an input (C, H, W)."""
        return tuple(F.tf_same_padding(n, k, s, d) for n, k, s, d in zip(shape[1:], self.kernel_size, self.stride, self.dilation))

    def infer(self, shape):
        _expect_map(shape)
        return (shape[0],) + tuple(n + before + after for n, (before, after) in zip(shape[1:], self.pads(shape)))

    def windows(self, in_shape):
        return tuple(Window(1, 1, before) for before, _ in self.pads(in_shape))


class Reshape(Layer):
    """``x.view(*shape)`` / ``x.reshape(*shape)`` in PyTorch's batched spelling, checked per sample.

    The first size is the batch: ``-1`` (``x.view(-1, 400)``) or ``None`` for ``x.size(0)``
    (``x.view(x.size(0), -1)``). The others give the per-sample shape, with at most one -1.
    ``Reshape(-1, 400)`` needs exactly 400 elements per sample: any other multiple of 400 is accepted
    by PyTorch but silently changes the batch size (samples are mixed), so it is refused here.
    """

    torch_module = False  # x.view / x.reshape, a tensor method

    def __init__(self, *shape, method="view"):
        if not shape:
            raise ShapeError(f"{method}() needs at least the batch size")
        batch, rest = shape[0], shape[1:]
        for v in shape:
            if type(v) is int and v < -1:
                raise ShapeError(f"{method}{self._text(shape)}: invalid shape dimension {v}")
        if -1 in shape and 0 in shape:
            raise ShapeError(f"{method}{self._text(shape)}: shape [{', '.join(map(str, shape))}] is invalid: "
                             "-1 cannot be inferred with a 0 size")
        if batch is not None and not (type(batch) is int and batch == -1):
            raise ShapeError(f"{method}{self._text(shape)}: the first size is the batch: write -1 or x.size(0)")
        sizes = tuple(-1 if type(v) is int and v == -1 else as_dim(v, f"{method} size") for v in rest)
        for v in sizes:
            if v != -1 and is_positive(v) is False:  # 0: an empty tensor, which no non-empty input can become
                raise ShapeError(f"{method}{self._text(shape)}: invalid size {v}: sizes are positive, or -1 for one inferred size")
        if sizes.count(-1) + (batch == -1) > 1:
            raise ShapeError(f"{method}{self._text(shape)}: only one dimension can be inferred (-1)")
        object.__setattr__(self, "shape", (batch,) + sizes)
        object.__setattr__(self, "method", method)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    @staticmethod
    def _text(shape):
        return "(" + ", ".join("x.size(0)" if v is None else str(v) for v in shape) + ")"

    def __repr__(self):
        return f"Reshape{self._text(self.shape)[:-1]}, method={self.method!r})"

    def __eq__(self, other):
        return type(other) is Reshape and (self.shape, self.method) == (other.shape, other.method)

    def __hash__(self):
        return hash((Reshape, self.shape, self.method))

    def infer(self, shape):
        n = product(shape)
        call = f"{self.method}{self._text(self.shape)}"
        rest = self.shape[1:]
        fixed = product(v for v in rest if v != -1)
        if self.shape[0] == -1:
            if known(n) and known(fixed) and n % fixed:
                raise ShapeError(
                    f"{call} expects a multiple of {fixed} elements, receives {n}: {self._fix(rest, n)}"
                )
            if _differ(n, fixed):
                raise ShapeError(
                    f"{call} mixes samples: each has {n} elements, not {fixed}, so the batch size would change: "
                    f"{self._fix(rest, n)}"
                )
            return tuple(rest)
        if -1 not in rest:
            if _differ(n, fixed):
                raise ShapeError(f"{call} expects {fixed} elements per sample, receives {n}: {self._fix(rest, n)}")
            return tuple(rest)
        if known(n) and known(fixed) and n % fixed:
            raise ShapeError(f"{call} expects a multiple of {fixed} elements per sample, receives {n}")
        return tuple(F.divide(n, fixed) if v == -1 else v for v in rest)

    def requires(self, in_shape):
        rest = self.shape[1:]
        if self.shape[0] == -1 or -1 not in rest:  # the per-sample element count is fixed
            return ((product(in_shape), product(v for v in rest if v != -1)),)
        return ()

    def _fix(self, rest, n):
        if len(rest) == 1:
            batch = "-1" if self.shape[0] == -1 else "x.size(0)"
            return f"use x.{self.method}({batch}, {n})"
        return f"use x.{self.method}(x.size(0), -1) or sizes whose product is {n}"

    def moved_dims(self, in_shape, dims):
        return None  # sizes are regrouped: the spatial axes do not survive as such


@dataclass(frozen=True)
class Linear(Layer):
    """Fully connected: (..., in_features) -> (..., out_features); in*out weights + out biases."""

    in_features: Any
    out_features: Any
    bias: bool = True
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    def __post_init__(self):
        object.__setattr__(self, "in_features", as_dim(self.in_features, "in_features"))
        object.__setattr__(self, "out_features", as_dim(self.out_features, "out_features"))
        _require(is_positive(self.in_features), f"{self.type}: in_features must be positive")
        _require(is_positive(self.out_features), f"{self.type}: out_features must be positive")

    def parameter_shapes(self):
        shapes = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def infer(self, shape):
        if _differ(shape[-1], self.in_features) and len(shape) > 1 and not _differ(product(shape), self.in_features):
            # the map has exactly the features: it was not flattened (use Linear(7, ...) would be a wrong fix)
            raise ShapeError(
                f"expects {self.in_features} input features, receives a {format_shape(shape)} map: flatten it first "
                f"({'*'.join(str(d) for d in shape)} = {self.in_features})"
            )
        if _differ(shape[-1], self.in_features):
            hint = f" (flatten first: {format_shape(shape)} has {product(shape)} elements)" if len(shape) > 1 else ""
            raise ShapeError(
                f"expects {self.in_features} input features, receives {shape[-1]}: "
                f"use Linear({shape[-1]}, {self.out_features}){hint}"
            )
        return shape[:-1] + (self.out_features,)

    def macs(self, in_shape, out_shape):
        features = self.in_features if known(self.in_features) else in_shape[-1]  # equal: infer checked
        return F.linear_macs(product(in_shape[:-1]), features, self.out_features)

    def requires(self, in_shape):
        return ((in_shape[-1], self.in_features),)

    def extra_ops(self, in_shape, out_shape):
        return _bias_ops(self, out_shape)

    def moved_dims(self, in_shape, dims):
        return None if len(in_shape) - 1 in dims else dims  # mixes its last axis entirely


# --- tensor operations (dims in PyTorch's batched numbering: dim 0 is the batch) -----------------


def _batched_dims(dims, rank, what):
    """A permutation or list of batched dims as unbatched indices, the batch refused."""
    return tuple(_unbatched_dim(d, rank, what) for d in dims)


@dataclass(frozen=True)
class Permute(Layer):
    """``x.permute(*dims)`` / torchvision's ``Permute(dims)``: the axes reordered; the batch stays first."""

    dims: Any

    def __post_init__(self):
        object.__setattr__(self, "dims", tuple(self.dims))

    def _order(self, shape):
        rank = len(shape) + 1
        if len(self.dims) != rank:
            raise ShapeError(f"number of dims don't match in permute: {len(self.dims)} dims for a batched input of rank {rank}")
        order = [d % rank if isinstance(d, int) and -rank <= d < rank else None for d in self.dims]
        if None in order or isinstance(self.dims[0], bool):
            raise ShapeError(f"permute dims {list(self.dims)} are out of range for a batched input of rank {rank}")
        if len(set(order)) != rank:
            raise ShapeError(f"permute(): duplicate dims are not allowed: {list(self.dims)}")
        if order[0] != 0:
            raise ShapeError(f"permute {list(self.dims)} moves the batch dimension, which is not supported")
        return [d - 1 for d in order[1:]]

    def infer(self, shape):
        return tuple(shape[d] for d in self._order(shape))

    def moved_dims(self, in_shape, dims):
        order = self._order(in_shape)
        return tuple(order.index(d) for d in dims)


@dataclass(frozen=True)
class Transpose(Layer):
    """``x.transpose(dim0, dim1)``: two axes swapped (not the batch)."""

    dim0: int
    dim1: int

    def _pair(self, shape):
        return _unbatched_dim(self.dim0, len(shape), "transpose"), _unbatched_dim(self.dim1, len(shape), "transpose")

    def infer(self, shape):
        a, b = self._pair(shape)
        out = list(shape)
        out[a], out[b] = out[b], out[a]
        return tuple(out)

    def moved_dims(self, in_shape, dims):
        a, b = self._pair(in_shape)
        return tuple(b if d == a else a if d == b else d for d in dims)


@dataclass(frozen=True)
class Unflatten(Layer):
    """``nn.Unflatten(dim, unflattened_size)`` / ``x.unflatten``: one axis split into several (one may be -1)."""

    dim: int
    unflattened_size: Any

    def __post_init__(self):
        sizes = tuple(-1 if v == -1 else as_dim(v, "unflattened_size") for v in self.unflattened_size)
        if sizes.count(-1) > 1:
            raise ShapeError(f"{self.type}: only one dimension can be inferred (-1), got {list(sizes)}")
        object.__setattr__(self, "unflattened_size", sizes)

    def infer(self, shape):
        i = _unbatched_dim(self.dim, len(shape), "unflatten")
        n, fixed = shape[i], product(v for v in self.unflattened_size if v != -1)
        if -1 in self.unflattened_size:
            if known(n) and known(fixed) and n % fixed:
                raise ShapeError(f"unflatten: sizes {list(self.unflattened_size)} do not divide dimension {self.dim} of size {n}")
            sizes = tuple(F.divide(n, fixed) if v == -1 else v for v in self.unflattened_size)
        else:
            if _differ(n, fixed):
                raise ShapeError(f"unflatten: provided sizes {list(self.unflattened_size)} don't multiply up to the "
                                 f"size of dim {self.dim} ({n}) in the input tensor")
            sizes = self.unflattened_size
        return shape[:i] + sizes + shape[i + 1:]

    def requires(self, in_shape):
        if -1 in self.unflattened_size:
            return ()
        return ((in_shape[_unbatched_dim(self.dim, len(in_shape), "unflatten")], product(self.unflattened_size)),)

    def moved_dims(self, in_shape, dims):
        i = _unbatched_dim(self.dim, len(in_shape), "unflatten")
        return None if i in dims else tuple(d if d < i else d + len(self.unflattened_size) - 1 for d in dims)


@dataclass(frozen=True)
class Squeeze(Layer):
    """``x.squeeze(dim)``: axes of size 1 removed (all of them when ``dim`` is None; never the batch)."""

    dim: Any = None

    def _removed(self, shape):
        if self.dim is None:
            return [i for i, n in enumerate(shape) if n == 1]
        dims = self.dim if isinstance(self.dim, (tuple, list)) else (self.dim,)
        return [i for i in _batched_dims(dims, len(shape), "squeeze") if shape[i] == 1]

    def infer(self, shape):
        removed = self._removed(shape)
        return tuple(n for i, n in enumerate(shape) if i not in removed)

    def moved_dims(self, in_shape, dims):
        removed = self._removed(in_shape)
        if any(d in removed for d in dims):
            return None
        return tuple(d - sum(r < d for r in removed) for d in dims)


@dataclass(frozen=True)
class Unsqueeze(Layer):
    """``x.unsqueeze(dim)``: an axis of size 1 inserted at ``dim`` of the output (batched numbering)."""

    dim: int

    def _position(self, shape):
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or not -(len(shape) + 2) <= self.dim < len(shape) + 2:
            raise ShapeError(f"unsqueeze: dim {self.dim!r} is out of range for a batched input of rank {len(shape) + 1}")
        position = self.dim % (len(shape) + 2)
        if position == 0:
            raise ShapeError(f"unsqueeze: dim {self.dim} would put the new axis before the batch, which is not supported")
        return position - 1

    def infer(self, shape):
        i = self._position(shape)
        return shape[:i] + (1,) + shape[i:]

    def moved_dims(self, in_shape, dims):
        i = self._position(in_shape)
        return tuple(d if d < i else d + 1 for d in dims)


def _slice_length(n, start, stop, step):
    """len(range(n)[start:stop:step]) for a positive step, on ints or a symbolic n (Python's clamping)."""
    if known(n):
        return len(range(n)[slice(start, stop, step)])
    if (start is None or (known(start) and start >= 0)) and (stop is None or (known(stop) and stop < 0)):
        first = start or 0
        last = n if stop is None else n + stop
        return ceil_div(last - first, step) if step not in (None, 1) else last - first
    raise ShapeError(f"slice {start}:{stop}:{step} of a symbolic size {n} is not supported: give a number or slice from the start")


def _index_text(key):
    parts = []
    for entry in key:
        if entry is Ellipsis:
            parts.append("...")
        elif entry is None:
            parts.append("None")
        elif isinstance(entry, tuple):
            start, stop, step = entry
            text = f"{'' if start is None else start}:{'' if stop is None else stop}"
            parts.append(text + ("" if step in (None, 1) else f":{step}"))
        else:
            parts.append(str(entry))
    return "x[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class Index(Layer):
    """``x[key]``: basic indexing in PyTorch's batched spelling (``x[:, 0]``, ``x[:, :4]``, ``x[..., ::2]``).

    ``key`` holds one entry per axis: an int (the axis is removed), ``(start, stop, step)`` for a slice,
    ``...`` or None (a new axis). The batch axis must be taken whole. ``Index.of(key)`` accepts Python
    slices.
    """

    key: Any

    @classmethod
    def of(cls, key) -> Index:
        entries = key if isinstance(key, tuple) else (key,)
        return cls(tuple((e.start, e.stop, e.step) if isinstance(e, slice) else e for e in entries))

    def __post_init__(self):
        key = tuple(self.key) if isinstance(self.key, (tuple, list)) else (self.key,)
        # spec files write ... as "..." and a slice as [start, stop, step]
        key = tuple(Ellipsis if e == "..." else tuple(e) if isinstance(e, list) else e for e in key)
        if sum(e is Ellipsis for e in key) > 1:
            raise ShapeError(f"{_index_text(key)}: an index can only have a single ellipsis")
        for entry in key:
            if isinstance(entry, tuple):
                if len(entry) != 3 or any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in entry):
                    raise ShapeError(f"{_index_text(key)}: slice bounds must be integers")
                if entry[2] is not None and entry[2] <= 0:
                    raise ShapeError(f"{_index_text(key)}: step must be greater than zero")
            elif entry is not None and entry is not Ellipsis and (isinstance(entry, bool) or not isinstance(entry, int)):
                raise ShapeError(f"{_index_text(key)}: only integers, slices, ... and None are understood as indices")
        object.__setattr__(self, "key", key)

    def _entries(self, shape):
        """Per batched input axis its entry, with the new axes (None) kept in place."""
        key, rank = list(self.key), len(shape) + 1
        used = sum(e is not None and e is not Ellipsis for e in key)
        if used > rank:
            raise ShapeError(f"{_index_text(self.key)}: too many indices for a batched tensor of rank {rank}")
        if Ellipsis in key:
            i = key.index(Ellipsis)
            key[i:i + 1] = [(None, None, None)] * (rank - used)
        else:
            key += [(None, None, None)] * (rank - used)
        first = next(e for e in key if e is not None)
        if first != (None, None, None):
            raise ShapeError(f"{_index_text(self.key)} indexes the batch dimension, which is not supported: start with ':'")
        return key[key.index(first) + 1:], key[:key.index(first)]

    def _axes(self, shape):
        """(output shape, for each input axis (its output axis or None when removed, its slice or None))."""
        entries, leading = self._entries(shape)
        if leading:
            raise ShapeError(f"{_index_text(self.key)}: a new axis before the batch is not supported")
        out, where, axis = [], [], 0
        for entry in entries:
            if entry is None:
                out.append(1)
                continue
            n = shape[axis]
            if isinstance(entry, tuple):
                length = _slice_length(n, *entry)
                if known(length) and length <= 0:
                    raise ShapeError(f"{_index_text(self.key)} leaves no elements of axis {axis + 1} (size {n})")
                where.append((len(out), entry))
                out.append(length)
            else:
                if known(n) and not -n <= entry < n:
                    raise ShapeError(f"index {entry} is out of bounds for dimension {axis + 1} with size {n}")
                where.append((None, None))
            axis += 1
        return tuple(out), where

    def infer(self, shape):
        return self._axes(shape)[0]

    def windows(self, in_shape):
        """Slicing a spatial axis from a known start with a step reads every step-th pixel (a window k = 1,
        stride = step, padding = -start, as ``x[:, :, ::2, ::2]`` in a CIFAR ResNet's shortcut); indexing one
        away, or slicing it from the end, ends the field."""
        windows = []
        for output_axis, (start, _, step) in ((o, e or (None, None, None)) for o, e in self._axes(in_shape)[1][1:]):
            if output_axis is None or (start is not None and not (known(start) and start >= 0)):
                return None
            windows.append(SAME if (start or 0) == 0 and (step or 1) == 1 else Window(1, step or 1, -(start or 0)))
        return tuple(windows)

    def moved_dims(self, in_shape, dims):
        where = self._axes(in_shape)[1]
        moved = tuple(where[d][0] for d in dims)
        return None if None in moved else moved  # a spatial axis indexed away: the field ends

    def __repr__(self):
        return f"Index({_index_text(self.key)})"


@dataclass(frozen=True)
class ExpectSize(Layer):
    """``torch._assert(h == image_size, ...)`` on a (C, *spatial) map: a model that takes one input size
    only (torchvision's VisionTransformer checks height and width before its patch projection).
    ``size`` is the size of every spatial axis, or per spatial axis the size required (None: any);
    the map passes unchanged."""

    size: Any

    torch_module = False  # an assertion in a forward, not a module

    def __post_init__(self):
        if isinstance(self.size, (tuple, list)):
            size = tuple(None if v is None else as_dim(v, "size") for v in self.size)
            if len(size) not in _MAPS:
                raise ShapeError(f"{self.type}: size must give 1 to 3 spatial axes, got {self.size!r}")
        else:
            size = as_dim(self.size, "size")
        object.__setattr__(self, "size", size)

    def _sizes(self, shape):
        if not isinstance(self.size, tuple):
            if len(shape) - 1 not in _MAPS:
                raise ShapeError(f"expects a (C, L), (C, H, W) or (C, D, H, W) feature map, receives shape {_shape_text(shape)}")
            return (self.size,) * (len(shape) - 1)
        _expect_map(shape, len(self.size))
        return self.size

    def infer(self, shape):
        sizes = self._sizes(shape)
        for axis, n, expected in zip(axis_names(len(sizes)), shape[1:], sizes):
            if expected is not None and _differ(n, expected):
                raise ShapeError(f"Wrong image {axis}! Expected {expected} but got {n}!")
        return shape

    def requires(self, in_shape):
        return tuple((n, expected) for n, expected in zip(in_shape[1:], self._sizes(in_shape)) if expected is not None)


_REDUCTIONS = ("mean", "sum", "amax", "amin", "prod")


@dataclass(frozen=True)
class Reduce(Layer):
    """``x.mean(dim, keepdim)`` (also sum, amax, amin, prod): the axes ``dim`` reduced (all but the batch
    when None). Reducing a spatial axis sees all of it: the receptive field ends, as at a global pool."""

    op: str
    dim: Any = None
    keepdim: bool = False

    def __post_init__(self):
        if self.op not in _REDUCTIONS:
            raise ShapeError(f"{self.type}: op must be one of {', '.join(_REDUCTIONS)}, got {self.op!r}")
        if isinstance(self.dim, list):
            object.__setattr__(self, "dim", tuple(self.dim))

    def _reduced(self, shape):
        if self.dim is None:
            return list(range(len(shape)))
        dims = self.dim if isinstance(self.dim, tuple) else (self.dim,)
        reduced = _batched_dims(dims, len(shape), self.op)
        if len(set(reduced)) != len(reduced):
            raise ShapeError(f"{self.op}: dim {list(dims)} appears multiple times in the list of dims")
        return list(reduced)

    def infer(self, shape):
        reduced = self._reduced(shape)
        if self.keepdim:
            return tuple(1 if i in reduced else n for i, n in enumerate(shape))
        return tuple(n for i, n in enumerate(shape) if i not in reduced)  # () when one number is left per sample

    def extra_ops(self, in_shape, out_shape):
        return {"pool": _numel(in_shape)}

    def moved_dims(self, in_shape, dims):
        reduced = self._reduced(in_shape)
        if any(d in reduced for d in dims):
            return None
        return dims if self.keepdim else tuple(d - sum(r < d for r in reduced) for d in dims)


_SCALAR_OPS = ("add", "sub", "rsub", "mul", "div", "rdiv", "pow", "neg")


@dataclass(frozen=True)
class ScalarOp(Elementwise):
    """An element-wise operation with a constant: ``x + c``, ``c - x``, ``x * c``, ``x / c``, ``x ** c``, ``-x``."""

    op: str
    value: Any = None

    op_kind = "elementwise"
    torch_module = False

    def __post_init__(self):
        if self.op not in _SCALAR_OPS:
            raise ShapeError(f"{self.type}: op must be one of {', '.join(_SCALAR_OPS)}, got {self.op!r}")


@dataclass(frozen=True)
class PixelShuffle(Layer):
    """(C*r^2, H, W) -> (C, H*r, W*r): each output pixel is one input pixel (a transposed window k = s = r)."""

    upscale_factor: Any

    upsamples = True

    def __post_init__(self):
        object.__setattr__(self, "upscale_factor", as_dim(self.upscale_factor, "upscale_factor"))
        _positive(self, "upscale_factor")

    def infer(self, shape):
        r = self.upscale_factor
        if len(shape) < 3:
            raise ShapeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with {len(shape) + 1} dimension(s)")
        c = shape[-3]
        if known(c) and known(r) and c % (r * r):
            raise ShapeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                             f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
        return shape[:-3] + (F.divide(c, r * r), shape[-2] * r, shape[-1] * r)

    def windows(self, in_shape):
        r = self.upscale_factor
        return (Window(r, r, 0, up=True),) * 2 if len(in_shape) == 3 else None


@dataclass(frozen=True)
class PixelUnshuffle(Layer):
    """(C, H, W) -> (C*r^2, H/r, W/r): each output pixel gathers an r x r block (a window k = s = r)."""

    downscale_factor: Any

    def __post_init__(self):
        object.__setattr__(self, "downscale_factor", as_dim(self.downscale_factor, "downscale_factor"))
        _positive(self, "downscale_factor")

    def infer(self, shape):
        r = self.downscale_factor
        if len(shape) < 3:
            raise ShapeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with {len(shape) + 1} dimension(s)")
        for axis, n in zip(("height", "width"), shape[-2:]):
            if known(n) and known(r) and n % r:
                raise ShapeError(f"pixel_unshuffle expects {axis} to be divisible by downscale_factor, but input.size"
                                 f"({-2 if axis == 'height' else -1})={n} is not divisible by {r}")
        return shape[:-3] + (shape[-3] * r * r, F.divide(shape[-2], r), F.divide(shape[-1], r))

    def windows(self, in_shape):
        r = self.downscale_factor
        return (Window(r, r, 0),) * 2 if len(in_shape) == 3 else None


@dataclass(frozen=True)
class ChannelShuffle(Layer):
    """Channels regrouped across ``groups`` (ShuffleNet); shape-preserving."""

    groups: Any

    def __post_init__(self):
        object.__setattr__(self, "groups", as_dim(self.groups, "groups"))
        _positive(self, "groups")

    def infer(self, shape):
        if len(shape) < 2:
            raise ShapeError(f"channel_shuffle expects input to have at least 3 dimensions, but got input with {len(shape) + 1} dimension(s)")
        if known(shape[0]) and known(self.groups) and shape[0] % self.groups:
            raise ShapeError(f"Number of channels must be divisible by groups. Got {shape[0]} channels and {self.groups} groups.")
        return shape


# --- token layers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Embedding(Layer):
    """A lookup table: integer ids of any shape -> that shape + (embedding_dim,); num_embeddings*dim params."""

    num_embeddings: Any
    embedding_dim: Any
    padding_idx: Any = None
    max_norm: Any = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    def __post_init__(self):
        for arg in ("num_embeddings", "embedding_dim"):
            object.__setattr__(self, arg, as_dim(getattr(self, arg), arg))
        _positive(self, "num_embeddings", "embedding_dim")
        n, idx = self.num_embeddings, self.padding_idx
        if idx is not None and known(n) and not -n <= idx < n:
            raise ShapeError(f"{self.type}: padding_idx must be within num_embeddings ({n}), got {idx}")

    def parameter_shapes(self):
        return {"weight": (self.num_embeddings, self.embedding_dim)}

    def infer(self, shape):
        return shape + (self.embedding_dim,)


@dataclass(frozen=True)
class MultiheadAttention(Layer):
    """Self-attention over the tokens of an (L, E) input (query = key = value = x), PyTorch's
    ``nn.MultiheadAttention``: in-projection, ``num_heads`` scaled dot-product attentions, out-projection.

    MACs = 3*L*E^2 (q, k, v) + L*S*E (q k^T) + L*S*E (weights times v) + L*E^2 (out), S = L (+1 with
    add_bias_kv, +1 with add_zero_attn). Every token reads every token: the receptive field ends.
    """

    embed_dim: Any
    num_heads: Any
    dropout: float = 0.0
    bias: bool = True
    add_bias_kv: bool = False
    add_zero_attn: bool = False
    kdim: Any = None
    vdim: Any = None
    batch_first: bool = False
    device: Any = field(default=None, repr=False, compare=False)
    dtype: Any = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    def __post_init__(self):
        for arg in ("embed_dim", "num_heads"):
            object.__setattr__(self, arg, as_dim(getattr(self, arg), arg))
        _positive(self, "embed_dim", "num_heads")
        e, h = self.embed_dim, self.num_heads
        if known(e) and known(h) and e % h:
            raise ShapeError(f"{self.type}: embed_dim ({e}) must be divisible by num_heads ({h})")
        for arg in ("kdim", "vdim"):
            value = getattr(self, arg)
            if value is not None:
                object.__setattr__(self, arg, as_dim(value, arg))
                _positive(self, arg)

    @property
    def _same_dims(self):
        return all(v is None or v == self.embed_dim for v in (self.kdim, self.vdim))

    def parameter_shapes(self):
        e = self.embed_dim
        if self._same_dims:
            shapes = {"in_proj_weight": (3 * e, e)}
        else:
            shapes = {"q_proj_weight": (e, e), "k_proj_weight": (e, self.kdim or e), "v_proj_weight": (e, self.vdim or e)}
        if self.bias:
            shapes["in_proj_bias"] = (3 * e,)
        if self.add_bias_kv:
            shapes.update(bias_k=(1, 1, e), bias_v=(1, 1, e))
        shapes["out_proj.weight"] = (e, e)
        if self.bias:
            shapes["out_proj.bias"] = (e,)
        return shapes

    @property
    def weight_params(self):
        return sum(product(s) for name, s in self.parameter_shapes().items() if name.endswith("weight"))

    def infer(self, shape):
        if len(shape) != 2:
            raise ShapeError(f"expects an (L, E) sequence of tokens, receives shape {_shape_text(shape)}")
        if _differ(shape[-1], self.embed_dim):
            raise ShapeError(f"was expecting embedding dimension of {self.embed_dim}, but got {shape[-1]}")
        if not self._same_dims:
            raise ShapeError("self-attention (query = key = value) needs kdim and vdim equal to embed_dim")
        return shape

    def requires(self, in_shape):
        return ((in_shape[-1], self.embed_dim),)

    def macs(self, in_shape, out_shape):
        tokens, e = in_shape[0], self.embed_dim
        keys = tokens + int(self.add_bias_kv) + int(self.add_zero_attn)
        return F.linear_macs(tokens, e, 3 * e) + F.attention_macs(1, tokens, keys, e, e) + F.linear_macs(tokens, e, e)

    def extra_ops(self, in_shape, out_shape):
        return {"softmax": self.num_heads * in_shape[0] * in_shape[0]}

    def windows(self, in_shape):
        return None


# --- parameters used directly in forward ----------------------------------------------------------

_PARAMETER_OPS = ("add", "mul", "cat")


@dataclass(frozen=True)
class ParameterOp(Layer):
    """A learned tensor a module owns and uses in ``forward`` (``nn.Parameter``): added (a position
    embedding), multiplied (a layer scale) or concatenated along ``dim`` (a class token), broadcast over
    the batch as PyTorch broadcasts it. ``shape`` is the parameter's own shape (``(1, 1, 768)``,
    ``(96, 1, 1)``); its elements are the layer's params."""

    op: str
    shape: Any
    dim: int = 1
    trainable: bool = _trainable()

    torch_module = False

    def __post_init__(self):
        if self.op not in _PARAMETER_OPS:
            raise ShapeError(f"{self.type}: op must be one of {', '.join(_PARAMETER_OPS)}, got {self.op!r}")
        object.__setattr__(self, "shape", tuple(as_dim(v, "shape") for v in _normalized_shape(self.shape)))
        _positive(self, "shape")

    def parameter_shapes(self):
        return {"": self.shape}  # the parameter is the row itself (``class_token``, ``encoder.pos_embedding``)

    @property
    def weight_params(self):
        return self.params

    def _broadcast(self, shape):
        """The parameter's shape right-aligned against the batched input (N, *shape), without N."""
        rank = len(shape) + 1
        if len(self.shape) > rank:
            raise ShapeError(f"a parameter of shape {_shape_text(self.shape)} has more dims than the batched input (N, {', '.join(map(str, shape))})")
        return (None,) * (rank - len(self.shape)) + tuple(self.shape), rank

    def infer(self, shape):
        param, rank = self._broadcast(shape)
        if self.op == "cat":
            i = _unbatched_dim(self.dim, len(shape), "cat")
            own = param[1:]
            if None in own:
                raise ShapeError(f"cat: a parameter of shape {_shape_text(self.shape)} needs {rank} dims to join the batched input")
            for j, (a, b) in enumerate(zip(own, shape)):
                if j != i and _differ(a, b):
                    raise ShapeError(f"cat: sizes of the parameter {_shape_text(self.shape)} and the input must match "
                                     f"except in dimension {self.dim}: {b} against {a} in dimension {j + 1}")
            return shape[:i] + (own[i] + shape[i],) + shape[i + 1:]
        out = []
        for j, (p, n) in enumerate(zip(param[1:], shape)):
            if p is not None and p != 1 and _differ(p, n) and n != 1:
                raise ShapeError(f"the parameter of shape {_shape_text(self.shape)} does not broadcast against "
                                 f"(N, {', '.join(map(str, shape))}) in dimension {j + 1}")
            out.append(n if p is None or p == 1 else p)
        if param[0] not in (None, 1):
            raise ShapeError(f"the parameter of shape {_shape_text(self.shape)} would change the batch size")
        return tuple(out)

    def requires(self, in_shape):
        param, _ = self._broadcast(in_shape)
        i = _unbatched_dim(self.dim, len(in_shape), "cat") if self.op == "cat" else None
        return tuple((n, p) for j, (p, n) in enumerate(zip(param[1:], in_shape))
                     if p is not None and p != 1 and j != i)

    def extra_ops(self, in_shape, out_shape):
        return {} if self.op == "cat" else {self.op: _numel(out_shape)}

    def moved_dims(self, in_shape, dims):
        if self.op == "cat":
            i = _unbatched_dim(self.dim, len(in_shape), "cat")
            return None if i in dims else dims
        return dims


# --- torchvision blocks ----------------------------------------------------------------------------
# torchvision modules (and functions) whose forward is one unit that generic layers would not express
# readably: Swin's window attention (padding to whole windows, a cyclic shift, a relative position bias
# table and its index) and patch merging.


@dataclass(frozen=True)
class Buffer(Layer):
    """A tensor a module registered as a buffer and reads in ``forward`` (Swin V2's
    ``relative_coords_table``, the input of its position-bias MLP): the row outputs it without reading
    its own input. ``shape`` is the buffer's, its leading 1 read as the batch (as torch broadcasts it);
    its elements are the row's buffers."""

    shape: Any

    torch_module = False
    source = True

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(as_dim(v, "shape") for v in _normalized_shape(self.shape)))
        _positive(self, "shape")
        if len(self.shape) < 2 or self.shape[0] != 1:
            raise ShapeError(f"{self.type}: shape must be a batch of one, (1, ...), got {_shape_text(self.shape)}")

    def buffer_shapes(self):
        return {"": self.shape}  # the buffer is the row itself (``attn.relative_coords_table``)

    def infer(self, shape):
        return self.shape[1:]

    def windows(self, in_shape):
        return None  # a constant: no output position reads the input


@dataclass(frozen=True)
class PatchMergingPad(Layer):
    """torchvision's ``_patch_merging_pad`` (Swin's PatchMerging before its norm and reduction): a
    channels-last map (..., H, W, C) padded at the end to even H and W, its 2x2 neighbours joined along
    the channels: (..., ceil(H/2), ceil(W/2), 4C). Each output pixel reads a 2x2 window, stride 2."""

    torch_module = False  # a function in torchvision.models.swin_transformer
    channels_last = True

    def infer(self, shape):
        if len(shape) < 3:
            raise ShapeError(f"expects a channels-last (..., H, W, C) map, receives shape {_shape_text(shape)}")
        h, w, c = shape[-3:]
        return shape[:-3] + (ceil_div(h, 2), ceil_div(w, 2), 4 * c)

    def windows(self, in_shape):
        return (Window(2, 2, 0), Window(2, 2, 0))


@dataclass(frozen=True)
class ShiftedWindowAttention(Layer):
    """torchvision's ShiftedWindowAttention (Swin V1) on a channels-last (H, W, C) map: padded at the end
    to whole windows, cyclically shifted by ``shift_size`` (where a window is smaller than the map),
    multi-head self-attention within each ``window_size`` window (with a learned relative position
    bias, a table indexed by a buffer), the output projection, the shift and the padding undone.

    params = 3C(C + 1) (qkv) + C(C + 1) (proj) + (2*w_h - 1)(2*w_w - 1)*heads (the table);
    buffers = (w_h*w_w)^2 (the index); MACs on the padded map of T tokens in windows of N
    (``formulas.window_attention_macs``). Every token reads its window: the receptive field ends.
    """

    dim: Any
    window_size: Any
    shift_size: Any
    num_heads: Any
    qkv_bias: bool = True
    proj_bias: bool = True
    attention_dropout: float = 0.0
    dropout: float = 0.0
    trainable: bool = _trainable()

    torch_module = False  # torchvision.models.swin_transformer

    def __post_init__(self):
        set_ = object.__setattr__
        for arg in ("dim", "num_heads"):
            set_(self, arg, as_dim(getattr(self, arg), arg))
        for arg in ("window_size", "shift_size"):  # an int for both axes too (as every pair argument)
            value = getattr(self, arg)
            if isinstance(value, (tuple, list)) and len(value) != 2:
                raise ShapeError(f"{self.type}: window_size and shift_size must be of length 2, got {arg}={value!r}")
            set_(self, arg, ntuple(value, 2, arg))
        _positive(self, "dim", "num_heads", "window_size")
        for v in self.shift_size:
            _require(is_nonnegative(v), f"{self.type}: shift_size must not be negative, got {self.shift_size}")
        if known(self.dim) and known(self.num_heads) and self.dim % self.num_heads:
            raise ShapeError(f"{self.type}: dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")

    @property
    def window_tokens(self):
        return self.window_size[0] * self.window_size[1]

    def parameter_shapes(self):
        c = self.dim
        shapes = {"qkv.weight": (3 * c, c), **({"qkv.bias": (3 * c,)} if self.qkv_bias else {}),
                  "proj.weight": (c, c), **({"proj.bias": (c,)} if self.proj_bias else {})}
        shapes.update(self._position_parameters())
        return shapes

    def _position_parameters(self):
        wh, ww = self.window_size
        return {"relative_position_bias_table": ((2 * wh - 1) * (2 * ww - 1), self.num_heads)}

    @property
    def weight_params(self):
        return sum(product(s) for name, s in self.parameter_shapes().items() if not name.endswith("bias"))

    def buffer_shapes(self):
        return {"relative_position_index": (self.window_tokens * self.window_tokens,)}

    def infer(self, shape):
        if len(shape) != 3:
            raise ShapeError(f"expects a channels-last (H, W, C) map, receives shape {_shape_text(shape)}")
        _expect_channels(shape[-1], self.dim, "channels (the last axis)")
        return shape

    def requires(self, in_shape):
        return ((in_shape[-1], self.dim),)

    def _tokens(self, in_shape):
        """The padded map's tokens: whole windows along H and W."""
        return F.window_padded(in_shape[0], self.window_size[0]) * F.window_padded(in_shape[1], self.window_size[1])

    def macs(self, in_shape, out_shape):
        return F.window_attention_macs(self._tokens(in_shape), self.window_tokens, self.dim)

    def extra_ops(self, in_shape, out_shape):
        return {"softmax": self.num_heads * self._tokens(in_shape) * self.window_tokens}

    def windows(self, in_shape):
        return None


@dataclass(frozen=True)
class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """torchvision's ShiftedWindowAttentionV2 (Swin V2): ShiftedWindowAttention with cosine attention
    scaled by a learned ``logit_scale`` (heads, 1, 1) in place of the bias table; the relative position
    bias comes from the ``cpb_mlp`` applied to the ``relative_coords_table`` buffer, which the zoo writes
    as their own rows before this one (a ``side`` merge). Same MACs as V1."""

    def _position_parameters(self):
        return {"logit_scale": (self.num_heads, 1, 1)}


@dataclass(frozen=True)
class WindowPartition(Layer):
    """torchvision's WindowPartition (MaxViT) with its partition size ``p`` (a forward argument there):
    (C, H, W) -> (H/p * W/p, p*p, C), the map cut into p x p windows of channels-last tokens. H and W
    must be multiples of p (torch's reshape refuses the rest).

    Every token is one pixel: the receptive field stays, its spatial axes now spread over the window
    and token axes (0, 1) until a WindowDepartition puts them back (a layer that mixes tokens ends it).
    """

    p: Any

    torch_module = False  # torchvision.models.maxvit

    def __post_init__(self):
        object.__setattr__(self, "p", as_dim(self.p, "p"))
        _positive(self, "p")

    def infer(self, shape):
        _expect_map(shape, 2)
        c, h, w = shape
        p = self.p
        for axis, n in (("height", h), ("width", w)):
            if known(n) and known(p) and n % p:
                raise ShapeError(f"the {axis} {n} is not a multiple of the partition size {p}: torch's reshape of "
                                 f"{_shape_text(shape)} into {p}x{p} windows fails")
        return (floor_div(h, p) * floor_div(w, p), p * p, c)

    def requires(self, in_shape):
        return tuple((self.p * floor_div(n, self.p), n) for n in in_shape[1:])

    def moved_dims(self, in_shape, dims):
        return (0, 1) if dims == (1, 2) else None


@dataclass(frozen=True)
class WindowDepartition(Layer):
    """torchvision's WindowDepartition (MaxViT) with its forward arguments ``p``, ``h_partitions`` and
    ``w_partitions``: (h_partitions*w_partitions, p*p, C) -> (C, h_partitions*p, w_partitions*p), the
    inverse of WindowPartition (its receptive field back on axes 1 and 2)."""

    p: Any
    h_partitions: Any
    w_partitions: Any

    torch_module = False  # torchvision.models.maxvit

    def __post_init__(self):
        for arg in ("p", "h_partitions", "w_partitions"):
            object.__setattr__(self, arg, as_dim(getattr(self, arg), arg))
        _positive(self, "p", "h_partitions", "w_partitions")

    def infer(self, shape):
        if len(shape) != 3:
            raise ShapeError(f"expects (windows, tokens, C), receives shape {_shape_text(shape)}")
        g, pp, c = shape
        p, hp, wp = self.p, self.h_partitions, self.w_partitions
        if _differ(g, hp * wp) or _differ(pp, p * p):
            raise ShapeError(f"shape '[N, {hp}, {wp}, {p}, {p}, {c}]' is invalid for an input {_shape_text(shape)}: "
                             f"expects {hp}*{wp} windows of {p}*{p} tokens")
        return (c, hp * p, wp * p)

    def requires(self, in_shape):
        return ((in_shape[0], self.h_partitions * self.w_partitions), (in_shape[1], self.p * self.p))

    def moved_dims(self, in_shape, dims):
        return (1, 2) if dims == (0, 1) else None  # windows and tokens back to H and W, in this order only


@dataclass(frozen=True)
class SwapAxes(Layer):
    """torchvision's SwapAxes(a, b) (MaxViT's grid attention): ``torch.swapaxes(x, a, b)``, batched
    numbering, as Transpose."""

    a: int
    b: int

    torch_module = False  # torchvision.models.maxvit

    def infer(self, shape):
        return Transpose(self.a, self.b).infer(shape)

    def moved_dims(self, in_shape, dims):
        return Transpose(self.a, self.b).moved_dims(in_shape, dims)


@dataclass(frozen=True)
class RelativePositionalAttention(Layer):
    """The attention of torchvision's RelativePositionalMultiHeadAttention (MaxViT) between its ``to_qkv``
    and ``merge`` Linears (their own rows): (..., P, 3C) -> (..., P, C), C = ``feat_dim``, in
    C/``head_dim`` heads over P = ``max_seq_len`` tokens with a learned relative position bias (a table
    of (2*sqrt(P) - 1)^2 x heads, indexed by a P x P buffer).

    MACs = windows*P*P*2C (scores and weighted values; ``formulas.attention_macs``). Every token reads
    its window: the receptive field ends.
    """

    feat_dim: Any
    head_dim: Any
    max_seq_len: Any
    trainable: bool = _trainable()

    torch_module = False  # part of torchvision.models.maxvit.RelativePositionalMultiHeadAttention

    def __post_init__(self):
        for arg in ("feat_dim", "head_dim", "max_seq_len"):
            object.__setattr__(self, arg, as_dim(getattr(self, arg), arg))
        _positive(self, "feat_dim", "head_dim", "max_seq_len")
        if known(self.feat_dim) and known(self.head_dim) and self.feat_dim % self.head_dim:
            raise ShapeError(f"{self.type}: feat_dim: {self.feat_dim} must be divisible by head_dim: {self.head_dim}")

    @property
    def num_heads(self):
        return F.divide(self.feat_dim, self.head_dim)

    @property
    def size(self):
        """torchvision's int(sqrt(max_seq_len)): the side of the square window the bias table spans."""
        if not known(self.max_seq_len):
            raise ShapeError(f"{self.type}: max_seq_len must be a number, got {self.max_seq_len}")
        return math.isqrt(self.max_seq_len)

    def parameter_shapes(self):
        return {"relative_position_bias_table": ((2 * self.size - 1) * (2 * self.size - 1), self.num_heads)}

    @property
    def weight_params(self):
        return self.params

    def buffer_shapes(self):
        return {"relative_position_index": (self.size * self.size, self.size * self.size)}

    def infer(self, shape):
        if len(shape) < 2:
            raise ShapeError(f"expects (..., tokens, 3*feat_dim), receives shape {_shape_text(shape)}")
        _expect_channels(shape[-1], 3 * self.feat_dim, "features (3*feat_dim: q, k and v)")
        if _differ(shape[-2], self.max_seq_len):
            raise ShapeError(f"the position bias covers {self.max_seq_len} tokens, receives {shape[-2]} "
                             f"(shape {_shape_text(shape)})")
        return shape[:-1] + (self.feat_dim,)

    def requires(self, in_shape):
        return ((in_shape[-1], 3 * self.feat_dim), (in_shape[-2], self.max_seq_len))

    def macs(self, in_shape, out_shape):
        return F.attention_macs(product(in_shape[:-2]), in_shape[-2], in_shape[-2], self.feat_dim, self.feat_dim)

    def extra_ops(self, in_shape, out_shape):
        return {"softmax": self.num_heads * product(in_shape[:-2]) * in_shape[-2] * in_shape[-2]}

    def windows(self, in_shape):
        return None
# torchvision classes that are a torch.nn layer under another name: the recorded networks call them by
# that name, so the rows do too.


@dataclass(frozen=True)
class Conv3DSimple(Conv3d):
    """torchvision.models.video.resnet.Conv3DSimple: an ``nn.Conv3d`` with a 3x3x3 kernel, padding 1 and no
    bias (R3D's and MC3's full spatio-temporal convolution); shapes, params and MACs are Conv3d's.
    ``Conv3DSimple.of(in_planes, out_planes, midplanes, stride, padding)`` takes torchvision's arguments."""

    kernel_size: Any = (3, 3, 3)
    padding: Any = 1
    bias: bool = False

    torch_module = False  # torchvision.models.video.resnet
    torch_type = "Conv3d"
    temporal_kernel = 3

    def __post_init__(self):
        super().__post_init__()
        wanted = (self.temporal_kernel, 3, 3)
        if all(known(k) for k in self.kernel_size) and self.kernel_size != wanted:  # explain's twin has symbols
            raise ShapeError(f"{self.type}: the kernel is {wanted}, got {self.kernel_size}")

    @classmethod
    def of(cls, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        """The layer as torchvision builds it (``midplanes`` is accepted and unused, as there)."""
        return cls(in_planes, out_planes, stride=stride, padding=padding)


@dataclass(frozen=True)
class Conv3DNoTemporal(Conv3DSimple):
    """torchvision.models.video.resnet.Conv3DNoTemporal: an ``nn.Conv3d`` with a 1x3x3 kernel (MC3's
    spatial-only convolutions), stride (1, s, s), padding (0, p, p), no bias; Conv3d's numbers."""

    kernel_size: Any = (1, 3, 3)
    padding: Any = (0, 1, 1)

    temporal_kernel = 1

    @classmethod
    def of(cls, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        return cls(in_planes, out_planes, stride=(1, stride, stride), padding=(0, padding, padding))


_BASES = (Layer, LastDimsNorm, ConvNd, ConvTransposeNd, PoolNd, MaxPoolNd, AvgPoolNd, AdaptivePoolNd, BatchNormNd, InstanceNormNd, Elementwise,
          PadNd)


def layer_types() -> dict:
    """Every concrete leaf layer class by name (the abstract bases of a family left out)."""
    return {
        name: cls for name, cls in globals().items()
        if isinstance(cls, type) and issubclass(cls, Layer) and cls not in _BASES and not name.startswith("_")
    }


# Every public layer type (``from cnncalc.layers import *`` and ``cnncalc``): a new layer type is listed here too.
__all__ = [
    "Layer", "axis_names", "layer_types", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AlphaDropout", "AvgPool1d", "AvgPool2d",
    "AvgPool3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Buffer", "CELU", "ChannelShuffle",
    "ConnectionTableConv2d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "Conv1d", "Conv2d", "Conv3d",
    "Conv3DNoTemporal", "Conv3DSimple", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Dropout", "Dropout1d",
    "Dropout2d", "Dropout3d", "ELU", "Embedding", "ExpectSize", "Flatten", "GELU", "GroupNorm", "Hardsigmoid",
    "Hardswish", "Hardtanh",
    "Identity", "Index", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "LayerNorm2d",
    "LeakyReLU", "Linear", "LocalResponseNorm", "LogSigmoid", "LogSoftmax", "MaxPool1d", "MaxPool2d",
    "MaxPool3d", "Mish", "MultiheadAttention", "Pad", "ParameterOp", "PatchMergingPad", "Permute",
    "PixelShuffle", "PixelUnshuffle", "PReLU", "Reduce", "ReflectionPad1d", "ReflectionPad2d",
    "ReflectionPad3d", "RelativePositionalAttention", "ReLU", "ReLU6", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "Reshape", "RMSNorm", "SamePad2d", "ScalarOp", "SELU", "ShiftedWindowAttention",
    "ShiftedWindowAttentionV2", "Sigmoid", "SiLU", "Softmax", "Softmin", "Softplus", "Softsign", "Squeeze",
    "StochasticDepth", "SwapAxes", "Tanh", "Transpose", "Unflatten", "Unsqueeze", "Upsample",
    "UpsamplingBilinear2d", "UpsamplingNearest2d", "WindowDepartition", "WindowPartition", "ZeroPad1d",
    "ZeroPad2d", "ZeroPad3d",
]
