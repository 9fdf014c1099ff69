"""The instructor's other commands: `grader doctor`, `release`, `gradescope`, `nbgrader source`, `validate`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from grader import course as course_mod
from grader.cli.shell import CourseOpt, app, err, fail, grading_limits, out, print_notes
from grader.errors import GraderError, UsageError


@app.command()
def doctor(
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Ask every worker of this Dask scheduler instead (its address or scheduler file)."),
    course: Optional[Path] = typer.Option(None, "--course", help="Also check this course folder (course.toml, every assignment.toml, every checks file); default: $GRADER_COURSE where set."),
) -> None:
    """Which sandbox layers a student process gets on this machine (or on each Dask worker), and why any is missing;
    with --course (or GRADER_COURSE), whether that course loads."""
    from grader.sandbox import layers

    if scheduler is not None:
        from grader.engine.dask_executor import DaskExecutor

        try:
            executor = DaskExecutor(scheduler=scheduler)
            checked = _check_course(course)
            with executor.connect() as client:
                executor.setup_workers(client)
                reports = executor.probe(client)
        except GraderError as exc:
            fail(exc)
        for worker, report in sorted(reports.items()):
            out.print(escape(f"worker {worker}:"))
            for line in layers.lines(report):
                out.print(escape(f"  {line}"))
        _say_course(checked)
        raise typer.Exit(0 if reports and all(why is None for r in reports.values() for why in r.values()) else 1)
    from grader.engine.doctor import probe
    from grader.sandbox.launcher import make_launcher

    try:
        launcher = make_launcher()
    except GraderError as exc:
        fail(exc)
    try:
        checked = _check_course(course)  # while the warm process starts
        report = probe(launcher)
    except GraderError as exc:
        fail(exc)
    finally:
        launcher.close()
    for line in layers.lines(report):
        out.print(escape(line))
    _say_course(checked)
    raise typer.Exit(0 if all(why is None for why in report.values()) else 1)


def _check_course(course: Optional[Path]):
    """``(course, assignments)`` for ``doctor --course`` (or ``GRADER_COURSE``) once every file of it loads: its
    course.toml, each assignment.toml, each checks file; None without either. A broken one is a CourseError."""
    if course is None and not os.environ.get("GRADER_COURSE"):
        return None
    from grader.engine.grading import load_checks

    the_course = course_mod.load_course(course)
    assignments = course_mod.list_all(root=the_course.root)
    for a in assignments:
        load_checks(a, the_course.root)
    return the_course, assignments


def _say_course(checked) -> None:
    if checked is not None:
        the_course, assignments = checked
        title = f" ({the_course.title})" if the_course.title else ""
        names = ", ".join(a.name for a in assignments) or "no assignments"
        err.print(escape(f"course: {the_course.root}{title}: {names}; every checks file loads"))


@app.command()
def release(
    assignment: str = typer.Argument(..., help="Assignment name: a folder of the course's assignments/."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for <assignment>/ and <assignment>.zip."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Build the students' handout: stub, README, public checks, install notes; a folder and a zip."""
    from grader.interop.handout import release as build

    try:
        root = course_mod.load_course(course).root
        folder, archive = build(course_mod.load(assignment, root=root), output.resolve())
    except GraderError as exc:
        fail(exc)
    except OSError as exc:
        fail(UsageError(f"-o {output}: cannot write there ({exc.strerror or exc})"))
    out.print(f"handout: {escape(str(folder))}/ and {escape(str(archive))}")


