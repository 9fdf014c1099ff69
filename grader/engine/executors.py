"""Who grades a batch besides this process: the executor seam of `grader grade`.

An executor grades a :class:`Batch` into its output folder and returns an
:class:`Outcome`; ``grade`` then makes its final pass in this process
(:func:`grader.engine.grading.grade_class`), which reuses every result the executor
left (:mod:`grader.engine.resume`), grades whatever it did not, and writes the
gradebook and the class report. So discovery, hashing, scoring, the outputs
and the report are shared by every executor:

- :class:`LocalWorkers` (``-j N``): N ``grader grade --shard K/N`` processes on this machine, forked from this
  one where it is single-threaded (their imports are done: about 2.5 s of CPU each), else started afresh;
- :class:`grader.engine.dask_executor.DaskExecutor` (``--scheduler``, ``--dask-local``): tasks on a Dask cluster.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from grader.course import Assignment
from grader.sandbox.policy import Limits

#: ``progress(done, last)``: how many students of the batch have their result so far, and what happened last.
Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class Batch:
    """One `grader grade` run: what to grade, under which limits, into which folder."""

    assignment: Assignment
    entries: list[tuple[str, Path]]
    """``(student, entry)`` from :func:`grader.submissions.locate.discover`."""
    dirs: list[Path]
    out: Path
    limits: Limits
    course: Path
    course_option: Path | None = None
    """``--course`` as given (local workers get it too)."""


@dataclass
class Outcome:
    how: str
    """How the batch was graded, for the summary (`` with 2 workers``)."""
    graded: int | None = None
    """Students graded by the executor (None: not counted; the final pass tells)."""
    reused: int = 0
    crashed: dict[str, str] = field(default_factory=dict)
    """Students not to run again (they kept killing the processes grading them) -> why; see
    :func:`grader.engine.grading.condemned`."""
    notes: list[str] = field(default_factory=list)
    """Things the user should know (a worker that stopped, ...)."""


class Executor(Protocol):
    def run(self, batch: Batch, *, progress: Progress, on_layers: Callable[[dict], None]) -> Outcome:
        """Grade ``batch`` into ``batch.out``; ``on_layers`` gets the sandbox layers the executor's student
        processes lack (layer -> why), once known."""


class LocalWorkers:
    """``-j N``: N worker processes on this machine grade disjoint shards straight into the output folder."""

    def __init__(self, workers: int, entry: Callable[[list[str]], None]):
        self.workers = workers
        self.entry = entry
        """``entry(ARGS)`` runs ``grader ARGS`` in this process (a forked worker's life), exiting with its status."""
        self.procs: list = []

    def start(self, batch: Batch) -> None:
        """Start the workers: call before this process starts a thread (a progress display), so that they can be
        forked from it with their imports done; started afresh where it already has threads."""
        lim = batch.limits
        passthrough = [batch.assignment.name, *map(str, batch.dirs), "-o", str(batch.out),
                       "--timeout", str(lim.check_seconds), "--memory", str(lim.memory_mb)]
        passthrough += ["--course", str(batch.course)] if batch.course_option else []
        fork = _single_threaded()
        for k in range(self.workers):
            args = ["grade", *passthrough, "--shard", f"{k}/{self.workers}"]
            self.procs.append(_Forked(self.entry, args, stdout=k == 0) if fork else subprocess.Popen(
                [sys.executable, "-m", "grader.cli", *args],
                stdout=subprocess.PIPE if k == 0 else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            ))

    def run(self, batch: Batch, *, progress: Progress, on_layers: Callable[[dict], None]) -> Outcome:
        if not self.procs:
            self.start(batch)
        procs = self.procs
        # The first worker probes the layers of its student processes (all workers' are alike) and prints them.
        layers = _LayersLine(procs[0].stdout, on_layers)
        # Progress: the workers' result files.
        started, results, total = time.time(), batch.out / "results", len(batch.entries)
        while any(p.poll() is None for p in procs):
            layers.poll()
            done = sum(1 for p in results.glob("*.json") if p.stat().st_mtime >= started) if results.is_dir() else 0
            progress(min(done, total), "parallel workers")
            time.sleep(0.2)
        layers.poll()
        notes = []
        for k, p in enumerate(procs):
            tail = (p.stderr.read() or "").strip().splitlines()[-3:]
            if p.returncode not in (0, 1):
                notes.append(f"worker {k} stopped with status {p.returncode}; its submissions are graded below. {' '.join(tail)}")
        return Outcome(how=f" with {self.workers} workers", notes=notes)


def _single_threaded() -> bool:
    """Whether this process has one thread (Python's or any library's): only then is a fork of it safe."""
    try:
        return threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


class _Forked:
    """``grader ARGS`` in a child forked from this process: what :class:`LocalWorkers` reads of a ``Popen``
    (``stdout`` of worker 0, ``stderr``, ``poll()``, ``returncode``). Its stderr goes to a temporary file, so a
    worker that writes much never blocks on a pipe nobody reads yet."""

    def __init__(self, entry: Callable[[list[str]], None], args: list[str], *, stdout: bool):
        self.returncode: int | None = None
        read_end, write_end = os.pipe() if stdout else (None, os.open(os.devnull, os.O_WRONLY))
        self.stderr = tempfile.TemporaryFile(mode="w+", prefix="grader-worker-")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the worker: `grader ARGS` in this process's state, then its own exit
            code = 1
            try:
                os.dup2(write_end, 1)
                os.dup2(self.stderr.fileno(), 2)
                entry(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - said on its stderr, as an interpreter would
                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:  # noqa: BLE001
                        pass
                os._exit(code)
        os.close(write_end)
        self.stdout = os.fdopen(read_end, "rb", buffering=0) if read_end is not None else None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self.stderr.seek(0)  # what it wrote, read from the start as a Popen's pipe would be
        return self.returncode


class _LayersLine:
    """The ``{"layers": {layer: None or why not}}`` line a ``--shard 0/N`` worker prints once it has probed them,
    passed on (the missing ones) as soon as it is read; never if the worker stopped before printing it."""

    def __init__(self, stream, on_layers: Callable[[dict], None]):
        self.fd, self.on_layers, self.data = stream.fileno(), on_layers, b""

    def poll(self) -> None:
        while self.fd is not None and select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 1 << 16)
            self.data += chunk
            if chunk and b"\n" not in self.data:
                continue
            line, self.fd = self.data.partition(b"\n")[0], None
            try:
                layers = json.loads(line)["layers"]
            except (ValueError, KeyError, TypeError):
                return
            self.on_layers({name: why for name, why in layers.items() if why is not None})
