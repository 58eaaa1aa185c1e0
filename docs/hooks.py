"""mkdocs hooks (docs/mkdocs.yml `hooks:`): every SVG picture a page shows with `![alt](img/NAME.svg)` goes
into the page inline, in a scrolling frame that assets/figures.js gives zoom buttons. In an <img> a
drawing's <title> tooltips (each layer's name and shapes) never show; inline they do.
"""

from __future__ import annotations

import posixpath
import re
from html import escape, unescape
from pathlib import Path

IMG = re.compile(r"(<p>\s*)?(<img\b[^>]*>)(\s*</p>)?")  # an image alone in its paragraph loses the <p>
ATTR = re.compile(r'(\w+)="([^"]*)"')
ID = re.compile(r"""\bid=(['"])([^'"]+)\1""")


def _prefixed(svg: str, prefix: str) -> str:
    """The SVG with its ids (and the references to them) prefixed, so two drawings on a page cannot clash."""
    for quote, name in set(ID.findall(svg)):
        svg = svg.replace(f"id={quote}{name}{quote}", f"id={quote}{prefix}-{name}{quote}")
        svg = svg.replace(f"url(#{name})", f"url(#{prefix}-{name})").replace(f"href='#{name}'", f"href='#{prefix}-{name}'")
    return svg


def inline_svgs(html: str, page_url: str, read) -> str:
    """``html`` with each <img> of a local .svg replaced by the drawing itself; ``read(path)`` gives the text of
    a file by its path in the docs (None when there is no such file: the <img> stays)."""

    def replace(match):
        before, img, after = match.group(1) or "", match.group(2), match.group(3) or ""
        attrs = dict(ATTR.findall(img))
        src = unescape(attrs.get("src", ""))
        if not src.endswith(".svg") or "://" in src:
            return match.group(0)
        path = posixpath.normpath(posixpath.join(page_url if page_url.endswith("/") else posixpath.dirname(page_url), src))
        svg = read(path)
        if svg is None:
            return match.group(0)
        alt = unescape(attrs.get("alt", ""))
        svg = _prefixed(svg.strip(), Path(path).stem).replace("<svg ", f"<svg role='img' aria-label='{escape(alt)}' ", 1)
        figure = (f'<figure class="cnncalc-figure"><div class="cnncalc-figure-frame">{svg}</div>'
                  f"<figcaption>{escape(alt)}</figcaption></figure>")
        return figure if before and after else before + figure + after

    return IMG.sub(replace, html)


def on_page_content(html, page, config, files):
    def read(path):
        file = files.get_file_from_path(path)
        return None if file is None else Path(file.abs_src_path).read_text(encoding="utf-8")

    return inline_svgs(html, page.url, read)
