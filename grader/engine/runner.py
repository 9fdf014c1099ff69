"""Run an assignment's checks (pytest, in the trusted process) against one student."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pytest
from _pytest.reports import CollectReport, TestReport
from _pytest.runner import runtestprotocol

from grader.checks.compare import CheckFailed, Judge
from grader.checks.strategies import grading_settings
from grader.engine.checks_import import import_failure
from grader.engine.faults import describe, grader_fault
from grader.errors import CourseError, GraderError, UsageError
from grader.scoring import INTERNAL_MESSAGE, CheckResult, function_of
from grader.engine.student import Student, StudentError, SubmissionAbort

_EXPECTED = (CheckFailed, StudentError, SubmissionAbort)
#: How many times a check runs when the grader itself fails on it (its strategy, reference, comparison, ...).
ATTEMPTS = 2
def _marker(item) -> dict:
    mark = item.get_closest_marker("check")
    if mark is None:
        raise CourseError(f"{item.nodeid} has no @check(...) marker: every check needs an id and points")
    kwargs = dict(mark.kwargs)
    check_id = kwargs.get("id")
    if not isinstance(check_id, str) or "." not in check_id:
        raise CourseError(f"{item.nodeid}: check id {check_id!r} is not '<function>.<aspect>'")
    return kwargs


class GradingPlugin:
    """pytest plugin: runs every collected check against each student in turn. Collection (importing the checks,
    building Hypothesis strategies) happens once per batch; each student then costs only the checks' own calls."""

    def __init__(self, students: Iterable[Student], *, hidden_files: set[Path], on_done: Callable[[Student, list[CheckResult]], None],
                 shrink=True, verdicts: Mapping[str, str] | None = None):
        self._verdicts = dict(verdicts or {})
        self._students = students
        self._shrink = shrink
        self._on_done = on_done
        self._student: Student | None = None
        self._hidden = {p.resolve() for p in hidden_files}
        self._judges: dict[str, Judge] = {}
        self.results: list[CheckResult] = []
        self.collection_errors: list[str] = []
        self._import_failures: dict[str, str] = {}
        """Node id -> ``FILE:LINE: what`` for a checks file that failed to import (:func:`import_failure`)."""
        self.stopped_by: BaseException | None = None
        self.check_ids: list[str] = []
        self._attempt = 1
        self._retry: str | None = None  # set by _record when the grader failed on the check's first attempt: it runs again

    @pytest.fixture
    def student(self) -> Student:
        return self._student

    @pytest.fixture
    def judge(self, request) -> Judge:
        judge = Judge(hint=_marker(request.node).get("hint", ""), on_fail=self._student.note_failure)
        self._judges[request.node.nodeid] = judge
        return judge

    def pytest_configure(self, config) -> None:
        config.addinivalue_line("markers", "check(id, points, bonus=False, hint=''): a graded check")

    def pytest_exception_interact(self, node, call, report) -> None:
        """A checks file (or folder) that failed to import: keep where, from the exception itself."""
        if isinstance(report, CollectReport) and call.excinfo is not None:
            root = Path(str(node.config.rootpath)).resolve()
            self._import_failures[report.nodeid] = import_failure(call.excinfo.value, Path(str(node.path)), root=root)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            located = self._import_failures.pop(report.nodeid, None)
            self.collection_errors.append(located or f"{report.nodeid}: {report.longreprtext[-2000:]}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items) -> None:
        """Validate the markers, and let ``-k`` match check ids (``-k 'step.in_place or area'``)."""
        seen: set[str] = set()
        try:
            for item in items:
                check_id = _marker(item)["id"]
                if check_id in seen:
                    raise CourseError(f"check id {check_id} is used twice")
                seen.add(check_id)
                item.extra_keyword_matches.add(check_id)
                _grading_profile(item, shrink=self._shrink)
        except CourseError as exc:
            self.stopped_by = exc

    def pytest_runtestloop(self, session) -> bool:
        if session.testsfailed or self.collection_errors or self.stopped_by:
            return True
        items = session.items
        self.check_ids = [_marker(item)["id"] for item in items]
        for student in self._students:
            self._student, self.results = student, []
            focus = self._verdicts.get(student.submission.name)
            order = items if focus is None else sorted(items, key=lambda it: function_of(_marker(it)["id"]) != focus)
            try:
                for i, item in enumerate(order):
                    for self._attempt in range(1, ATTEMPTS + 1):
                        state, self._retry = student.checkpoint(), None
                        runtestprotocol(item, nextitem=order[i + 1] if i + 1 < len(order) else None, log=False)
                        if self._retry is None:
                            break
                        student.rewind(state)  # the grader failed, not the student: run it again from a fresh process
                    if focus is not None and self.results and self.results[-1].outcome != "passed":
                        break
            except GraderError as exc:
                student.close()
                self.stopped_by = exc
                return True
            except Exception as exc:  # noqa: BLE001 - the grader's own bug on this student: it stops them, not the batch
                self._abandon(student, items, exc)
            try:
                student.close()
            except Exception as exc:  # noqa: BLE001
                self._abandon(student, items, exc)
            self._on_done(student, self.results)
        return True

    def _abandon(self, student: Student, items, exc: BaseException) -> None:
        """The checks of ``student`` not yet recorded fail as the grader's fault (problem ``internal``)."""
        student.problems.add("internal")
        done = {r.id for r in self.results}
        for item in items:
            mark = _marker(item)
            if mark["id"] in done:
                continue
            hidden = Path(str(item.path)).resolve() in self._hidden
            self.results.append(CheckResult(
                id=mark["id"], points=float(mark["points"]), bonus=bool(mark.get("bonus", False)),
                visibility="hidden" if hidden else "public", outcome="internal", message=INTERNAL_MESSAGE,
                detail=describe(exc),
            ))

    def pytest_runtest_setup(self, item) -> None:
        self._student.begin_check()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call) -> TestReport:
        """Record the outcome; report it without pytest's source-parsing failure repr (slow, never shown)."""
        message = None
        if call.when == "call" or (call.when == "setup" and call.excinfo is not None):
            message = self._record(item, call)
        outcome = "passed" if call.excinfo is None else "failed"
        return TestReport(
            item.nodeid, item.location, {}, outcome, message if outcome == "failed" else None, call.when,
            duration=call.duration, start=call.start, stop=call.stop,
        )

    def _record(self, item, call) -> str:
        mark = _marker(item)
        hidden = Path(str(item.path)).resolve() in self._hidden
        judge = self._judges.pop(item.nodeid, None)
        output, printed = self._student.end_check()
        detail = ""
        if call.excinfo is None:
            passed_partially = judge is not None and judge.tier == "partial"
            outcome = "partial" if passed_partially else "passed"
            message = judge.summary() if judge is not None else "passed"
        else:
            outcome = "failed"
            exc = call.excinfo.value
            if not isinstance(exc, (*_EXPECTED, pytest.skip.Exception)) and grader_fault(exc, call.excinfo.tb, item, self._course(item)):
                detail = describe(exc)
                if self._attempt < ATTEMPTS:
                    self._retry = detail
                    return detail
                outcome, message = "internal", INTERNAL_MESSAGE
                self._student.problems.add("internal")
            elif isinstance(exc, _EXPECTED):
                message = str(exc)
                detail = getattr(exc, "evidence", "")  # tampering: the instructor's, never in feedback
                if isinstance(exc, StudentError) and mark.get("hint") and exc.problem not in ("stub", "missing", "forbidden_api"):
                    message += f" Hint: {mark['hint']}"
            elif isinstance(exc, pytest.skip.Exception):
                message = "skipped"
            else:
                # A check that broke on an unexpected result: never show its source.
                message = f"the check could not evaluate your result ({type(exc).__name__})"
                if not hidden:
                    message += f": {str(exc)[:300]}"
        if printed:
            message += f" [your code printed {printed} bytes]"
        self.results.append(
            CheckResult(
                id=mark["id"],
                points=float(mark["points"]),
                bonus=bool(mark.get("bonus", False)),
                visibility="hidden" if hidden else "public",
                outcome=outcome,
                message=message,
                output=output,
                detail=detail,
            )
        )
        return message

    @staticmethod
    def _course(item) -> Path:
        return Path(str(item.config.rootpath)).resolve()


