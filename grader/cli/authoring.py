"""The course author's commands: `grader new` and `grader author` (and `grader validate`, in :mod:`.instructor`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader import course as course_mod
from grader.cli.instructor import VALIDATE_CHECK_SECONDS
from grader.cli.shell import CourseOpt, app, err, fail, grading_limits, out, print_notes
from grader.errors import GraderError, UsageError


@app.command()
def new(
    assignment: str = typer.Argument(..., help="The new assignment's name (a Python identifier): its folder under assignments/ and solutions/."),
    module: str = typer.Option(..., "--module", help="The module students fill in, without .py (a Python identifier)."),
    functions: str = typer.Option(..., "--functions", help="Its functions, comma-separated: f,g,h."),
    course: Optional[Path] = typer.Option(None, "--course", help="The course folder (made if absent); default: $GRADER_COURSE, else the current folder."),
) -> None:
    """Scaffold a complete, gradable assignment: solution with solution regions, stub, assignment.toml, README,
    references, one public and one hidden check per function. Then fill the solution and the references."""
    import os

    from grader.authoring.scaffold import create

    folder = course or Path(os.environ.get("GRADER_COURSE") or ".")
    names = [f.strip() for f in functions.split(",")]
    try:
        written = create(folder, assignment, module, names)
    except GraderError as exc:
        fail(exc)
    except OSError as exc:
        fail(UsageError(f"--course {folder}: cannot write there ({exc.strerror or exc})"))
    root = folder.expanduser().resolve()
    for path in written:
        out.print(f"wrote {escape(str(path.relative_to(root)))}")
    out.print(f"next: write {module}.py's solution in solutions/{assignment}/ and torch's own op in "
              f"assignments/{assignment}/references.py, then `grader author {assignment} --course {escape(str(folder))}`")


@app.command()
def author(
    assignments: List[str] = typer.Argument(..., help="Assignment names: folders of the course's assignments/."),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON (for CI)."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Before release: the solution earns full marks, the stub 0 and in sync, the handout leaks nothing, two runs
    agree, each check's time, and the mutation score with every surviving mutant. Exit 1 on any failure."""
    from grader.authoring import mutation
    from grader.authoring.author import author as run_author
    from grader.sandbox.launcher import make_launcher

    try:
        the_course = course_mod.load_course(course)
        chosen = [course_mod.load(name, root=the_course.root) for name in dict.fromkeys(assignments)]
        for a in chosen:
            mutation.solution_file(a)
        launcher = make_launcher(warm=True)  # before any check is loaded: see grader.sandbox.launcher
    except GraderError as exc:
        fail(exc)
    print_notes(launcher)
    limits = grading_limits(the_course, default_timeout=VALIDATE_CHECK_SECONDS)
    reports = []
    try:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as progress:
            for a in chosen:
                task = progress.add_task(f"author {a.name}", total=None)
                reports.append(run_author(
                    a, course=the_course.root, launcher=launcher, limits=limits,
                    on_start=lambda count, task=task: progress.update(task, total=count),
                    on_done=lambda name, task=task: progress.update(task, advance=1),
                ))
    except GraderError as exc:
        fail(exc)
    finally:
        launcher.close()
    failures = [f"{r.assignment}: {line}" for r in reports for line in r.failures]
    if as_json:
        doc = {"ok": not failures, "failures": failures, "assignments": {r.assignment: r.as_json() for r in reports}}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for r in reports:
            _print_report(r)
        for line in failures:
            out.print(f"[bold red]FAIL[/] {escape(line)}")
        out.print(f"author: {len(failures)} failure(s)" if failures else f"author: no failure in {len(reports)} assignment(s)")
    raise typer.Exit(1 if failures else 0)


def _mark(ok: bool) -> str:
    return "[green]ok  [/]" if ok else "[bold red]FAIL[/]"


def _print_report(r) -> None:
    from grader.scoring import fmt_points

    out.print(f"[bold]{escape(r.assignment)} — {escape(r.title)}[/]")
    earned = sum(e for e, _ in r.solution.values())
    full = sum(p for _, p in r.solution.values())
    short = [cid for cid, (e, p) in r.solution.items() if e < p]
    out.print(f"  {_mark(not short)} solution: {fmt_points(earned)} of {fmt_points(full)} points on {len(r.solution)} public and hidden checks")
    stub_points = sum(r.stub.values())
    out.print(f"  {_mark(stub_points == 0 and r.stub_synced)} stub: {fmt_points(stub_points)} points, "
              f"{'generated from the solution' if r.stub_synced else 'out of sync with the solution'}")
    out.print(f"  {_mark(not r.leaks)} handout: " + ("no solution or hidden-check line" if not r.leaks else escape("; ".join(r.leaks[:3]))))
    out.print(f"  {_mark(r.deterministic)} deterministic: " + (f"graded twice (the solution, the stub, {r.rerun - 2} mutants), the same points on every check"
                                                          if r.deterministic else "two runs differ"))
    if r.seconds:
        times = ", ".join(f"{cid} {s:.2f}" for cid, s in r.seconds.items())
        out.print(f"  time on the solution (CPU s of its calls per check): {escape(times)}")
    for note in r.notes:
        out.print(f"  [yellow]note:[/] {escape(note)}")
    v = r.validation
    if v is None:
        return
    equivalent = v.equivalents
    counted = v.total - len(equivalent)
    out.print(f"  mutation score: {v.score:.1f}% ({v.killed} of {counted} mutants killed"
              + (f"; {len(equivalent)} equivalent, left out" if equivalent else "") + ")")
    for o in equivalent:
        out.print(f"    equivalent {escape(o.mutant.id)}: {escape(o.mutant.description)} — {escape(v.equivalent[o.mutant.id])}")
    for o in v.surviving:
        listed = " [bold red](must be killed)[/]" if o.mutant.kind in v.must_kill else ""
        out.print(f"    survived {escape(o.mutant.id)}: {escape(o.mutant.description)}{listed}")
        for line in r.diffs.get(o.mutant.id, "").splitlines()[2:]:
            out.print(f"      {escape(line)}")
        checks = r.checks_of.get(o.mutant.function, [])
        out.print("      " + (f"the checks of {escape(o.mutant.function)} ({escape(', '.join(checks))}) all gave it full points"
                             if checks else f"no check is about {escape(o.mutant.function)}: add one"))
