"""Inside each Dask worker process: one trusted grading worker, the same as a local ``-j`` worker.

:class:`GradingWorker` is a Dask ``WorkerPlugin``, set up once per worker
process (and again in a worker the nanny restarts): it starts the warm student
process (:func:`grader.sandbox.launcher.make_launcher`: a fresh interpreter with
a minimal environment, so neither the worker's environment nor its TLS key
reach a student) BEFORE any check is loaded, exactly as ``grader grade`` does locally, so a submission costs a node
what it costs a laptop. Tasks (:func:`grade_batch`) bring the assignment's
checks as a versioned :class:`grader.engine.bundle.Bundle` and the submissions as bytes
(:class:`Item`); both are unpacked into a private folder that is hidden from
every student process, graded by :func:`grader.engine.grading.grade_submissions`, and
the per-student :class:`grader.engine.records.Record` go back to the client, which
alone writes the output folder.
"""

from __future__ import annotations

from grader import threads

threads.single()  # before torch is imported: see grader.threads

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from distributed import WorkerPlugin, get_worker

from grader.engine import bundle as bundle_mod
from grader.engine import grading
from grader.engine import records
from grader.errors import ClusterError
from grader.engine.resume import Found
from grader.submissions.submission import Submission
from grader.submissions.locate import MAX_MODULE_BYTES

#: The plugin's name on the cluster: registered once, kept by every worker (and its replacements) for its lifetime.
PLUGIN = "torch-autograder"
#: Unpacked versions of the checks a worker keeps (a new version of the checks is a new folder).
KEPT_BUNDLES = 4
#: The Dask worker's periodic callbacks of its statistical profiler.
PROFILER_CALLBACKS = ("profile", "profile-cycle")


@dataclass(frozen=True)
class Item:
    """One submission as it travels to a worker: its module's bytes, never a path (no shared filesystem)."""

    student: str
    key: str
    """The resume key, computed by the client from the same bytes (:func:`grader.engine.resume.submission_key`)."""
    module: bytes | None
    problems: tuple[str, ...] = ()
    reason: str | None = None

    @classmethod
    def of(cls, found: Found) -> "Item":
        sub = found.submission
        data = None if sub.module_path is None else sub.module_path.read_bytes()
        if data is not None and len(data) > MAX_MODULE_BYTES:  # located under the cap, grown since: do not ship it
            raise ClusterError(f"{sub.module_path} changed while the batch was graded (now {len(data) // 1024} KB): run again")
        return cls(sub.name, found.key, data, tuple(sorted(sub.problems)), sub.reason)

    @property
    def size(self) -> int:
        return len(self.module or b"")

    def submission(self, folder: Path, module: str) -> Submission:
        """The submission, its module written under ``folder`` (a private folder of this worker)."""
        path = None
        if self.module is not None:
            path = folder / self.student / f"{module}.py"
            path.parent.mkdir()
            path.write_bytes(self.module)
        return Submission(name=self.student, module_path=path, problems=set(self.problems), reason=self.reason)


class GradingWorker(WorkerPlugin):
    """The trusted grading worker of one Dask worker process (its launcher, private folder and unpacked checks)."""

    idempotent = True  # a second `grader grade` on the same cluster reuses the workers' warm processes
    name = PLUGIN
    ready = False
    """Set up in this worker process (a setup that failed leaves it False and the worker refuses tasks)."""

    def setup(self, worker) -> None:
        from grader.sandbox.launcher import make_launcher

        self._lock = threading.Lock()  # one grading at a time: the launcher and pytest are per process
        self._launcher = make_launcher(warm=True)  # first, before any check is loaded: see grader.sandbox.launcher
        # Inside Dask's own folder for this worker: a worker killed before its teardown leaves it to Dask's
        # clean-up of dead workers' folders, not the checks lying in /tmp.
        self._private = Path(tempfile.mkdtemp(prefix="grader-", dir=worker.local_directory))
        # Never readable by a student process: the checks and submissions, Dask's own folder, the working folder.
        self._hidden = [self._private, Path(worker.local_directory), Path.cwd()]
        self._courses: dict[str, tuple[Path, object]] = {}
        # Dask's statistical profiler samples the grading thread's (deep: pytest, Hypothesis) stack every 10 ms,
        # for a dashboard nobody reads here: about 5% of a submission's time. The grading worker turns it off.
        for name in PROFILER_CALLBACKS:
            callback = worker.periodic_callbacks.get(name)
            if callback is not None:
                callback.stop()
        self.ready = True

    def teardown(self, worker) -> None:
        if self.ready:
            self._launcher.close()
            shutil.rmtree(self._private, ignore_errors=True)

    def _course(self, bundle: bundle_mod.Bundle):
        if bundle.digest not in self._courses:
            if len(self._courses) >= KEPT_BUNDLES:
                oldest = next(iter(self._courses))
                shutil.rmtree(self._courses.pop(oldest)[0], ignore_errors=True)
            folder = Path(tempfile.mkdtemp(prefix="course-", dir=self._private))
            try:
                self._courses[bundle.digest] = bundle_mod.unpack(bundle, folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        return self._courses[bundle.digest]

    def grade(self, bundle: bundle_mod.Bundle, items: list[Item]) -> list[records.Record]:
        with self._lock:
            root, assignment = self._course(bundle)
            done: list[records.Record] = []
            with tempfile.TemporaryDirectory(prefix="batch-", dir=self._private) as tmp:
                grading.grade_submissions(
                    assignment=assignment,
                    submissions=((item.submission(Path(tmp), assignment.module), item.key) for item in items),
                    course=root, launcher=self._launcher, limits=bundle.grading_limits, hidden_paths=self._hidden,
                    on_record=done.append,
                )
            return done

    def probe(self) -> dict:
        """The sandbox layers a student process gets on this worker (:func:`grader.engine.doctor.probe`)."""
        from grader.engine.doctor import probe

        with self._lock:
            return probe(self._launcher, hidden=self._hidden)


def _plugin(worker) -> GradingWorker:
    plugin = worker.plugins.get(PLUGIN)
    if not isinstance(plugin, GradingWorker):
        raise ClusterError(f"the Dask worker {worker.address} has no {PLUGIN} plugin: grade with `grader grade --scheduler`")
    if not plugin.ready:
        raise ClusterError(f"the grader could not start on the Dask worker {worker.address} (its log says why; `grader doctor --scheduler`)")
    return plugin


def grade_batch(bundle: bundle_mod.Bundle, items: list[Item]) -> list[records.Record]:
    """A Dask task: grade ``items`` with the checks in ``bundle``; one record per item, in order."""
    return _plugin(get_worker()).grade(bundle, items)


def probe_layers(dask_worker) -> dict:
    """For ``client.run``: this worker's sandbox layers (``grader doctor --scheduler``)."""
    return _plugin(dask_worker).probe()