def _grading_profile(item, *, shrink: bool) -> None:
    """Run the check under the grading profile whatever its own ``@settings`` and the order modules were
    imported in: Hypothesis reads the settings off the test function when it runs."""
    fn = getattr(item, "obj", None)
    own = getattr(fn, "_hypothesis_internal_use_settings", None)
    if own is not None:
        fn._hypothesis_internal_use_settings = grading_settings(own, explicit=hasattr(fn, "_hypothesis_internal_settings_applied"), shrink=shrink)


def pytest_args(files: list[Path], *, rootdir: Path, select: str | None) -> list[str]:
    args = [str(f) for f in files]
    args += [
        f"--rootdir={rootdir}",
        # Collection starts at the course: no conftest.py above it is loaded, and no folder above it is
        # listed (a checks bundle unpacked in a crowded temporary folder would list it at every session).
        f"--confcutdir={rootdir}",
        "-c", str(Path(__file__).with_name("checks.ini")),
        # Hypothesis' pytest plugin formats every failing example with pytest's source-parsing traceback repr
        # (~30 ms each); the checks need none of it, nor any of the others.
        *(arg for plugin in ("cacheprovider", "randomly", "xdist", "unraisableexception", "threadexception",
                             "faulthandler", "hypothesispytest") for arg in ("-p", f"no:{plugin}")),
        "--assert=plain",
        "--import-mode=importlib",
        "-q",
    ]
    if select:
        args += ["-k", select]
    return args


