"""Mutation analysis of an assignment's checks (``grader validate``): every mutant of the reference solution
(:mod:`grader.authoring.mutants`) graded with the public AND hidden checks exactly as ``grader grade`` grades a
student. A mutant is *killed* when it earns less than the unmutated solution on at least one check; one that
*survives* every check is a bug the checks cannot see (or a change the contract allows). The mutation score is
killed mutants over all mutants.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.authoring.mutants import KINDS, Mutant, generate
from grader.errors import CourseError, UsageError

__all__ = ["KINDS", "Mutant", "Outcome", "Run", "Validation", "generate", "grade_sources", "judge", "solution_file", "validate"]


@dataclass
class Outcome:
    mutant: Mutant
    lost: list[str]
    """Check ids on which the mutant earned less than the reference solution."""
    problems: list[str] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return bool(self.lost)


@dataclass
class Validation:
    assignment: str
    functions: list[str]
    """The assignment's functions, in contract order (mutants outside them come last)."""
    must_kill: list[str]
    outcomes: list[Outcome]
    equivalent: dict[str, str] = field(default_factory=dict)
    """Mutant id -> why it is equivalent to the solution (``validate.equivalent``): left out of the score."""

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def killed(self) -> int:
        return sum(o.killed for o in self.outcomes)

    @property
    def score(self) -> float:
        """Killed over all but the equivalent ones, in percent, rounded DOWN to 0.1 (100.0 only when every
        mutant is killed or equivalent)."""
        counted = [o for o in self.outcomes if o.killed or o.mutant.id not in self.equivalent]
        return 100.0 if not counted else math.floor(1000 * sum(o.killed for o in counted) / len(counted)) / 10

    @property
    def equivalents(self) -> list[Outcome]:
        """Survivors declared equivalent (``validate.equivalent``)."""
        return [o for o in self.outcomes if not o.killed and o.mutant.id in self.equivalent]

    @property
    def surviving(self) -> list[Outcome]:
        """Survivors not declared equivalent."""
        return [o for o in self.outcomes if not o.killed and o.mutant.id not in self.equivalent]

    @property
    def failing(self) -> list[Outcome]:
        """Survivors of a kind that must be killed (equivalent ones are not)."""
        return [o for o in self.surviving if o.mutant.kind in self.must_kill]

    def by_function(self) -> dict[str, list[Outcome]]:
        groups: dict[str, list[Outcome]] = {f: [] for f in self.functions}
        for o in self.outcomes:
            groups.setdefault(o.mutant.function, []).append(o)
        return {f: outcomes for f, outcomes in groups.items() if outcomes}

    def as_json(self) -> dict:
        surviving = {o.mutant.id for o in self.surviving}
        return {
            "assignment": self.assignment,
            "mutation_score": self.score,
            "killed": self.killed,
            "mutants": self.total,
            "must_kill": self.must_kill,
            "failing": [o.mutant.id for o in self.failing],
            "equivalent": {o.mutant.id: self.equivalent[o.mutant.id] for o in self.equivalents},
            "functions": {
                f: {
                    "killed": sum(o.killed for o in outcomes),
                    "mutants": len(outcomes),
                    "surviving": [o.mutant.id for o in outcomes if o.mutant.id in surviving],
                }
                for f, outcomes in self.by_function().items()
            },
            "results": [
                {
                    "id": o.mutant.id, "kind": o.mutant.kind, "function": o.mutant.function, "line": o.mutant.line,
                    "description": o.mutant.description, "killed": o.killed, "lost": o.lost, "problems": o.problems,
                }
                for o in self.outcomes
            ],
        }


def solution_file(assignment) -> Path:
    """The reference solution to mutate; a usage error where the solutions are not installed, a course
    error where ``validate.must_kill`` names a kind that does not exist."""
    unknown = sorted(set(assignment.must_kill) - set(KINDS))
    if unknown:
        raise CourseError(
            f"{assignment.directory / 'assignment.toml'}: validate.must_kill names unknown mutant kinds "
            f"{', '.join(unknown)}; known: {', '.join(KINDS)}"
        )
    path = assignment.solution
    if assignment.hidden_checks is None or path is None:
        raise UsageError(
            f"the reference solution and hidden checks of {assignment.name} are not installed here "
            f"(solutions/{assignment.name}/): validate from the instructor's checkout"
        )
    return path


