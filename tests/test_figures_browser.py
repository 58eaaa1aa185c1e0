"""The docs pictures as a real browser renders them: headless Chromium screenshots (skipped without it).

A picture that Chromium cannot parse shows its XML error page instead; one it draws at the wrong
size is cut. The screenshot must have the SVG's own size and show the drawing's own colours: the
convolution-output blue and the pooling orange of the legend, in real areas, not just a few pixels.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest
from tool_loader import load_tool

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine")
SHOTS = load_tool("screenshot_figures")


def _pixels(png: Path):
    """(width, height, rows of RGB(A) byte rows) of an 8-bit RGB or RGBA PNG, decoded with zlib only."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = header[:4]
    assert depth == 8 and color in (2, 6), header
    channels = 3 if color == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG row filters
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(line)
        previous = line
    return width, height, channels, rows


def _share(rows, channels, rgb):
    """The fraction of pixels within a few levels of ``rgb``."""
    hits = total = 0
    for line in rows[::4]:
        for x in range(0, len(line), channels * 4):
            total += 1
            hits += all(abs(line[x + c] - rgb[c]) <= 6 for c in range(3))
    return hits / total


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
