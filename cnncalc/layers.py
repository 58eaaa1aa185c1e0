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

from dataclasses import dataclass, field, replace
from functools import cached_property

from . import formulas as F
from .dims import as_dim, format_shape, is_nonnegative, is_positive, known, ntuple, product
from .errors import ShapeError
from .receptive_field import SAME, ReceptiveField, Window

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
    windowed = False  # has a sliding window that can drop pixels (conv/pool)
    upsamples = False  # output pixels read regions of varying extent (trace.py gives the exact field)

    @property
    def type(self) -> str:
        return type(self).__name__

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
        """Per spatial axis, the ``Window`` through which an output pixel reads the input ``in_shape``
        (shape-preserving layers: ``SAME``), or None where the spatial mapping ends."""
        return (SAME,) * (len(in_shape) - 1)

    def rf_at(self, rf: ReceptiveField | None, in_shape: tuple) -> ReceptiveField | None:
        """The receptive field after this layer, for the input shape ``in_shape``."""
        if rf is None:
            return None
        windows = self.windows(in_shape)
        return None if windows is None else rf.through(windows)

    def requires(self, in_shape: tuple) -> tuple:
        """The equalities (received, expected) ``infer`` checks, e.g. the input channels: where symbols
        leave one unsettled the analysis records it as an assumption (``Report.assumptions``)."""
        return ()

    def freeze(self) -> Layer:
        """A copy whose parameters are frozen (not trainable); parameter-free layers return themselves."""
        return replace(self, trainable=False) if hasattr(self, "trainable") else self

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
class _ConvNd(Layer):
    """Convolution over ``rank`` spatial axes: n_out = floor((n + 2p - d*(k - 1) - 1)/s) + 1 per axis."""

    in_channels: object
    out_channels: object
    kernel_size: object
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    groups: object = 1
    bias: bool = True
    padding_mode: str = "zeros"
    device: object = field(default=None, repr=False, compare=False)
    dtype: object = field(default=None, repr=False, compare=False)
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
class Conv1d(_ConvNd):
    """1D convolution: (C_in, L) -> (C_out, L_out), L_out = floor((L + 2p - d*(k-1) - 1)/s) + 1."""

    rank = 1


@dataclass(frozen=True)
class Conv2d(_ConvNd):
    """2D convolution: (C_in, H, W) -> (C_out, H_out, W_out), H_out = floor((H + 2p - d*(k-1) - 1)/s) + 1."""

    rank = 2


@dataclass(frozen=True)
class Conv3d(_ConvNd):
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
class _ConvTransposeNd(Layer):
    """Transposed convolution over ``rank`` axes: n_out = (n - 1)*s - 2p + d*(k - 1) + output_padding + 1."""

    in_channels: object
    out_channels: object
    kernel_size: object
    stride: object = 1
    padding: object = 0
    output_padding: object = 0
    groups: object = 1
    bias: bool = True
    dilation: object = 1
    padding_mode: str = "zeros"
    device: object = field(default=None, repr=False, compare=False)
    dtype: object = field(default=None, repr=False, compare=False)
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
class ConvTranspose1d(_ConvTransposeNd):
    """1D transposed convolution: L_out = (L - 1)*s - 2p + d*(k - 1) + output_padding + 1."""

    rank = 1


@dataclass(frozen=True)
class ConvTranspose2d(_ConvTransposeNd):
    """Transposed convolution: H_out = (H - 1)*s - 2p + d*(k - 1) + output_padding + 1."""

    rank = 2


@dataclass(frozen=True)
class ConvTranspose3d(_ConvTransposeNd):
    """3D transposed convolution: each spatial axis as ConvTranspose2d's H_out."""

    rank = 3


# --- pooling ------------------------------------------------------------------------------------


class _PoolNd(Layer):
    """Shared rules of max and average pooling (PyTorch's pooling_output_shape and pool2d_shape_check)."""

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


class _MaxPoolNd(_PoolNd):
    """Max pooling: n_out = floor-or-ceil((n + 2p - d*(k - 1) - 1)/s) + 1, stride defaults to kernel_size."""

    def __post_init__(self):
        object.__setattr__(self, "dilation", ntuple(self.dilation, self.rank, "dilation"))
        _positive(self, "dilation")
        self._normalise()


