"""The documentation site builds with warnings as errors (mkdocs --strict), as the docs extra installs it, and
works offline: the formulas are typeset by the KaTeX it ships, the SVG pictures are inline (their tooltips
work) with zoom buttons, and the tour notebook is a page with its outputs. Where Chromium is installed, a
headless browser loads the built pages and shows the formulas typeset and the zoom buttons in place."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, CNNCALC_SITE_DIR=str(out / "site"), NO_MKDOCS_2_WARNING="1")
    result = subprocess.run(
        # relative -f, as documented in mkdocs.yml: the pages sit beside the config (docs_dir ".")
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml"],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out / "site"


def _page(site, name):
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_site_builds_strict(site):
    for page in ("", "formulas", "homework", "zoo", "cli", "comparison", "json", "notebooks/tour"):
        assert (site / page / "index.html").is_file(), page


def test_pages_load_nothing_from_the_network(site):
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""")
    for page in site.glob("**/*.html"):
        text = page.read_text(encoding="utf-8")
        assert not external.findall(text), page
        assert "fonts.googleapis" not in text and "cdn.jsdelivr" not in text, page
    for name in ("katex/katex.min.js", "katex/contrib/auto-render.min.js", "katex/katex.min.css", "math.js", "figures.js"):
        assert (site / "assets" / name).is_file(), name
    formulas = _page(site, "formulas")
    assert 'src="../assets/katex/katex.min.js"' in formulas and 'class="arithmatex"' in formulas


def test_the_katex_fonts_the_stylesheet_names_ship():
    css = (DOCS / "assets" / "katex" / "katex.min.css").read_text(encoding="utf-8")
    fonts = set(re.findall(r"url\((fonts/[\w-]+\.woff2)\)", css))
    assert len(fonts) == 20
    assert sorted(f for f in fonts if not (DOCS / "assets" / "katex" / f).is_file()) == []
    assert "MIT License" in (DOCS / "assets" / "katex" / "LICENSE").read_text(encoding="utf-8")


def test_pictures_are_inline_with_unique_ids(site):
    for page, count in (("pictures", 3), ("zoo", 11)):
        html = _page(site, page)
        assert not re.search(r"<img\b[^>]*\.svg", html), page
        assert html.count('<figure class="cnncalc-figure">') == count
        assert html.count("<svg ") >= count and "<title>" in html  # the tooltips
        ids = re.findall(r"""\bid=['"]([\w-]+)['"]""", html)
        assert len(ids) == len(set(ids)), page
        assert "<p><figure" not in html
    pictures = _page(site, "pictures")
    assert "id='alexnet-arrow'" in pictures and "url(#alexnet-arrow)" in pictures


def test_the_tour_notebook_is_a_page_with_its_outputs(site):
    html = _page(site, "notebooks/tour")
    assert html.count("class='cnncalc-report'") == 2  # AlexNet's and the symbolic report's HTML
    assert "62,378,344" in html and "<details>" in html
    assert '<figure class="cnncalc-figure">' in html  # the drawing, zoomable
    assert "features.0" in html and "LocalResponseNorm" in html  # the DataFrame, as text
    assert 'href="../tour.ipynb"' in html


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("html", "url", "expected"), [
    ('<p><img alt="A &amp; B" src="../img/a.svg" /></p>', "zoo/",
     '<figure class="cnncalc-figure"><div class="cnncalc-figure-frame"><svg role=\'img\' aria-label=\'A &amp; B\' '
     "id='a-arrow'><path marker-end='url(#a-arrow)'/></svg></div><figcaption>A &amp; B</figcaption></figure>"),
    ('<p>see <img alt="x" src="img/a.svg" /></p>', "",
     "<p>see <figure class=\"cnncalc-figure\"><div class=\"cnncalc-figure-frame\"><svg role='img' aria-label='x' "
     "id='a-arrow'><path marker-end='url(#a-arrow)'/></svg></div><figcaption>x</figcaption></figure></p>"),
    ('<img alt="p" src="img/a.png" />', "", '<img alt="p" src="img/a.png" />'),
    ('<img alt="gone" src="img/missing.svg" />', "", '<img alt="gone" src="img/missing.svg" />'),
    ('<img alt="web" src="https://example.org/a.svg" />', "", '<img alt="web" src="https://example.org/a.svg" />'),
], ids=["alone-in-paragraph", "inside-text", "png", "missing", "remote"])
def test_the_hook_inlines_local_svgs(html, url, expected):
    files = {"img/a.svg": "<svg id='arrow'><path marker-end='url(#arrow)'/></svg>\n"}
    assert _hooks().inline_svgs(html, url, files.get) == expected


def _dom(site, page):
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000", "--dump-dom",
         (site / page / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine")
def test_a_browser_typesets_the_formulas_offline(site):
    dom = _dom(site, "formulas")
    spans = len(re.findall(r'class="arithmatex"', _page(site, "formulas")))
    assert spans > 20 and len(re.findall(r'class="katex"', dom)) >= spans
    assert "katex-error" not in dom
    tour = _dom(site, "notebooks/tour")
    assert len(re.findall(r'class="katex"', tour)) > 20  # the symbolic report's cells and the LaTeX output
    assert "katex-error" not in tour


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine")
def test_a_browser_shows_zoom_buttons_under_each_picture(site):
    dom = _dom(site, "zoo")
    assert dom.count('class="cnncalc-zoom"') == 11
    zooms = [float(z) for z in re.findall(r'data-zoom="([\d.]+)"', dom)]
    assert len(zooms) == 11 and all(0 < z <= 1 for z in zooms) and min(zooms) < 0.5  # wide drawings fit the page
    assert re.search(r'<button type="button" title="zoom in">\+</button>', dom)
