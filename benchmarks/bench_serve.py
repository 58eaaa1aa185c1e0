"""Load test of ``cnncalc serve`` on loopback: 200 concurrent POST /api/analyze (AlexNet at 3x227x227, what the
page asks when it opens), with latency percentiles, throughput and a count of lost requests.

Peers measured in the same run:
- the same analysis in-process (``cnncalc.serve.answer``, one after another): the work itself. With W workers
  the best possible wall time of the burst is requests x in-process time / W; one request at a time shows
  what HTTP, JSON and the hop to a worker process add to each;
- the standard library's ThreadingHTTPServer serving the same answer as a static file
  (SimpleHTTPRequestHandler, the handler of ``python -m http.server``), hit the same way: HTTP with no work.
  It listens with cnncalc serve's backlog (256): ``python -m http.server`` itself keeps Python's default 5,
  and a burst of 200 connections then waits on SYN retries (seconds, up to minutes), which measures the
  backlog rather than the server.

Run: ``python benchmarks/bench_serve.py [--requests 200] [--concurrency 200]``. Prints ratios; not a timed test.
Exit status 1 when a request was lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

REQUEST = {"model": "alexnet", "input": "3x227x227", "lang": "en"}
DEADLINE = 60.0  # seconds for the whole burst; a request not answered by then counts as lost
STATIC_SERVER = """
import functools, http.server, sys

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256

server = Server(("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1]))
print(f"static: http://127.0.0.1:{server.server_address[1]}/", flush=True)
server.serve_forever()
"""


def burst(port, method, path, body, requests, concurrency):
    """Fire ``requests`` requests, at most ``concurrency`` at a time (the first ones released together).
    Returns (latencies in s of those answered 200 within the deadline, lost count, wall time in s)."""
    start_line = threading.Barrier(min(requests, concurrency) + 1)
    latencies = []

    def one(i):
        if i < concurrency:
            start_line.wait()
        began = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            ok = response.status == 200 and len(response.read()) > 0
            conn.close()
        except OSError:
            ok = False
        if ok:
            latencies.append(time.perf_counter() - began)

    pool = ThreadPoolExecutor(concurrency)
    futures = [pool.submit(one, i) for i in range(requests)]
    start_line.wait()
    began = time.perf_counter()
    wait(futures, timeout=DEADLINE)
    wall_time = time.perf_counter() - began
    answered = list(latencies)  # what came back within the deadline
    pool.shutdown(wait=False, cancel_futures=True)
    return answered, requests - len(answered), wall_time


def percentiles(values):
    ordered = sorted(values) or [float("nan")]

    def pick(q):
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": ordered[-1]}


def report(label, latencies, lost, wall_time, requests):
    p = percentiles(latencies)
    print(f"{label}: {len(latencies)}/{requests} answered, {lost} lost; latency p50 {p['p50'] * 1e3:.0f} ms, "
          f"p90 {p['p90'] * 1e3:.0f} ms, p99 {p['p99'] * 1e3:.0f} ms, max {p['max'] * 1e3:.0f} ms; "
          f"{len(latencies) / wall_time:.0f} requests/s over {wall_time:.2f} s")
    return p


def start(cmd):
    """A server process and the port its first line names (``http://127.0.0.1:PORT/``)."""
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        process.kill()
        raise SystemExit(f"did not start: {cmd}: {line!r}")
    return process, int(found.group(1))


def stop(process):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args(argv)
    requests, concurrency = args.requests, args.concurrency
    body = json.dumps(REQUEST).encode()

    from cnncalc import serve

    serve.answer("analyze", REQUEST)  # warm-up (imports, caches)
    times = []
    for _ in range(30):
        began = time.perf_counter()
        _, answer = serve.answer("analyze", REQUEST)
        times.append(time.perf_counter() - began)
    in_process = statistics.median(times)
    static_body = json.dumps(answer, ensure_ascii=False).encode()
    print(f"in-process analysis (the work of one request): {in_process * 1e3:.2f} ms; answer {len(static_body):,} bytes")

    server, port = start([sys.executable, "-m", "cnncalc.cli", "serve", "--no-browser", "--port", "0"])
    try:
        burst(port, "POST", "/api/analyze", body, 8, 8)  # warm: every worker has loaded cnncalc
        single = [burst(port, "POST", "/api/analyze", body, 1, 1)[0][0] for _ in range(30)]
        ours, lost, wall_time = burst(port, "POST", "/api/analyze", body, requests, concurrency)
    finally:
        stop(server)
    one_at_a_time = statistics.median(single)
    print(f"cnncalc serve, one request at a time: p50 {one_at_a_time * 1e3:.1f} ms "
          f"= {one_at_a_time / in_process:.1f}x the in-process analysis")
    p_ours = report(f"cnncalc serve ({serve.WORKERS} workers), {requests} requests, {concurrency} at a time",
                    ours, lost, wall_time, requests)
    ideal = requests * in_process / serve.WORKERS
    print(f"  lost: {lost} [target 0]; wall {wall_time:.2f} s against {ideal:.2f} s of analysis work over "
          f"{serve.WORKERS} workers: {wall_time / ideal:.1f}x")

    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "answer.json"), "wb") as out:
            out.write(static_body)
        static, static_port = start([sys.executable, "-c", STATIC_SERVER, root])
        try:
            burst(static_port, "GET", "/answer.json", None, 8, 8)
            theirs, static_lost, static_wall = burst(static_port, "GET", "/answer.json", None, requests, concurrency)
        finally:
            stop(static)
    p_static = report("stdlib ThreadingHTTPServer, the same answer as a static file", theirs, static_lost,
                      static_wall, requests)
    print(f"  cnncalc serve / static file: p50 {p_ours['p50'] / p_static['p50']:.2f}x, "
          f"p99 {p_ours['p99'] / p_static['p99']:.2f}x, "
          f"throughput {(len(ours) / wall_time) / (len(theirs) / static_wall):.2f}x")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