@dataclass(frozen=True)
class MaxPool1d(_MaxPoolNd):
    """Max pooling over L: L_out = floor-or-ceil((L + 2p - d*(k - 1) - 1)/s) + 1."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    return_indices: bool = False
    ceil_mode: bool = False

    rank = 1


@dataclass(frozen=True)
class MaxPool2d(_MaxPoolNd):
    """Max pooling: H_out = floor-or-ceil((H + 2p - d*(k - 1) - 1)/s) + 1, stride defaults to kernel_size."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    return_indices: bool = False
    ceil_mode: bool = False

    rank = 2


@dataclass(frozen=True)
class MaxPool3d(_MaxPoolNd):
    """Max pooling over D, H and W, each axis as MaxPool2d's H_out."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    return_indices: bool = False
    ceil_mode: bool = False

    rank = 3


class _AvgPoolNd(_PoolNd):
    """Average pooling: n_out = floor-or-ceil((n + 2p - k)/s) + 1, stride defaults to kernel_size."""

    def __post_init__(self):
        self._normalise()
        divisor = getattr(self, "divisor_override", None)
        if divisor is not None and known(divisor) and divisor == 0:
            raise ShapeError(f"{self.type}: divisor_override must not be zero")


@dataclass(frozen=True)
class AvgPool1d(_AvgPoolNd):
    """Average pooling over L: L_out = floor-or-ceil((L + 2p - k)/s) + 1."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    rank = 1


@dataclass(frozen=True)
class AvgPool2d(_AvgPoolNd):
    """Average pooling: H_out = floor-or-ceil((H + 2p - k)/s) + 1, stride defaults to kernel_size."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: object = None

    rank = 2


@dataclass(frozen=True)
class AvgPool3d(_AvgPoolNd):
    """Average pooling over D, H and W, each axis as AvgPool2d's H_out."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: object = None

    rank = 3


class _AdaptivePoolNd(Layer):
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
        object.__setattr__(self, "output_size", norm)

    def infer(self, shape):
        _expect_map(shape, self.rank)
        return (shape[0],) + tuple(n if o is None else o for n, o in zip(shape[1:], self.output_size))

    def extra_ops(self, in_shape, out_shape):
        return {"pool": _numel(in_shape)}

    def windows(self, in_shape):
        return None  # every output pixel may see a different window: the spatial mapping ends here


@dataclass(frozen=True)
class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Adaptive average pooling over L to ``output_size``."""

    output_size: object

    rank = 1


@dataclass(frozen=True)
class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Adaptive average pooling to ``output_size`` (None keeps that axis)."""

    output_size: object

    rank = 2


@dataclass(frozen=True)
class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """Adaptive average pooling over D, H and W to ``output_size`` (None keeps that axis)."""

    output_size: object

    rank = 3


@dataclass(frozen=True)
class AdaptiveMaxPool1d(_AdaptivePoolNd):
    """Adaptive max pooling over L to ``output_size``."""

    output_size: object
    return_indices: bool = False

    rank = 1


@dataclass(frozen=True)
class AdaptiveMaxPool2d(_AdaptivePoolNd):
    """Adaptive max pooling to ``output_size`` (None keeps that axis)."""

    output_size: object
    return_indices: bool = False

    rank = 2


@dataclass(frozen=True)
class AdaptiveMaxPool3d(_AdaptivePoolNd):
    """Adaptive max pooling over D, H and W to ``output_size`` (None keeps that axis)."""

    output_size: object
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

    size: object = None
    scale_factor: object = None
    mode: str = "nearest"
    align_corners: object = None
    recompute_scale_factor: object = None

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


class _BatchNorm(Layer):
    """Batch normalisation over channels: 2C params (gamma, beta) when affine, 2C buffers (running mean, var)."""

    ranks = (2,)  # accepted numbers of axes after the channels

    def __post_init__(self):
        object.__setattr__(self, "num_features", as_dim(self.num_features, "num_features"))
        _require(is_positive(self.num_features), f"{self.type}: num_features must be positive")

    def parameter_shapes(self):
        c = self.num_features
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def buffer_shapes(self):
        c = self.num_features
        return {"running_mean": (c,), "running_var": (c,)} if self.track_running_stats else {}

    def infer(self, shape):
        if len(shape) - 1 not in self.ranks:
            expected = " or ".join(_MAPS.get(r, "(C,)") for r in self.ranks)
            noun = "feature map" if self.ranks != (0, 1) else "input"
            raise ShapeError(f"expects a {expected} {noun}, receives shape {_shape_text(shape)}")
        if self.affine or self.track_running_stats:  # else no tensor of size num_features exists: PyTorch accepts any C
            _expect_channels(shape[0], self.num_features, "channels (num_features)")
        return shape

    def requires(self, in_shape):
        return ((in_shape[0], self.num_features),) if self.affine or self.track_running_stats else ()

    def extra_ops(self, in_shape, out_shape):
        return {"norm": 2 * _numel(out_shape)}  # inference: one multiply and one add per element