@contextlib.contextmanager
def _no_side_effects():
    """No installed pytest plugin loads (only ours and pytest's own), and nothing is written to the
    working folder: Hypothesis' storage (its ``.hypothesis`` cache) goes to a temporary folder."""
    import tempfile

    from hypothesis import configuration

    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    with tempfile.TemporaryDirectory(prefix="grader-hypothesis-") as storage:
        configuration.set_hypothesis_home_dir(storage)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(None)
            if saved is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


def run_checks(
    *,
    files: list[Path],
    hidden_files: set[Path],
    students: Iterable[Student],
    on_done: Callable[[Student, list[CheckResult]], None],
    rootdir: Path,
    select: str | None = None,
    shrink: bool = True,
    verdicts: Mapping[str, str] | None = None,
) -> list[str]:
    """Run the checks in ``files`` against each student; ``on_done`` gets each one's results, in check order.
    ``shrink=False``: a failing check reports the first failing input, not the smallest (same points, less time).
    ``verdicts``: submission name -> function; such a submission runs that function's checks first and stops at
    the first check it loses points on (a verdict, not a grade: its results hold the checks that ran).

    Returns the ids of the checks that ran, in order.
    """
    plugin = GradingPlugin(students, hidden_files=hidden_files, on_done=on_done, shrink=shrink, verdicts=verdicts)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _no_side_effects():
        code = pytest.main(pytest_args(files, rootdir=rootdir, select=select), plugins=[plugin])
    if plugin.stopped_by is not None:
        raise plugin.stopped_by
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    if plugin.collection_errors:
        raise CourseError("the checks could not be loaded; fix the course, then run the command again:\n"
                          + "\n".join(plugin.collection_errors))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise UsageError(f"no check matches -k {select!r}" if select else "the assignment has no checks")
    if code == pytest.ExitCode.USAGE_ERROR:
        raise UsageError(f"pytest refused the arguments (check -k): {sink.getvalue().strip()[-500:]}")
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise CourseError(f"pytest stopped with exit status {int(code)}:\n{sink.getvalue()[-3000:]}")
    return plugin.check_ids
