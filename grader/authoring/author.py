"""``grader author``: what an author runs before release, and a course's CI runs on every change.

For one assignment it grades, in one batch and with the public AND hidden checks (as ``grader grade`` does),
the reference solution, the stub and every mutant of the solution (:mod:`grader.authoring.mutants`), then part of
that batch once more, and reports:

- the solution earns full marks on every check (each check's CPU time on it is shown);
- the stub earns 0 and is the stub generated from the solution (``python -m grader.authoring.stubs``);
- the handout (``grader release``) holds no solution marker, no solution line and no hidden-check line;
- a second run of the solution, the stub and up to :data:`RERUN_MUTANTS` mutants (spread over them) gave each
  the same points on every check as the first (determinism);
- the mutation score, every surviving mutant shown as a diff with the checks that ran it named; a mutant of
  a kind ``validate.must_kill`` lists that survives is a failure; one ``validate.equivalent`` declares (with
  the reason; a test of the course shows it) is shown as equivalent, not as a survivor.

Every failure is one line (:attr:`Report.failures`); the command exits non-zero when there is any.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from grader.authoring import mutation, stubs
from grader.authoring.mutants import Mutant, generate
from grader.interop import handout
from grader.scoring import fmt_points, function_of

#: How many mutants the second run (determinism) grades besides the solution and the stub, spread evenly over them.
RERUN_MUTANTS = 8
#: A check whose calls use more than this share of the check's CPU time limit on the solution is flagged: a
#: slower machine (or a student's fine but slower code) would be near its limit.
SLOW_SHARE = 0.5


@dataclass
class Report:
    assignment: str
    title: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    solution: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Check id -> (earned, points) for the reference solution."""
    stub: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """Check id -> CPU seconds the solution's calls used in it."""
    stub_synced: bool = True
    """The stub in assignments/ is the one generated from the solution."""
    leaks: list[str] = field(default_factory=list)
    deterministic: bool = True
    rerun: int = 0
    """How many submissions the second run graded (the solution, the stub, some mutants)."""
    validation: mutation.Validation | None = None
    diffs: dict[str, str] = field(default_factory=dict)
    """Surviving mutant id -> its diff against the solution."""
    checks_of: dict[str, list[str]] = field(default_factory=dict)
    """Function -> the ids of the checks about it."""

    def as_json(self) -> dict:
        doc = {
            "assignment": self.assignment,
            "ok": not self.failures,
            "failures": self.failures,
            "notes": self.notes,
            "solution": {cid: {"earned": e, "points": p} for cid, (e, p) in self.solution.items()},
            "stub": self.stub,
            "stub_synced": self.stub_synced,
            "seconds": self.seconds,
            "leaks": self.leaks,
            "deterministic": self.deterministic,
            "rerun": self.rerun,
        }
        if self.validation is not None:
            doc["mutation"] = {**self.validation.as_json(), "diffs": self.diffs}
        return doc


