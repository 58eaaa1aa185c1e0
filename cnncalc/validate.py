"""Prove the analytic numbers by running the network: ``verify(model, input_shape)``.

For each analysis row the NumPy reference (``cnncalc.reference``) runs the same network on a batch of
one and these are compared, each check reporting the expected (analytic) and the actual number:

- ``shape``: the executed output shape (batch axis dropped) equals the row's ``output_shape``;
- ``params``: the elements of the parameter arrays the layer owns equal the row's ``params``;
- ``macs``: rows*cols*inner summed over the GEMMs the layer's forward executed equals the row's ``macs``;
- ``receptive_field``: gradient 1 is put on every channel of the centre output pixel
  (o_h, o_w) = (H_out // 2, W_out // 2) of the row and back-propagated with positive weights (uniform in
  [0.5, 1.5]/fan_in, zero biases, BatchNorm at its initial running statistics, input 0.01 everywhere, so
  every activation is positive and no gradient cancels) and max pooling spreading its gradient over the
  whole window. Per axis, the first and last input rows/columns with a non-zero gradient (lo, hi) must
  equal the analytic region [start + o*stride, start + o*stride + size - 1] clipped to the image
  [0, n - 1] and to the row's reach, the last input pixel that floor truncation lets the row see at all
  (``_reaches``). After a transposed convolution with stride > 1 output pixels read regions of varying
  extent: there the expected region is traced exactly, layer by layer within the real feature maps
  (``trace.Tracer`` with ``clip``), as the analysis traces it for the receptive field.
  Rows after the spatial mapping ends (no receptive field) are not checked;
- ``gradient``: finite differences in float64 for L = sum(y * G), G random (weights He-uniform, see
  ``_he_parameters``): for the input and for the parameters of sampled layers, a random direction v
  over all of the tensor's entries; (L(t + h v) - L(t - h v)) / 2h must match <dL/dt, v> from the
  backward pass to ``rtol`` for one of the step sizes ``STEPS``.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from .analysis import analyze
from .dims import as_shape, product
from .errors import ShapeError
from .limits import MAX_MEMORY
from .graph import INPUT
from .reference import runner
from .trace import Tracer


class Check(NamedTuple):
    """One comparison: what was checked on which row, the analytic and the measured value."""

    layer: str
    type: str
    what: str  # shape | params | macs | receptive_field | gradient
    expected: object
    actual: object
    ok: bool


class Verification:
    """All checks of one model on one input; ``ok`` when every check agrees."""

    def __init__(self, name, input_shape, checks):
        self.name = name
        self.input_shape = input_shape
        self.checks = checks

    @property
    def ok(self):
        return all(c.ok for c in self.checks)

    @property
    def failures(self):
        return [c for c in self.checks if not c.ok]

    def by_layer(self):
        """{(layer, type): {what: Check}} in row order."""
        out = {}
        for c in self.checks:
            out.setdefault((c.layer, c.type), {})[c.what] = c
        return out

    def __repr__(self):
        return f"Verification({self.name}, {len(self.checks)} checks, {len(self.failures)} failed)"


WHATS = ("shape", "params", "macs", "receptive_field", "gradient")
STEPS = (1e-6, 1e-7, 1e-5, 1e-8)  # finite-difference step sizes, tried in turn until one agrees


def verify(
    model,
    input_shape,
    *,
    seed=0,
    name=None,
    receptive_field=True,
    gradients=True,
    gradient_layers=8,
    rf_rows=None,
    rf_batch=16,
    rtol=1e-5,
    progress=None,
    max_memory=None,
):
    """Run every check of the module docstring on ``model`` at the concrete ``input_shape`` (C, H, W).

    ``gradient_layers`` and ``rf_rows`` bound the finite-difference and receptive-field checks to that
    many evenly spaced layers (None: all); ``progress(done, total)`` is called after each of those jobs.
    Before any array exists the memory the run needs is estimated (``memory_estimate``) and a run over
    ``max_memory`` bytes (default: ``default_max_memory()``) is refused with a ``LimitError``.
    """
    shape = as_shape(input_shape)
    if not all(type(d) is int for d in shape):
        raise ShapeError(f"verify needs a concrete input shape, got {shape}")
    report = analyze(model, shape, warn=False)
    rows = sum(1 for r in report.layers if r.receptive_field is not None and len(r.output_shape) == 3)
    need = memory_estimate(report, rf_batch=min(rf_batch, rows, rf_rows or rows) if receptive_field else 0)
    limit = default_max_memory() if max_memory is None else max_memory
    MAX_MEMORY.check(need, f"verify {name or report.name} {'x'.join(map(str, shape))}", "needs about", limit)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1,) + shape)
    drawn = []

    def draw(y):  # G takes the executed output shape, not the analytic one (which may be wrong)
        drawn.append(rng.standard_normal(y.shape))
        return drawn[0]

    trace = runner.forward_backward(model, x, draw, seed, params=_he_parameters(model, seed))
    grad_out = drawn[0]
    if len(trace.steps) != len(report.layers):
        raise ShapeError(f"verify: {len(report.layers)} analysis rows but {len(trace.steps)} executed steps")

    checks = []
    for row, step in zip(report.layers, trace.steps):
        checks.append(Check(row.name, row.type, "shape", tuple(row.output_shape), step.output_shape,
                            tuple(row.output_shape) == step.output_shape))
        if row.is_merge:
            continue
        actual_params = sum(trace.params[p].size for p in step.params)
        checks.append(Check(row.name, row.type, "params", row.params, actual_params, row.params == actual_params))
        checks.append(Check(row.name, row.type, "macs", row.macs, step.macs, row.macs == step.macs))

    work = []
    if receptive_field:
        work += _rf_work(model, shape, report, trace, rf_batch, rf_rows)
    if gradients:
        work += _gradient_work(model, x, grad_out, trace, seed, gradient_layers, rtol, rng)
    for done, job in enumerate(work, 1):
        checks += job()
        if progress is not None:
            progress(done, len(work))
    order = {(r.name, r.type): i for i, r in enumerate(report.layers)}
    checks.sort(key=lambda c: (order.get((c.layer, c.type), -1), WHATS.index(c.what)))
    return Verification(name or report.name, shape, checks)


def memory_estimate(report, rf_batch=16):
    """The bytes ``verify`` allocates at most, from the report alone (nothing is allocated).

    With A the elements of the input and of every row's output, P the parameters and buffers, L those
    of the largest layer and W the largest im2col matrix (kernel taps times C_in*H_out*W_out, or
    C_out*H_in*W_in for a transposed convolution), all per sample: the float64 forward/backward keeps
    the activations and their gradients and the parameters and their gradients (2A + 2P) to the end;
    on top of them come either the float32 receptive-field runs, ``rf_batch`` samples of 3A + 2W and a
    positive copy of the parameters, or one finite difference in float64: a forward run with its
    im2col and adjoint (A + 2W) and a direction, two perturbed copies and temporaries of one layer's
    parameters (5L). Against the peak of AlexNet, VGG11, ResNet18, SqueezeNet at 224x224, a 7x7
    convolution at 256x256 and a 49M-parameter Linear (allocations traced, or resident memory where
    larger) it is 1.05 to 2.4 times as much.
    """
    acts = product(report.input_shape) + sum(r.output_numel for r in report.layers)
    params = report.params + report.buffers
    window, largest = 0, max((r.params for r in report.layers), default=0)
    for row in report.layers:
        kernel = getattr(row.layer, "kernel_size", None)
        if row.is_merge or kernel is None or len(row.input_shape) < 2:
            continue
        taps = product(kernel if isinstance(kernel, tuple) else (kernel,) * (len(row.input_shape) - 1))
        if row.layer.upsamples:
            spread = row.output_shape[0] * product(row.input_shape[1:])
        else:
            spread = row.input_shape[0] * product(row.output_shape[1:])
        window = max(window, taps * spread)
    kept = 8 * (2 * acts + 2 * params)
    receptive = 4 * (rf_batch * (3 * acts + 2 * window) + params)
    difference = 8 * (acts + 2 * window + 5 * largest)
    return kept + max(receptive, difference)


def default_max_memory():
    """``MAX_MEMORY`` when set, else three quarters of the memory available now (Linux: MemAvailable;
    else the physical memory), and never more than half the address-space limit (``ulimit -v``, which
    also counts the interpreter and its libraries)."""
    if MAX_MEMORY.value:
        return MAX_MEMORY.value
    candidates = []
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024 * 3 // 4)
    except (OSError, ValueError, IndexError):
        pass
    if not candidates and hasattr(os, "sysconf"):
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 3 // 4)
        except (OSError, ValueError):
            pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            candidates.append(soft // 2)
    except (ImportError, OSError, ValueError):
        pass
    return max(1, min(candidates)) if candidates else 4 * 10**9


def _he_parameters(model, seed):
    """PyTorch's default parameters with the weights scaled by sqrt(6) (bound sqrt(6/fan_in), He's uniform
    init), so activations keep their size through deep ReLU networks without BatchNorm (SqueezeNet) and
    finite differences stay well above rounding."""
    params = runner.init_parameters(model, seed, np.float64)
    for a in params.values():
        if a.ndim > 1:
            a *= np.sqrt(6)
    return params


# --- receptive field ----------------------------------------------------------------------------


def _positive_parameters(model, seed):
    """Weights uniform in [0.5, 1.5]/fan_in, biases 0, BatchNorm weight 1: every activation stays positive."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in runner.parameter_shapes(model).items():
        if name.endswith("bias"):
            params[name] = np.zeros(shape, np.float32)
        elif len(shape) == 1:  # BatchNorm weight
            params[name] = np.ones(shape, np.float32)
        else:
            arr = rng.random(shape, dtype=np.float32)
            arr += 0.5
            arr /= int(np.prod(shape[1:]))
            params[name] = arr
    return params


