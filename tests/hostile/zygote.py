"""The hostile-input runner's process factory: imports cnncalc once, then forks one child per case.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.

request: {"args": [...], "cwd": dir, "env": {...}, "timeout": s, "memory": bytes, "fresh": bool,
          "stdin": path or null, "close_stdout": bool}
reply:   {"code": int or null, "signal": int or null, "timed_out": bool, "seconds": s, "max_rss": bytes}

The child runs in ``cwd`` with exactly ``env``, its address space limited to ``memory`` bytes
(RLIMIT_AS), stdin from ``stdin`` (else /dev/null), stdout and stderr into ``cwd``/.stdout and .stderr.
A ``fresh`` child execs ``python -m cnncalc.cli`` (a new interpreter: start-up behaviour, a closed
stdout); the others call ``cnncalc.cli.main`` in the forked copy of this process, which saves the
imports (sympy alone takes a second). numpy is never imported here: its BLAS threads do not survive
a fork. A child still running at its deadline is killed (SIGKILL) and reported as timed out.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time

PRELOAD = ("sympy", "yaml", "cnncalc", "cnncalc.cli", "cnncalc.zoo", "cnncalc.render", "cnncalc.calculators",
           "cnncalc.explain", "cnncalc.solve", "cnncalc.check", "cnncalc.svg", "cnncalc.frontends.source",
           "cnncalc.frontends.spec")


def _child(request):
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    streams = [os.open(request.get("stdin") or os.devnull, os.O_RDONLY)]
    streams += [os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for name in (".stdout", ".stderr")]
    for fd, stream in enumerate(streams):
        os.dup2(stream, fd)
        os.close(stream)
    if request.get("close_stdout"):
        os.close(1)
    resource.setrlimit(resource.RLIMIT_AS, (request["memory"], request["memory"]))
    if request["fresh"]:
        os.execv(sys.executable, [sys.executable, "-m", "cnncalc.cli", *request["args"]])
    import cnncalc.cli

    code = 0
    try:
        cnncalc.cli.main(request["args"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # main let something through: show it, the harness fails the case
        import traceback

        traceback.print_exc()
        code = 99
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def _wait(pid, timeout):
    start = time.monotonic()
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return {"code": None, "signal": signal.SIGKILL, "timed_out": True, "seconds": time.monotonic() - start,
                    "max_rss": usage.ru_maxrss * 1024}
        time.sleep(0.002)
    return {"code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": False, "seconds": time.monotonic() - start, "max_rss": usage.ru_maxrss * 1024}


def main():
    for name in PRELOAD:
        importlib.import_module(name)
    if "numpy" in sys.modules:
        raise SystemExit("zygote: numpy was imported; forked children could hang in BLAS")
    print(json.dumps({"ready": True, "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _child(request)
            finally:
                os._exit(98)  # _child never returns; an error setting it up lands here
        print(json.dumps(_wait(pid, request["timeout"])), flush=True)


if __name__ == "__main__":
    main()
