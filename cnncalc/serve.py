"""``cnncalc serve``: the calculator as an interactive page on this machine.

One picks a zoo model, or pastes a PyTorch/Keras source (read as text, never executed) or a YAML/JSON
spec, types the input shape (symbols allowed) and sees the layer table, totals, receptive field, the
architecture drawing and the receptive-field plot; a row's formulas come with the numbers substituted
(English or Chinese). The page's whole state is its URL (``?model=alexnet&input=3x227x227&lang=zh``;
pasted text goes in the fragment, which the page decodes and POSTs), so a link reproduces the view.

Why the standard library's ``http.server.ThreadingHTTPServer``: it adds no dependency, and a local
single-user tool needs nothing more than it gives: a thread per connection, plain GET and POST, JSON
bodies. It is not meant to face the internet (the Python docs say so), and it does not: the server
binds 127.0.0.1 unless told otherwise and answers only requests addressed to a loopback name then
(a web page elsewhere cannot reach it through DNS rebinding). A framework (Flask, FastAPI, aiohttp)
would bring routing and async I/O that four endpoints do not need, at the cost of a dependency.

Budgets: a request body is at most 1 MB (413 beyond); an analysis runs at most 10 s, in a worker
process (a thread cannot be stopped) that is killed and replaced when it runs over. Bad input is one
line, the text the CLI prints after ``Error:``, with status 400; the server prints no traceback for it.

Endpoints (JSON in, JSON out; every error is ``{"error": "<one line>"}``):

    GET  /                  the page (cnncalc/web/, package data: no CDN, works offline)
    GET  /static/NAME       its script and style sheet
    GET  /api/models        {"models": [{"name", "description", "input"}], "lang": default language}
    POST /api/analyze       {"model" | "source" (+ "class") | "spec", "input", "lang", "depth"}
                            -> {"model", "input", "rows", "totals", "warnings", "assumptions",
                                "svg" | "svg_error", "rf_plot" | "rf_plot_error", "report": Report.to_dict()}
    POST /api/explain       the same fields + "index" (a row of the report) -> that layer's formula lines
    POST /api/export        the same fields + "format": json | csv | markdown | spec -> {"filename", "text"}
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

# Everything used from the rest of cnncalc, in one place (modules may move: fix the imports here).
from . import zoo
from .dims import format_shape, parse_shape
from .errors import ShapeError
from .frontends import to_spec
from .frontends.loaded import Loaded
from .frontends.source import load_source
from .frontends.spec import parse_json, parse_yaml, read_spec
from .graph import container_types
from .render import FORMATS as RENDERERS
from .render import collapse, count, megabytes, rf_text, units
from .render.explain import explain
from .render.svg import rf_plot
from .render.svg import svg as architecture

HOST = "127.0.0.1"
PORT = 8765
TIME_LIMIT = 10.0         # seconds one analysis may run before its worker is killed
MAX_BODY = 1_000_000      # bytes of one request body
WORKERS = 2               # analysis processes
WAIT = 30.0               # seconds a request may wait for a free worker before "busy"
LANGS = ("en", "zh")
EXPORTS = {"json": "json", "csv": "csv", "markdown": "md", "spec": "spec.json"}  # format -> file suffix
_SOURCES = ("model", "source", "spec")
_FIELDS = {"analyze": {"model", "source", "spec", "class", "input", "lang", "depth"}}
_FIELDS["explain"] = _FIELDS["analyze"] | {"index"}
_FIELDS["export"] = _FIELDS["analyze"] | {"format"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
WEB = resources.files(__package__) / "web"
_HOME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # workers import this very cnncalc
_ASSETS = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


class RequestError(ShapeError):
    """A request the API cannot take (not JSON, a missing or unknown field): status 400."""


# --- the work: one request in, one JSON-able answer out (runs in a worker process) --------------------------


def _one_line(text):
    return " ".join(str(text).split()) or "error"


def _error(message):
    return json.dumps({"error": _one_line(message)}).encode("utf-8")


def _target(request):
    """The model to analyse: a zoo entry or a pasted source/spec, as an object with ``.name``,
    ``.input_shape`` (default or None), ``.build(shape)`` and ``.analyze(shape, **kw)`` (like the CLI's)."""
    if "model" in request:
        return zoo.describe(request["model"])
    if "source" in request:
        text = request["source"]  # text, never a path: one line ending in .py would be read as a file name
        return load_source(text if "\n" in text else text + "\n", request.get("class"))
    text = request["spec"]
    data = parse_json(text, "<spec>") if text.lstrip().startswith("{") else parse_yaml(text, "<spec>")
    name, shape, network = read_spec(data, "<spec>")
    return Loaded(name or "spec", "<spec>", "spec", lambda _shape: network, shape)


def _analysed(request):
    """(target, input shape, report); errors read as the CLI's after ``Error:``."""
    target = _target(request)
    text = request.get("input", "").strip()
    if text:
        try:
            shape = parse_shape(text)
        except ShapeError as exc:
            raise ShapeError(f"--input: {exc}") from None
    elif target.input_shape is None:
        raise ShapeError(f"{getattr(target, 'path', target.name)}: no default input size is known: give --input CxHxW")
    else:
        shape = target.input_shape
    return target, shape, target.analyze(shape, warn=False)


def _axes(values):
    """One entry per spatial axis, as the table prints a receptive field: (195, 195) -> '195',
    (7, 5) -> '7x5', (9,) -> '9', (3, 7, 7) -> '3x7x7'."""
    texts = [format_shape((v,)) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def _rf_text(rf):
    """'size/stride' of a row (any number of spatial axes), '--' where none is defined; render's
    ``rf_text`` for maps, which takes two axes only."""
    if rf is None:
        return "--"
    if len(rf.size) == 2:
        return rf_text(rf)
    stride = _axes(rf.stride)
    return f"{_axes(rf.size)}/{f'({stride})' if '/' in stride else stride}"


def _rows(report, depth):
    types = container_types(report.model)
    index = {id(row): i for i, row in enumerate(report.layers)}
    out = []
    for row in collapse(report.layers, depth):
        i = index.get(id(row))  # None: a folded block (the sum of its rows)
        parts = row.name.split(".") if row.name else []
        merge = i is not None and not row.layer.is_leaf
        out.append({
            "index": i, "name": row.name or row.type, "type": row.type if i is not None else types.get(row.name, "Block"),
            "level": max(len(parts) - (0 if merge else 1), 0), "folded": i is None,
            "input_shape": format_shape(row.input_shape), "output_shape": format_shape(row.output_shape),
            "params": count(row.params) if row.params else "--", "macs": count(row.macs) if row.macs else "--",
            "rf": _rf_text(row.receptive_field),
        })
    return out


def _totals(report):
    """[key, value] pairs under the table (the page words the keys in its language)."""
    mem, rf = report.memory("float32"), report.receptive_field
    macs = units(report.macs) + (f" ({count(report.macs)})" if type(report.macs) is int else "")
    out = [
        ["params", count(report.params)], ["trainable_params", count(report.trainable_params)],
        ["non_trainable_params", count(report.non_trainable_params)], ["buffers", count(report.buffers)],
        ["macs", macs], ["flops", units(report.flops)], ["output_shape", format_shape(report.output_shape)],
    ]
    if rf is not None:
        out += [["rf_size", _axes(rf.size)], ["rf_stride", _axes(rf.stride)], ["rf_start", _axes(rf.start)]]
    return out + [
        ["input_mb", megabytes(mem.input_bytes)], ["forward_backward_mb", megabytes(mem.forward_backward_bytes)],
        ["params_mb", megabytes(mem.params_bytes)], ["total_mb", megabytes(mem.total_bytes)],
    ]


def _picture(draw, report):
    """(SVG text, None), or (None, the one-line reason) when the drawing refuses (a symbolic shape)."""
    try:
        return draw(report), None
    except ShapeError as exc:
        return None, _one_line(exc)
    except Exception as exc:  # a bug in the drawing: the table still shows, the traceback goes to the log
        traceback.print_exc()
        return None, _one_line(f"internal error: {type(exc).__name__}: {exc}")


def analyze_request(request):
    """POST /api/analyze: the table, totals, pictures and the report's JSON."""
    _, shape, report = _analysed(request)
    drawing, drawing_error = _picture(architecture, report)
    plot, plot_error = _picture(rf_plot, report)
    return {
        "model": report.name, "input": format_shape(shape), "rows": _rows(report, request.get("depth")),
        "totals": _totals(report), "warnings": list(report.warnings), "assumptions": list(report.assumptions),
        "svg": drawing, "svg_error": drawing_error, "rf_plot": plot, "rf_plot_error": plot_error,
        "report": report.to_dict(),
    }


def explain_request(request):
    """POST /api/explain: one row's formulas with the numbers substituted, in the request's language."""
    target, shape, report = _analysed(request)
    index = request["index"]
    if index >= len(report.layers):
        raise ShapeError(f"index: no row {index}: {report.name} has {len(report.layers)} rows")
    layer = explain(target.build(shape), shape, lang=request.get("lang", "en"), fmt="text", name=report.name).layers[index]
    lines = [{"label": line.label, "equation": " = ".join(([line.lhs] if line.lhs else []) + list(line.steps)),
              "kind": "note" if line.note else "plain" if line.plain else "equation"} for line in layer.lines]
    return {"index": index, "name": layer.name or layer.type, "type": layer.type,
            "input_shape": format_shape(layer.input_shape), "output_shape": format_shape(layer.output_shape),
            "lines": lines}


def export_request(request):
    """POST /api/export: the report as the CLI's ``--format json|csv|markdown|spec`` prints it."""
    target, shape, report = _analysed(request)
    fmt = request["format"]
    if fmt == "spec":
        text = json.dumps(to_spec(target.build(shape), name=target.name, input_shape=shape), indent=2) + "\n"
    else:
        text = RENDERERS[fmt](report) + ("\n" if fmt == "json" else "")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", report.name or "model").strip("._") or "model"
    return {"format": fmt, "filename": f"{stem}.{EXPORTS[fmt]}", "text": text}


JOBS = {"analyze": analyze_request, "explain": explain_request, "export": export_request}


def answer(kind, request):
    """(HTTP status, JSON-able body) for a validated request, computed in this process."""
    try:
        return 200, JOBS[kind](request)
    except ShapeError as exc:
        return 400, {"error": _one_line(exc)}
    except RecursionError:
        return 400, {"error": "the model is nested too deeply to read"}
    except Exception as exc:  # a bug in cnncalc, not the user's error: its traceback goes to the server's log
        traceback.print_exc()
        return 500, {"error": _one_line(f"internal error: {type(exc).__name__}: {exc}")}


def parse_request(kind, body, lang=None):
    """The request body as a checked dict (RequestError names what is wrong); ``lang`` is the default
    language (None: ``CNNCALC_LANG``, else English)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS[kind])
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r}: expected {', '.join(sorted(_FIELDS[kind]))}")
    given = [key for key in _SOURCES if data.get(key) is not None]
    if len(given) != 1:
        raise RequestError("give exactly one of model, source or spec")
    clean = {given[0]: data[given[0]]}
    for key in (given[0], "class", "input"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise RequestError(f"{key}: expected a string, got {json.dumps(data[key])[:40]}")
    if data.get("class") and given[0] != "source":
        raise RequestError("class applies to a pasted source only")
    if data.get("class"):
        clean["class"] = data["class"]
    clean["input"] = data.get("input") or ""
    clean["lang"] = data.get("lang") or lang or _default_lang()
    if clean["lang"] not in LANGS:
        raise RequestError(f"lang: expected one of {', '.join(LANGS)}, got {json.dumps(data['lang'])[:40]}")
    for key, low in (("depth", 1), ("index", 0)):
        value = data.get(key)
        if value is None:
            if key == "index" and kind == "explain":
                raise RequestError("index: the row to explain is required")
            continue
        if type(value) is not int or value < low:
            raise RequestError(f"{key}: expected an integer >= {low}, got {json.dumps(value)[:40]}")
        clean[key] = value
    if kind == "export":
        if data.get("format") not in EXPORTS:
            raise RequestError(f"format: expected one of {', '.join(EXPORTS)}, got {json.dumps(data.get('format'))[:40]}")
        clean["format"] = data["format"]
    return clean


# --- worker processes: an analysis that runs over its time is stopped by killing its process ---------------


def _worker_main():
    """A worker's loop (``python -c``): one JSON line [kind, request] in on stdin, one line "STATUS BODY" out
    (the body's JSON, sent on by the server as it is), until stdin closes. Anything else printed goes to
    stderr, not into the answers."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    import sympy  # noqa: F401  (loaded before the first job, so a symbolic input is not slowed by it)

    answers.write("ready\n")
    answers.flush()
    for line in sys.stdin.buffer:
        status, body = answer(*json.loads(line))
        answers.write(f"{status} {json.dumps(body, ensure_ascii=False)}\n")
        answers.flush()


class _Worker:
    """One analysis process, started in its own session: a terminal's Ctrl-C reaches the server only,
    which then stops its workers (a worker interrupted while starting would print a traceback)."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_HOME, os.environ.get("PYTHONPATH")])))
        apart = {"start_new_session": True} if os.name == "posix" else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from cnncalc.serve import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, **apart)
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.process.stdout:
                if line == b"ready\n":
                    self.answers.put("ready")
                    continue
                status, _, body = line.partition(b" ")
                self.answers.put((int(status), body.rstrip(b"\n")))
        except (ValueError, OSError):  # a line it did not finish: killed while answering
            pass
        self.answers.put(None)  # the process ended

    @property
    def pid(self):
        return self.process.pid

    def send(self, kind, request):
        self.process.stdin.write(json.dumps([kind, request], ensure_ascii=False).encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def receive(self, timeout):
        """The next (status, JSON bytes); None if the process ended; queue.Empty after ``timeout`` seconds."""
        return self.answers.get(timeout=timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class WorkerPool:
    """``size`` worker processes; ``run`` gives a job to a free one and waits at most ``time_limit`` seconds.

    A worker that runs over is killed and replaced in the background; so is one that dies. They are new
    interpreters (not forks of this threaded process, not multiprocessing children, which would re-run
    an unguarded ``__main__`` script that calls ``make_server``).
    """

    def __init__(self, size=WORKERS, time_limit=TIME_LIMIT, wait=WAIT):
        self.time_limit, self.wait = time_limit, wait
        self._idle = queue.Queue()
        self._all = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(size):
            self._add()

    def _add(self):
        """Start a worker; a thread puts it among the idle ones once it has loaded cnncalc."""
        worker = _Worker()
        with self._lock:
            if self._closed:
                worker.stop()
                return
            self._all.add(worker)

        def enlist():
            try:
                ready = worker.receive(120) == "ready"
            except queue.Empty:
                ready = False
            if ready and not self._closed:
                self._idle.put(worker)
                return
            if not self._closed:
                print("cnncalc serve: an analysis worker failed to start", file=sys.stderr, flush=True)
            self._retire(worker, replace=False)

        threading.Thread(target=enlist, daemon=True).start()

    def _retire(self, worker, replace=True):
        with self._lock:
            self._all.discard(worker)
        worker.stop()
        if replace and not self._closed:
            self._add()

    def pids(self):
        with self._lock:
            return sorted(w.pid for w in self._all)

    def run(self, kind, request):
        """(HTTP status, JSON body bytes) of one job, done by a worker process."""
        for _ in range(3):
            try:
                worker = self._idle.get(timeout=self.wait)
            except queue.Empty:
                return 503, _error(f"server busy: no analysis worker became free within {self.wait:g} s")
            try:
                worker.send(kind, request)
            except OSError:  # it died while idle (killed from outside): another worker takes the job
                self._retire(worker)
                continue
            try:
                result = worker.receive(self.time_limit)
            except queue.Empty:
                result = 503, _error(f"analysis took longer than {self.time_limit:g} s")
            else:
                if result is not None:
                    self._idle.put(worker)
                    return result
                result = 500, _error("the analysis worker stopped unexpectedly")
            self._retire(worker)
            return result
        return 500, _error("the analysis workers keep stopping")

    def close(self):
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop()


# --- HTTP -----------------------------------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    """The HTTP server plus its worker pool and budgets."""

    daemon_threads = True
    request_queue_size = 256  # a burst of connections waits in the backlog rather than being refused

    def __init__(self, address, *, time_limit=TIME_LIMIT, workers=WORKERS, max_body=MAX_BODY, wait=WAIT, lang=None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.max_body = max_body
        host = address[0]
        # answer only requests addressed to a loopback name while bound to loopback (DNS rebinding)
        self.hosts = None if host not in _LOOPBACK else _LOOPBACK
        self.pool = WorkerPool(workers, time_limit, wait)
        zoo_entries = [{"name": name, "description": zoo.describe(name).description,
                        "input": format_shape(zoo.describe(name).default_input)} for name in zoo.models()]
        self.lang = lang or _default_lang()  # the page's language when its URL names none
        self.models = {"models": zoo_entries, "lang": self.lang}

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def handle_error(self, request, client_address):
        """A client that went away (reset, timed out) is no error of the server's: nothing is printed."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # a bug in cnncalc: its traceback goes to the log

    def server_close(self):
        super().server_close()
        if hasattr(self, "pool"):  # socketserver calls this when binding fails, before the pool exists
            self.pool.close()


def _default_lang():
    lang = os.environ.get("CNNCALC_LANG", "en")
    return lang if lang in LANGS else "en"


class Handler(BaseHTTPRequestHandler):
    server_version = "cnncalc"
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a connection may sit idle or send slowly

    def log_message(self, format, *args):
        """Quiet: a local tool's request log is noise (errors reach the page)."""

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, unsupported method) as JSON too."""
        self.close_connection = True
        self._json(code, {"error": _one_line(message or HTTPStatus(code).phrase)})

    def _json(self, status, payload):
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type == "text/html":
            self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                             "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _addressed_here(self):
        host = self.headers.get("Host", "")
        name = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if self.server.hosts is None or not host or name.lower() in self.server.hosts:  # no Host: not a browser
            return True
        self.close_connection = True
        self._json(403, {"error": f"this server answers requests to 127.0.0.1 or localhost only, not {host!r}"})
        return False

    def do_GET(self):
        path = urlsplit(self.path).path
        if not self._addressed_here():
            return
        asset = "index.html" if path == "/" else path.removeprefix("/static/") if path.startswith("/static/") else None
        if asset in _ASSETS:
            self._send(200, (WEB / asset).read_bytes(), _ASSETS[asset])
        elif path == "/api/models":
            self._json(200, self.server.models)
        elif path.removeprefix("/api/") in JOBS:
            self._json(405, {"error": f"{path} takes POST with a JSON body"})
        else:
            self._json(404, {"error": f"no such page: {path}"})

    do_HEAD = do_GET

    def do_POST(self):
        path = urlsplit(self.path).path
        kind = path.removeprefix("/api/") if path.startswith("/api/") else None
        if not self._addressed_here():
            return
        if kind not in JOBS:
            status = 405 if path == "/api/models" or path == "/" else 404
            self._json(status, {"error": f"{path} takes GET" if status == 405 else f"no such endpoint: {path}"})
            return
        body = self._body()
        if body is None:
            return
        try:
            request = parse_request(kind, body, self.server.lang)
        except RequestError as exc:
            self._json(400, {"error": _one_line(exc)})
            return
        status, body = self.server.pool.run(kind, request)
        self._send(status, body, "application/json")

    def _body(self):
        """The request body, or None after answering 411/413/400 (the limit holds before anything is read)."""
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None:
            self.close_connection = True
            self._json(411, {"error": "send the body with a Content-Length"})
            return None
        if not length.isdigit():
            self.close_connection = True
            self._json(400, {"error": f"bad Content-Length {length!r}"})
            return None
        size = int(length)
        if size > self.server.max_body:
            self.close_connection = True
            self._json(413, {"error": f"the request body is {size:,} bytes; the limit is {self.server.max_body:,}"})
            self._discard(size)
            return None
        body = self.rfile.read(size)
        if len(body) < size:
            self.close_connection = True
            self._json(400, {"error": "the request body ended before its Content-Length"})
            return None
        return body


    def _discard(self, size):
        """Read and drop what the client still sends (up to 64 MB, 2 s): closing on unread data would
        reset the connection before the client reads the 413."""
        if size > 64 * MAX_BODY:
            return
        self.connection.settimeout(2)
        try:
            while size > 0:
                chunk = self.rfile.read1(min(size, 1 << 16))
                if not chunk:
                    return
                size -= len(chunk)
        except OSError:
            return


def make_server(host=HOST, port=PORT, **options):
    """A listening Server (not yet serving) with its worker pool started; ``options``: time_limit,
    workers, max_body, wait (the budgets) and lang (the default language). Port 0 picks a free port
    (``server.url`` says which)."""
    return Server((host, port), **options)


def serve(host=HOST, port=PORT, open_browser=True, **options):
    """Serve the page until Ctrl-C; print its address; open it in the browser unless told not to. Returns 0."""
    try:
        server = make_server(host, port, **options)
    except KeyboardInterrupt:  # Ctrl-C while the workers start
        return 0
    print(f"cnncalc serve: {server.url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("cnncalc serve: stopped", file=sys.stderr, flush=True)
    finally:
        server.server_close()
    return 0


__all__ = ["serve", "make_server", "Server", "WorkerPool", "answer", "parse_request", "JOBS", "HOST", "PORT",
           "TIME_LIMIT", "MAX_BODY"]
