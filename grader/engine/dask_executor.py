"""`grader grade --scheduler ADDRESS` / `--dask-local N`: grade a batch on a Dask cluster, from the client.

The client locates and keys every submission (:func:`grader.engine.resume.scan`)
one at a time, skips those whose result OUT already holds, and sends the
others as bytes, grouped into tasks (:func:`task_size`), to the workers'
:class:`grader.engine.dask_worker.GradingWorker`, never more tasks in flight than
twice the workers' threads (so the class is never all in memory). Each task
returns one :class:`grader.engine.records.Record` per student, which the client
alone writes into OUT (:class:`grader.engine.records.Writer`), keyed by the same
hashes as a local run, so a cluster run resumes and mixes with local runs.

Faults: a worker that dies mid-task has its task re-run elsewhere by Dask
(the client writes a task's records once, when it completes). A task that
killed a worker on every try Dask allows (``distributed.scheduler.allowed-failures``)
comes back as ``KilledWorker``: it is split and each of its submissions is
tried alone, with nothing else in flight (so a death can only be its doing);
one that kills its workers alone too is not run again and is graded as a
``crash`` in the final pass. Losing the scheduler stops the run
(:class:`grader.errors.ClusterError`); running the same command again resumes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import time
from collections import deque
from pathlib import Path
from typing import Callable

from grader.engine import bundle as bundle_mod
from grader.engine import records
from grader.engine import resume
from grader.errors import ClusterError, GraderError, UsageError
from grader.engine.executors import Batch, Outcome, Progress

#: How a user gets Dask's distributed scheduler.
INSTALL = "pip install 'torch-autograder[dask]' (or: pip install 'distributed>=2024.1')"
#: Tasks per worker thread the batch is cut into (the tail of a batch is at most one task per thread)...
TASKS_PER_THREAD = 4
#: ...with at most this many submissions (a task lost with its worker is graded again whole; each task
#: costs a pytest session on its worker, so fewer, larger tasks: 16 read 1.117x a local run, 64 1.047x)...
MAX_TASK_SUBMISSIONS = 64
#: ...and at most this many bytes of modules (Dask warns about task arguments of over 10 MB).
MAX_TASK_BYTES = 8 * 1024 * 1024
#: Tasks in flight per worker thread: enough that no worker waits for the client, few enough to bound memory.
IN_FLIGHT_PER_THREAD = 2
#: Seconds to reach the scheduler before giving up.
CONNECT_SECONDS = 30


def require_distributed(flag: str) -> None:
    """Fail with what to install when Dask's ``distributed`` is not importable."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"{flag} needs Dask's distributed scheduler, which is not installed here ({exc}): {INSTALL}") from None


def task_size(submissions: int, threads: int) -> int:
    """Submissions per task: :data:`TASKS_PER_THREAD` tasks per worker thread, at most :data:`MAX_TASK_SUBMISSIONS`."""
    return max(1, min(MAX_TASK_SUBMISSIONS, math.ceil(submissions / (TASKS_PER_THREAD * max(1, threads)))))


def crash_reason(tries: int | None) -> str:
    allowed = f" ({tries})" if tries else ""
    return f"grading this submission, alone, killed the worker process grading it on every try Dask allows{allowed}, so it was not run again"


