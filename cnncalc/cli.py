"""The ``cnncalc`` command line: parsing and printing only (the numbers come from analysis, text from render).

``cnncalc MODEL --input CxHxW`` analyses a zoo model or a model file; subcommands (``conv``, ``pool``,
``convtranspose``, ``linear``, ``models``, ...) are the single-layer calculators and tools. Bad input
prints one ``Error: ...`` line on stderr and exits with 2, never a traceback (``main``: the one error
path); a bug of cnncalc's own prints one "internal error" line and exits with 3.
"""

from __future__ import annotations

import errno
import os
import sys

import click

from .dims import parse_shape
from .errors import ShapeError
from .files import writable, write_text
from .limits import check_digits

FILE_SUFFIXES = (".py", ".yaml", ".yml", ".json")


class CliError(click.ClickException):
    """Bad input: one ``Error:`` line, exit status 2."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True)


class _ModelGroup(click.Group):
    """A group whose first argument may be a model name instead of a subcommand: ``cnncalc alexnet``."""

    def parse_args(self, ctx, args):
        if not args:
            raise CliError("give a model or a command, e.g. cnncalc alexnet (cnncalc --help lists them)")
        if args[0] not in self.commands and not args[0].startswith("-"):
            args = ["analyze", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ShapeError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away: main ends quietly
            raise CliError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None


def _shape(value, option="--input"):
    try:
        return parse_shape(value)
    except ShapeError as exc:
        raise CliError(f"{option}: {exc}") from None


def _dim_pair(value, option):
    """An option that takes one size or a pair (``3`` or ``3x5``), each an integer or a symbol name."""
    dims = _shape(str(value), option)
    if len(dims) > 2:
        raise CliError(f"{option}: expected one size or a pair such as 3x5, got {value!r}")
    return dims[0] if len(dims) == 1 else dims


def _dim(value, option):
    dims = _shape(str(value), option)
    if len(dims) != 1:
        raise CliError(f"{option}: expected one size, got {value!r}")
    return dims[0]


def _non_negative_pair(value, option):
    """Padding-like options may be 0, which the shape grammar (positive sizes) does not allow."""
    parts = str(value).replace("X", "x").replace(",", "x").split("x")
    if all(p.strip().isdigit() for p in parts) and len(parts) <= 2:
        nums = tuple(int(check_digits(p, option, "a number of")) for p in parts)
        return nums[0] if len(nums) == 1 else nums
    return _dim_pair(value, option)


def _given(name):
    """True when the user wrote the option ``name`` (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _no_avg_dilation(kind):
    if kind == "avg" and _given("dilation"):
        raise CliError("--dilation: average pooling has no dilation (PyTorch's AvgPool2d takes none)")


def _load(model_arg, cls):
    """A zoo model or a model file, as an object with ``.name``, ``.input_shape`` (the default, or None),
    ``.build(shape)`` and ``.analyze(shape, **kw)`` (whose errors name file:line for files)."""
    if model_arg.lower().endswith(FILE_SUFFIXES):
        from . import frontends

        return frontends.load_file(model_arg, cls=cls)
    from . import zoo

    return zoo.describe(model_arg)


@click.group(cls=_ModelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnncalc")
def cli():
    """Exact shapes, parameters, MACs, memory and receptive fields of CNNs.

    \b
    cnncalc MODEL --input 3x224x224      analyse a zoo model or a .py/.yaml/.json file
    cnncalc conv --input 3x32x32 --out-channels 64 -k 3 -p 1
    cnncalc models                       list the model zoo
    cnncalc verify MODEL --input 3x64x64 check the numbers against a NumPy forward/backward
    """


@cli.command("analyze")
@click.argument("model_arg", metavar="MODEL")
@click.option("--input", "-i", "input_text", help="Input shape CxHxW (default: the model's native size).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "markdown", "spec"]), default="table",
              show_default=True)
@click.option("--batch", "-b", default="1", show_default=True, help="Batch size (an integer or a symbol).")
@click.option("--depth", "-d", type=click.IntRange(min=1), default=None, help="Collapse blocks nested deeper than N.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "int8", "float64"]), default="float32",
              show_default=True, help="Element type for memory estimates.")
@click.option("--columns", default=None, help="Comma-separated table columns: input_shape,output_shape,params,macs,rf.")
@click.option("--class", "cls", default=None, help="The class to analyse in a .py file.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the architecture drawing to this SVG file.")
@click.option("--plot", "plots", type=(click.Choice(["rf"]), click.Path(dir_okay=False)), multiple=True,
              metavar="rf FILE", help="Also write a plot: 'rf' (receptive field and map size per layer) to FILE.")
def analyze_command(model_arg, input_text, fmt, batch, depth, dtype, columns, cls, svg_path, plots):
    """Analyse MODEL (a zoo name or a .py/.yaml/.json file) and print its layer table."""
    from . import render

    outputs = [(svg_path, "--svg")] if svg_path is not None else []
    outputs += [(path, "--plot") for _, path in plots]
    for path, option in outputs:  # before the work: an empty name, a FIFO or a device is refused
        writable(path, option)
    target = _load(model_arg, cls)
    if input_text is None and target.input_shape is None:
        raise CliError(f"{model_arg}: no default input size is known: give --input CxHxW")
    shape = _shape(input_text) if input_text is not None else target.input_shape
    cols = render.DEFAULT_COLUMNS
    if columns:
        cols = tuple(c.strip() for c in columns.split(",") if c.strip())
        unknown = [c for c in cols if c not in render.COLUMNS]
        if unknown or not cols:
            raise CliError(f"--columns: unknown column {', '.join(unknown) or '(none)'}; choose from {', '.join(render.COLUMNS)}")
    report = target.analyze(shape, batch=_dim(batch, "--batch"), warn=False)
    pictures = _draw_pictures(report, svg_path, plots)  # before printing: a symbolic shape fails here
    for (path, text), (_, option) in zip(pictures, outputs):
        write_text(path, text, option)
    if fmt == "spec":
        from .frontends.spec import dumps, to_spec

        click.echo(dumps(to_spec(target.build(shape), name=target.name, input_shape=shape)))
    elif fmt == "table":
        color = sys.stdout.isatty()
        style = click.style if color else None
        click.echo(render.table(report, depth=depth, columns=cols, dtype=dtype, style=style), color=color)
    else:
        click.echo(render.FORMATS[fmt](report), nl=fmt == "json")
        for note in report.warnings:
            click.echo(f"Warning: {note}", err=True)
    for path, _ in pictures:
        click.echo(f"Wrote {path}", err=True)


def _draw_pictures(report, svg_path, plots):
    """(path, SVG text) for --svg and each --plot."""
    if svg_path is None and not plots:
        return []
    from .render import svg

    jobs = ([(svg.svg, svg_path)] if svg_path is not None else []) + [(svg.rf_plot, path) for _, path in plots]
    return [(path, draw(report)) for draw, path in jobs]


@cli.command("models")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def models_command(fmt):
    """List the model zoo with a description, params and MACs at the default input."""
    import json

    from . import zoo
    from .analysis import analyze
    from .render import count, units

    entries = []
    for name in zoo.models():
        entry = zoo.describe(name)
        report = analyze(zoo.model(name), entry.default_input, warn=False)
        entries.append((name, entry, report))
    if fmt == "json":
        click.echo(json.dumps([
            {"name": n, "description": e.description, "input_shape": list(e.default_input),
             "params": r.params, "macs": r.macs} for n, e, r in entries], indent=2))
        return
    click.echo(f"{'name':<22}{'input':>12}{'params':>14}{'MACs':>11}  description")
    for name, entry, report in entries:
        shape = "x".join(str(d) for d in entry.default_input)
        click.echo(f"{name:<22}{shape:>12}{count(report.params):>14}{units(report.macs):>11}  {entry.description}")


def _print_calculation(calc):
    click.echo("\n".join(calc.lines()))


_common_window = [
    click.option("--input", "-i", "input_text", required=True, help="Input shape CxHxW."),
    click.option("--kernel-size", "-k", "kernel", required=True, help="Kernel size: 3 or 3x5 (or a symbol)."),
    click.option("--stride", "-s", default=None, help="Stride: 1 or 2x1."),
    click.option("--padding", "-p", default="0", show_default=True, help="Zero padding per side."),
]


def _window_options(func):
    for option in reversed(_common_window):
        func = option(func)
    return func


@cli.command("conv")
@_window_options
@click.option("--out-channels", "-o", "out_channels", required=True, help="Number of filters (C_out).")
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--groups", "-g", default="1", show_default=True)
@click.option("--bias/--no-bias", default=True, show_default=True)
def conv_command(input_text, kernel, stride, padding, out_channels, dilation, groups, bias):
    """Conv2d: output shape, params, MACs and receptive field, with the formulas."""
    from . import calculators

    _print_calculation(calculators.conv(
        _shape(input_text), _dim(out_channels, "--out-channels"), _dim_pair(kernel, "--kernel-size"),
        _dim_pair("1" if stride is None else stride, "--stride"), _non_negative_pair(padding, "--padding"),
        _dim_pair(dilation, "--dilation"), _dim(groups, "--groups"), bias))


@cli.command("convtranspose")
@_window_options
@click.option("--out-channels", "-o", "out_channels", required=True, help="Number of output channels.")
@click.option("--output-padding", default="0", show_default=True)
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--groups", "-g", default="1", show_default=True)
@click.option("--bias/--no-bias", default=True, show_default=True)
def convtranspose_command(input_text, kernel, stride, padding, out_channels, output_padding, dilation, groups, bias):
    """ConvTranspose2d: output shape, params, MACs and receptive field, with the formulas."""
    from . import calculators

    _print_calculation(calculators.conv_transpose(
        _shape(input_text), _dim(out_channels, "--out-channels"), _dim_pair(kernel, "--kernel-size"),
        _dim_pair("1" if stride is None else stride, "--stride"), _non_negative_pair(padding, "--padding"),
        _non_negative_pair(output_padding, "--output-padding"), _dim_pair(dilation, "--dilation"),
        _dim(groups, "--groups"), bias))


@cli.command("pool")
@_window_options
@click.option("--type", "kind", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option("--dilation", "-d", default="1", show_default=True, help="Max pooling only.")
@click.option("--ceil-mode", is_flag=True, help="Round the output size up (PyTorch ceil_mode).")
def pool_command(input_text, kernel, stride, padding, kind, dilation, ceil_mode):
    """MaxPool2d / AvgPool2d: output shape and receptive field, with the formulas (stride defaults to kernel)."""
    from . import calculators

    _no_avg_dilation(kind)
    _print_calculation(calculators.pool(
        _shape(input_text), _dim_pair(kernel, "--kernel-size"),
        None if stride is None else _dim_pair(stride, "--stride"), _non_negative_pair(padding, "--padding"),
        _dim_pair(dilation, "--dilation"), ceil_mode, kind))


@cli.command("linear")
@click.option("--input", "-i", "input_text", required=True, help="Input features F (or CxHxW, flattened).")
@click.option("--out-features", "-o", "out_features", required=True)
@click.option("--bias/--no-bias", default=True, show_default=True)
def linear_command(input_text, out_features, bias):
    """Linear: output size, params and MACs, with the formulas."""
    from . import calculators

    _print_calculation(calculators.linear(_shape(input_text), _dim(out_features, "--out-features"), bias))


# --- explain, solve, check (cnncalc.explain, cnncalc.solve, cnncalc.check) ------------------------------

_LAYER_KINDS = ("conv", "convtranspose", "pool", "linear")


def _explained_layer(kind, shape, out, kernel, stride, padding, dilation, groups, pool_type, ceil_mode):
    """The single layer ``cnncalc explain conv|convtranspose|pool|linear`` describes: the calculator's."""
    from . import calculators

    if kind == "linear":
        if out is None:
            raise CliError("explain linear: --out-channels/-o (the output features) is required")
        return calculators.linear(shape, _dim(out, "--out-channels")).layer
    if kernel is None:
        raise CliError(f"explain {kind}: --kernel-size/-k is required")
    if out is None and kind != "pool":
        raise CliError(f"explain {kind}: --out-channels/-o is required")
    k, p = _dim_pair(kernel, "--kernel-size"), _non_negative_pair(padding, "--padding")
    if kind == "pool":
        s = None if stride is None else _dim_pair(stride, "--stride")
        _no_avg_dilation(pool_type)
        return calculators.pool(shape, k, s, p, _dim_pair(dilation, "--dilation"), ceil_mode, pool_type).layer
    s, d, g = _dim_pair("1" if stride is None else stride, "--stride"), _dim_pair(dilation, "--dilation"), _dim(groups, "--groups")
    if kind == "conv":
        return calculators.conv(shape, _dim(out, "--out-channels"), k, s, p, d, g).layer
    return calculators.conv_transpose(shape, _dim(out, "--out-channels"), k, s, p, 0, d, g).layer


@cli.command("explain")
@click.argument("target", metavar="MODEL|conv|convtranspose|pool|linear")
@click.option("--input", "-i", "input_text", help="Input shape CxHxW (default: the model's native size).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "markdown", "latex"]), default="text",
              show_default=True)
@click.option("--out-channels", "-o", "out", default=None, help="Layers: output channels (linear: features).")
@click.option("--kernel-size", "-k", "kernel", default=None, help="Layers: kernel size, 3 or 3x5.")
@click.option("--stride", "-s", default=None, help="Layers: stride (pool: defaults to the kernel).")
@click.option("--padding", "-p", default="0", show_default=True, help="Layers: zero padding per side.")
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--groups", "-g", default="1", show_default=True)
@click.option("--type", "pool_type", type=click.Choice(["max", "avg"]), default="max", show_default=True,
              help="pool: max or average pooling.")
@click.option("--ceil-mode", is_flag=True, help="pool: round the output size up (PyTorch ceil_mode).")
@click.option("--class", "cls", default=None, help="The class to explain in a .py file.")
def explain_command(target, input_text, lang, fmt, out, kernel, stride, padding, dilation, groups, pool_type,
                    ceil_mode, cls):
    """Explain every layer step by step: formula, numbers, floor/ceil, params, MACs, receptive field."""
    from .render.explain import explain

    if target in _LAYER_KINDS:
        if input_text is None:
            raise CliError(f"explain {target}: --input is required")
        shape = _shape(input_text)
        model = _explained_layer(target, shape, out, kernel, stride, padding, dilation, groups, pool_type, ceil_mode)
        name = target
    else:
        loaded = _load(target, cls)
        if input_text is None and loaded.input_shape is None:
            raise CliError(f"{target}: no default input size is known: give --input CxHxW")
        shape = _shape(input_text) if input_text is not None else loaded.input_shape
        model, name = loaded.build(shape), loaded.name
    click.echo(explain(model, shape, lang=lang, fmt=fmt, name=name).render(), nl=False)


@cli.group("solve")
def solve_group():
    """Solve for sizes: same padding, accepted inputs, the input for an output, kernel/stride settings."""


@solve_group.command("padding")
@click.option("--kernel-size", "-k", "kernel", required=True, help="Kernel size.")
@click.option("--stride", "-s", default="1", show_default=True)
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--size", "-n", default=None, help="One input size (default: every size).")
@click.option("--output", default=None, help="The wanted output size (default: 'same', ceil(n/s)); needs --size.")
def solve_padding(kernel, stride, dilation, size, output):
    """The symmetric padding that keeps the size ('same'), or that gives --output for --size."""
    from .solve import padding_for, same_padding

    k, s, d = (_int_option(v, o) for v, o in ((kernel, "--kernel-size"), (stride, "--stride"), (dilation, "--dilation")))
    if output is not None:
        if size is None:
            raise CliError("--output needs --size")
        answer = padding_for(_int_option(size, "--size"), _int_option(output, "--output"), k, s, d)
    else:
        answer = same_padding(k, s, d, None if size is None else _int_option(size, "--size"))
    click.echo(str(answer))


def _int_option(value, option):
    size = _dim(value, option)
    if type(size) is not int:
        raise CliError(f"{option}: expected a number, got {value!r}")
    return size


@solve_group.command("input")
@click.argument("model_arg", metavar="MODEL")
@click.option("--input", "-i", "input_text", required=True, help="The input with one unknown: 3xHxH or 3xHx224.")
@click.option("--full-coverage", is_flag=True, help="Only sizes for which no layer's floor drops input pixels.")
@click.option("--class", "cls", default=None, help="The class to use in a .py file.")
def solve_input(model_arg, input_text, full_coverage, cls):
    """The input sizes MODEL accepts (exactly: a range or a congruence)."""
    from .solve import input_sizes

    model = _load(model_arg, cls).build(_shape(input_text))
    click.echo(str(input_sizes(model, input_text, full_coverage=full_coverage)))


@solve_group.command("output")
@click.argument("model_arg", metavar="MODEL")
@click.option("--input", "-i", "input_text", required=True, help="The input with one unknown: 3xHxH or 3xHx224.")
@click.option("--output", "-o", "output", required=True, help="The wanted size of the last feature map.")
@click.option("--layer", default=None, help="Match this layer's output instead of the last feature map.")
@click.option("--class", "cls", default=None, help="The class to use in a .py file.")
def solve_output(model_arg, input_text, output, layer, cls):
    """The input sizes for which MODEL's last feature map (or --layer's output) has size --output."""
    from .solve import input_for_output

    model = _load(model_arg, cls).build(_shape(input_text))
    click.echo(str(input_for_output(model, input_text, _int_option(output, "--output"), layer=layer)))


@solve_group.command("conv")
@click.option("--size", "-n", required=True, help="Input size along one axis.")
@click.option("--output", "-o", "output", required=True, help="Wanted output size.")
@click.option("--max-kernel", default="11", show_default=True)
@click.option("--max-padding", default=None, help="Largest padding tried (default: kernel//2).")
@click.option("--dilation", "-d", default="1", show_default=True)
def solve_conv(size, output, max_kernel, max_padding, dilation):
    """Every kernel/padding and the exact strides mapping --size to --output."""
    from .solve import conv_settings

    settings = conv_settings(
        _int_option(size, "--size"), _int_option(output, "--output"), max_kernel=_int_option(max_kernel, "--max-kernel"),
        max_padding=None if max_padding is None else _non_negative_pair(max_padding, "--max-padding"),
        dilation=_int_option(dilation, "--dilation"))
    if not settings:
        click.echo("no kernel/padding/stride maps the size to the output")
    for setting in settings:
        click.echo(str(setting))


@cli.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--inline", "inline", default=None, help='One question: "conv in=3x227x227 out=96 k=11 s=4 -> 96x55x55".')
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check_command(path, inline, lang, fmt):
    """Grade homework answers (a YAML/JSON file or --inline); exit status 1 when an answer is wrong."""
    import json

    from .check import check_file, check_inline

    if (path is None) == (inline is None):
        raise CliError("check: give a homework file or --inline, not both")
    result = check_inline(inline, lang=lang) if inline is not None else check_file(path, lang=lang)
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) if fmt == "json" else result.render(), nl=fmt == "json")
    if not result.all_right:
        raise click.exceptions.Exit(1)


@cli.command("serve")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 127.0.0.1 keeps the page to this machine.")
@click.option("--no-browser", is_flag=True, help="Do not open the page in the web browser.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="The page's language when its URL names none (default: CNNCALC_LANG, else en).")
def serve_command(port, host, no_browser, lang):
    """Serve an interactive page: pick or paste a model, type the input, see the table, formulas and pictures."""
    from .serve import serve

    try:
        serve(host, port, open_browser=not no_browser, lang=lang)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _small_input(name):
    """The smallest of 32, 64, ... 192 (below the default) at which a zoo model runs: keeps ``verify --all`` quick."""
    from . import zoo
    from .analysis import analyze

    default = zoo.describe(name).default_input
    model = zoo.model(name)
    for size in (32, 64, 96, 128, 160, 192):
        if size >= min(default[1:]):
            break
        try:
            analyze(model, (default[0], size, size), warn=False)
        except ShapeError:
            continue
        return (default[0], size, size)
    return default


@cli.command("verify")
@click.argument("model_arg", metavar="MODEL", required=False)
@click.option("--input", "-i", "input_text", help="Input shape CxHxW (default: the model's native size; with --all a small one).")
@click.option("--all", "all_models", is_flag=True, help="Verify every zoo model at a small input.")
@click.option("--class", "cls", default=None, help="The class to verify in a .py file.")
@click.option("--max-memory", default=None, metavar="BYTES",
              help="Refuse a model whose run needs more (4G = 4*10^9, 4Gi = 4*2^30; default: CNNCALC_MAX_MEMORY, "
                   "else 3/4 of the machine's memory).")
def verify_command(model_arg, input_text, all_models, cls, max_memory):
    """Run MODEL with the NumPy reference and check every analytic number: output shapes, params, MACs,
    receptive fields and gradients (an exact adjoint test, finite differences away from kinks). Exit 0
    when all agree, 1 when one disagrees."""
    if all_models == (model_arg is not None):
        raise CliError("give either a MODEL or --all")
    if max_memory is not None:
        from .limits import parse_bytes

        options_memory = parse_bytes(max_memory)
        if options_memory is None:
            raise CliError(f"--max-memory: expected a number of bytes such as 4G or 512Mi, got {max_memory!r}")
        max_memory = options_memory
    if all_models:
        # Small inputs make small GEMMs, which a second BLAS thread does not speed up; on a busy 2-core
        # machine its spinning doubled the time (127 s against 56 s). Effective before numpy loads, and
        # an explicit OPENBLAS_NUM_THREADS wins.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from . import zoo
    from .validate import format_table, verify

    if all_models:
        jobs = [(name, lambda name=name: zoo.model(name), _shape(input_text) if input_text else _small_input(name))
                for name in zoo.models()]
    else:
        target = _load(model_arg, cls)
        if input_text is None and target.input_shape is None:
            raise CliError(f"{model_arg}: no default input size is known: give --input CxHxW")
        shape = _shape(input_text) if input_text is not None else target.input_shape
        jobs = [(target.name, lambda: target.build(shape), shape)]
    failed = []
    for name, build, shape in jobs:
        label = f"{name} {'x'.join(map(str, shape))}"
        if sys.stderr.isatty():  # a progress bar on a terminal only; logs and pipes get the results alone
            with click.progressbar(length=100, label=label, file=sys.stderr) as bar:
                result = verify(build(), shape, name=name, max_memory=max_memory,
                                progress=lambda done, total: bar.update(done * 100 // total - bar.pos))
        else:
            result = verify(build(), shape, name=name, max_memory=max_memory)
        if all_models:
            verdict = "ok" if result.ok else f"FAIL ({len(result.failures)} of {len(result.checks)} checks)"
            click.echo(f"{label}: {len(result.checks)} checks {verdict}")
            for check in result.failures:
                click.echo(f"  {check.layer} ({check.type}) {check.what}: expected {check.expected}, got {check.actual}")
        else:
            click.echo(format_table(result))
        if not result.ok:
            failed.append(name)
    if all_models:
        click.echo(f"{len(jobs) - len(failed)} of {len(jobs)} models agree" + (f"; disagreeing: {', '.join(failed)}" if failed else ""))
    if failed:
        click.get_current_context().exit(1)


def main(argv=None):
    """Console entry point: the one error path. Bad input (a ShapeError, a usage error, an unreadable file,
    a limit, memory exhausted, nesting too deep for Python) is one ``Error:`` line and exit status 2; any
    other exception is a bug of cnncalc's: one "internal error" line and exit status 3 (the traceback
    with CNNCALC_DEBUG=1). A reader that stops reading (``| head``) ends the output quietly."""
    if sys.stdout is None:  # started with stdout closed (cnncalc ... >&-)
        _error("standard output is closed: nowhere to print the result")
        sys.exit(2)
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate or a C locale never stops the output
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    from .limits import allow_digits

    allow_digits()
    try:
        code = _run(argv)
        sys.stdout.flush()
    except BrokenPipeError:  # as `yes | head` ends: quietly; /dev/null takes what Python flushes at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code or 0)


def _run(argv):
    """Run the group; the exit status, with bad input and bugs reported as ``main`` says."""
    try:
        cli.main(args=argv, prog_name="cnncalc", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except click.exceptions.Abort:
        _error("aborted")
        return 1
    except ShapeError as exc:
        _error(str(exc))
        return 2
    except BrokenPipeError:
        raise
    except MemoryError:
        _error("out of memory: the input needs more memory than this machine has (see README: Security and limits)")
        return 2
    except RecursionError:
        _error("the input nests deeper than Python's recursion limit (see README: Security and limits)")
        return 2
    except Exception as exc:  # a bug: say so in one line, never a traceback
        if os.environ.get("CNNCALC_DEBUG"):
            raise
        from . import __version__

        text = " ".join(str(exc).split())[:300]
        _error(f"internal error, please report it: {type(exc).__name__}: {text} "
               f"(cnncalc {__version__}; CNNCALC_DEBUG=1 shows the traceback)")
        return 3


def _error(message):
    """One ``Error:`` line on stderr, whatever the message holds (its lines are joined)."""
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    if len(line) > 2000:  # a shape of 10**5 axes quoted back: keep the start (what) and the end (how to fix)
        line = f"{line[:1400]} ... {line[-500:]}"
    click.echo(f"Error: {line}", err=True)


if __name__ == "__main__":
    main()
