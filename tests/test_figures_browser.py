"""The docs pictures as a real browser renders them: headless Chromium screenshots (skipped without it).

A picture that Chromium cannot parse shows its XML error page instead; one it draws at the wrong
size is cut. The screenshot must have the SVG's own size and show the drawing's own colours: the
convolution-output blue and the pooling orange of the legend, in real areas, not just a few pixels.
"""

from __future__ import annotations

import shutil

import pytest
from png_pixels import pixels as _pixels
from png_pixels import share as _share
from tool_loader import load_tool

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine")]
SHOTS = load_tool("screenshot_figures")


def test_a_broken_picture_is_caught(tmp_path):
    broken = tmp_path / "broken.svg"
    broken.write_text((SHOTS.IMG / "lenet5.svg").read_text(encoding="utf-8")[:-200], encoding="utf-8")
    assert SHOTS.screenshot(BROWSER, broken, tmp_path / "broken.png")
    _, _, channels, rows = _pixels(tmp_path / "broken.png")
    assert _share(rows, channels, (0xFF, 0xDD, 0xDD)) > 0.1


@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_architecture_drawing_renders_in_chromium(name, tmp_path):
    svg = SHOTS.IMG / f"{name}.svg"
    png = tmp_path / f"{name}.png"
    assert SHOTS.screenshot(BROWSER, svg, png), "Chromium wrote no screenshot"
    width, height, channels, rows = _pixels(png)
    assert (width, height) == SHOTS.size(svg)
    assert _share(rows, channels, (0xFF, 0xDD, 0xDD)) < 0.001, "Chromium shows its XML error box"
    assert _share(rows, channels, (0x9E, 0xCA, 0xE1)) > 0.004  # convolution outputs drawn as boxes
    assert _share(rows, channels, (0xFD, 0xAE, 0x6B)) > 0.0005  # and pooling outputs