@dataclass(frozen=True)
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (C,) or (C, L) inputs."""

    num_features: object
    eps: float = 1e-5
    momentum: object = 0.1
    affine: bool = True
    track_running_stats: bool = True
    device: object = field(default=None, repr=False, compare=False)
    dtype: object = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    ranks = (0, 1)


@dataclass(frozen=True)
class BatchNorm2d(_BatchNorm):
    """Batch normalisation over channels: 2C params (gamma, beta) when affine, 2C buffers (running mean, var)."""

    num_features: object
    eps: float = 1e-5
    momentum: object = 0.1
    affine: bool = True
    track_running_stats: bool = True
    device: object = field(default=None, repr=False, compare=False)
    dtype: object = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

    ranks = (2,)


@dataclass(frozen=True)
class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (C, D, H, W) feature maps."""

    num_features: object
    eps: float = 1e-5
    momentum: object = 0.1
    affine: bool = True
    track_running_stats: bool = True
    device: object = field(default=None, repr=False, compare=False)
    dtype: object = field(default=None, repr=False, compare=False)
    trainable: bool = _trainable()

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


# --- element-wise -------------------------------------------------------------------------------


class _Elementwise(Layer):
    """A shape-preserving layer applied element by element."""

    op_kind = "activation"

    def extra_ops(self, in_shape, out_shape):
        return {self.op_kind: _numel(out_shape)}


@dataclass(frozen=True)
class ReLU(_Elementwise):
    """max(0, x)."""

    inplace: bool = False


@dataclass(frozen=True)
class ReLU6(_Elementwise):
    """min(max(0, x), 6) (MobileNetV2)."""

    inplace: bool = False


@dataclass(frozen=True)
class LeakyReLU(_Elementwise):
    """max(0, x) + negative_slope*min(0, x)."""

    negative_slope: float = 0.01
    inplace: bool = False


@dataclass(frozen=True)
class ELU(_Elementwise):
    """x if x > 0 else alpha*(exp(x) - 1)."""

    alpha: float = 1.0
    inplace: bool = False


@dataclass(frozen=True)
class GELU(_Elementwise):
    """x*Phi(x)."""

    approximate: str = "none"

    def __post_init__(self):
        if self.approximate not in ("none", "tanh"):
            raise ShapeError(f"{self.type}: approximate must be 'none' or 'tanh', got {self.approximate!r}")


@dataclass(frozen=True)
class SiLU(_Elementwise):
    """x*sigmoid(x)."""

    inplace: bool = False


@dataclass(frozen=True)
class Hardswish(_Elementwise):
    """x*relu6(x + 3)/6."""

    inplace: bool = False


@dataclass(frozen=True)
class Hardsigmoid(_Elementwise):
    """relu6(x + 3)/6 (MobileNetV3's squeeze-and-excitation gate)."""

    inplace: bool = False


@dataclass(frozen=True)
class Sigmoid(_Elementwise):
    """1/(1 + exp(-x))."""


@dataclass(frozen=True)
class Tanh(_Elementwise):
    """tanh(x)."""


@dataclass(frozen=True)
class Softmax(_Elementwise):
    """exp(x_i)/sum_j exp(x_j) along ``dim`` (batched numbering, as PyTorch)."""

    dim: object = None

    def __post_init__(self):
        if self.dim is not None:
            _axis_argument(self, "dim")

    def infer(self, shape):
        if self.dim is not None and not -(len(shape) + 1) <= self.dim <= len(shape):
            raise ShapeError(f"dim {self.dim} is out of range for a batched input of rank {len(shape) + 1}")
        return shape


@dataclass(frozen=True)
class Dropout(_Elementwise):
    """Zeroes elements with probability p while training; identity at inference."""

    p: float = 0.5
    inplace: bool = False
    op_kind = "dropout"

    def __post_init__(self):
        if not 0 <= self.p <= 1:
            raise ShapeError(f"{self.type}: dropout probability has to be between 0 and 1, but got {self.p}")


@dataclass(frozen=True)
class Dropout2d(Dropout):
    """Zeroes whole channels with probability p while training."""


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

    def windows(self, in_shape):
        return None


