"""`grader check`: the public checks on a student's own module, on their machine."""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from grader import course as course_mod
from grader.cli.shell import CourseOpt, app, fail, grading_limits, out, print_notes, printable
from grader.errors import GraderError, UsageError
from grader.scoring import fmt_points


def _module_path(assignment, path: Optional[Path]) -> Path:
    from grader.submissions.locate import locate

    expected = f"{assignment.module}.py"
    if path is None:
        for candidate in (Path.cwd() / expected, Path.cwd() / "assignments" / assignment.name / expected):
            if candidate.is_file():
                return candidate
        raise UsageError(
            f"no {expected} in the current folder or in assignments/{assignment.name}/: "
            "run from your assignment folder or pass --path"
        )
    def staging() -> Path:  # for a module inside a .zip or a notebook; removed at exit
        folder = Path(tempfile.mkdtemp(prefix="grader-check-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder

    if path.is_file() and path.suffix != ".py":
        found = locate("you", path, module=assignment.module, staging=staging())
        if found.module_path is None:
            raise UsageError(f"{path}: {found.reason}")
        return found.module_path
    if path.is_file():
        return path
    if path.is_dir():
        found = locate(path.name, path, module=assignment.module, staging=staging())
        if found.module_path is None:
            raise UsageError(f"{path}: {found.reason}")
        return found.module_path
    raise UsageError(f"--path {path}: no such file or folder")


@app.command()
def check(
    assignment: str = typer.Argument(..., help="Assignment name: a folder of the course's assignments/."),
    path: Optional[Path] = typer.Option(None, "--path", help="Your module file or the folder holding it."),
    select: Optional[str] = typer.Option(None, "-k", help="Only checks whose id matches this pytest -k expression."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    watch: bool = typer.Option(False, "--watch", help="Run the checks again every time you save your module (Ctrl-C stops)."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Run the public checks on your own module."""
    from grader.sandbox.launcher import make_launcher

    try:
        the_course = course_mod.load_course(course)
        root = the_course.root
        a = course_mod.load(assignment, root=root)
        module_path = _module_path(a, path)
        if watch:
            from grader.cli.watch import watch as watch_loop

            watched = path.resolve() if path is not None and path.is_file() else module_path.resolve()
            watch_loop(watched, [arg for arg in sys.argv[1:] if arg != "--watch"], console=out)
            raise typer.Exit(0)
        launcher = make_launcher()  # before any check is loaded: see grader.sandbox.launcher
    except GraderError as exc:
        fail(exc)
    print_notes(launcher)
    from grader.engine.grading import run_one
    from grader.submissions.submission import Submission

    try:
        graded = run_one(
            assignment=a,
            submission=Submission(name="you", module_path=module_path.resolve()),
            course=root,
            launcher=launcher,
            limits=grading_limits(the_course),
            hidden_paths=[root / "solutions", Path.cwd()],
            select=select,
            keep_output=4000,
        )
    except GraderError as exc:
        fail(exc)
    finally:
        launcher.close()
    results, sc = graded.results, graded.score
    if as_json:
        doc = {
            "assignment": a.name,
            "score": sc.score,
            "max_score": sc.max_score,
            "checks": [
                {"id": r.id, "score": sc.earned[r.id], "max_score": r.points, "passed": r.outcome == "passed",
                 "message": r.message, **({"internal": True} if r.outcome == "internal" else {})}
                for r in results
            ],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        _print_check(a, module_path, graded)
    raise typer.Exit(0 if all(r.outcome == "passed" for r in results) else 1)


def _print_check(a, module_path: Path, graded) -> None:
    out.print(f"[bold]{a.name}[/] — {escape(a.title)} — public checks on {escape(str(module_path))}")
    table = Table("", "check", "points", "result", box=None, pad_edge=False)
    marks = {"passed": "[green]✓[/]", "partial": "[yellow]~[/]", "failed": "[red]✗[/]", "internal": "[magenta]![/]"}
    style = {"passed": "green", "partial": "yellow", "failed": "red", "internal": "magenta"}
    for r in graded.results:
        pts = f"{fmt_points(graded.score.earned[r.id])}/{fmt_points(r.points)}"
        table.add_row(marks[r.outcome], r.id, pts, f"[{style[r.outcome]}]{r.outcome}[/]")
    out.print(table)
    # One paragraph per distinct failure: a syntax error is said once, not once per check.
    groups: dict[tuple[str, str], list] = {}
    for r in graded.results:
        if r.outcome != "passed" or r.output:
            groups.setdefault((r.outcome, r.message) if not r.output else (r.outcome, r.id), []).append(r)
    for (outcome, _), rs in groups.items():
        out.print()
        ids = ", ".join(r.id for r in rs)
        pts = sum(graded.score.earned[r.id] for r in rs), sum(r.points for r in rs)
        out.print(f"[bold {style[outcome]}]{ids}[/] ({fmt_points(pts[0])}/{fmt_points(pts[1])})")
        out.print(escape(rs[0].message))
        if rs[0].output:
            out.print(f"[dim]your output during {rs[0].id}:[/]")
            out.print(printable(rs[0].output, 2000), markup=False)
    shown = {message for _, message in groups}
    for note in graded.notes:
        if note.rstrip(".") not in shown:
            out.print(f"[yellow]note:[/] {escape(note)}")
    sc = graded.score
    passed = sum(r.outcome == "passed" for r in graded.results)
    out.print()
    bonus = sum(sc.earned[r.id] for r in graded.results if r.bonus)
    bonus_text = f" (including {fmt_points(bonus)} bonus)" if any(r.bonus for r in graded.results) else ""
    out.print(f"[bold]{fmt_points(sc.score)} / {fmt_points(sc.max_score)} points[/]{bonus_text}, {passed} of {len(graded.results)} checks passed")
    if a.hidden_checks is None:
        out.print("[dim]Hidden checks run when your instructor grades.[/]")