def _analytic_interval(start, stride, size, o, reach, n):
    """Output pixel o's region [start + o*stride, start + o*stride + size - 1], clipped to the image
    [0, n - 1] and to ``reach``."""
    lo = start + o * stride
    return max(lo, 0), min(lo + size - 1, reach, n - 1)


def _reaches(model, report, shape):
    """Per row, per axis, the last input pixel the row can depend on at all.

    A layer's last output reads up to start + (n_out - 1)*stride + size - 1, but only through the
    pixels the previous layer has: floor truncation leaves input pixels unread, and a later layer's
    padding does not bring them back. So the reach is the minimum of that end over the layers on the
    way (the maximum over the branches of a merge).
    """
    axes = len(shape) - 1
    out = []
    for row in report.layers:
        reach = tuple(max(shape[1 + a] - 1 if q == INPUT else out[q][a] for q in row.inputs) for a in range(axes))
        rf = row.receptive_field
        if rf is not None and len(row.output_shape) == len(shape):
            reach = tuple(
                min(r, rf.start[a] + (row.output_shape[1 + a] - 1) * rf.stride[a] + rf.size[a] - 1)
                for a, r in enumerate(reach)
            )
        out.append(reach)
    return out


def _sample(items, count):
    """``count`` items evenly spaced from first to last (all of them when count is None or larger)."""
    if count is None or len(items) <= count:
        return items
    picks = sorted(set(np.linspace(0, len(items) - 1, count).round().astype(int)))
    return [items[i] for i in picks]