class DaskExecutor:
    """Grades on the Dask scheduler at ``scheduler`` (an address or a scheduler file), or on a ``LocalCluster``
    of ``local_workers`` single-threaded worker processes started for the run."""

    def __init__(self, *, scheduler: str | None = None, local_workers: int | None = None):
        if (scheduler is None) == (local_workers is None):
            raise UsageError("pass either --scheduler ADDRESS or --dask-local N")
        self.scheduler = scheduler
        self.local_workers = local_workers
        require_distributed("--scheduler" if scheduler else "--dask-local")

    # ------------------------------------------------------------------ connection
    @contextlib.contextmanager
    def connect(self):
        """A connected ``distributed.Client``; closed at the end, with the local cluster if one was started."""
        client = self._client()
        try:
            yield client
        finally:
            cluster = client.cluster  # None for a running scheduler's
            client.close()
            if cluster is not None:
                cluster.close()

    def _client(self):
        from distributed import Client, LocalCluster

        # The grader says what went wrong (a lost scheduler, a worker that keeps dying); Dask's own tracebacks
        # about it would only bury that message.
        logging.getLogger("distributed").setLevel(logging.ERROR)
        logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        if self.local_workers is not None:
            # On 127.0.0.1 only; with TLS and throwaway certificates where `cryptography` is installed, so that
            # another user of this machine cannot send its scheduler work (it would run as you, beside the checks).
            try:
                cluster = LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.ERROR,
                    security=True if importlib.util.find_spec("cryptography") else None,
                )
            except Exception as exc:  # noqa: BLE001 - Dask's own failure to start: say what it was
                raise ClusterError(f"could not start a local Dask cluster of {self.local_workers} workers ({type(exc).__name__}: {exc})") from None
            return Client(cluster, set_as_default=False)
        where = Path(self.scheduler).expanduser()
        try:
            if where.is_file():
                return Client(scheduler_file=str(where), timeout=CONNECT_SECONDS, set_as_default=False)
            if "://" not in self.scheduler and ":" not in self.scheduler:
                raise UsageError(f"--scheduler {self.scheduler}: no such scheduler file, and not an address like tcp://HOST:8786")
            return Client(self.scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {self.scheduler} ({type(exc).__name__}: {exc}): start one "
                "(`dask scheduler`, or your cluster's) and pass its address (tcp://HOST:8786) or its scheduler file"
            ) from None

    @staticmethod
    def setup_workers(client) -> None:
        """Start a trusted grading worker in every Dask worker (and in every one that joins later)."""
        from grader.engine.dask_worker import PLUGIN, GradingWorker

        try:
            client.register_plugin(GradingWorker(), name=PLUGIN)
        except Exception as exc:  # noqa: BLE001 - whatever a worker raised: say what to fix
            raise ClusterError(
                f"starting the grader on the Dask workers failed ({type(exc).__name__}: {exc}): every worker needs "
                "torch-autograder installed (the client's version), and must be able to fork (`grader doctor --scheduler`)"
            ) from None

    @staticmethod
    def probe(client) -> dict[str, dict]:
        """Worker address -> its sandbox layers (layer -> None, or why it is missing)."""
        from grader.engine.dask_worker import probe_layers

        return client.run(probe_layers)

    # ------------------------------------------------------------------ the batch
    def run(self, batch: Batch, *, progress: Progress, on_layers: Callable[[dict], None]) -> Outcome:
        with self.connect() as client:
            self.setup_workers(client)
            if not client.nthreads():
                progress(0, "waiting for Dask workers")
                client.wait_for_workers(1)
            missing: dict[str, str] = {}
            for layers in self.probe(client).values():
                missing.update({name: why for name, why in layers.items() if why is not None})
            on_layers(missing)
            return _Run(client, batch, progress).grade()


