"""The documentation site builds with warnings as errors (mkdocs --strict), as the docs extra installs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    env = dict(os.environ, CNNCALC_SITE_DIR=str(tmp_path / "site"), NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        # relative -f, as documented in mkdocs.yml: the pages sit beside the config (docs_dir ".")
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml"],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("index", "formulas", "homework", "zoo", "cli", "comparison"):
        assert (tmp_path / "site" / page / "index.html").is_file() or (tmp_path / "site" / f"{page}.html").is_file(), page
    assert "WARNING" not in result.stderr, result.stderr