def author(assignment, *, course, launcher, limits, on_start=lambda count: None, on_done=lambda name: None) -> Report:
    """Everything above, for ``assignment`` (a :class:`grader.course.Assignment` with its solutions installed).
    The launcher must have been made before any check was loaded."""
    path = mutation.solution_file(assignment)
    report = Report(assignment.name, assignment.title)
    source = path.read_text(encoding="utf-8")
    regions = stubs.solution_regions(source, name=str(path))
    if not regions:
        report.failures.append(f"{_rel(path, course)} has no ### BEGIN SOLUTION / ### END SOLUTION region: the stub would be the solution")
    generated = stubs.make_stub(source, name=str(path))
    stub_text = assignment.stub.read_text(encoding="utf-8") if assignment.stub.exists() else None
    report.stub_synced = stub_text == generated
    if not report.stub_synced:
        report.failures.append(_out_of_sync(assignment, stub_text, generated, course))
    report.leaks = handout.leaks(handout.handout_files(assignment), assignment)
    report.failures += [f"the handout would reveal {leak}" for leak in report.leaks]

    mutants = generate(source, name=str(path))
    by_name = {f"mutant{i:04d}": m for i, m in enumerate(mutants)}
    sources = {"reference": source, "stub": generated, **{name: m.source for name, m in by_name.items()}}
    names = list(by_name)
    step = max(1, -(-len(names) // RERUN_MUTANTS))
    again = ["reference", "stub", *names[::step][:RERUN_MUTANTS]]
    on_start(len(sources) + len(again))
    verdicts = {name: m.function for name, m in by_name.items()}  # the mutants: killed or not (the same twice)
    first = mutation.grade_sources(assignment, sources, course=course, launcher=launcher, limits=limits, on_done=on_done,
                                   verdicts=verdicts)
    second = mutation.grade_sources(assignment, {name: sources[name] for name in again}, course=course,
                                    launcher=launcher, limits=limits, on_done=on_done, verdicts=verdicts)
    report.rerun = len(again)
    reference = first["reference"]
    report.checks_of = _checks_of(reference.points)
    report.solution = {cid: (reference.earned.get(cid, 0.0), full) for cid, full in reference.points.items()}
    report.seconds = dict(zip(reference.points, reference.seconds))
    short = [cid for cid, (got, full) in report.solution.items() if got < full]
    for cid in short:
        got, full = report.solution[cid]
        report.failures.append(f"the solution earns {fmt_points(got)} of {fmt_points(full)} on {cid}"
                               + (f" ({', '.join(reference.problems)})" if reference.problems else ""))
    report.stub = first["stub"].earned
    earning = [cid for cid, got in report.stub.items() if got > 0]
    if earning:
        report.failures.append(f"the stub earns points on {', '.join(earning)}: these checks pass code that does nothing")
    unstable = [name for name in again if (first[name].earned, first[name].problems) != (second[name].earned, second[name].problems)]
    report.deterministic = not unstable
    for name in unstable:
        what = "the solution" if name == "reference" else "the stub" if name == "stub" else f"mutant {by_name[name].id}"
        diff = sorted(cid for cid in first[name].earned if first[name].earned[cid] != second[name].earned.get(cid))
        report.failures.append(f"not deterministic: {what} got different points in two runs on {', '.join(diff) or 'its problems'}")
    budget = limits.check_seconds
    for cid, spent in report.seconds.items():
        if spent > SLOW_SHARE * budget:
            report.notes.append(f"{cid} uses {spent:.2f} s of CPU time on the solution, over {SLOW_SHARE:.0%} of a check's {budget:g} s")
    if short:
        report.notes.append("mutation analysis skipped: the solution does not earn full marks")
        return report
    report.validation = mutation.judge(assignment, reference, mutants, [first[name] for name in names])
    original = _unparsed(source)
    for outcome in report.validation.outcomes:
        if not outcome.killed:
            report.diffs[outcome.mutant.id] = _diff(original, outcome.mutant)
    for outcome in report.validation.failing:
        report.failures.append(f"mutant {outcome.mutant.id} survives every check ({outcome.mutant.description}), "
                               f"and validate.must_kill lists {outcome.mutant.kind}")
    for mutant_id in sorted(set(assignment.equivalent) - {m.id for m in mutants}):
        report.failures.append(f"validate.equivalent names {mutant_id}, which is not a mutant of the solution (any more)")
    return report


def _checks_of(points: dict[str, float]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for cid in points:
        groups.setdefault(function_of(cid), []).append(cid)
    return groups


def _unparsed(source: str) -> str:
    import ast

    return ast.unparse(ast.parse(source))


def _diff(original: str, mutant: Mutant) -> str:
    lines = difflib.unified_diff(original.splitlines(), mutant.source.splitlines(), "solution", mutant.id, n=1, lineterm="")
    return "\n".join(lines)


def _rel(path, course) -> str:
    try:
        return str(path.relative_to(course))
    except ValueError:
        return str(path)


def _out_of_sync(assignment, stub_text: str | None, generated: str, course) -> str:
    where = _rel(assignment.stub, course)
    if stub_text is None:
        return f"{where} is missing: generate it from the solution with `python -m grader.authoring.stubs {course}`"
    for number, (have, want) in enumerate(zip(stub_text.splitlines() + [""], generated.splitlines() + [""]), 1):
        if have != want:
            return (f"{where} is out of sync with the solution (line {number}: {have.strip()[:50]!r}, generated: "
                    f"{want.strip()[:50]!r}): regenerate it with `python -m grader.authoring.stubs {course}`")
    return f"{where} is out of sync with the solution: regenerate it with `python -m grader.authoring.stubs {course}`"
