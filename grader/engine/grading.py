"""The two jobs: check one student's module, grade a class. No terminal here."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from grader.reports import class_report
from grader.engine import records
from grader.reports import outputs as report
from grader.engine import resume
from grader.course import Assignment
from grader.engine.runner import run_checks
from grader.sandbox import policy
from grader.scoring import CheckResult, Score, fmt_points, score
from grader.engine.student import Student
from grader.submissions.submission import Submission


@dataclass
class Graded:
    student: str
    results: list[CheckResult]
    score: Score
    problems: set[str]
    notes: list[str] = field(default_factory=list)


def _notes(student: Student) -> list[str]:
    notes = []
    if student.submission.reason:
        notes.append(student.submission.reason + ".")
    if student.import_failure:
        notes.append(student.import_failure + ".")
    if student.printed_bytes:
        shown = f" (the first {student.output.keep} bytes of each check are shown)" if student.output.keep else " (not shown here)"
        notes.append(f"Your code printed {student.printed_bytes} bytes while being graded{shown}.")
    return notes


def check_files(assignment: Assignment, hidden: bool) -> tuple[list[Path], set[Path]]:
    files, hidden_files = [assignment.public_checks], set()
    if hidden and assignment.hidden_checks is not None:
        files.append(assignment.hidden_checks)
        hidden_files.add(assignment.hidden_checks)
    return files, hidden_files


def _graded(student: Student, results: list[CheckResult]) -> Graded:
    return Graded(student.submission.name, results, score(results), set(student.problems), _notes(student))


def make_student(assignment: Assignment, submission: Submission, *, launcher, limits: policy.Limits,
             filesystem: dict, keep_output: int = 0) -> Student:
    return Student(
        launcher=launcher,
        submission=submission,
        module_name=assignment.module,
        functions=assignment.functions,
        limits=limits,
        filesystem=filesystem,
        keep_output=keep_output,
        forbidden=assignment.forbidden,
        objects=assignment.objects,
    )


def run_one(
    *,
    assignment: Assignment,
    submission: Submission,
    course: Path,
    launcher,
    limits: policy.Limits,
    hidden_paths: list[Path],
    select: str | None = None,
    keep_output: int = 0,
) -> Graded:
    """The public checks of ``assignment`` on one student's own module (`grader check`)."""
    files, hidden_files = check_files(assignment, hidden=False)
    student = make_student(assignment, submission, launcher=launcher, limits=limits,
                       filesystem=policy.filesystem(hidden=hidden_paths), keep_output=keep_output)
    done: list[Graded] = []
    run_checks(
        files=files, hidden_files=hidden_files, students=[student], rootdir=course, select=select,
        on_done=lambda st, results: done.append(_graded(st, results)),
    )
    return done[0]


@dataclass
class ClassResult:
    graded: int
    """How many submissions were graded in this run (their results are on disk, not kept in memory)."""
    reused: list[str]
    """Students whose stored result was still valid (nothing changed since it was written)."""
    failures: list[tuple[str, str]]
    """``(student, what went wrong in the grader)`` for submissions without a row."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Problem codes of every student with a row (graded now, by a worker, or reused)."""
    internal: dict[str, list[str]] = field(default_factory=dict)
    """Student -> ``"<check id>: <exception>"`` for the checks the grader failed on in this run."""


def grade_submissions(
    *,
    assignment: Assignment,
    submissions: Iterable[tuple[Submission, str]],
    course: Path,
    launcher,
    limits: policy.Limits,
    hidden_paths: list[Path],
    on_record: Callable[[records.Record], None],
    checks: str | None = None,
) -> list[str]:
    """Public and hidden checks on each ``(submission, resume key)``; ``on_record`` gets each student's
    :class:`grader.engine.records.Record` as soon as they are graded. Returns the check ids, in order.
    ``checks``: :func:`grader.engine.resume.course_digest` of the assignment (computed when not given).

    The one grading loop of ``grade``: this process, a ``-j`` worker and a Dask worker all run it."""
    files, hidden_files = check_files(assignment, hidden=True)
    checks = checks or resume.course_digest(assignment)
    filesystem = policy.filesystem(hidden=hidden_paths)
    keys: dict[str, str] = {}

    def students():
        for i, (submission, key) in enumerate(submissions):
            if i == 0:  # every student process of a batch starts from the same state: see ForkServer
                launcher.warm()
            keys[submission.name] = key
            yield make_student(assignment, submission, launcher=launcher, limits=limits, filesystem=filesystem)

    def done(student: Student, results: list[CheckResult]) -> None:
        name = student.submission.name
        try:
            graded = _graded(student, results)
        except Exception as exc:  # noqa: BLE001 - the grader's own bug on this submission: report it, go on
            on_record(records.Record(student=name, failure=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))
            return
        on_record(records.make(assignment.name, graded, keys[name], checks))

    return run_checks(files=files, hidden_files=hidden_files, students=students(), rootdir=course, on_done=done)


