"""Write docs/cli.md from the click commands themselves (tests/test_docs_generated.py regenerates and compares).

    python tools/make_cli_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnncalc.cli import cli  # noqa: E402

OUT = ROOT / "docs" / "cli.md"
WIDTH = 100

INTRO = """# Command-line reference

Generated from the click commands by `tools/make_cli_docs.py`; do not edit by hand.

`cnncalc MODEL ...` is short for `cnncalc analyze MODEL ...`: a first argument that is not a
command name is a model (a zoo name or a `.py`/`.yaml`/`.json` file). Exit status: 0 success,
2 bad input or impossible shapes (one `Error:` line on stderr), 1 a check that found a disagreement.

## Terminal output

The table is 100 columns wide. On a terminal, long layer names widen the name column up to the
terminal's width and wrap beyond it, with a hanging indent (a name is never cut); on a terminal
narrower than 100 columns the number columns shrink to their contents and long totals lines wrap
too. Piped output is always 100 columns wide. `--columns` adds `numel` (the output's elements),
`memory` (the output's bytes for `--batch` and `--dtype`; a folded block's sums every output inside
it), `params_percent` and `macs_percent`. Colour (a bold heading, yellow warnings) is used on a
terminal only, and never when the `NO_COLOR` environment variable is set (https://no-color.org).

## Shell completion

cnncalc completes commands, options, their choices and the zoo's model names in bash, zsh and fish
(click's shell completion). Add the line for your shell to its start-up file:

```bash
eval "$(_CNNCALC_COMPLETE=bash_source cnncalc)"    # ~/.bashrc
eval "$(_CNNCALC_COMPLETE=zsh_source cnncalc)"     # ~/.zshrc
_CNNCALC_COMPLETE=fish_source cnncalc | source      # ~/.config/fish/completions/cnncalc.fish
```

Then `cnncalc res<TAB>` offers `resnet18` ... `resnet152` and `cnncalc resnet50 --format <TAB>` the formats.
"""


def _help(command, name, parent):
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    return ctx, command.get_help(ctx)


def _walk(command, path, parent, depth):
    ctx, text = _help(command, path.split()[-1], parent)
    title = "#" * min(depth, 4)
    summary = command.get_short_help_str(limit=WIDTH)
    out = [f"{title} `{path}`", "", summary, "", "```text", text.rstrip(), "```", ""]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            out += _walk(command.get_command(ctx, name), f"{path} {name}", ctx, depth + 1)
    return out


def page() -> str:
    return INTRO + "\n" + "\n".join(_walk(cli, "cnncalc", None, 2)).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(page(), encoding="utf-8")
    print(f"wrote {OUT}")
