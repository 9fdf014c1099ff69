"""The suite's `grader` runs, forked from a warm interpreter instead of started from nothing.

A run of ``python -m grader.cli`` spends about 2.5 s of CPU importing torch, Hypothesis and pytest before it
does anything; the suite runs the command some 180 times, on 2 cores. So each pytest worker keeps one server:
a ``python`` that imported those once (nothing that reads the environment when imported: not Dask, which reads
its configuration from the environment, and not the course) and forks a child per run. The child becomes the
command exactly as ``python -m grader.cli ARGS`` would: its own process, working folder, environment,
``sys.path`` (the working folder, then ``PYTHONPATH``, then the interpreter's own), stdin from /dev/null, stdout
and stderr to files, a ``sitecustomize`` on that path imported, ``runpy`` running ``grader.cli`` as
``__main__``, and the interpreter's own exit (atexit handlers, flushed streams, the exit status of ``sys.exit``
or of an uncaught exception).

What it does not give: a run's ``/proc/PID/environ`` and ``cmdline`` are the server's, the modules above are
already imported and torch's lazy initialisation is done. Tests about what the grader's own process holds or
shows start it with ``subprocess`` themselves; ``GRADER_TEST_EXEC=1`` makes every run a fresh interpreter again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

#: Imported once by the server: the expensive part of every run's start, and nothing that reads the environment
#: or the working folder when imported.
PRELOAD = ("torch", "numpy", "hypothesis", "hypothesis.strategies", "pytest", "typer", "rich.console", "pydantic",
           "grader.cli", "grader.engine.grading", "grader.engine.executors", "grader.reports.outputs")

_SERVER = r"""
import json, os, sys
requests = os.fdopen(os.dup(0), "rb", buffering=0)
replies = os.dup(1)
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)
base = [p for p in sys.path if p and p not in os.environ.get("PYTHONPATH", "").split(os.pathsep)]
for name in sys.argv[1].split(","):
    __import__(name)
from grader.sandbox import zygote
zygote.warm_up()  # torch's lazy imports (sympy, torch._dynamo), which the references and checks trigger in every run
import gc
gc.freeze()  # the runs share these objects' pages: neither their collections nor their exits walk them
os.write(replies, b"ready\n")
for line in requests:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        break
    os.write(replies, (json.dumps({"pid": pid}) + "\n").encode())
    _, status = os.waitpid(pid, 0)
    os.write(replies, (json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n").encode())
else:
    sys.exit(0)
# The child: from here on it is `python -m grader.cli ARGS`.
requests.close()
os.close(replies)
os.dup2(os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
os.dup2(os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
os.close(null)
os.chdir(job["cwd"])
os.environ.clear()
os.environ.update(job["env"])
sys.path[:] = [os.getcwd(), *[p for p in job["env"].get("PYTHONPATH", "").split(os.pathsep) if p], *base]
sys.path_importer_cache.clear()
import importlib, runpy
importlib.invalidate_caches()
if "sitecustomize" not in sys.modules:  # as the interpreter's start does, from the run's own sys.path
    try:
        import sitecustomize
    except ImportError:
        pass
sys.argv = ["-m", *job["args"]]
runpy.run_module("grader.cli", run_name="__main__", alter_sys=True)
"""


class WarmServer:
    """One warm interpreter that forks a `grader` run per request, one request at a time."""

    def __init__(self, root: Path):
        self.root = root
        self.proc: subprocess.Popen | None = None

    def _started(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, ",".join(PRELOAD)], cwd=self.root,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            if self.proc.stdout.readline() != b"ready\n":
                self.proc.kill()
                raise RuntimeError("the warm grader server did not start")
        return self.proc

    def run(self, args: list[str], cwd: Path, env: dict, timeout: float, scratch: Path) -> subprocess.CompletedProcess:
        """``python -m grader.cli ARGS`` in ``cwd`` with exactly ``env``, reported as :func:`subprocess.run`
        with ``capture_output=True, text=True`` reports it (:class:`subprocess.TimeoutExpired` after
        ``timeout`` seconds, the run killed); its output goes through files in ``scratch``."""
        proc = self._started()
        out, err = scratch / "stdout", scratch / "stderr"
        job = {"args": args, "cwd": str(cwd), "env": env, "stdout": str(out), "stderr": str(err)}
        proc.stdin.write((json.dumps(job) + "\n").encode())
        proc.stdin.flush()
        pid = json.loads(proc.stdout.readline())["pid"]
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended meanwhile
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            reply = proc.stdout.readline()
        finally:
            timer.cancel()
        if not reply:
            self.proc = None
            raise RuntimeError("the warm grader server died during a run")
        argv = [sys.executable, "-m", "grader.cli", *args]
        completed = subprocess.CompletedProcess(argv, json.loads(reply)["rc"], _text(out), _text(err))
        if expired.is_set() and completed.returncode == -signal.SIGKILL:
            raise subprocess.TimeoutExpired(argv, timeout, output=completed.stdout, stderr=completed.stderr)
        return completed

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _text(path: Path) -> str:
    """The file as ``subprocess.run(text=True)`` decodes a stream: the locale's encoding, universal newlines."""
    with open(path, encoding=None, newline=None) as f:
        return f.read()
