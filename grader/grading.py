"""The two jobs: check one student's module, grade a class. No terminal here."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader import class_report, feedback, report, resume
from grader.course import Assignment
from grader.errors import UsageError
from grader.runner import run_checks
from grader.sandbox import policy
from grader.scoring import CheckResult, Score, fmt_points, score
from grader.student import Student, Submission
from grader.submissions import locate


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


def _check_files(assignment: Assignment, hidden: bool) -> tuple[list[Path], set[Path]]:
    files, hidden_files = [assignment.public_checks], set()
    if hidden and assignment.hidden_checks is not None:
        files.append(assignment.hidden_checks)
        hidden_files.add(assignment.hidden_checks)
    return files, hidden_files


def _graded(student: Student, results: list[CheckResult]) -> Graded:
    return Graded(student.submission.name, results, score(results), set(student.problems), _notes(student))


def _student(assignment: Assignment, submission: Submission, *, launcher, limits: policy.Limits,
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
    files, hidden_files = _check_files(assignment, hidden=False)
    student = _student(assignment, submission, launcher=launcher, limits=limits,
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
) -> ClassResult:
    """Grade every submission with public and hidden checks, writing each student's files as soon as they
    are graded; a submission whose stored result is still valid (:mod:`grader.resume`) is not graded again."""
    files, hidden_files = _check_files(assignment, hidden=True)
    filesystem = policy.filesystem(hidden=hidden_paths)
    digest = resume.checks_digest(assignment, limits)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "grade.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
    log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} grading {assignment.name}: {len(entries)} submissions\n")

    def done(name: str, status: str, problems=()) -> None:
        """One line per student in grade.log (never anything the submission printed), then the caller's hook."""
        codes = f" [{';'.join(problems)}]" if problems else ""
        log.write(f"{time.strftime('%H:%M:%S')} {name}: {status}{codes}\n")
        on_done(name, status)

    rows: dict[str, dict] = {}
    graded_count = 0
    reused: list[str] = []
    failures: list[tuple[str, str]] = []
    keys: dict[str, str] = {}

    def students():
        for name, entry in entries:  # names from submissions.discover: already safe and unique
            submission = locate(name, entry, module=assignment.module, staging=out / ".staging", assignment=assignment.name)
            keys[name] = resume.submission_key(digest, submission)
            row = resume.reusable_row(out / "results" / f"{name}.json", keys[name])
            if row is not None:
                rows[name] = {"student": name, **row}
                reused.append(name)
                done(name, f"{fmt_points(row['score'])} (unchanged)", row["problems"])
                continue
            yield _student(assignment, submission, launcher=launcher, limits=limits, filesystem=filesystem)

    def record(student: Student, results: list[CheckResult]) -> None:
        name = student.submission.name
        try:
            graded = _graded(student, results)
            parts = (name, assignment.name, graded.results, graded.score, graded.problems, graded.notes)
            report.write_atomic(out / "feedback" / f"{name}.md", feedback.markdown(*parts))
            report.write_atomic(out / "feedback" / f"{name}.html", feedback.page(*parts))
            # Written last: a results file with its key is what marks the student as done.
            report.write_atomic(
                out / "results" / f"{name}.json",
                report.results_json(graded.results, graded.score, graded.problems, graded.notes, key=keys[name]),
            )
        except OSError as exc:
            raise UsageError(f"cannot write the results to {out}: {exc.strerror or exc}; pick a writable output folder") from exc
        except Exception as exc:  # noqa: BLE001 - the grader's own bug on this submission: report it, go on
            failures.append((name, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))
            done(name, f"grader failure ({type(exc).__name__})")
            return
        nonlocal graded_count
        graded_count += 1
        rows[name] = {
            "student": name,
            **resume.row(graded.score, report.ordered_problems(graded.problems)),
        }
        done(name, fmt_points(graded.score.score), report.ordered_problems(graded.problems))

    try:
        check_ids = run_checks(files=files, hidden_files=hidden_files, students=students(), rootdir=course, on_done=record)
    finally:
        log.close()
    if write_gradebook:
        report.write_atomic(out / "grades.csv", report.grades_csv(check_ids, list(rows.values())))
        report.write_atomic(out / "report.html", class_report.build(assignment.name, assignment.title, _results_docs(out, rows)))
    return ClassResult(graded_count, reused, failures, {name: r["problems"] for name, r in rows.items()})


def _results_docs(out: Path, students) -> dict[str, dict]:
    """The results files of ``students`` (each was just written or checked by this run)."""
    docs = {}
    for name in students:
        try:
            docs[name] = json.loads((out / "results" / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # removed under our feet: the gradebook still has the row
    return docs
