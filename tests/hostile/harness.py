"""Run hostile inputs through the command line, each in its own process under a time and memory limit.

A case is a ``Case`` (a row of a table in ``cases*.py``); ``run_cases(cases)`` runs them in parallel
(forked from ``zygote.py`` processes that imported cnncalc once) and returns a ``Result`` per case id;
``problems(case, result)`` lists how a result breaks the contract (empty: it keeps it):

- bad input (``expect="error"``): exit status 2, nothing on stdout, exactly one line on stderr that
  starts with ``Error: `` and matches ``case.match``;
- good input (``expect="ok"``): exit status ``case.code`` (0), stdout matching ``case.match``;
- always: no traceback, no hang (``case.timeout``), no "out of memory" (the address space is limited
  to ``case.memory``: a blow-up shows as MemoryError, which the CLI reports), peak resident memory
  under ``case.memory``.

Adding cases: write ``CASES = [Case(...), ...]`` in a module ``tests/hostile/cases_<topic>.py``
(``grouped(name, [...])`` sets their ``group``); ``test_hostile.py`` collects every such module. Files a case needs are given by name in ``files``:
text (str), bytes, or one of ``Fifo()``, ``Link(target)``, ``Sparse(size)`` (a file of ``size`` zero
bytes, without writing them), ``Dir()``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ZYGOTE = Path(__file__).with_name("zygote.py")
GiB = 1 << 30
OUTPUT_CAP = 1 << 20  # bytes of a child's stdout/stderr kept (a runaway output is a failure, not a test's memory)


@dataclass(frozen=True)
class Fifo:
    """A named pipe (nothing ever writes to it: reading it would block for ever)."""


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Sparse:
    size: int


@dataclass(frozen=True)
class Dir:
    """A directory."""


@dataclass(frozen=True)
class Case:
    """One command line and what it must give."""

    id: str
    args: tuple
    expect: str = "error"  # "error" or "ok"
    group: str = ""  # the class, for the benchmark's report
    match: str = ""  # regex searched in the error line (error) or in stdout (ok)
    files: dict = field(default_factory=dict)
    code: int = 0  # the exit status of an "ok" case (check: 1 when an answer is wrong)
    env: dict = field(default_factory=dict)
    timeout: float = 20.0
    memory: int = 2 * GiB
    fresh: bool = False  # a new interpreter (start-up behaviour) instead of a fork of the zygote
    close_stdout: bool = False
    stdin: str | None = None  # text given on stdin

    def __post_init__(self):
        object.__setattr__(self, "args", tuple(self.args))
        if self.expect not in ("error", "ok"):
            raise ValueError(f"{self.id}: expect is 'error' or 'ok', got {self.expect!r}")


@dataclass
class Result:
    code: int | None
    signal: int | None
    timed_out: bool
    seconds: float
    max_rss: int
    stdout: str
    stderr: str


def _materialise(case, directory):
    for name, content in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, Link):
            os.symlink(content.target, path)
        elif isinstance(content, Sparse):
            with open(path, "wb") as handle:
                handle.truncate(content.size)
        elif isinstance(content, Dir):
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    if case.stdin is not None:
        (directory / ".stdin").write_text(case.stdin, encoding="utf-8")


def _read(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(OUTPUT_CAP)
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def _environment(case):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCALC_")}
    env.update(PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
    env.update(case.env)
    return env


class _Zygote:
    def __init__(self):
        env = _environment(Case("zygote", ()))
        self.process = subprocess.Popen([sys.executable, str(ZYGOTE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env, cwd=ROOT)
        hello = json.loads(self.process.stdout.readline())
        self.baseline = hello["max_rss"]

    def run(self, case, directory):
        request = {"args": list(case.args), "cwd": str(directory), "env": _environment(case),
                   "timeout": case.timeout, "memory": case.memory, "fresh": case.fresh,
                   "stdin": str(directory / ".stdin") if case.stdin is not None else None,
                   "close_stdout": case.close_stdout}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        return Result(reply["code"], reply["signal"], reply["timed_out"], reply["seconds"], reply["max_rss"],
                      _read(directory / ".stdout"), _read(directory / ".stderr"))

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def grouped(group, cases) -> list:
    """``cases`` with their ``group`` set."""
    return [replace(case, group=group) for case in cases]


def run_cases(cases, workers=None) -> dict:
    """{case id: Result}, the cases run ``workers`` at a time (default: the number of CPUs, at most 4)."""
    cases = list(cases)
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate case ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    workers = workers or min(4, os.cpu_count() or 1)
    base = Path(tempfile.mkdtemp(prefix="cnncalc-hostile-"))
    todo, results, errors = queue.Queue(), {}, []
    for i, case in enumerate(cases):
        todo.put((i, case))

    def work():
        zygote = None
        try:
            zygote = _Zygote()
            while True:
                try:
                    i, case = todo.get_nowait()
                except queue.Empty:
                    return
                directory = base / f"{i:04d}"
                directory.mkdir()
                _materialise(case, directory)
                results[case.id] = zygote.run(case, directory)
        except Exception as exc:  # a broken runner must fail loudly, not pass the cases it skipped
            errors.append(exc)
        finally:
            if zygote is not None:
                zygote.close()

    threads = [threading.Thread(target=work) for _ in range(min(workers, len(cases)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shutil.rmtree(base, ignore_errors=True)
    if errors:
        raise errors[0]
    return results


def problems(case, result) -> list:
    """How ``result`` breaks the contract for ``case`` (see the module docstring); [] when it keeps it."""
    out = []
    if result.timed_out:
        return [f"hung: killed after {case.timeout} s"]
    if result.signal is not None:
        return [f"killed by signal {result.signal}"]
    if "Traceback (most recent call last)" in result.stderr:
        out.append("a traceback: " + result.stderr.strip().splitlines()[-1][:200])
    if "out of memory" in result.stderr or "MemoryError" in result.stderr:
        out.append(f"ran out of memory under the {case.memory >> 20} MiB limit")
    if result.max_rss > case.memory:
        out.append(f"peak memory {result.max_rss >> 20} MiB over {case.memory >> 20} MiB")
    lines = result.stderr.splitlines()
    if case.expect == "error":
        if result.code != 2:
            out.append(f"exit status {result.code}, not 2")
        if len(lines) != 1 or not lines[0].startswith("Error: "):
            out.append(f"stderr is not one 'Error: ' line: {result.stderr[:300]!r}")
        elif case.match and not re.search(case.match, lines[0]):
            out.append(f"the error does not match {case.match!r}: {lines[0][:300]!r}")
        if result.stdout:
            out.append(f"printed on stdout too: {result.stdout[:100]!r}")
    else:
        if result.code != case.code:
            out.append(f"exit status {result.code}, not {case.code}: {result.stderr[:300]!r}")
        if case.match and not re.search(case.match, result.stdout):
            out.append(f"stdout does not match {case.match!r}: {result.stdout[:300]!r}")
        strays = [line for line in lines if not line.startswith(("Warning: ", "Wrote "))]
        if strays:
            out.append(f"unexpected stderr: {strays[0][:300]!r}")
    return out