@dataclass
class Run:
    """One submission graded by :func:`grade_sources`."""

    earned: dict[str, float]
    """Check id -> points earned, in check order."""
    points: dict[str, float]
    """Check id -> points the check is worth."""
    problems: list[str]
    seconds: list[float]
    """CPU seconds its calls used, per check it ran, in check order."""


def grade_sources(assignment, sources: dict[str, str], *, course: Path, launcher, limits,
                  on_done: Callable[[str], None] = lambda name: None, verdicts: dict[str, str] | None = None) -> dict[str, Run]:
    """Grade each source text (name -> the module's text) with the public and hidden checks, in one batch (one
    collection of the checks, one student process per submission, as ``grader grade`` does). ``verdicts``: name
    -> the function a mutant is in; such a source runs that function's checks first and stops at the first check
    it loses points on (killed or not is all mutation analysis asks: a killed mutant pays for its own function's
    checks, not for every check)."""
    from grader.engine import grading
    from grader.engine.runner import run_checks
    from grader.sandbox import policy
    from grader.scoring import score
    from grader.submissions.submission import Submission

    files, hidden_files = grading.check_files(assignment, hidden=True)
    runs: dict[str, Run] = {}

    def record(student, results) -> None:
        name = student.submission.name
        runs[name] = Run(score(results).earned, {r.id: r.points for r in results}, sorted(student.problems),
                         list(student.check_seconds))
        on_done(name)

    with tempfile.TemporaryDirectory(prefix="grader-validate-") as tmp:
        folder = Path(tmp)
        submissions = []
        for name, text in sources.items():
            (folder / name).mkdir()
            module = folder / name / f"{assignment.module}.py"
            module.write_text(text, encoding="utf-8")
            submissions.append(Submission(name=name, module_path=module))
        filesystem = policy.filesystem(hidden=[course / "solutions", folder, Path.cwd()])
        students = (
            grading.make_student(assignment, submission, launcher=launcher, limits=limits, filesystem=filesystem)
            for submission in submissions
        )
        # Verdicts only: nobody reads a mutant's smallest failing input, so no check shrinks one.
        run_checks(files=files, hidden_files=hidden_files, students=students, rootdir=course, on_done=record, shrink=False,
                   verdicts=verdicts)
    return runs


def judge(assignment, reference: Run, mutants: list[Mutant], runs: list[Run]) -> Validation:
    """Each mutant against the reference: killed where it earned less on some check."""
    outcomes = []
    for mutant, run in zip(mutants, runs):
        # A mutant's run stops at its first lost check (grade_sources' verdicts): a check it never ran is not lost.
        lost = [cid for cid in reference.earned if run.earned.get(cid, reference.earned[cid]) < reference.earned[cid]]
        outcomes.append(Outcome(mutant, lost, run.problems))
    return Validation(assignment.name, list(assignment.functions), list(assignment.must_kill), outcomes,
                      dict(assignment.equivalent))


def validate(
    assignment,
    *,
    course: Path,
    launcher,
    limits,
    on_start: Callable[[int], None] = lambda count: None,
    on_done: Callable[[str], None] = lambda name: None,
) -> Validation:
    """Grade the reference solution and each of its mutants with the public and hidden checks, in one batch.

    ``on_start`` gets the number of submissions (mutants and the reference), ``on_done`` each one's name
    once it is graded. The launcher must have been made before any check was loaded."""
    path = solution_file(assignment)
    source = path.read_text(encoding="utf-8")
    mutants = generate(source, name=str(path))
    on_start(len(mutants) + 1)
    names = [f"mutant{i:04d}" for i in range(len(mutants))]
    runs = grade_sources(assignment, {"reference": source, **dict(zip(names, (m.source for m in mutants)))},
                         course=course, launcher=launcher, limits=limits, on_done=on_done,
                         verdicts={name: m.function for name, m in zip(names, mutants)})
    reference = runs["reference"]
    short = sorted(cid for cid, full in reference.points.items() if reference.earned.get(cid, 0.0) < full)
    if short:
        raise CourseError(
            f"the reference solution of {assignment.name} does not earn full points on {', '.join(short)}: "
            "fix the solution or the checks before validating"
        )
    return judge(assignment, reference, mutants, [runs[name] for name in names])