class _Run:
    """One batch on one cluster: the submit / collect / write loop."""

    def __init__(self, client, batch: Batch, progress: Progress):
        self.client, self.batch, self.progress = client, batch, progress
        self.bundle = bundle_mod.pack(batch.assignment, batch.limits)
        self.done = 0
        self.outcome = Outcome(how="", graded=0)
        self._threads, self._threads_at = 0, 0.0

    def threads(self) -> int:
        """The cluster's worker threads now (asked at most once a second: workers come and go)."""
        if time.monotonic() - self._threads_at > 1.0:
            self._threads, self._threads_at = sum(self._workers().values()), time.monotonic()
        return self._threads

    def _workers(self) -> dict:
        """Worker address -> threads, from the scheduler: a question that fails means the scheduler is gone."""
        try:
            return self.client.nthreads()
        except Exception as exc:  # noqa: BLE001 - the scheduler or the connection to it is gone
            self._lost(exc, scheduler=True)

    def tasks(self):
        """The submissions still to grade, as lists of :class:`grader.engine.dask_worker.Item`; reused ones are counted."""
        from grader.engine.dask_worker import Item

        size = task_size(len(self.batch.entries), self.threads())
        chunk: list = []
        for found in resume.scan(self.batch.assignment, self.batch.entries, digest=self.bundle.digest, out=self.batch.out):
            if found.row is not None:
                self.outcome.reused += 1
                self.done += 1
                self.progress(self.done, f"{found.student}: unchanged")
                continue
            item = Item.of(found)
            if chunk and (len(chunk) >= size or sum(i.size for i in chunk) + item.size > MAX_TASK_BYTES):
                yield chunk
                chunk = []
            chunk.append(item)
        if chunk:
            yield chunk

    def grade(self) -> Outcome:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from grader.engine.dask_worker import grade_batch

        pending = self.tasks()
        # The members of a task that killed its workers: each is run alone, with nothing else in flight, so that
        # a worker's death can only be that submission's doing.
        suspects: deque = deque()
        in_flight: dict = {}  # future -> its items
        exclusive: set = set()  # the futures of suspects run alone
        futures = as_completed(loop=self.client.loop)

        def submit(items: list, alone: bool = False) -> None:
            future = self.client.submit(grade_batch, self.bundle, items, pure=False)
            in_flight[future] = items
            if alone:
                exclusive.add(future)
            futures.add(future)

        def refill() -> None:
            if suspects:
                if not in_flight:
                    submit([suspects.popleft()], alone=True)
                return
            while len(in_flight) < IN_FLIGHT_PER_THREAD * max(1, self.threads()):
                items = next(pending, None)
                if items is None:
                    return
                submit(items)

        with records.Writer(self.batch.out, f"grading {self.batch.assignment.name} on Dask: {len(self.batch.entries)} submissions") as writer:
            refill()
            workers = len(self._workers())
            self.outcome.how = f" on Dask ({workers} worker{'s' if workers != 1 else ''})"
            for future in futures:
                items = in_flight.pop(future)
                try:
                    done = future.result()
                except KilledWorker as exc:
                    if future not in exclusive:
                        suspects.extend(items)
                    else:
                        allowed = exc.args[2] if len(exc.args) > 2 and isinstance(exc.args[2], int) else None
                        self.outcome.crashed[items[0].student] = crash_reason(None if allowed is None else allowed + 1)
                        self.done += 1
                        self.progress(self.done, f"{items[0].student}: killed its workers, graded as a crash")
                except GraderError as exc:  # raised by a worker: its grader cannot grade (sandbox, version)
                    raise ClusterError(f"a Dask worker cannot grade: {exc}") from None
                except Exception as exc:  # noqa: BLE001 - the scheduler or the connection to it is gone
                    self._lost(exc)
                else:
                    for record in done:
                        writer.write(record)
                        self.outcome.graded += record.failure is None
                        self.done += 1
                        self.progress(self.done, f"{record.student}: {record.status}")
                exclusive.discard(future)
                refill()
        return self.outcome

    def _lost(self, exc: BaseException, *, scheduler: bool = False) -> None:
        """Stop the run: the scheduler is gone (``scheduler``: the failure was the scheduler's own answer), else
        one task failed while the client still runs."""
        status = getattr(self.client, "status", "")
        what = f"{type(exc).__name__}: {str(exc)[:300]}"
        if status in ("running",) and not scheduler:
            raise ClusterError(f"a grading task failed on the Dask cluster ({what})") from None
        raise ClusterError(
            f"lost the Dask scheduler after {self.done} of {len(self.batch.entries)} submissions ({what}): "
            "start it again (or another) and re-run the same command; the results already written are kept"
        ) from None
