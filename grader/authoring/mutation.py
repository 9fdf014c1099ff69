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

__all__ = ["KINDS", "Mutant", "Outcome", "Validation", "generate", "solution_file", "validate"]


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

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def killed(self) -> int:
        return sum(o.killed for o in self.outcomes)

    @property
    def score(self) -> float:
        """Killed over all, in percent, rounded DOWN to 0.1 (100.0 only when every mutant is killed)."""
        return 100.0 if not self.outcomes else math.floor(1000 * self.killed / self.total) / 10

    @property
    def failing(self) -> list[Outcome]:
        """Survivors of a kind that must be killed."""
        return [o for o in self.outcomes if not o.killed and o.mutant.kind in self.must_kill]

    def by_function(self) -> dict[str, list[Outcome]]:
        groups: dict[str, list[Outcome]] = {f: [] for f in self.functions}
        for o in self.outcomes:
            groups.setdefault(o.mutant.function, []).append(o)
        return {f: outcomes for f, outcomes in groups.items() if outcomes}

    def as_json(self) -> dict:
        return {
            "assignment": self.assignment,
            "mutation_score": self.score,
            "killed": self.killed,
            "mutants": self.total,
            "must_kill": self.must_kill,
            "failing": [o.mutant.id for o in self.failing],
            "functions": {
                f: {
                    "killed": sum(o.killed for o in outcomes),
                    "mutants": len(outcomes),
                    "surviving": [o.mutant.id for o in outcomes if not o.killed],
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


def validate(
    assignment,
    *,
    course: Path,
    launcher,
    limits,
    on_start: Callable[[int], None] = lambda count: None,
    on_done: Callable[[str], None] = lambda name: None,
) -> Validation:
    """Grade the reference solution and each of its mutants with the public and hidden checks, in one batch
    (one collection of the checks, one student process per submission, as ``grader grade`` does).

    ``on_start`` gets the number of submissions (mutants and the reference), ``on_done`` each one's name
    once it is graded. The launcher must have been made before any check was loaded."""
    from grader.engine import grading
    from grader.engine.runner import run_checks
    from grader.sandbox import policy
    from grader.scoring import score
    from grader.submissions.submission import Submission

    path = solution_file(assignment)
    mutants = generate(path.read_text(encoding="utf-8"), name=str(path))
    on_start(len(mutants) + 1)
    files, hidden_files = grading.check_files(assignment, hidden=True)
    earned: dict[str, tuple[dict[str, float], dict[str, float], list[str]]] = {}

    def record(student, results) -> None:
        name = student.submission.name
        earned[name] = (
            score(results).earned,
            {r.id: r.points for r in results},
            sorted(student.problems),
        )
        on_done(name)

    with tempfile.TemporaryDirectory(prefix="grader-validate-") as tmp:
        folder = Path(tmp)
        names = ["reference", *(f"mutant{i:04d}" for i in range(len(mutants)))]
        texts = [path.read_text(encoding="utf-8"), *(m.source for m in mutants)]
        submissions = []
        for name, text in zip(names, texts):
            (folder / name).mkdir()
            module = folder / name / f"{assignment.module}.py"
            module.write_text(text, encoding="utf-8")
            submissions.append(Submission(name=name, module_path=module))
        filesystem = policy.filesystem(hidden=[course / "solutions", folder, Path.cwd()])
        students = (
            grading.make_student(assignment, submission, launcher=launcher, limits=limits, filesystem=filesystem)
            for submission in submissions
        )
        run_checks(files=files, hidden_files=hidden_files, students=students, rootdir=course, on_done=record)

    reference, points, _ = earned["reference"]
    short = sorted(cid for cid, full in points.items() if reference.get(cid, 0.0) < full)
    if short:
        raise CourseError(
            f"the reference solution of {assignment.name} does not earn full points on {', '.join(short)}: "
            "fix the solution or the checks before validating"
        )
    outcomes = []
    for name, mutant in zip(names[1:], mutants):
        got, _, problems = earned[name]
        lost = [cid for cid in reference if got.get(cid, 0.0) < reference[cid]]
        outcomes.append(Outcome(mutant, lost, problems))
    return Validation(assignment.name, list(assignment.functions), list(assignment.must_kill), outcomes)
