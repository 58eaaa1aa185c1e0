"""``cnncalc serve``'s HTTP API without a browser: every endpoint, the numbers it returns (the same as the
library's and the CLI's), its limits (body cap, time limit, Host check) and its errors (one line each)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from png_pixels import pixels, share
from tool_loader import load_tool

import cnncalc
from cnncalc import serve
from cnncalc.cli import cli
from cnncalc.frontends.source import load_source
from cnncalc.render import svg
from cnncalc.render.explain import explain

ROOT = Path(__file__).resolve().parent.parent

SOURCE = """\
import torch.nn as nn


class Small(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(16 * 16 * 16, classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class Other(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)

    def forward(self, x):
        return self.conv(x)
"""
SPEC_JSON = json.dumps({"name": "tiny", "input_shape": "3x32x32",
                        "layers": [{"Conv2d": [3, 8, 3]}, "ReLU", {"MaxPool2d": 2}]})
SPEC_YAML = "name: tiny\ninput_shape: [3, 32, 32]\nlayers:\n  - Conv2d: [3, 8, 3]\n  - ReLU\n  - MaxPool2d: 2\n"
# 60,000 convolutions: about 3 s to analyse on the development machine, far over a 0.5 s limit
SLOW_SOURCE = ("import torch.nn as nn\n\nclass Deep(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
               "        layers = []\n        for i in range(60000):\n            layers.append(nn.Conv2d(3, 3, 3, padding=1))\n"
               "        self.body = nn.Sequential(*layers)\n\n    def forward(self, x):\n        return self.body(x)\n")


class Client:
    """Requests to one running server (raw http.client: headers and bodies exactly as written)."""

    def __init__(self, server):
        self.host, self.port = server.server_address[:2]

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        return response.status, response.getheader("Content-Type"), raw, response

    def json(self, method, path, body=None, headers=None):
        status, kind, raw, _ = self.request(method, path, body, headers)
        assert kind == "application/json; charset=utf-8", (status, raw[:200])
        return status, json.loads(raw)

    def post(self, endpoint, **fields):
        return self.json("POST", f"/api/{endpoint}", fields)


def _running(**budgets):
    server = serve.make_server("127.0.0.1", 0, **budgets)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _stop(server, thread):
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def server():
    running = _running()
    yield running[0]
    _stop(*running)


@pytest.fixture(scope="module")
def client(server):
    return Client(server)


def _cli(*args):
    result = CliRunner().invoke(cli, list(args), prog_name="cnncalc")
    return result


def _cli_error(*args):
    result = _cli(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: "), result.output
    return result.output[len("Error: "):].rstrip("\n")


# --- numbers: the page shows what the library computes ---------------------------------------------------------


def test_analyze_a_zoo_model_gives_the_reports_numbers(client):
    status, data = client.post("analyze", model="alexnet", input="3x227x227")
    assert status == 200
    report = cnncalc.analyze(cnncalc.model("alexnet"), (3, 227, 227), name="alexnet")
    assert data["report"] == report.to_dict()
    assert data["model"] == "alexnet" and data["input"] == "3x227x227"
    assert len(data["rows"]) == len(report.layers) == 23
    assert data["rows"][0] == {
        "index": 0, "name": "features.0", "type": "Conv2d", "level": 1, "folded": False,
        "input_shape": "3x227x227", "output_shape": "96x55x55", "params": "34,944", "macs": "105,415,200", "rf": "11/4"}
    assert data["rows"][1]["params"] == "--" and data["rows"][-1]["output_shape"] == "1000"
    totals = dict(data["totals"])
    assert totals["params"] == "62,378,344"
    assert totals["macs"] == "1.14 G (1,135,256,096)"
    assert (totals["rf_size"], totals["rf_stride"], totals["rf_start"]) == ("195", "32", "-64")
    assert totals["total_mb"] == "255.41"  # as the CLI's table prints it (torchinfo's rule)
    assert data["svg"] == svg.svg(report) and data["rf_plot"] == svg.rf_plot(report)
    assert data["svg_error"] is None and data["warnings"] == []


def test_default_input_is_the_models_own(client):
    status, data = client.post("analyze", model="lenet5")
    assert status == 200 and data["input"] == "1x32x32"
    assert dict(data["totals"])["params"] == "61,706"


def test_symbolic_input_gives_formulas_and_refused_pictures_say_why(client):
    status, data = client.post("analyze", model="resnet18", input="3xHxW")
    assert status == 200
    report = cnncalc.analyze(cnncalc.model("resnet18"), "3xHxW")
    assert data["report"] == report.to_dict()
    assert data["rows"][0]["output_shape"] == "64xceil(H/2)xceil(W/2)"
    with pytest.raises(cnncalc.ShapeError, match="concrete input shape") as drawn:
        svg.svg(report)
    with pytest.raises(cnncalc.ShapeError, match="concrete input shape") as plotted:
        svg.rf_plot(report)
    assert (data["svg"], data["svg_error"]) == (None, str(drawn.value))
    assert (data["rf_plot"], data["rf_plot_error"]) == (None, str(plotted.value))


def test_depth_folds_blocks_into_summed_rows(client):
    status, data = client.post("analyze", model="resnet18", input="3x224x224", depth=1)
    assert status == 200
    report = cnncalc.analyze(cnncalc.model("resnet18"), (3, 224, 224))
    folded = {row["name"]: row for row in data["rows"]}
    assert [row["name"] for row in data["rows"]] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                                                      "layer4", "avgpool", "flatten", "fc"]
    layer1 = folded["layer1"]
    assert layer1["folded"] and layer1["index"] is None and layer1["type"] == "Sequential"
    expected = sum(r.params for r in report.layers if r.name.startswith("layer1."))
    assert layer1["params"] == f"{expected:,}" and expected == 147968
    assert folded["layer4"]["output_shape"] == "512x7x7"
    assert folded["fc"]["index"] == len(report.layers) - 1


def test_pasted_source_is_read_not_run(client):
    status, data = client.post("analyze", source=SOURCE, input="3x32x32", **{"class": "Small"})
    assert status == 200
    report = load_source(SOURCE, "Small").analyze((3, 32, 32), warn=False)
    assert data["report"] == report.to_dict()
    assert [r["output_shape"] for r in data["rows"]] == ["16x32x32", "16x32x32", "16x16x16", "4096", "10"]
    status, data = client.post("analyze", source=SOURCE, input="1x28x28", **{"class": "Other"})
    assert status == 200 and data["rows"][0]["output_shape"] == "4x24x24"


def test_pasted_source_is_never_a_file_name(client, tmp_path):
    model_file = tmp_path / "model.py"
    model_file.write_text(SOURCE, encoding="utf-8")
    assert load_source(str(model_file), "Small").path == str(model_file)  # the library reads a path ...
    status, data = client.post("analyze", source=str(model_file), input="3x32x32", **{"class": "Small"})
    assert (status, data) == (400, {"error": "<source>:1: not valid Python: invalid syntax"})  # ... the page never


@pytest.mark.parametrize("text", [SPEC_JSON, SPEC_YAML], ids=["json", "yaml"])
def test_pasted_spec(client, text):
    status, data = client.post("analyze", spec=text)
    assert status == 200
    assert data["model"] == "tiny" and data["input"] == "3x32x32"
    assert [r["output_shape"] for r in data["rows"]] == ["8x30x30", "8x30x30", "8x15x15"]
    assert dict(data["totals"])["params"] == "224"


@pytest.mark.parametrize("spec,shape,outputs,rf", [
    ("layers: [{Conv1d: [3, 8, 5]}, ReLU, {MaxPool1d: 2}]", "3x16000", ["8x15996", "8x15996", "8x7998"], "6/2"),
    ("layers: [{Conv1d: [3, 8, 5, 2]}]", "3xT", ["8x(ceil(T/2)-2)"], "5/2"),  # floor((T - 5)/2) + 1
    ("layers: [{Conv3d: [3, 8, 3]}, {MaxPool3d: 2}]", "3x16x112x112", ["8x14x110x110", "8x7x55x55"], "4/2"),
    ("layers: [{Linear: [768, 10]}]", "197x768", ["197x10"], "--"),
], ids=["1d", "1d-symbolic", "3d", "tokens"])
def test_any_rank(client, spec, shape, outputs, rf):
    status, data = client.post("analyze", spec=spec, input=shape)
    assert status == 200, data
    assert [row["output_shape"] for row in data["rows"]] == outputs
    assert data["rows"][-1]["rf"] == rf
    network = cnncalc.from_spec(serve.parse_yaml(spec, "<spec>"))
    assert data["report"] == cnncalc.analyze(network, shape, name="spec").to_dict()
    for picture in ("svg", "rf_plot"):  # drawn, or a one-line reason in its place
        assert (data[picture] is None) != (data[f"{picture}_error"] is None)
        assert data[picture] is not None or "\n" not in data[f"{picture}_error"]


@pytest.mark.parametrize("lang,label", [("en", "output size"), ("zh", "输出尺寸")])
def test_explain_gives_a_rows_formulas_with_numbers(client, lang, label):
    status, data = client.post("explain", model="alexnet", input="3x227x227", lang=lang, index=0)
    assert status == 200
    assert (data["name"], data["type"], data["input_shape"], data["output_shape"]) == (
        "features.0", "Conv2d", "3x227x227", "96x55x55")
    first = data["lines"][0]
    assert first["label"] == label and first["kind"] == "equation"
    assert first["equation"] == "H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = floor((227 - 11 + 2*0)/4) + 1 = floor(216/4) + 1 = 54 + 1 = 55"
    expected = explain(cnncalc.model("alexnet"), (3, 227, 227), lang=lang, name="alexnet").layers[0]
    assert [line["label"] for line in data["lines"]] == [line.label for line in expected.lines]


def test_explain_matches_rows_by_index(client):
    _, analysis = client.post("analyze", model="resnet18", input="3x64x64")
    row = next(r for r in analysis["rows"] if r["name"] == "layer2.0.downsample.0")
    status, data = client.post("explain", model="resnet18", input="3x64x64", index=row["index"])
    assert status == 200 and data["name"] == row["name"] and data["output_shape"] == row["output_shape"] == "128x8x8"
    status, data = client.post("explain", model="alexnet", index=23)
    assert status == 400 and data["error"] == "index: no row 23: alexnet has 23 rows"


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_export_text_is_the_clis(client, fmt):
    status, data = client.post("export", model="vgg11", input="3x64x64", format=fmt)
    assert status == 200
    assert data["text"] == _cli("vgg11", "--input", "3x64x64", "--format", fmt).stdout
    assert data["filename"] == {"csv": "vgg11.csv", "markdown": "vgg11.md"}[fmt]


@pytest.mark.parametrize("fmt,filename", [("json", "squeezenet1_1.json"), ("spec", "squeezenet1_1.spec.json")])
def test_export_json_and_spec_are_the_clis(client, fmt, filename):
    status, data = client.post("export", model="squeezenet1_1", input="3xHxW", format=fmt)
    assert status == 200 and data["filename"] == filename
    printed = _cli("squeezenet1_1", "--input", "3xHxW", "--format", fmt).stdout
    assert json.loads(data["text"]) == json.loads(printed)


def test_export_of_a_pasted_spec_reads_back_to_the_same_report(client):
    _, data = client.post("export", spec=SPEC_YAML, format="spec")
    _, original = client.post("analyze", spec=SPEC_YAML)
    rebuilt = cnncalc.analyze(cnncalc.from_spec(json.loads(data["text"])), (3, 32, 32), name="tiny")
    assert rebuilt.to_dict() == original["report"]


# --- bad input: the CLI's one line, status 400, never a traceback -----------------------------------------------


@pytest.mark.parametrize("fields,cli_args", [
    ({"model": "alexnet", "input": "3x2x2"}, ("alexnet", "--input", "3x2x2")),
    ({"model": "resnet-18"}, ("resnet-18", "--input", "3x224x224")),
    ({"model": "alexnet", "input": "3x0x4"}, ("alexnet", "--input", "3x0x4")),
    ({"model": "alexnet", "input": "3*H"}, ("alexnet", "--input", "3*H")),
    ({"model": "lenet5", "input": "3x32x32"}, ("lenet5", "--input", "3x32x32")),
], ids=["layer-refuses", "unknown-model", "zero-size", "bad-grammar", "channels"])
def test_errors_are_the_clis_line(client, fields, cli_args):
    status, data = client.post("analyze", **fields)
    assert status == 400
    assert data == {"error": _cli_error(*cli_args)}
    assert "\n" not in data["error"] and "Traceback" not in data["error"]


@pytest.mark.parametrize("fields,match", [
    ({"source": "def (", "input": "3x8x8"}, r"^<source>:1: not valid Python: invalid syntax$"),
    ({"source": "x = 1", "input": "3x8x8"}, r"^<source>: no model found"),
    ({"source": SOURCE, "input": "3x8x8"}, r"^<source>: several models: Small, Other: choose one"),
    ({"source": SOURCE, "class": "Small"}, r"^<source>: no default input size is known: give --input CxHxW$"),
    ({"source": SOURCE, "input": "3x30x30", "class": "Small"}, r"^<source>:\d+: head \(Linear\) given input 3600: expects 4096"),
    ({"source": SOURCE, "input": "3x8x8", "class": "Nope"}, r"Nope"),
    ({"spec": "layers: [", "input": "3x8x8"}, r"^<spec>:1: not valid YAML"),
    ({"spec": "{\"layers\": 3}"}, r"^<spec>:1: layers: expected a list of items$"),
], ids=["syntax", "no-model", "two-models", "no-input", "refused", "no-class", "bad-yaml", "bad-spec"])
def test_unreadable_pasted_text_is_one_line(client, fields, match):
    status, data = client.post("analyze", **fields)
    assert status == 400
    assert list(data) == ["error"] and "\n" not in data["error"]
    assert re.search(match, data["error"]), data["error"]


@pytest.mark.parametrize("body,match", [
    (b"{bad", r"^the request body is not JSON: Expecting property name"),
    (b"\xff\xfe", r"^the request body is not UTF-8 text$"),
    (b"[1, 2]", r"^the request body must be a JSON object, got list$"),
    (b'{"model": "alexnet", "colour": 1}', r"^unknown field 'colour': expected class, depth, input, lang, model, source, spec$"),
    (b"{}", r"^give exactly one of model, source or spec$"),
    (b'{"model": "alexnet", "spec": "x"}', r"^give exactly one of model, source or spec$"),
    (b'{"model": 5}', r"^model: expected a string, got 5$"),
    (b'{"model": "alexnet", "lang": "fr"}', r"^lang: expected one of en, zh, got \"fr\"$"),
    (b'{"model": "alexnet", "depth": 0}', r"^depth: expected an integer >= 1, got 0$"),
    (b'{"model": "alexnet", "depth": true}', r"^depth: expected an integer >= 1, got true$"),
    (b'{"model": "alexnet", "class": "Net"}', r"^class applies to a pasted source only$"),
], ids=["not-json", "not-utf8", "not-object", "unknown-field", "no-model", "two-models", "model-type", "lang",
        "depth", "depth-bool", "class"])
def test_bad_requests_are_400_with_one_line(client, body, match):
    status, data = client.json("POST", "/api/analyze", body, {"Content-Type": "application/json"})
    assert status == 400 and re.search(match, data["error"]), data


@pytest.mark.parametrize("endpoint,fields,match", [
    ("explain", {"model": "alexnet"}, r"^index: the row to explain is required$"),
    ("explain", {"model": "alexnet", "index": -1}, r"^index: expected an integer >= 0, got -1$"),
    ("export", {"model": "alexnet", "format": "pdf"}, r"^format: expected one of json, csv, markdown, spec, got \"pdf\"$"),
    ("export", {"model": "alexnet"}, r"^format: expected one of json, csv, markdown, spec, got null$"),
])
def test_endpoint_fields_are_checked(client, endpoint, fields, match):
    status, data = client.post(endpoint, **fields)
    assert status == 400 and re.search(match, data["error"]), data


# --- routes, pages and limits -------------------------------------------------------------------------------------


def test_models_endpoint_lists_the_zoo(client):
    status, data = client.json("GET", "/api/models")
    assert status == 200
    assert [m["name"] for m in data["models"]] == cnncalc.models()
    alexnet = next(m for m in data["models"] if m["name"] == "alexnet")
    assert alexnet["input"] == "3x227x227" and alexnet["description"].startswith("AlexNet")
    assert data["lang"] in ("en", "zh")


@pytest.mark.parametrize("path,kind,needle", [
    ("/", "text/html", b'<script src="/static/app.js"'),
    ("/?model=alexnet&input=3x227x227&lang=zh", "text/html", b'<table id="layers">'),
    ("/static/app.js", "text/javascript", b"history.replaceState"),
    ("/static/style.css", "text/css", b"--error-bg"),
])
def test_page_and_assets(client, path, kind, needle):
    status, content_type, body, response = client.request("GET", path)
    assert status == 200 and content_type == f"{kind}; charset=utf-8" and needle in body
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    if kind == "text/html":
        assert "script-src" not in response.getheader("Content-Security-Policy")  # default-src 'self': no inline script
        assert b"http://" not in body and b"https://" not in body  # no CDN: the page works offline


def test_assets_ship_as_package_data(tmp_path):
    """The page is package data: setuptools' build (the step a wheel is made from) copies it (pyproject's
    package-data), so an installed cnncalc can serve it."""
    pytest.importorskip("setuptools")
    for name in ("pyproject.toml", "README.md"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["cp", "-r", str(ROOT / "cnncalc"), str(tmp_path / "cnncalc")], check=True)
    result = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                             "--build-lib", str(tmp_path / "lib")], capture_output=True, text=True, cwd=tmp_path,
                            check=False)
    assert result.returncode == 0, result.stderr
    for asset in ("index.html", "app.js", "style.css"):
        assert (tmp_path / "lib" / "cnncalc" / "web" / asset).read_bytes() == (ROOT / "cnncalc" / "web" / asset).read_bytes()


def test_docs_screenshot_shows_the_page():
    """docs/img/serve.png (tools/screenshot_serve.py): the viewport's size, the drawing's and the page's
    colours, no error box. The browser tests make a fresh one and check it the same way."""
    shots = load_tool("screenshot_serve")
    width, height, channels, rows = pixels(shots.OUT)
    assert (width, height) == shots.SIZE
    assert share(rows, channels, (0xFF, 0xDD, 0xDD)) < 0.001  # the error box's pink
    assert share(rows, channels, (0x9E, 0xCA, 0xE1)) > 0.001  # convolution boxes of the drawing
    assert share(rows, channels, (0x2B, 0x6C, 0xB0)) > 0.001  # the selected tab and language


@pytest.mark.parametrize("method,path,status,message", [
    ("GET", "/nope", 404, "no such page: /nope"),
    ("POST", "/api/nope", 404, "no such endpoint: /api/nope"),
    ("GET", "/static/../serve.py", 404, "no such page: /static/../serve.py"),
    ("GET", "/api/analyze", 405, "/api/analyze takes POST with a JSON body"),
    ("POST", "/api/models", 405, "/api/models takes GET"),
    ("PUT", "/api/analyze", 501, "Unsupported method ('PUT')"),
    ("DELETE", "/", 501, "Unsupported method ('DELETE')"),
])
def test_routes(client, method, path, status, message):
    got, data = client.json(method, path, b"{}" if method != "GET" else None)
    assert (got, data) == (status, {"error": message})


def test_body_cap_413_before_the_body_is_read(server, client):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.putrequest("POST", "/api/analyze")
    conn.putheader("Content-Length", "2000000")
    conn.endheaders()  # no body follows: the answer must not wait for it
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"error": "the request body is 2,000,000 bytes; the limit is 1,000,000"}
    conn.close()


def test_body_cap_413_for_a_sent_body(client):
    body = json.dumps({"model": "alexnet", "input": "3x227x227", "source": "#" * 1_100_000}).encode()
    status, data = client.json("POST", "/api/analyze", body)
    assert status == 413 and data["error"] == f"the request body is {len(body):,} bytes; the limit is 1,000,000"


def test_body_under_the_cap_is_read(client):
    source = SOURCE + "#" * 900_000  # a long comment: the body is under 1 MB
    status, data = client.post("analyze", source=source, input="3x32x32", **{"class": "Small"})
    assert status == 200 and dict(data["totals"])["params"] == "41,418"


@pytest.mark.parametrize("headers,status,message", [
    ({"Transfer-Encoding": "chunked"}, 411, "send the body with a Content-Length"),
    ({"Content-Length": "-5"}, 400, "bad Content-Length '-5'"),
])
def test_body_needs_a_length(server, headers, status, message):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.putrequest("POST", "/api/analyze")
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders()
    response = conn.getresponse()
    assert (response.status, json.loads(response.read())) == (status, {"error": message})
    conn.close()


@pytest.mark.parametrize("host,status", [
    ("", 200), ("localhost", 200), ("127.0.0.1:8765", 200), ("[::1]:8765", 200), ("evil.example:8765", 403), ("10.0.0.5", 403),
])
def test_loopback_server_answers_loopback_names_only(client, host, status):
    got, _, raw, _ = client.request("GET", "/api/models", headers={"Host": host})
    assert got == status
    if status == 403:
        assert json.loads(raw) == {"error": f"this server answers requests to 127.0.0.1 or localhost only, not {host!r}"}


def test_binds_loopback_by_default(server):
    assert serve.HOST == "127.0.0.1"
    assert server.server_address[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    serve_command = cli.commands["serve"]
    assert {p.name: p.default for p in serve_command.params}["host"] == "127.0.0.1"


def test_ipv6_loopback():
    try:
        server = serve.make_server("::1", 0, workers=1)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.url.startswith("http://[::1]:")
        conn = http.client.HTTPConnection("::1", server.server_address[1], timeout=30)
        conn.request("POST", "/api/analyze", body=json.dumps({"model": "lenet5"}))
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["input"] == "1x32x32"
        conn.close()
    finally:
        _stop(server, thread)


def test_concurrent_requests_all_answered(client):
    def one(i):
        return client.post("analyze", model="resnet18", input=f"3x{64 + i}x{64 + i}")

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(one, range(24)))
    assert [status for status, _ in answers] == [200] * 24
    assert [a["rows"][0]["output_shape"] for _, a in answers] == [f"64x{(65 + i) // 2}x{(65 + i) // 2}" for i in range(24)]


# --- the time limit really stops the work; a dead worker is replaced ----------------------------------------------


def test_time_limit_kills_the_worker_and_the_next_request_works():
    server, thread = _running(time_limit=0.5, workers=1)
    try:
        client = Client(server)
        assert client.post("analyze", model="lenet5")[0] == 200  # the worker is up
        (pid,) = server.pool.pids()
        started = time.monotonic()
        status, data = client.post("analyze", source=SLOW_SOURCE, input="3x8x8")
        elapsed = time.monotonic() - started
        assert (status, data) == (503, {"error": "analysis took longer than 0.5 s"})
        assert elapsed < 2.5, elapsed  # stopped at the limit, not when the analysis would have ended
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped
        status, data = client.post("analyze", model="lenet5")  # a fresh worker takes over
        assert status == 200 and dict(data["totals"])["params"] == "61,706"
        assert server.pool.pids() != [pid]
    finally:
        _stop(server, thread)


def test_busy_and_a_worker_that_dies_mid_analysis():
    """One worker, busy with a slow analysis: another request waits its ``wait`` and hears "busy"; the worker
    killed mid-analysis gives a one-line 500, and a fresh worker answers the next request."""
    server, thread = _running(time_limit=30, workers=1)
    try:
        client = Client(server)
        assert client.post("analyze", model="lenet5")[0] == 200  # the worker is up
        (pid,) = server.pool.pids()
        server.pool.wait = 0.3
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(client.post, "analyze", source=SLOW_SOURCE, input="3x8x8")
            time.sleep(0.3)
            assert client.post("analyze", model="lenet5") == (
                503, {"error": "server busy: no analysis worker became free within 0.3 s"})
            os.kill(pid, signal.SIGKILL)
            assert slow.result(timeout=30) == (500, {"error": "the analysis worker stopped unexpectedly"})
        server.pool.wait = 30
        assert client.post("analyze", model="lenet5")[0] == 200
        assert pid not in server.pool.pids()
    finally:
        _stop(server, thread)


def test_lang_defaults_to_the_servers_then_cnncalc_lang(monkeypatch):
    body = b'{"model": "alexnet", "index": 0}'
    monkeypatch.setenv("CNNCALC_LANG", "zh")
    assert serve.parse_request("explain", body)["lang"] == "zh"
    assert serve.parse_request("explain", body, "en")["lang"] == "en"  # cnncalc serve --lang en
    assert serve.parse_request("explain", b'{"model": "alexnet", "index": 0, "lang": "en"}', "zh")["lang"] == "en"
    monkeypatch.setenv("CNNCALC_LANG", "fr")
    assert serve.parse_request("explain", body)["lang"] == "en"


def test_serve_lang_option_sets_the_pages_default(monkeypatch):
    seen = []
    monkeypatch.setattr(serve.Server, "serve_forever", lambda self, poll_interval=0.5: seen.append(self.models["lang"]))
    monkeypatch.delenv("CNNCALC_LANG", raising=False)
    assert _cli("serve", "--port", "0", "--no-browser", "--lang", "zh").exit_code == 0
    assert _cli("serve", "--port", "0", "--no-browser").exit_code == 0
    assert seen == ["zh", "en"]


def test_a_worker_killed_while_idle_is_replaced_without_an_error(client, server):
    assert client.post("analyze", model="lenet5")[0] == 200
    victim = server.pool.pids()[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.2)
    for _ in range(3):  # whichever worker a request lands on, it is answered
        status, data = client.post("analyze", model="lenet5")
        assert status == 200, data
    assert victim not in server.pool.pids()


# --- the command -----------------------------------------------------------------------------------------------------


def test_serve_command_prints_the_address_and_opens_the_browser(monkeypatch):
    opened = []
    monkeypatch.setattr(serve.Server, "serve_forever", lambda self, poll_interval=0.5: None)
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    result = _cli("serve", "--port", "0")
    assert result.exit_code == 0, result.output
    url = result.output.split()[2]
    assert url.startswith("http://127.0.0.1:") and result.output.endswith("(Ctrl-C to stop)\n")
    deadline = time.monotonic() + 5
    while not opened and time.monotonic() < deadline:
        time.sleep(0.02)
    assert opened == [url]
    opened.clear()
    assert _cli("serve", "--port", "0", "--no-browser").exit_code == 0
    time.sleep(0.2)
    assert opened == []


def test_port_in_use_is_one_error_line(server):
    port = server.server_address[1]
    assert _cli_error("serve", "--port", str(port), "--no-browser") == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the worker processes")
def test_ctrl_c_stops_cleanly():
    """Ctrl-C signals the whole process group (server and workers): exit 0, no traceback, no process left."""
    process = subprocess.Popen([sys.executable, "-m", "cnncalc.cli", "serve", "--no-browser", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = process.stdout.readline().split()[2]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/analyze", body=json.dumps({"model": "lenet5"}))
        assert conn.getresponse().status == 200
        conn.close()
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p) == process.pid]
        assert len(children) == 2  # the analysis workers
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert err == "cnncalc serve: stopped\n"
    time.sleep(0.5)
    assert [p for p in children if Path(f"/proc/{p}").exists() and _state(p) != "Z"] == []


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
