"""One graded student's outputs as text (a :class:`Record`), and the one place that writes them into OUT.

A record is made where the checks ran (this process, a ``-j`` worker, a Dask
worker on another machine) and written by whoever owns the output folder:
the feedback pages first, the results file with its resume key last, each
atomically, so a results file on disk always means a complete student.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from grader.reports import feedback
from grader.reports import outputs as report
from grader.engine import resume
from grader.errors import UsageError
from grader.scoring import fmt_points


@dataclass(frozen=True)
class Record:
    """Exactly what OUT gets for one student; ``failure`` instead when the grader itself failed on them."""

    student: str
    results_json: str = ""
    """Gradescope's results.json, carrying the resume key (:mod:`grader.engine.resume`)."""
    feedback_md: str = ""
    feedback_html: str = ""
    row: dict | None = None
    """The gradebook row without the name (:func:`grader.engine.resume.row`)."""
    failure: str | None = None
    """The grader's own error on this student (its type, message and traceback): no files, no row."""
    internal: tuple[str, ...] = ()
    """``"<check id>: <exception>"`` for each check the grader failed on (the row has the ``internal`` problem)."""
    tampering: tuple[str, ...] = ()
    """``"<check id>: <evidence>"`` for each check where the monitor found tampering: grade.log only."""

    @property
    def status(self) -> str:
        """What the progress bar and grade.log say about this student."""
        if self.failure is not None:
            return f"grader failure ({self.failure.split(':', 1)[0]})"
        return fmt_points(self.row["score"])


def make(assignment: str, graded, key: str, checks: str = "") -> Record:
    """The record of ``graded`` (:class:`grader.engine.grading.Graded`), or a failure record if building it broke;
    ``key`` and ``checks`` (:func:`grader.engine.resume.course_digest`) go into its results file."""
    try:
        problems = report.ordered_problems(graded.problems)
        parts = (graded.student, assignment, graded.results, graded.score, graded.problems, graded.notes)
        return Record(
            student=graded.student,
            results_json=report.results_json(graded.results, graded.score, graded.problems, graded.notes, key=key, checks=checks),
            feedback_md=feedback.markdown(*parts),
            feedback_html=feedback.page(*parts),
            row=resume.row(graded.score, problems),
            internal=tuple(f"{r.id}: {r.detail}" for r in graded.results if r.outcome == "internal"),
            tampering=tuple(f"{r.id}: {r.detail}" for r in graded.results if r.outcome != "internal" and r.detail),
        )
    except Exception as exc:  # noqa: BLE001 - the grader's own bug on this submission: report it, go on
        return Record(student=graded.student, failure=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")


class Writer:
    """Writes records into OUT and one line per student into ``OUT/grade.log`` (never anything a submission printed)."""

    def __init__(self, out: Path, heading: str):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self._log = open(out / "grade.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
        self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {heading}\n")

    def log(self, student: str, status: str, problems=()) -> None:
        codes = f" [{';'.join(problems)}]" if problems else ""
        self._log.write(f"{time.strftime('%H:%M:%S')} {student}: {status}{codes}\n")

    def write(self, record: Record) -> None:
        """The student's feedback, then their results file (which marks them as done), then the log line."""
        if record.failure is None:
            name = record.student
            try:
                report.write_atomic(self.out / "feedback" / f"{name}.md", record.feedback_md)
                report.write_atomic(self.out / "feedback" / f"{name}.html", record.feedback_html)
                report.write_atomic(self.out / "results" / f"{name}.json", record.results_json)
            except OSError as exc:
                raise UsageError(f"cannot write the results to {self.out}: {exc.strerror or exc}; pick a writable output folder") from exc
        self.log(record.student, record.status, record.row["problems"] if record.row else ())
        for line in record.internal:
            self._log.write(f"{time.strftime('%H:%M:%S')} {record.student}: the grader failed on {line}\n")
        for line in record.tampering:
            self._log.write(f"{time.strftime('%H:%M:%S')} {record.student}: tampering found on {line}\n")

    def close(self) -> None:
        self._log.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