@app.command()
def gradescope(
    assignment: str = typer.Argument(..., help="Assignment name: a folder of the course's assignments/."),
    output: Path = typer.Option(Path("autograder.zip"), "-o", "--output", help="The autograder zip to write."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Build a Gradescope autograder (setup.sh, run_autograder, the grader, the hidden checks)."""
    from grader.engine.grading import load_checks
    from grader.interop.gradescope import build

    try:
        root = course_mod.load_course(course).root
        a = course_mod.load(assignment, root=root)
        if a.hidden_checks is None:
            raise UsageError(f"the hidden checks of {a.name} are not installed here (solutions/{a.name}/): build from the instructor's checkout")
        load_checks(a, root)  # an autograder whose checks do not load would fail every student
        path = build(a, output.resolve())
    except GraderError as exc:
        fail(exc)
    except OSError as exc:
        fail(UsageError(f"-o {output}: cannot write there ({exc.strerror or exc})"))
    out.print(f"Gradescope autograder: {escape(str(path))} (upload it as the assignment's autograder zip)")


nbgrader_app = typer.Typer(no_args_is_help=True, help="nbgrader courses: source notebooks (grade with `grader grade ... --nbgrader COURSE`).")
app.add_typer(nbgrader_app, name="nbgrader")


@nbgrader_app.command("source")
def nbgrader_source(
    assignment: str = typer.Argument(..., help="Assignment name: a folder of the course's assignments/."),
    nbgrader_course: Path = typer.Argument(..., help="The nbgrader course folder; writes source/<assignment>/<module>.ipynb there."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Write the assignment as an nbgrader source notebook: solution cells and autograded test cells."""
    from grader.interop.nbgrader_source import write_source

    try:
        root = course_mod.load_course(course).root
        path = write_source(course_mod.load(assignment, root=root), nbgrader_course.resolve())
    except GraderError as exc:
        fail(exc)
    out.print(f"nbgrader source notebook: {escape(str(path))}")
    out.print(f"next, in {escape(str(nbgrader_course))}: nbgrader generate_assignment {assignment}")


#: Limits for grading mutants: a mutant that hangs costs 5 s per check, not ``grade``'s 10 (unless the course's
#: course.toml sets a timeout: its checks need it).
VALIDATE_CHECK_SECONDS = 5.0


@app.command()
def validate(
    assignment: str = typer.Argument(..., help="Assignment name: a folder of the course's assignments/."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Mutation analysis: plant small bugs in the reference solution and report those no check catches."""
    from grader.authoring import mutation
    from grader.sandbox.launcher import make_launcher

    try:
        the_course = course_mod.load_course(course)
        root = the_course.root
        a = course_mod.load(assignment, root=root)
        mutation.solution_file(a)
        launcher = make_launcher(warm=True)  # before any check is loaded: see grader.sandbox.launcher
    except GraderError as exc:
        fail(exc)
    print_notes(launcher)
    limits = grading_limits(the_course, default_timeout=VALIDATE_CHECK_SECONDS)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as progress:
            task = progress.add_task(f"validating {a.name}", total=None)

            def on_start(count: int) -> None:
                progress.update(task, total=count)

            def on_done(name: str) -> None:
                progress.update(task, advance=1)

            result = mutation.validate(a, course=root, launcher=launcher, limits=limits, on_start=on_start, on_done=on_done)
    except GraderError as exc:
        fail(exc)
    finally:
        launcher.close()
    if as_json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        _print_validation(a, result)
    raise typer.Exit(1 if result.failing else 0)


def _print_validation(a, result) -> None:
    out.print(f"mutation score: {result.score:.1f}%")
    out.print(f"{a.name} — {escape(a.title)}: {result.killed} of {result.total} mutants of {a.module}.py killed by the public and hidden checks")
    for function, outcomes in result.by_function().items():
        killed = sum(o.killed for o in outcomes)
        out.print(f"{escape(function)}: {killed} of {len(outcomes)} killed")
        for o in outcomes:
            if not o.killed and o.mutant.id in result.equivalent:
                out.print(f"  equivalent {escape(o.mutant.id)}: {escape(o.mutant.description)} ({escape(result.equivalent[o.mutant.id])})")
            elif not o.killed:
                listed = " [bold red](must be killed)[/]" if o.mutant.kind in result.must_kill else ""
                out.print(f"  survived {escape(o.mutant.id)}: {escape(o.mutant.description)}{listed}")
    listed = ", ".join(result.must_kill) or "none"
    if result.failing:
        ids = ", ".join(o.mutant.id for o in result.failing)
        out.print(f"[bold red]FAILED:[/] {len(result.failing)} mutant(s) of a kind that must be killed ({escape(listed)}) survived: {escape(ids)}")
    else:
        out.print(f"every mutant of a kind that must be killed ({escape(listed)}) was killed")
