"""Every example in README.md and docs/*.md is executed: ``console`` blocks run the CLI, ``pycon`` blocks run as
doctests, ``yaml`` blocks (spec files) are loaded and analysed.

A console block holds ``$ cnncalc ...`` lines, each followed by its exact output. Run
``pytest tests/test_docs.py --update-golden`` to rewrite the outputs after an intended change.
"""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnncalc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```(console|pycon|yaml)\n(.*?)^```\n", re.S | re.M)


def _blocks(kind):
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match.group(1) == kind:
                yield page, match


def _run(command: str) -> str:
    args = shlex.split(command)
    assert args[0] == "cnncalc", f"console examples must start with cnncalc: {command}"
    result = CliRunner().invoke(cli, args[1:], prog_name="cnncalc")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.output


def _render_console(body: str) -> str:
    """Re-run every ``$`` command of a console block and return the block with fresh outputs."""
    out = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append(line)
            out.append(_run(line[2:]).rstrip("\n"))
    return "\n".join(out) + "\n"


CONSOLE = list(_blocks("console"))
PYCON = list(_blocks("pycon"))


@pytest.mark.parametrize("page,match", CONSOLE, ids=[f"{p.name}:{m.start()}" for p, m in CONSOLE])
def test_console_examples(page, match, update_golden):
    body = match.group(2)
    fresh = _render_console(body)
    if update_golden and fresh != body:
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace(match.group(0), f"```console\n{fresh}```\n", 1), encoding="utf-8")
        return
    assert fresh == body


@pytest.mark.parametrize("page,match", PYCON, ids=[f"{p.name}:{m.start()}" for p, m in PYCON])
def test_python_examples(page, match):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(match.group(2), {}, f"{page.name}", str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, f"doctest failures in {page.name}"


def test_pages_have_examples():
    assert CONSOLE and PYCON, "README.md must show console and Python examples"


YAML = list(_blocks("yaml"))


@pytest.mark.parametrize("page,match", YAML, ids=[f"{p.name}:{m.start()}" for p, m in YAML])
def test_spec_examples_load(page, match, tmp_path):
    pytest.importorskip("yaml")
    import cnncalc

    path = tmp_path / "example.yaml"
    path.write_text(match.group(2), encoding="utf-8")
    report = cnncalc.analyze_file(path)
    # spec-format.md's example is the network of tests/fixtures/small_resnet.json (a name or two aside)
    twin = cnncalc.analyze_file(ROOT / "tests" / "fixtures" / "small_resnet.json")

    def numbers(rep):
        return [(r.type, r.output_shape, r.params, r.macs, r.receptive_field) for r in rep.layers]

    assert numbers(report) == numbers(twin) and report.params == twin.params == 17_282
