"""``cnncalc serve``'s page in a real browser: Debian's Chromium driven by playwright (skipped without them).

The server runs in a thread of the test process; the page is loaded from a URL, typed into, clicked,
switched to Chinese, exported, reloaded from its own address, fed bad input, and photographed (the
screenshot checked as the docs pictures are: its size, the drawing's colours, no error box).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from png_pixels import pixels, share
from tool_loader import load_tool

import cnncalc
from cnncalc import serve
from cnncalc.cli import cli

SHOTS = load_tool("screenshot_serve")
BROWSER = SHOTS.browser_path()
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (apt-get install chromium)")]

CONV_BLUE, ACCENT, ERROR_PINK = (0x9E, 0xCA, 0xE1), (0x2B, 0x6C, 0xB0), (0xFF, 0xDD, 0xDD)
SOURCE = """\
import torch.nn as nn

net = nn.Sequential(
    nn.Conv2d(3, 12, kernel_size=5, stride=2, padding=2),
    nn.ReLU(),
    nn.MaxPool2d(3, stride=2),
    nn.Conv2d(12, 24, 3),
)
"""


def _running(**budgets):
    server = serve.make_server("127.0.0.1", 0, **budgets)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def server():
    server, thread = _running()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = SHOTS.launch(playwright, BROWSER)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors  # no script error on any page


def _open(page, url):
    page.goto(url)
    _settled(page)


def _settled(page):
    """Wait until the page has no analysis pending (typing) or in flight."""
    page.wait_for_selector("body[data-state=idle]")


def _rows(page):
    return page.eval_on_selector_all(
        "#layers tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))")


def _totals(page):
    return dict(page.eval_on_selector_all("#totals > div", "ds => ds.map(d => [d.dataset.key, d.querySelector('dd').textContent])"))


def _query(page):
    return {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}


def _fragment_text(url):
    """The text a page's URL carries in its fragment (#source=z<base64url of raw deflate>)."""
    kind, _, value = urlsplit(url).fragment.partition("=")
    data = base64.urlsafe_b64decode(value[1:] + "=" * (-len(value[1:]) % 4))
    return kind, (zlib.decompress(data, -15) if value[0] == "z" else data).decode("utf-8")


def _fragment(kind, text, compress=True):
    data = zlib.compress(text.encode(), 9)[2:-4] if compress else text.encode()  # raw deflate: no zlib header
    return f"#{kind}={'z' if compress else 'b'}{base64.urlsafe_b64encode(data).decode().rstrip('=')}"


def _cli_error(*args):
    result = CliRunner().invoke(cli, list(args), prog_name="cnncalc")
    assert result.exit_code == 2
    return result.output.removeprefix("Error: ").rstrip("\n")


def test_the_url_gives_the_view(page, server):
    _open(page, server.url + "?model=alexnet&input=3x227x227")
    rows = _rows(page)
    assert len(rows) == 23
    assert rows[0] == ["features.0", "Conv2d", "3x227x227", "96x55x55", "34,944", "105,415,200", "11/4"]
    assert rows[-1][3:5] == ["1000", "4,097,000"]
    totals = _totals(page)
    assert (totals["params"], totals["macs"], totals["rf_size"]) == ("62,378,344", "1.14 G (1,135,256,096)", "195")
    assert page.input_value("#input") == "3x227x227" and page.input_value("#model") == "alexnet"
    assert page.is_hidden("#error")
    assert page.locator("#svg svg rect").count() > 20 and page.locator("#rf-plot svg").count() == 1
    assert _query(page) == {"model": "alexnet", "input": "3x227x227", "lang": "en"}


def test_picking_a_model_from_the_list(page, server):
    _open(page, server.url + "?model=alexnet")
    assert page.get_attribute("#input", "placeholder") == "3x227x227"  # empty input: the model's own size
    page.select_option("#model", "lenet5")
    _settled(page)
    assert _rows(page)[0] == ["c1", "Conv2d", "1x32x32", "6x28x28", "156", "117,600", "5/1"]
    assert page.text_content("#model-description").startswith("LeNet-5")
    assert page.get_attribute("#input", "placeholder") == "1x32x32"
    page.wait_for_function("() => location.search.includes('model=lenet5')")
    assert _query(page) == {"model": "lenet5", "lang": "en"}


def test_typing_updates_the_table_and_the_url_debounced(page, server):
    _open(page, server.url + "?model=resnet18&input=3x224x224")
    assert _rows(page)[0][3] == "64x112x112"
    asked = []
    page.on("request", lambda request: asked.append(request.url) if request.url.endswith("/api/analyze") else None)
    page.fill("#input", "")
    page.type("#input", "3x200x200", delay=15)  # nine keystrokes, faster than the debounce
    _settled(page)
    assert 1 <= len(asked) <= 3, asked  # not one analysis per keystroke
    assert page.is_hidden("#error") and _rows(page)[0][3] == "64x100x100"
    report = cnncalc.analyze(cnncalc.model("resnet18"), (3, 200, 200))
    assert _totals(page)["macs"].endswith(f"({report.macs:,})")
    page.wait_for_function("() => location.search.includes('input=3x200x200')")
    assert _query(page) == {"model": "resnet18", "input": "3x200x200", "lang": "en"}