class _PadNd(Layer):
    """Padding of the last ``rank`` axes by ``padding`` = (left, right[, top, bottom[, front, back]]),
    the last axis first, as ``F.pad``; negative values crop. An int pads every side."""

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
            # PyTorch crops (negative pads) before it pads, so the crops alone must fit in the input
            crop = sum(-p for p in pads if known(p) and p < 0)
            if known(n) and crop > n:
                raise ShapeError(f"negative padding {pads} crops {crop} pixels from {axis} {n}")
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
class ZeroPad1d(_PadNd):
    """Zero padding (left, right) of L; negative values crop, as PyTorch."""

    padding: object

    rank = 1


@dataclass(frozen=True)
class ZeroPad2d(_PadNd):
    """Zero padding (left, right, top, bottom); negative values crop, as PyTorch."""

    padding: object

    rank = 2


@dataclass(frozen=True)
class ZeroPad3d(_PadNd):
    """Zero padding (left, right, top, bottom, front, back); negative values crop, as PyTorch."""

    padding: object

    rank = 3


@dataclass(frozen=True)
class ConstantPad1d(_PadNd):
    """Padding (left, right) of L with ``value``."""

    padding: object
    value: float = 0.0

    rank = 1


@dataclass(frozen=True)
class ConstantPad2d(_PadNd):
    """Padding (left, right, top, bottom) with ``value``."""

    padding: object
    value: float = 0.0

    rank = 2


@dataclass(frozen=True)
class ConstantPad3d(_PadNd):
    """Padding (left, right, top, bottom, front, back) with ``value``."""

    padding: object
    value: float = 0.0

    rank = 3


@dataclass(frozen=True)
class ReflectionPad1d(_PadNd):
    """Reflection padding (left, right) of L; each pad must be smaller than L."""

    padding: object

    rank = 1
    mode = "reflect"


@dataclass(frozen=True)
class ReflectionPad2d(_PadNd):
    """Reflection padding (left, right, top, bottom); each pad must be smaller than its axis."""

    padding: object

    rank = 2
    mode = "reflect"


@dataclass(frozen=True)
class ReflectionPad3d(_PadNd):
    """Reflection padding (left, right, top, bottom, front, back); each pad must be smaller than its axis."""

    padding: object

    rank = 3
    mode = "reflect"


@dataclass(frozen=True)
class ReplicationPad1d(_PadNd):
    """Replication padding (left, right) of L: the border value repeated."""

    padding: object

    rank = 1
    mode = "replicate"


@dataclass(frozen=True)
class ReplicationPad2d(_PadNd):
    """Replication padding (left, right, top, bottom): the border values repeated."""

    padding: object

    rank = 2
    mode = "replicate"


@dataclass(frozen=True)
class ReplicationPad3d(_PadNd):
    """Replication padding (left, right, top, bottom, front, back): the border values repeated."""

    padding: object

    rank = 3
    mode = "replicate"


@dataclass(frozen=True)
class SamePad2d(Layer):
    """TensorFlow/Keras padding='same' before a window of ``kernel_size``, ``stride``, ``dilation``.

    The padding depends on the input size: total = max((ceil(n/s) - 1)*s + d*(k - 1) + 1 - n, 0),
    floor(total/2) before and the rest after (formulas.tf_same_padding), so the following unpadded
    window gives ceil(n/s). Shape (C, H, W) -> (C, H + total_h, W + total_w). Zero-filled (Keras pads
    max pooling with -inf and excludes it from averages: the shapes are the same).
    """

    kernel_size: object
    stride: object = 1
    dilation: object = 1

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

    def __init__(self, *shape, method="view"):
        if not shape:
            raise ShapeError(f"{method}() needs at least the batch size")
        batch, rest = shape[0], shape[1:]
        if batch is not None and not (type(batch) is int and batch == -1):
            raise ShapeError(f"{method}{self._text(shape)}: the first size is the batch: write -1 or x.size(0)")
        sizes = tuple(-1 if type(v) is int and v == -1 else as_dim(v, f"{method} size") for v in rest)
        for v in sizes:
            if v != -1 and is_positive(v) is False:  # PyTorch: "invalid shape dimension -2"; 0 empties the tensor
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

    def windows(self, in_shape):
        return None


@dataclass(frozen=True)
class Linear(Layer):
    """Fully connected: (..., in_features) -> (..., out_features); in*out weights + out biases."""

    in_features: object
    out_features: object
    bias: bool = True
    device: object = field(default=None, repr=False, compare=False)
    dtype: object = field(default=None, repr=False, compare=False)
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

    def windows(self, in_shape):
        return None
