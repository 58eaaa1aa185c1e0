"""Docs step: docs/img/serve.png, the ``cnncalc serve`` page as headless Chromium shows it (LeNet-5, the
first convolution's formulas open). tests/test_serve.py checks the committed picture; the browser tests
make a fresh one with ``shoot``.

    apt-get install -y chromium fonts-wqy-microhei   # Debian: the browser, and a font for the 中文 button
    pip install playwright                           # drives it (its own browser download is not needed)
    python tools/screenshot_serve.py [out.png]       # default: docs/img/serve.png

Exit status 1 when Chromium or playwright is missing.
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot_figures import FLAGS  # the same Chromium flags as the figure screenshots

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "serve.png"
QUERY = "?model=lenet5&input=1x32x32&lang=en&layer=c1"
SIZE = (1280, 1000)  # the viewport: the picture's width and height


def browser_path():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def launch(playwright, executable):
    """Headless Chromium from the system (playwright's own browser download is not needed)."""
    return playwright.chromium.launch(executable_path=executable, args=FLAGS)


def shoot(browser, url, png_path):
    """Open ``url``, wait until the analysis and the selected row's formulas are shown, save the viewport."""
    page = browser.new_page(viewport={"width": SIZE[0], "height": SIZE[1]})
    try:
        page.goto(url)
        page.wait_for_selector("body[data-state=idle]")
        page.wait_for_selector("#explain-body .line, #error:not([hidden])")
        page.screenshot(path=str(png_path))
    finally:
        page.close()


def main(argv):
    executable = browser_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright not found: pip install playwright", file=sys.stderr)
        return 1
    if executable is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 1
    from cnncalc.serve import make_server

    out = Path(argv[0]) if argv else OUT
    server = make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright, executable)
            shoot(browser, server.url + QUERY, out)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