def test_symbolic_input_shows_formulas_and_why_the_pictures_are_missing(page, server):
    _open(page, server.url + "?model=resnet18&input=3xHxW")
    assert _rows(page)[0][3] == "64xceil(H/2)xceil(W/2)"
    assert page.text_content("#svg .picture-error") == "svg: drawing needs a concrete input shape, got 3xHxW"
    assert page.text_content("#rf-plot .picture-error") == "rf_plot: drawing needs a concrete input shape, got 3xHxW"
    assert page.is_hidden("#error")


def test_depth_folds_rows_and_a_folded_row_says_so(page, server):
    _open(page, server.url + "?model=resnet18&input=3x224x224&depth=1")
    rows = _rows(page)
    assert [row[0] for row in rows][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    assert rows[4][1:] == ["Sequential", "64x56x56", "64x56x56", "147,968", "462,422,016", "43/4"]
    page.click("#layers tbody tr[data-name='layer2']")
    assert page.text_content("#explain-body") == (
        "A folded block (the sum of its layers): raise the depth or clear it to see each layer's formulas.")
    page.fill("#depth", "")
    _settled(page)
    assert len(_rows(page)) == len(cnncalc.analyze(cnncalc.model("resnet18"), (3, 224, 224)).layers)
    assert "depth" not in _query(page)


def test_clicking_a_row_shows_its_formulas_with_numbers(page, server):
    _open(page, server.url + "?model=alexnet&input=3x227x227")
    page.click("#layers tbody tr[data-name='features.3']")
    page.wait_for_selector("#explain-body .line")
    assert page.text_content("#explain-body h3") == "features.3 (MaxPool2d): 96x55x55 → 96x27x27"
    lines = page.eval_on_selector_all("#explain-body .line", "ds => ds.map(d => d.textContent)")
    assert lines[0] == ("output size: H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = "
                        "floor((55 - 3 + 2*0)/2) + 1 = floor(52/2) + 1 = 26 + 1 = 27")
    assert "receptive field size: r_out = j_in*(k - 1) + r_in = 4*(3 - 1) + 11 = 19" in lines
    assert page.get_attribute("#layers tbody tr.selected", "data-name") == "features.3"
    page.wait_for_function("() => location.search.includes('layer=features.3')")
    # the formulas follow the input as it is typed
    page.fill("#input", "3x235x235")
    _settled(page)
    page.wait_for_function("() => document.querySelector('#explain-body .line').textContent.includes('(57 - 3')")
    assert "floor((57 - 3 + 2*0)/2) + 1 = floor(54/2) + 1 = 27 + 1 = 28" in page.text_content("#explain-body .line")


def test_language_switch_and_reload(page, server):
    _open(page, server.url + "?model=alexnet&input=3x227x227&layer=features.0")
    page.wait_for_selector("#explain-body .line")
    page.click("[data-lang=zh]")
    page.wait_for_function("() => document.querySelector('#explain-body .label').textContent.startsWith('输出尺寸')")
    assert page.text_content("th[data-t=col_layer]") == "层"
    assert page.text_content("#totals > div[data-key=params] dt") == "总参数量"
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.wait_for_function("() => location.search.includes('lang=zh')")
    url = page.url
    assert _query(page) == {"model": "alexnet", "input": "3x227x227", "lang": "zh", "layer": "features.0"}
    _open(page, url)  # the link alone reproduces the view
    page.wait_for_selector("#explain-body .line")
    assert page.text_content("#explain-body .line") == (
        "输出尺寸: H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = floor((227 - 11 + 2*0)/4) + 1 = floor(216/4) + 1 = 54 + 1 = 55")
    assert page.get_attribute("[data-lang=zh]", "aria-pressed") == "true"
    page.click("[data-lang=en]")
    page.wait_for_function("() => document.querySelector('#explain-body .label').textContent.startsWith('output size')")


@pytest.mark.parametrize("fmt,filename", [("json", "alexnet.json"), ("csv", "alexnet.csv"), ("markdown", "alexnet.md"),
                                          ("spec", "alexnet.spec.json")])
def test_export_downloads_what_the_cli_prints(page, server, fmt, filename, tmp_path):
    _open(page, server.url + "?model=alexnet&input=3x231x231")
    with page.expect_download() as download:
        page.click(f"[data-export={fmt}]")
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name == filename
    printed = CliRunner().invoke(cli, ["alexnet", "--input", "3x231x231", "--format", fmt]).stdout
    text = target.read_text(encoding="utf-8")
    if fmt in ("json", "spec"):
        assert json.loads(text) == json.loads(printed)
    else:
        assert text == printed
    if fmt == "json":
        assert json.loads(text) == cnncalc.analyze(cnncalc.model("alexnet"), (3, 231, 231), name="alexnet", warn=False).to_dict()


def test_pasted_source_round_trips_through_the_fragment(page, server, browser):
    _open(page, server.url)
    page.click("[data-mode=source]")
    page.fill("#source", SOURCE)
    page.fill("#input", "3x64x64")
    _settled(page)
    expected = [["0", "Conv2d", "3x64x64", "12x32x32"], ["1", "ReLU", "12x32x32", "12x32x32"],
                ["2", "MaxPool2d", "12x32x32", "12x15x15"], ["3", "Conv2d", "12x15x15", "24x13x13"]]
    assert [row[:4] for row in _rows(page)] == expected
    page.wait_for_function("() => location.hash.startsWith('#source=')")
    assert _fragment_text(page.url) == ("source", SOURCE)
    assert "model" not in _query(page) and _query(page)["input"] == "3x64x64"
    other = browser.new_page()
    try:
        _open(other, page.url)  # a new tab from the link
        assert other.input_value("#source") == SOURCE and [row[:4] for row in _rows(other)] == expected
        assert other.get_attribute("[data-mode=source]", "aria-selected") == "true"
    finally:
        other.close()


@pytest.mark.parametrize("compress", [True, False], ids=["deflate", "plain"])
def test_a_link_made_elsewhere_loads_a_spec(page, server, compress):
    spec = "name: tiny\ninput_shape: [3, 32, 32]\nlayers:\n  - Conv2d: [3, 8, 3]\n  - ReLU\n  - MaxPool2d: 2\n"
    _open(page, server.url + "?lang=en" + _fragment("spec", spec, compress))
    assert page.input_value("#spec") == spec
    assert [row[3] for row in _rows(page)] == ["8x30x30", "8x30x30", "8x15x15"]
    assert page.text_content("#title") == "tiny: input 3x32x32"


@pytest.mark.parametrize("query,cli_args", [
    ("?model=alexnet&input=3x2x2", ("alexnet", "--input", "3x2x2")),
    ("?model=resnet-18", ("resnet-18",)),
    ("?model=alexnet&input=3xHx", ("alexnet", "--input", "3xHx")),
], ids=["layer-refuses", "unknown-model", "bad-shape"])
def test_bad_input_shows_the_clis_one_line(page, server, query, cli_args):
    _open(page, server.url + query)
    assert page.is_visible("#error") and page.is_hidden("#results")
    assert page.text_content("#error-text") == _cli_error(*cli_args)
    assert page.text_content("#error") == "Error: " + _cli_error(*cli_args)


def test_an_error_clears_when_the_input_is_fixed(page, server):
    _open(page, server.url + "?model=alexnet&input=3x2x2")
    assert page.is_visible("#error")
    page.fill("#input", "3x227x227")
    _settled(page)
    assert page.is_hidden("#error") and _rows(page)[0][3] == "96x55x55"


def test_an_unreadable_link_says_so(page, server):
    _open(page, server.url + "?lang=en#source=z@@@")
    assert page.text_content("#error-text") == "the link's pasted text cannot be decoded"


def test_a_slow_analysis_is_stopped_and_says_so(browser):
    server, thread = _running(time_limit=0.5, workers=1)
    source = ("import torch.nn as nn\n\nclass Deep(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.body = nn.Sequential(*[nn.Conv2d(3, 3, 3, padding=1) for _ in range(60000)])\n\n"
              "    def forward(self, x):\n        return self.body(x)\n")
    page = browser.new_page()
    try:
        _open(page, server.url + "?input=3x8x8" + _fragment("source", source))
        assert page.text_content("#error-text") == "analysis took longer than 0.5 s"
    finally:
        page.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_screenshot_has_its_size_and_colours_and_no_error_box(server, browser, tmp_path):
    png = tmp_path / "serve.png"
    SHOTS.shoot(browser, server.url + SHOTS.QUERY, png)
    width, height, channels, rows = pixels(png)
    assert (width, height) == SHOTS.SIZE
    assert share(rows, channels, ERROR_PINK) < 0.001, "the page shows an error box"
    assert share(rows, channels, CONV_BLUE) > 0.001  # the drawing's convolution boxes are on the page
    assert share(rows, channels, ACCENT) > 0.001  # the selected tab and language


def test_screenshot_of_bad_input_shows_the_error_box(server, browser, tmp_path):
    png = tmp_path / "bad.png"
    SHOTS.shoot(browser, server.url + "?model=lenet5&input=1x8x8", png)
    _, _, channels, rows = pixels(png)
    assert share(rows, channels, ERROR_PINK) > 0.005
    assert share(rows, channels, CONV_BLUE) < 0.0005  # no drawing


def test_page_makes_no_request_off_this_machine(page, server):
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    _open(page, server.url + "?model=lenet5")
    page.click("#layers tbody tr >> nth=0")
    page.wait_for_selector("#explain-body .line")
    assert {re.sub(r":\d+$", "", h) for h in hosts if h} == {"127.0.0.1"}
