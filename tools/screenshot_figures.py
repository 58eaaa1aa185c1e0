"""Docs step (not a CI test): open every docs/img/*.svg in headless Chromium and save a PNG screenshot,
to look at the pictures as a browser renders them.

    apt-get install -y chromium            # Debian package
    python tools/screenshot_figures.py /tmp/cnncalc-shots [names...]

Exit status 1 when Chromium is missing or a screenshot was not written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def size(svg_path):
    """The SVG's own width and height (the drawing sets both), so the screenshot shows all of it."""
    head = svg_path.read_text(encoding="utf-8")[:400]
    width, height = (int(float(re.search(f"{key}='([0-9.]+)'", head).group(1))) for key in ("width", "height"))
    return width, height


def screenshot(browser, svg_path, png_path):
    width, height = size(svg_path)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png_path}",
                        f"--window-size={width},{height}", svg_path.as_uri()],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)
    return png_path.exists() and png_path.stat().st_size > 0


def main(argv):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="cnncalc-shots-"))
    out.mkdir(parents=True, exist_ok=True)
    names = set(argv[1:])
    failed = []
    for svg_path in sorted(IMG.glob("*.svg")):
        if names and svg_path.stem not in names:
            continue
        png = out / f"{svg_path.stem}.png"
        png.unlink(missing_ok=True)
        if screenshot(browser, svg_path, png):
            print(png)
        else:
            failed.append(svg_path.name)
    if failed:
        print("no screenshot for: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
