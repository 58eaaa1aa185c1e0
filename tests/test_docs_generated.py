"""Generated documentation cannot go stale: the CLI reference, the API reference and the docstrings
quoted by docs pages are regenerated from the code and compared with the committed files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current():
    tool = load_tool("make_cli_docs")
    assert tool.OUT.read_text(encoding="utf-8") == tool.page(), "run python tools/make_cli_docs.py"


def test_cli_reference_lists_every_command_and_option():
    from cnncalc.cli import cli

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert f"### `cnncalc {name}`" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in text, (name, opt)


API_PAGES = sorted(load_tool("make_api_docs").pages().items())


@pytest.mark.parametrize("path,text", API_PAGES, ids=[p.name for p, _ in API_PAGES])
def test_api_pages_are_current(path, text):
    assert path.read_text(encoding="utf-8") == text, "run python tools/make_api_docs.py"


def test_formulas_page_quotes_the_formulas_module():
    import inspect

    from cnncalc import formulas

    text = (ROOT / "docs" / "formulas.md").read_text(encoding="utf-8")
    for name, func in vars(formulas).items():
        if inspect.isfunction(func) and func.__module__ == formulas.__name__ and not name.startswith("_"):
            assert f"<!-- docstring: cnncalc.formulas.{name} -->" in text, name
            assert inspect.cleandoc(func.__doc__) in text


def test_marker_filling_replaces_stale_text():
    tool = load_tool("make_api_docs")
    stale = "a\n<!-- docstring: cnncalc.formulas.effective_kernel -->\nold text\n<!-- /docstring -->\nb\n"
    fresh = tool.fill_markers(stale)
    assert "old text" not in fresh
    assert "effective_kernel(k, d=1)\n\nk_eff = d*(k - 1) + 1: the span of a dilated kernel." in fresh


SHARED_CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "CONTRACT.md"


@pytest.mark.skipif(not SHARED_CONTRACT.exists(), reason="the team's CONTRACT.md is not beside this checkout")
def test_the_contract_copy_is_in_step_with_the_teams():
    copy = (Path(__file__).resolve().parents[1] / "docs" / "contract.md").read_text(encoding="utf-8")
    assert copy.split("\n", 2)[2] == SHARED_CONTRACT.read_text(encoding="utf-8")