def _rf_work(model, shape, report, trace, batch, count):
    """Jobs measuring the receptive field of the spatial rows (``count`` of them, evenly spaced, or all),
    ``batch`` rows per forward/backward run."""
    tracer = Tracer(report.layers, clip=True)
    rows = [
        (index, row, step, reach)
        for index, (row, step, reach) in enumerate(zip(report.layers, trace.steps, _reaches(model, report, shape)))
        if row.receptive_field is not None and len(row.output_shape) == 3
    ]
    rows = _sample(rows, count)
    if not rows:
        return []
    params = _positive_parameters(model, 0)

    def job(chunk):
        def run():
            x = np.full((len(chunk),) + shape, 0.01, dtype=np.float32)
            seeds = {}
            for b, (_, row, step, _) in enumerate(chunk):
                c, h, w = step.output_shape
                seed = seeds.setdefault(step.index, np.zeros((len(chunk), c, h, w), np.float32))
                seed[b, :, h // 2, w // 2] = 1.0
            zero = np.zeros((len(chunk),) + tuple(report.output_shape), np.float32)
            grad_x = runner.forward_backward(model, x, zero, params=params, training=False, extra_grads=seeds,
                                             spread_max=True, param_grads=False).grad_input
            out = []
            for b, (index, row, step, reach) in enumerate(chunk):
                rf = row.receptive_field
                reached = grad_x[b] != 0
                expected, actual = [], []
                for axis in (0, 1):
                    o = step.output_shape[1 + axis] // 2
                    if tracer.concrete and tracer.periods[index] != (1,) * len(rf.size):  # after upsampling: traced regions
                        expected.append(tracer.hull(index, axis, o))
                    else:
                        expected.append(_analytic_interval(
                            rf.start[axis], rf.stride[axis], rf.size[axis], o, reach[axis], shape[1 + axis]
                        ))
                    hit = np.flatnonzero(reached.any(axis=(0, 2 - axis)))
                    actual.append((int(hit[0]), int(hit[-1])) if hit.size else None)
                expected, actual = tuple(expected), tuple(actual)
                out.append(Check(row.name, row.type, "receptive_field", expected, actual, expected == actual))
            return out

        return run

    return [job(rows[i : i + batch]) for i in range(0, len(rows), batch)]


# --- finite differences -------------------------------------------------------------------------


def _gradient_work(model, x, grad_out, trace, seed, layers, rtol, rng):
    """Jobs comparing directional finite differences with the backward pass: the input, then sampled layers."""
    params = trace.params

    def loss(x_, params_):
        # relative to the unperturbed output, so the biases' constant part does not swamp the difference
        return float(np.sum((runner.forward(model, x_, seed, params=params_) - trace.output) * grad_out))

    def directional(step, names):
        def difference(h, v):
            if names is None:  # the input
                return (loss(x + h * v, params) - loss(x - h * v, params)) / (2 * h)
            plus = {**params, **{n: params[n] + h * v[n] for n in names}}
            minus = {**params, **{n: params[n] - h * v[n] for n in names}}
            return (loss(x, plus) - loss(x, minus)) / (2 * h)

        def run():
            if names is None:
                v = rng.standard_normal(x.shape)
                analytic = float(np.sum(trace.grad_input * v))
                label, kind = "input", "Input"
            else:
                v = {n: rng.standard_normal(params[n].shape) for n in names}
                analytic = float(sum(np.sum(trace.grads[n] * v[n]) for n in names))
                label, kind = step.name, step.type
            # A step that carries some ReLU or max-pool input across its kink biases a large step; rounding
            # biases a small one (L is often dominated by biases). A wrong gradient disagrees at every step.
            for h in STEPS:
                fd = difference(h, v)
                ok = abs(fd - analytic) <= rtol * max(abs(fd), abs(analytic), 1e-8)
                if ok:
                    break
            return [Check(label, kind, "gradient", fd, analytic, ok)]

        return run

    owners = _sample([step for step in trace.steps if step.params], layers)
    return [directional(None, None)] + [directional(step, step.params) for step in owners]


# --- text ---------------------------------------------------------------------------------------


def _cell(check):
    if check is None:
        return "-"
    if check.ok:
        return "ok" if check.what != "gradient" else f"ok {abs(check.expected - check.actual) / max(abs(check.expected), 1e-30):.0e}"
    return f"FAIL expected {check.expected}, got {check.actual}"


def format_table(result):
    """A per-layer text table: one column per check, 'ok' or 'FAIL expected ..., got ...'."""
    header = ("layer", "type") + WHATS
    lines = [header]
    for (layer, kind), checks in result.by_layer().items():
        lines.append((layer or "-", kind) + tuple(_cell(checks.get(w)) for w in WHATS))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(str(v).ljust(wd) for v, wd in zip(line, widths)).rstrip() for line in lines]
    verdict = "all checks agree" if result.ok else f"{len(result.failures)} of {len(result.checks)} checks disagree"
    text.append(f"{result.name} {'x'.join(map(str, result.input_shape))}: {verdict}")
    return "\n".join(text)


__all__ = ["verify", "Verification", "Check", "format_table", "memory_estimate", "default_max_memory"]
