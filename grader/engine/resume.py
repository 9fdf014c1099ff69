"""Resuming an interrupted batch: a result is reused when neither the submission nor the checks changed.

Every student's ``results/<student>.json`` carries a key: a hash of the
submission's module file, of the course half of the assignment (its checks,
references and every other file the checks may read: :func:`grader.course.course_files`),
of the grader's version and of the limits it was graded under. A re-run reads the
key back and grades only what is missing or changed, so an interrupted batch
(Ctrl-C, ``kill -9``) continues where it stopped and ends with the same
gradebook as an uninterrupted one. The file also carries the hash of the course
half alone (``checks``), so that a re-run can say when it regrades students
because the checks changed (:func:`checks_changed`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import grader
from grader.course import Assignment, course_files
from grader.sandbox.policy import Limits
from grader.scoring import Score
from grader.submissions.submission import Submission
from grader.submissions.locate import locate


def course_digest(assignment: Assignment) -> str:
    """The checks as the course has them: the name (relative to the course) and bytes of every file of
    :func:`grader.course.course_files`."""
    h = hashlib.sha256()
    root = assignment.root
    files = [(path.relative_to(root).as_posix(), path) for path in course_files(assignment)]
    for name, path in files:
        data = path.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def checks_digest(assignment: Assignment, limits: Limits, *, course: str | None = None) -> str:
    """What a grade depends on besides the submission: the course half of the assignment (``course``: its
    :func:`course_digest`, computed when not given), the grader's version, the limits."""
    h = hashlib.sha256(grader.__version__.encode())
    h.update(b"\0" + (course or course_digest(assignment)).encode() + b"\0")
    h.update(repr(limits).encode())
    return h.hexdigest()


def submission_key(digest: str, submission: Submission) -> str:
    h = hashlib.sha256(digest.encode())
    if submission.module_path is not None:
        h.update(submission.module_path.read_bytes())
    h.update(json.dumps([sorted(submission.problems), submission.reason]).encode())
    return h.hexdigest()


def row(score: Score, problems: list[str]) -> dict:
    """A student's gradebook row (without the name), as written and as read back."""
    return {"score": score.score, "max_score": score.max_score, "problems": list(problems), "earned": dict(score.earned)}


def reusable_row(results_file: Path, key: str) -> dict | None:
    """The gradebook row stored in ``results_file`` if it was graded under ``key``, else None."""
    try:
        doc = json.loads(results_file.read_text(encoding="utf-8"))
        extra = doc["extra_data"]
        if extra.get("key") != key or "internal" in extra.get("problems", []):
            return None  # changed since, or incomplete (the grader failed on it): grade again
        earned = {t["name"]: float(t["score"]) for t in doc["tests"]}
        return row(Score(earned=earned, score=float(doc["score"]), max_score=float(doc["max_score"])), extra.get("problems", []))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checks_changed(students: Iterable[str], *, course: str, out: Path) -> list[str]:
    """The ``students`` whose stored result in ``out`` was graded under other checks than ``course`` (a
    :func:`course_digest`): they are graded again. A result written before results stored it is not counted."""
    if not (out / "results").is_dir():
        return []
    changed = []
    for name in students:
        try:
            stored = json.loads((out / "results" / f"{name}.json").read_text(encoding="utf-8"))["extra_data"].get("checks")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if isinstance(stored, str) and stored != course:
            changed.append(name)
    return changed


@dataclass(frozen=True)
class Found:
    """One entry of the batch, located and keyed."""

    submission: Submission
    key: str
    row: dict | None
    """The stored gradebook row (without the name) when the stored result is still valid, else None."""

    @property
    def student(self) -> str:
        return self.submission.name


def scan(assignment: Assignment, entries: Iterable[tuple[str, Path]], *, digest: str, out: Path) -> Iterator[Found]:
    """Locate each ``(student, entry)`` (a module inside a zip or notebook is staged in ``out/.staging``), key it,
    and say whether ``out`` already holds its result. Lazy: one submission at a time."""
    for name, entry in entries:  # names from submissions.discover: already safe and unique
        try:
            submission = locate(name, entry, module=assignment.module, staging=out / ".staging", assignment=assignment.name)
            key = submission_key(digest, submission)
        except Exception as exc:  # noqa: BLE001 - whatever reading one submission raised stops that student, never the batch
            submission = unreadable(name, exc)
            key = submission_key(digest, submission)
        yield Found(submission, key, reusable_row(out / "results" / f"{name}.json", key))


def unreadable(student: str, exc: BaseException) -> Submission:
    """The submission of ``student`` when the grader failed to read it (problem ``internal``: graded again on a re-run)."""
    what = f"{type(exc).__name__}: {str(exc)[:300]}"
    return Submission(name=student, module_path=None, problems={"internal"},
                      reason=f"the grader failed reading this submission ({what}); this is not your mistake: it will be graded again")
