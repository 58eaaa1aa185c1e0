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

from . import i18n
from .dims import parse_shape
from .errors import LimitError, ShapeError
from .files import writable, write_text
from .layout import LAYOUTS
from .limits import check_digits

FILE_SUFFIXES = (".py", ".yaml", ".yml", ".json")
_STATE: dict = {"lang": None}  # the language of this invocation (--lang, else i18n.default_lang())


def _lang() -> str:
    return _STATE["lang"] or i18n.default_lang()


class CliError(click.ClickException):
    """Bad input: one ``Error:`` line (``错误：`` in Chinese), exit status 2. ``key`` names an ``i18n`` message;
    a plain message (the engine's English) is translated where its pattern is known."""

    exit_code = 2

    def __init__(self, message=None, *, key=None, translated=False, **values):
        self.key, self.values, self.translated = key, values, translated
        super().__init__(message if key is None else i18n.text(key, "en", **values))

    def text(self, lang):
        if self.key is not None:
            return i18n.text(self.key, lang, **self.values)
        return self.message if self.translated else i18n.translate(self.message, lang)

    def show(self, file=None):
        _error(self.text(_lang()), translated=True)


class _ModelGroup(click.Group):
    """A group whose first argument may be a model name instead of a subcommand: ``cnncalc alexnet``."""

    def parse_args(self, ctx, args):
        if not args and not ctx.resilient_parsing:  # resilient: completing the first word
            raise CliError("give a model or a command, e.g. cnncalc alexnet (cnncalc --help lists them)")
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["analyze", *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx, incomplete):
        """Subcommands and options, and the zoo's model names: ``cnncalc res<TAB>`` (click's shell completion)."""
        from click.shell_completion import CompletionItem

        from . import zoo

        models = [CompletionItem(name) for name in zoo.models() if name.startswith(incomplete)]
        return super().shell_complete(ctx, incomplete) + models

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ShapeError as exc:
            raise CliError(str(exc), translated=getattr(exc, "translated", False)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away: main ends quietly
            raise CliError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None


def _set_lang(ctx, param, value):
    _STATE["lang"] = value or _STATE.get("group") or i18n.default_lang()
    return _STATE["lang"]


def _lang_option(func):
    return click.option("--lang", type=click.Choice(i18n.LANGS), default=None, is_eager=True, callback=_set_lang,
                        help="Language of the output: en or zh (default: CNNCALC_LANG, else en).")(func)


def _layout_option(func):
    return click.option("--layout", type=click.Choice(LAYOUTS), default=None,
                        help="How --input is written: chw (channels first, the default) or hwc (channels last, "
                             "32x32x3). A shape that looks channels last is read channels first and the other "
                             "reading is shown too.")(func)


def _shape(value, option="--input"):
    try:
        return parse_shape(value)
    except ShapeError as exc:
        raise CliError(f"{option}: {exc}") from None


def _dims(value, option):
    """An option that takes one size or one per spatial axis (``3``, ``3x5``, ``3x3x3``), integers or symbols."""
    dims = _shape(str(value), option)
    if len(dims) > 3:
        raise CliError(key="cli.sizes", option=option, value=value)
    return dims[0] if len(dims) == 1 else dims


def _dim(value, option):
    dims = _shape(str(value), option)
    if len(dims) != 1:
        raise CliError(key="cli.one_size", option=option, value=value)
    return dims[0]


def _non_negative(value, option):
    """Padding-like options may be 0, which the shape grammar (positive sizes) does not allow."""
    parts = str(value).replace("X", "x").replace(",", "x").split("x")
    if all(p.strip().isdigit() for p in parts) and len(parts) <= 3:
        nums = tuple(int(check_digits(p, option, "a number of")) for p in parts)
        return nums[0] if len(nums) == 1 else nums
    return _dims(value, option)


def _given(name):
    """True when the user wrote the option ``name`` (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _no_avg_dilation(kind):
    if kind == "avg" and _given("dilation"):
        raise CliError("--dilation: average pooling has no dilation (PyTorch's AvgPool2d takes none)")


def _padding(value, option="--padding"):
    """A padding: a number (or one per axis, or symbols), or the words 'same' and 'valid' (PyTorch's)."""
    word = str(value).strip().lower()
    return word if word in ("same", "valid") else _non_negative(value, option)


def _load(model_arg, cls, args_text=None):
    """A zoo model, a model file or an installed builder (``package.module:callable``), as an object with
    ``.name``, ``.input_shape`` (the default, or None), ``.build(shape)`` and ``.analyze(shape, **kw)``
    (whose errors name file:line for files). ``args_text`` (--args) is parsed with ast.literal_eval only."""
    from . import frontends

    args, kwargs = frontends.parse_arguments(args_text) if args_text is not None else ((), {})
    if model_arg.lower().endswith(FILE_SUFFIXES):
        return frontends.load_file(model_arg, cls=cls, args=args, kwargs=kwargs)
    if frontends.is_builder_spec(model_arg):  # the user's explicit choice: imported and run (needs torch)
        if cls is not None:
            raise CliError("--class applies to Python files: name the callable after the colon")
        return frontends.load_builder(model_arg, args, kwargs)
    if cls is not None or args_text is not None:
        raise CliError(f"{model_arg}: --class and --args apply to Python files and installed builders")
    from . import zoo

    return zoo.describe(model_arg)


@click.group(cls=_ModelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnncalc")
@click.option("--lang", "group_lang", type=click.Choice(i18n.LANGS), default=None,
              help="Language of every command's output: en or zh (a command's own --lang wins).")
def cli(group_lang):
    """Exact shapes, parameters, MACs, memory and receptive fields of CNNs.

    \b
    cnncalc MODEL --input 3x224x224      analyse a zoo model or a .py/.yaml/.json file
    cnncalc torchvision.models:resnet50 --input 3x224x224   an installed builder (needs torch)
    cnncalc conv --input 3x32x32 --out-channels 64 -k 3 -p 1
    cnncalc models                       list the model zoo
    cnncalc verify MODEL --input 3x64x64 check the numbers against a NumPy forward/backward
    """
    _STATE["lang"], _STATE["group"] = group_lang, group_lang


@cli.command("analyze")
@click.argument("model_arg", metavar="MODEL")
@click.option("--input", "-i", "input_text", help="Input shape CxHxW (default: the model's native size).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "markdown", "spec"]), default="table",
              show_default=True)
@click.option("--batch", "-b", default="1", show_default=True, help="Batch size (an integer or a symbol).")
@click.option("--depth", "-d", type=click.IntRange(min=1), default=None, help="Collapse blocks nested deeper than N.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "int8", "float64"]), default="float32",
              show_default=True, help="Element type for memory estimates.")
@click.option("--columns", default=None,
              help="Comma-separated table columns: input_shape,output_shape,params,macs,rf,numel (output elements),"
                   "memory (output bytes),params_percent,macs_percent.")
@click.option("--class", "cls", default=None, help="The class to analyse in a .py file.")
@click.option("--args", "args_text", default=None, metavar="TEXT",
              help="Constructor arguments, as Python literals: \"\'VGG16\'\", \"depth=28, widen_factor=10\".")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the architecture drawing to this SVG file.")
@click.option("--plot", "plots", type=(click.Choice(["rf"]), click.Path(dir_okay=False)), multiple=True,
              metavar="rf FILE", help="Also write a plot: 'rf' (receptive field and map size per layer) to FILE.")
@_layout_option
@_lang_option
def analyze_command(model_arg, input_text, fmt, batch, depth, dtype, columns, cls, args_text, svg_path, plots, layout, lang):
    """Analyse MODEL (a zoo name or a .py/.yaml/.json file) and print its layer table."""
    from . import render

    outputs = [(svg_path, "--svg")] if svg_path is not None else []
    outputs += [(path, "--plot") for _, path in plots]
    for path, option in outputs:  # before the work: an empty name, a FIFO or a device is refused
        writable(path, option)
    target = _load(model_arg, cls, args_text)
    cols = render.DEFAULT_COLUMNS
    if columns:
        cols = tuple(c.strip() for c in columns.split(",") if c.strip())
        unknown = [c for c in cols if c not in render.COLUMNS]
        if unknown or not cols:
            raise CliError(key="cli.columns", unknown=", ".join(unknown) or "(none)", choices=", ".join(render.COLUMNS))
    batch = _dim(batch, "--batch")
    shape, notices = _model_input(model_arg, target, input_text, layout, lang,
                                  lambda s: target.analyze(s, batch=batch, warn=False, layout="chw"))
    report = target.analyze(shape, batch=batch, warn=False, layout="chw")
    pictures = _draw_pictures(report, svg_path, plots)  # before printing: a symbolic shape fails here
    for (path, text), (_, option) in zip(pictures, outputs):
        write_text(path, text, option)
    if fmt == "spec":
        from .frontends.spec import dumps, to_spec

        click.echo(dumps(to_spec(target.build(shape), name=target.name, input_shape=shape)))
    elif fmt == "table":
        import shutil

        terminal = sys.stdout.isatty()
        color = terminal and not os.environ.get("NO_COLOR")  # https://no-color.org
        width = shutil.get_terminal_size().columns if terminal else render.TABLE_WIDTH
        for notice in notices:
            click.echo(notice)
        text = render.table(report, depth=depth, columns=cols, dtype=dtype, style=click.style if color else None,
                            width=width, lang=lang)
        click.echo(text, color=color)
    else:
        click.echo(render.FORMATS[fmt](report, depth=depth, dtype=dtype), nl=fmt == "json")
        for notice in notices:
            click.echo(notice, err=True)
        for note in report.warnings:
            click.echo(i18n.text("cli.warning", lang, message=i18n.translate(note, lang)), err=True)
    for path, _ in pictures:
        click.echo(i18n.text("cli.wrote", lang, path=path), err=True)


def _model_input(model_arg, target, input_text, layout, lang, run):
    """(channels-first input shape, notices) for a model command: --input read as --layout says (or the
    model's default), a channels-last-looking shape said out loud (``calculators.read_input``)."""
    if input_text is None:
        if target.input_shape is None:
            raise CliError(key="cli.no_default_input", model=model_arg)
        return target.input_shape, []
    from .calculators import read_input

    return read_input(_shape(input_text), layout, lang, run)


def _draw_pictures(report, svg_path, plots):
    """(path, SVG text) for --svg and each --plot."""
    if svg_path is None and not plots:
        return []
    from .render import svg

    jobs = ([(svg.svg, svg_path)] if svg_path is not None else []) + [(svg.rf_plot, path) for _, path in plots]
    return [(path, draw(report)) for draw, path in jobs]


@cli.command("schema")
@_lang_option
def schema_command(lang):
    """Print the JSON Schema (draft 2020-12) of `cnncalc MODEL --format json` (its descriptions are English:
    they describe the machine format; --lang sets the language of errors)."""
    import json

    from .schema import report_schema

    click.echo(json.dumps(report_schema(), indent=2))


@cli.command("models")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_lang_option
def models_command(fmt, lang):
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
    name, shape, params, macs, description = i18n.text("models.head", lang).split("|")
    click.echo(i18n.ljust(name, 22) + i18n.rjust(shape, 12) + i18n.rjust(params, 14) + i18n.rjust(macs, 11) + "  " + description)
    for name, entry, report in entries:
        shape = "x".join(str(d) for d in entry.default_input)
        click.echo(f"{name:<22}{shape:>12}{count(report.params):>14}{units(report.macs):>11}  {entry.description}")


_common_window = [
    click.option("--input", "-i", "input_text", required=True, help="Input shape CxHxW (CxL: 1-D, CxDxHxW: 3-D)."),
    click.option("--kernel-size", "-k", "kernel", required=True, help="Kernel size: 3, or one per axis 3x5 (or a symbol)."),
    click.option("--stride", "-s", default=None, help="Stride: 1 or 2x1."),
    click.option("--padding", "-p", default="0", show_default=True,
                 help="Zero padding per side (one per axis: 1x2), or 'same' / 'valid' (PyTorch's rules)."),
]


def _window_options(func):
    for option in reversed(_common_window):
        func = option(func)
    return _layout_option(_lang_option(func))


_tf_same_option = click.option("--tf-same", is_flag=True,
                               help="Padding 'same' by TensorFlow/Keras's rule: output ceil(n/s), any stride.")


def _calculation(kind, input_text, layout, lang, kernel=None, stride=None, padding="0", out=None, dilation="1",
                 groups="1", bias=True, output_padding="0", ceil_mode=False, pool_type="max", tf_same=False, what=None):
    """The calculator behind ``cnncalc KIND`` and ``cnncalc explain KIND``, from the options as typed."""
    from . import calculators as calc

    what = what or kind
    shape = _shape(input_text)
    if kind == "linear":
        if out is None:
            raise CliError(key="cli.need_features", what=what)
        return calc.linear(shape, _dim(out, "--out-features"), bias, layout=layout, lang=lang)
    if kind == "batchnorm":
        return calc.batchnorm(shape, layout=layout, lang=lang)
    if kind == "pad":
        return calc.pad(shape, _non_negative(padding, "--padding"), layout=layout, lang=lang)
    if kernel is None:
        raise CliError(key="cli.need_kernel", what=what)
    if out is None and kind != "pool":
        raise CliError(key="cli.need_out", what=what)
    k, p = _dims(kernel, "--kernel-size"), _padding(padding)
    if tf_same and p not in (0, "same"):
        raise CliError(key="same.tf_conflict")
    if kind == "pool":
        _no_avg_dilation(pool_type)
        return calc.pool(shape, k, None if stride is None else _dims(stride, "--stride"), p, _dims(dilation, "--dilation"),
                         ceil_mode, pool_type, layout=layout, tf_same=tf_same, lang=lang)
    s, d, g = _dims("1" if stride is None else stride, "--stride"), _dims(dilation, "--dilation"), _dim(groups, "--groups")
    name = f"{'Conv' if kind == 'conv' else 'ConvTranspose'}{len(shape) - 1 if 2 <= len(shape) <= 4 else 2}d"
    if p == "same" and not tf_same and any(v != 1 for v in (s if isinstance(s, tuple) else (s,))):
        raise CliError(key="same.strided", layer=name, stride=stride)
    if kind == "conv":
        return calc.conv(shape, _dim(out, "--out-channels"), k, s, p, d, g, bias, layout=layout, tf_same=tf_same, lang=lang)
    if p in ("same", "valid"):
        raise CliError(key="same.transpose", layer=name)
    return calc.conv_transpose(shape, _dim(out, "--out-channels"), k, s, p, _non_negative(output_padding, "--output-padding"),
                               d, g, bias, layout=layout, lang=lang)


@cli.command("conv")
@_window_options
@click.option("--out-channels", "-o", "out_channels", required=True, help="Number of filters (C_out).")
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--groups", "-g", default="1", show_default=True)
@click.option("--bias/--no-bias", default=True, show_default=True)
@_tf_same_option
def conv_command(input_text, kernel, stride, padding, layout, lang, out_channels, dilation, groups, bias, tf_same):
    """Conv1d/2d/3d (by the input's rank): output shape, params, MACs and receptive field, with the formulas."""
    click.echo(_calculation("conv", input_text, layout, lang, kernel, stride, padding, out_channels, dilation, groups, bias,
                            tf_same=tf_same).render(), nl=False)


@cli.command("convtranspose")
@_window_options
@click.option("--out-channels", "-o", "out_channels", required=True, help="Number of output channels.")
@click.option("--output-padding", default="0", show_default=True)
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--groups", "-g", default="1", show_default=True)
@click.option("--bias/--no-bias", default=True, show_default=True)
def convtranspose_command(input_text, kernel, stride, padding, layout, lang, out_channels, output_padding, dilation,
                          groups, bias):
    """ConvTranspose1d/2d/3d: output shape, params, MACs and receptive field, with the formulas."""
    click.echo(_calculation("convtranspose", input_text, layout, lang, kernel, stride, padding, out_channels, dilation,
                            groups, bias, output_padding).render(), nl=False)


@cli.command("pool")
@_window_options
@click.option("--type", "kind", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option("--dilation", "-d", default="1", show_default=True, help="Max pooling only.")
@click.option("--ceil-mode", is_flag=True, help="Round the output size up (PyTorch ceil_mode).")
@_tf_same_option
def pool_command(input_text, kernel, stride, padding, layout, lang, kind, dilation, ceil_mode, tf_same):
    """MaxPool / AvgPool 1d/2d/3d: output shape and receptive field, with the formulas (stride defaults to kernel)."""
    click.echo(_calculation("pool", input_text, layout, lang, kernel, stride, padding, dilation=dilation,
                            ceil_mode=ceil_mode, pool_type=kind, tf_same=tf_same).render(), nl=False)


@cli.command("linear")
@click.option("--input", "-i", "input_text", required=True, help="Input features F (or CxHxW, flattened).")
@click.option("--out-features", "-o", "out_features", required=True)
@click.option("--bias/--no-bias", default=True, show_default=True)
@_layout_option
@_lang_option
def linear_command(input_text, out_features, bias, layout, lang):
    """Linear: output size, params and MACs, with the formulas (a CxHxW input is flattened first)."""
    click.echo(_calculation("linear", input_text, layout, lang, out=out_features, bias=bias).render(), nl=False)


@cli.command("batchnorm")
@click.option("--input", "-i", "input_text", required=True, help="Input shape CxHxW (C, CxL or CxDxHxW too).")
@_layout_option
@_lang_option
def batchnorm_command(input_text, layout, lang):
    """BatchNorm1d/2d/3d: 2C parameters (gamma, beta) and 2C buffers (running mean and variance)."""
    click.echo(_calculation("batchnorm", input_text, layout, lang).render(), nl=False)


@cli.command("pad")
@click.option("--input", "-i", "input_text", required=True, help="Input shape CxHxW (CxL, CxDxHxW too).")
@click.option("--padding", "-p", required=True, help="Pixels added on each side: one value, or one per axis (1x2).")
@_layout_option
@_lang_option
def pad_command(input_text, padding, layout, lang):
    """ZeroPad1d/2d/3d: the padded size, with the formula."""
    click.echo(_calculation("pad", input_text, layout, lang, padding=padding).render(), nl=False)


# --- explain, solve, check (cnncalc.explain, cnncalc.solve, cnncalc.check) ------------------------------

_LAYER_KINDS = ("conv", "convtranspose", "pool", "linear", "batchnorm", "pad")


@cli.command("explain")
@click.argument("target", metavar="MODEL|conv|convtranspose|pool|linear|batchnorm|pad")
@click.option("--input", "-i", "input_text", help="Input shape CxHxW (default: the model's native size).")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "markdown", "latex"]), default="text",
              show_default=True)
@click.option("--out-channels", "-o", "out", default=None, help="Layers: output channels (linear: features).")
@click.option("--kernel-size", "-k", "kernel", default=None, help="Layers: kernel size, 3 or 3x5.")
@click.option("--stride", "-s", default=None, help="Layers: stride (pool: defaults to the kernel).")
@click.option("--padding", "-p", default="0", show_default=True, help="Layers: padding per side, or 'same' / 'valid'.")
@click.option("--output-padding", default="0", show_default=True, help="convtranspose: the extra size on one side.")
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--groups", "-g", default="1", show_default=True)
@click.option("--type", "pool_type", type=click.Choice(["max", "avg"]), default="max", show_default=True,
              help="pool: max or average pooling.")
@click.option("--ceil-mode", is_flag=True, help="pool: round the output size up (PyTorch ceil_mode).")
@_tf_same_option
@click.option("--class", "cls", default=None, help="The class to explain in a .py file.")
@click.option("--args", "args_text", default=None, metavar="TEXT",
              help="Constructor arguments, as Python literals: \"\'VGG16\'\", \"depth=28, widen_factor=10\".")
@_layout_option
@_lang_option
def explain_command(target, input_text, fmt, out, kernel, stride, padding, output_padding, dilation, groups, pool_type,
                    ceil_mode, tf_same, cls, args_text, layout, lang):
    """Explain every layer step by step: formula, numbers, floor/ceil, params, MACs, receptive field."""
    from .render.explain import explain, line_text

    before = []
    if target in _LAYER_KINDS:
        if input_text is None:
            raise CliError(key="cli.need_input", what=f"explain {target}")
        calc = _calculation(target, input_text, layout, lang, kernel, stride, padding, out, dilation, groups, True,
                            output_padding, ceil_mode, pool_type, tf_same, what=f"explain {target}")
        explanation, notices = calc.explanation(fmt), calc.notices
        explanation.model = target
        before = [line_text(line, lang, fmt) for line in calc.before(fmt)]
    else:
        loaded = _load(target, cls, args_text)
        shape, notices = _model_input(target, loaded, input_text, layout, lang,
                                      lambda s: loaded.analyze(s, warn=False, layout="chw"))
        explanation = explain(loaded.build(shape), shape, lang=lang, fmt=fmt, name=loaded.name)
    text = explanation.render()
    if before:  # TensorFlow's 'same': how the padding comes, before the layers
        head, _, rest = text.partition("\n\n")
        text = head + "\n\n" + "\n".join(before) + "\n\n" + rest
    for notice in notices:
        click.echo(notice)
    click.echo(text, nl=False)


@cli.group("solve")
def solve_group():
    """Solve for sizes: same padding, accepted inputs, the input for an output, kernel/stride settings."""


@solve_group.command("padding")
@click.option("--kernel-size", "-k", "kernel", required=True, help="Kernel size.")
@click.option("--stride", "-s", default="1", show_default=True)
@click.option("--dilation", "-d", default="1", show_default=True)
@click.option("--size", "-n", default=None, help="One input size (default: every size).")
@click.option("--output", default=None, help="The wanted output size (default: 'same', ceil(n/s)); needs --size.")
@click.option("--tf-same", is_flag=True, help="TensorFlow's 'same' padding for --size (before and after).")
@_lang_option
def solve_padding(kernel, stride, dilation, size, output, tf_same, lang):
    """The symmetric padding that keeps the size ('same'), or that gives --output for --size."""
    from .solve import padding_for, same_padding, tf_same_padding

    k, s, d = (_int_option(v, o) for v, o in ((kernel, "--kernel-size"), (stride, "--stride"), (dilation, "--dilation")))
    if tf_same or output is not None:
        if size is None:
            raise CliError(key="cli.output_needs_size")
    if tf_same:
        answer = tf_same_padding(_int_option(size, "--size"), k, s, d, lang=lang)
    elif output is not None:
        answer = padding_for(_int_option(size, "--size"), _int_option(output, "--output"), k, s, d, lang=lang)
    else:
        answer = same_padding(k, s, d, None if size is None else _int_option(size, "--size"), lang=lang)
    click.echo(str(answer))


def _int_option(value, option):
    size = _dim(value, option)
    if type(size) is not int:
        raise CliError(key="cli.number", option=option, value=value)
    return size


@solve_group.command("input")
@click.argument("model_arg", metavar="MODEL")
@click.option("--input", "-i", "input_text", required=True, help="The input with one unknown: 3xHxH or 3xHx224.")
@click.option("--full-coverage", is_flag=True, help="Only sizes for which no layer's floor drops input pixels.")
@click.option("--class", "cls", default=None, help="The class to use in a .py file.")
@click.option("--args", "args_text", default=None, metavar="TEXT",
              help="Constructor arguments, as Python literals: \"\'VGG16\'\", \"depth=28, widen_factor=10\".")
@_layout_option
@_lang_option
def solve_input(model_arg, input_text, full_coverage, cls, args_text, layout, lang):
    """The input sizes MODEL accepts (exactly: a range or a congruence)."""
    from .layout import read_shape
    from .solve import input_sizes

    shape = read_shape(_shape(input_text), layout)
    model = _load(model_arg, cls, args_text).build(shape)
    click.echo(input_sizes(model, shape, full_coverage=full_coverage).text(lang))


@solve_group.command("output")
@click.argument("model_arg", metavar="MODEL")
@click.option("--input", "-i", "input_text", required=True, help="The input with one unknown: 3xHxH or 3xHx224.")
@click.option("--output", "-o", "output", required=True, help="The wanted size of the last feature map.")
@click.option("--layer", default=None, help="Match this layer's output instead of the last feature map.")
@click.option("--class", "cls", default=None, help="The class to use in a .py file.")
@click.option("--args", "args_text", default=None, metavar="TEXT",
              help="Constructor arguments, as Python literals: \"\'VGG16\'\", \"depth=28, widen_factor=10\".")
@_layout_option
@_lang_option
def solve_output(model_arg, input_text, output, layer, cls, args_text, layout, lang):
    """The input sizes for which MODEL's last feature map (or --layer's output) has size --output."""
    from .layout import read_shape
    from .solve import input_for_output

    shape = read_shape(_shape(input_text), layout)
    model = _load(model_arg, cls, args_text).build(shape)
    click.echo(input_for_output(model, shape, _int_option(output, "--output"), layer=layer).text(lang))


@solve_group.command("conv")
@click.option("--size", "-n", required=True, help="Input size along one axis.")
@click.option("--output", "-o", "output", required=True, help="Wanted output size.")
@click.option("--max-kernel", default="11", show_default=True)
@click.option("--max-padding", default=None, help="Largest padding tried (default: kernel//2).")
@click.option("--dilation", "-d", default="1", show_default=True)
@_lang_option
def solve_conv(size, output, max_kernel, max_padding, dilation, lang):
    """Every kernel/padding and the exact strides mapping --size to --output."""
    from .solve import conv_settings

    settings = conv_settings(
        _int_option(size, "--size"), _int_option(output, "--output"), max_kernel=_int_option(max_kernel, "--max-kernel"),
        max_padding=None if max_padding is None else _non_negative(max_padding, "--max-padding"),
        dilation=_int_option(dilation, "--dilation"))
    if not settings:
        click.echo(i18n.text("solve.no_setting", lang))
    for setting in settings:
        click.echo(setting.text(lang))


@cli.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--inline", "inline", default=None, help='One question: "conv in=3x227x227 out=96 k=11 s=4 -> 96x55x55".')
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_layout_option
@_lang_option
def check_command(path, inline, fmt, layout, lang):
    """Grade homework answers (a YAML/JSON file or --inline); exit status 1 when an answer is wrong."""
    import json

    from .check import check_file, check_inline

    if (path is None) == (inline is None):
        raise CliError(key="cli.check_one")
    result = (check_inline(inline, lang=lang, layout=layout) if inline is not None
              else check_file(path, lang=lang, layout=layout))
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
    c, *frames, h, w = default  # a video clip (C, T, H, W): a few frames too
    clips = sorted({tuple(min(f, t) for f in frames) for t in (4, 8, 16)}) if frames else [()]
    for size in (32, 64, 96, 128, 160, 192):
        if size >= min(h, w):
            break
        for clip in clips:
            try:
                analyze(model, (c, *clip, size, size), warn=False)
            except ShapeError:
                continue
            return (c, *clip, size, size)
    return default


@cli.command("verify")
@click.argument("model_arg", metavar="MODEL", required=False)
@click.option("--input", "-i", "input_text", help="Input shape CxHxW (default: the model's native size; with --all a small one).")
@click.option("--all", "all_models", is_flag=True, help="Verify every zoo model at a small input.")
@click.option("--class", "cls", default=None, help="The class to verify in a .py file.")
@click.option("--args", "args_text", default=None, metavar="TEXT",
              help="Constructor arguments, as Python literals: \"\'VGG16\'\", \"depth=28, widen_factor=10\".")
@click.option("--max-memory", default=None, metavar="BYTES",
              help="Refuse a model whose run needs more (4G = 4*10^9, 4Gi = 4*2^30; default: CNNCALC_MAX_MEMORY, "
                   "else 3/4 of the machine's memory).")
@_lang_option
def verify_command(model_arg, input_text, all_models, cls, args_text, max_memory, lang):
    """Run MODEL with the NumPy reference and check every analytic number: output shapes, params, MACs,
    receptive fields and gradients (an exact adjoint test, finite differences away from kinks). Exit 0
    when all agree, 1 when one disagrees."""
    if all_models == (model_arg is not None):
        raise CliError(key="cli.model_or_all")
    if max_memory is not None:
        from .limits import parse_bytes

        text, max_memory = max_memory, parse_bytes(max_memory)
        if max_memory is None:
            raise CliError(f"--max-memory: expected a number of bytes such as 4G or 512Mi, got {text!r}")
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
        target = _load(model_arg, cls, args_text)
        if input_text is None and target.input_shape is None:
            raise CliError(key="cli.no_default_input", model=model_arg)
        shape = _shape(input_text) if input_text is not None else target.input_shape
        jobs = [(target.name, lambda: target.build(shape), shape)]
    failed, over = [], []
    for name, build, shape in jobs:
        label = f"{name} {'x'.join(map(str, shape))}"
        try:
            if sys.stderr.isatty():  # a progress bar on a terminal only; logs and pipes get the results alone
                with click.progressbar(length=100, label=label, file=sys.stderr) as bar:
                    result = verify(build(), shape, name=name, max_memory=max_memory,
                                    progress=lambda done, total: bar.update(done * 100 // total - bar.pos))
            else:
                result = verify(build(), shape, name=name, max_memory=max_memory)
        except LimitError as exc:
            if not all_models:
                raise
            over.append(name)  # --all goes on: said, not counted as agreeing
            click.echo(i18n.text("verify.over_limit", lang, label=label, message=i18n.translate(str(exc), lang)))
            continue
        if all_models:
            verdict = (i18n.text("verify.ok", lang) if result.ok else
                       i18n.text("verify.fail", lang, failed=len(result.failures), total=len(result.checks)))
            click.echo(i18n.text("verify.model", lang, label=label, checks=len(result.checks), verdict=verdict))
            for check in result.failures:
                click.echo(i18n.text("verify.failure", lang, layer=check.layer, type=check.type, what=check.what,
                                     expected=check.expected, actual=check.actual))
        else:
            click.echo(format_table(result, lang=lang))
        if not result.ok:
            failed.append(name)
    if all_models:
        click.echo(i18n.text("verify.summary", lang, agree=len(jobs) - len(failed) - len(over), total=len(jobs))
                   + (i18n.text("verify.disagreeing", lang, names=", ".join(failed)) if failed else "")
                   + (i18n.text("verify.not_run", lang, names=", ".join(over)) if over else ""))
    if failed:
        click.get_current_context().exit(1)


def main(argv=None):
    """Console entry point: the one error path. Bad input (a ShapeError, a usage error, an unreadable file,
    a limit, memory exhausted, nesting too deep for Python) is one ``Error:`` line (``错误：`` with --lang
    zh) and exit status 2; any other exception is a bug of cnncalc's: one "internal error" line and exit
    status 3 (the traceback with CNNCALC_DEBUG=1). A reader that stops reading (``| head``) ends the
    output quietly."""
    args = sys.argv[1:] if argv is None else list(argv)
    if sys.stdout is None:  # started with stdout closed (cnncalc ... >&-)
        _STATE["argv"] = args
        _error("standard output is closed: nowhere to print the result")
        sys.exit(2)
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate or a C locale never stops the output
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    from .limits import allow_digits

    allow_digits()
    try:
        code = _run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # as `yes | head` ends: quietly; /dev/null takes what Python flushes at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


def _run(args):
    """Run the group; the exit status, with bad input and bugs reported as ``main`` says."""
    _STATE["lang"] = _STATE["group"] = None
    _STATE["argv"] = args
    try:
        return _run_group(args)
    finally:
        _STATE["argv"] = None  # an in-process caller next (a notebook, CliRunner) brings no command line


def _run_group(args):
    try:
        cli.main(args=args, prog_name="cnncalc", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except CliError as exc:
        _error(exc.text(_STATE["lang"] or i18n.lang_from_argv(args)), translated=True)
        return exc.exit_code
    except click.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except click.exceptions.Abort:
        _error(i18n.text("cli.aborted", _STATE["lang"] or i18n.lang_from_argv(args)), translated=True)
        return 1
    except ShapeError as exc:
        _error(str(exc), getattr(exc, "translated", False))
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
               f"(cnncalc {__version__}; CNNCALC_DEBUG=1 shows the traceback)", translated=True)
        return 3


def _error(message, translated=False):
    """One ``Error:`` line on stderr in the invocation's language, whatever the message holds (its lines
    are joined, and a huge one keeps its start and end)."""
    lang = _STATE["lang"] or i18n.lang_from_argv(_STATE.get("argv") or [])
    text = message if translated else i18n.translate(message, lang)
    line = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    if len(line) > 2000:  # a shape of 10**5 axes quoted back: keep the start (what) and the end (how to fix)
        line = f"{line[:1400]} ... {line[-500:]}"
    click.echo(i18n.text("cli.error", lang, message=line), err=True)


if __name__ == "__main__":
    main()
