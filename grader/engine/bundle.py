"""An assignment's checks as one versioned bundle of bytes, for trusted graders on machines without the course.

A bundle holds the course half of an assignment, :func:`grader.course.course_files`:
``assignments/<name>/`` (public checks, ``assignment.toml``, what they import)
and ``solutions/<name>/`` (the hidden checks) without the stub, the reference
solution and READMEs, and the course's ``course.toml``; with the limits to
grade under and a version: :func:`grader.engine.resume.checks_digest`,
what every grade depends on besides the submission. A grader that unpacks it
recomputes the digest with its own installed grader and references and refuses
to grade when they differ, so a result is keyed exactly as a local run keys it.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import grader
from grader import course as course_mod
from grader.reports import outputs as report
from grader.engine import resume
from grader.course import Assignment
from grader.errors import ClusterError, CourseError
from grader.sandbox.policy import Limits

#: A course folder larger than this is not a set of checks: refuse rather than ship it with every task.
MAX_BUNDLE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    assignment: str
    digest: str
    """The version: :func:`grader.engine.resume.checks_digest` of the checks, references, grader version and limits."""
    limits: dict
    """:class:`grader.sandbox.policy.Limits` as a dict."""
    data: bytes
    """A zip of :func:`grader.course.course_files` (never the reference solution), named relative to the course."""

    @property
    def grading_limits(self) -> Limits:
        return Limits(**self.limits)


def pack(assignment: Assignment, limits: Limits) -> Bundle:
    if assignment.hidden_checks is None:
        raise CourseError(f"the hidden checks of {assignment.name} are not installed here: grade from the instructor's checkout")
    root = assignment.root
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in course_mod.course_files(assignment):
            zf.writestr(zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=report.ZIP_TIME), path.read_bytes())
    data = buf.getvalue()
    if len(data) > MAX_BUNDLE_BYTES:
        raise CourseError(f"the checks of {assignment.name} take {len(data) // 1024} KB zipped (at most {MAX_BUNDLE_BYTES // 1024} KB): "
                          "keep data files out of assignments/ and solutions/")
    return Bundle(assignment.name, resume.checks_digest(assignment, limits), dataclasses.asdict(limits), data)


def unpack(bundle: Bundle, into: Path) -> tuple[Path, Assignment]:
    """Extract ``bundle`` into the empty folder ``into``; the course root and the assignment, checked against the version."""
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as zf:
        zf.extractall(into)
    assignment = course_mod.load(bundle.assignment, root=into)
    if resume.checks_digest(assignment, bundle.grading_limits) != bundle.digest:
        raise ClusterError(
            f"this worker's grader (torch-autograder {grader.__version__} at {Path(grader.__file__).parent}) grades "
            f"{bundle.assignment} differently from the client's (other version or other references): install the "
            "client's version of torch-autograder on every worker"
        )
    return into, assignment