def load_checks(assignment: Assignment, course: Path) -> list[str]:
    """Import and collect the public and hidden checks of ``assignment`` once, with no student, and return their
    ids: a checks file that does not load is a :class:`grader.errors.CourseError` naming its file and line, said
    before anything is graded or written. The modules stay imported, so grading in this process then collects
    them again without importing them again."""
    files, hidden_files = check_files(assignment, hidden=True)
    return run_checks(files=files, hidden_files=hidden_files, students=(), rootdir=course, on_done=lambda student, results: None)


def condemned(submission: Submission, reason: str) -> Submission:
    """A submission that is not run again (it kept killing the processes grading it): every check fails with
    ``reason`` and the problem ``crash``. Graded under the original submission's key, so a re-run keeps it."""
    return Submission(name=submission.name, module_path=None, problems={"crash"}, reason=reason)


def grade_class(
    *,
    assignment: Assignment,
    entries: list[tuple[str, Path]],
    out: Path,
    course: Path,
    launcher,
    limits: policy.Limits,
    hidden_paths: list[Path],
    on_done: Callable[[str, str], None] = lambda student, status: None,
    write_gradebook: bool = True,
    crashed: dict[str, str] | None = None,
    checks: str | None = None,
) -> ClassResult:
    """Grade every submission with public and hidden checks, writing each student's files as soon as they
    are graded; a submission whose stored result is still valid (:mod:`grader.engine.resume`) is not graded again.
    ``crashed`` (student -> reason) are not run: see :func:`condemned`. ``checks``: as in :func:`grade_submissions`."""
    checks = checks or resume.course_digest(assignment)
    digest = resume.checks_digest(assignment, limits, course=checks)
    rows: dict[str, dict] = {}
    graded_count = 0
    reused: list[str] = []
    failures: list[tuple[str, str]] = []
    internal: dict[str, list[str]] = {}

    with records.Writer(out, f"grading {assignment.name}: {len(entries)} submissions") as writer:

        def pending():
            for found in resume.scan(assignment, entries, digest=digest, out=out):
                name = found.student
                if found.row is not None:
                    rows[name] = {"student": name, **found.row}
                    reused.append(name)
                    status = f"{fmt_points(found.row['score'])} (unchanged)"
                    writer.log(name, status, found.row["problems"])
                    on_done(name, status)
                    continue
                reason = (crashed or {}).get(name)
                yield (found.submission if reason is None else condemned(found.submission, reason)), found.key

        def write(record: records.Record) -> None:
            nonlocal graded_count
            writer.write(record)
            if record.failure is not None:
                failures.append((record.student, record.failure))
            else:
                graded_count += 1
                rows[record.student] = {"student": record.student, **record.row}
                if record.internal:
                    internal[record.student] = list(record.internal)
            on_done(record.student, record.status)

        check_ids = grade_submissions(
            assignment=assignment, submissions=pending(), course=course, launcher=launcher, limits=limits,
            hidden_paths=hidden_paths, on_record=write, checks=checks,
        )
    if write_gradebook:
        report.write_atomic(out / "grades.csv", report.grades_csv(check_ids, list(rows.values())))
        report.write_atomic(out / "report.html", class_report.build(assignment.name, assignment.title, _results_docs(out, rows)))
    return ClassResult(graded_count, reused, failures, {name: r["problems"] for name, r in rows.items()}, internal)


def _results_docs(out: Path, students) -> dict[str, dict]:
    """The results files of ``students`` (each was just written or checked by this run)."""
    docs = {}
    for name in students:
        try:
            docs[name] = json.loads((out / "results" / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # removed under our feet: the gradebook still has the row
    return docs
