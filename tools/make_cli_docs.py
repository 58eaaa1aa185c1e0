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
