"""The `grader` command: a thin layer over :mod:`grader.grading`."""

from __future__ import annotations

from grader import threads

threads.single()  # before torch is imported anywhere: see grader.threads

import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from grader import course as course_mod
from grader.errors import GraderError, UsageError
from grader.scoring import fmt_points

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Graded PyTorch autograd exercises.")
# Piped output (logs, CI, tests) gets wide lines instead of Rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)

#: A worker costs a torch import and a collection of the checks (about what 5 submissions cost),
#: so ``-j`` starts at most one worker per this many submissions.
SUBMISSIONS_PER_WORKER = 8

CourseOpt = typer.Option(None, "--course", help="Course folder (holds assignments/ and solutions/); default: the installed course.")


def _fail(exc: GraderError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


def _printable(text: str, limit: int) -> str:
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "\n... (output cut)"


def _print_notes(launcher) -> None:
    """Say where this machine starts student processes the slow way."""
    if launcher.note:
        err.print(f"[yellow]note:[/] {launcher.note}")


def _warn_missing_layers(launcher, hidden: list[Path]) -> None:
    """One line when student processes here get fewer sandbox layers than the grader has."""
    from grader.sandbox import layers

    _warn_layers({name: why for name, why in layers.probe(launcher, hidden=hidden).items() if why is not None}, where=" here")


def _warn_layers(missing: dict, *, where: str) -> None:
    from grader.sandbox import layers

    if missing:
        err.print(
            f"[bold yellow]warning:[/] student processes run with {len(layers.LAYERS) - len(missing)} of "
            f"{len(layers.LAYERS)} sandbox layers{where}; missing: {escape(', '.join(missing))} (`grader doctor` says why)"
        )


@app.command("list")
def list_cmd(course: Optional[Path] = CourseOpt) -> None:
    """The assignments, their titles and points."""
    try:
        root = course_mod.course_root(course)
        assignments = course_mod.list_all(root=root)
    except GraderError as exc:
        _fail(exc)
    table = Table("assignment", "title", "module", "points", "bonus")
    for column in table.columns:
        column.no_wrap = True
    for a in assignments:
        table.add_row(a.name, a.title, f"{a.module}.py", fmt_points(a.points), fmt_points(a.bonus))
    out.print(table)


def _module_path(assignment, path: Optional[Path]) -> Path:
    from grader.submissions import locate

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
    assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),
    path: Optional[Path] = typer.Option(None, "--path", help="Your module file or the folder holding it."),
    select: Optional[str] = typer.Option(None, "-k", help="Only checks whose id matches this pytest -k expression."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    watch: bool = typer.Option(False, "--watch", help="Run the checks again every time you save your module (Ctrl-C stops)."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Run the public checks on your own module."""
    from grader.sandbox.launcher import make_launcher

    try:
        root = course_mod.course_root(course)
        a = course_mod.load(assignment, root=root)
        module_path = _module_path(a, path)
        if watch:
            from grader.watch import watch as watch_loop

            watched = path.resolve() if path is not None and path.is_file() else module_path.resolve()
            watch_loop(watched, [arg for arg in sys.argv[1:] if arg != "--watch"], console=out)
            raise typer.Exit(0)
        launcher = make_launcher()  # before any check is loaded: see grader.sandbox.launcher
    except GraderError as exc:
        _fail(exc)
    _print_notes(launcher)
    from grader.grading import run_one
    from grader.sandbox.policy import Limits
    from grader.student import Submission

    try:
        graded = run_one(
            assignment=a,
            submission=Submission(name="you", module_path=module_path.resolve()),
            course=root,
            launcher=launcher,
            limits=Limits(),
            hidden_paths=[root / "solutions", Path.cwd()],
            select=select,
            keep_output=4000,
        )
    except GraderError as exc:
        _fail(exc)
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
            out.print(_printable(rs[0].output, 2000), markup=False)
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


@app.command()
def grade(
    assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),
    dirs: List[Path] = typer.Argument(..., help="Folders whose every entry is one student's submission."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for grades.csv, results/ and feedback/."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="CPU seconds one check may use in the student's processes (a submission's checks get 12x, at least 60 s); the wall clock is a safety net of 4x, at least 30 s."),
    memory: int = typer.Option(1024, "--memory", min=64, help="MB of memory a student process may use beyond the warm process."),
    jobs: Optional[int] = typer.Option(None, "-j", "--jobs", min=1, help="Worker processes grading in parallel, each with its own student processes (default: the number of cores; one per 8 submissions at most)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Grade on the Dask cluster of this scheduler: its address (tcp://HOST:8786) or its scheduler file. Needs the `dask` extra."),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", min=1, help="Grade on a Dask LocalCluster of N single-threaded worker processes started for this run. Needs the `dask` extra."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; only errors and the final summary."),
    shard: Optional[str] = typer.Option(None, "--shard", hidden=True, help="K/N: grade only every N-th submission from the K-th (a worker of -j)."),
    nbgrader_course: Optional[Path] = typer.Option(None, "--nbgrader", help="An nbgrader course folder: also write the scores into its gradebook and autograded/ (formgrader, nbgrader export)."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Run public and hidden checks on every submission; write the gradebook."""
    started = time.monotonic()
    from grader.executors import Batch, LocalWorkers
    from grader.sandbox.launcher import make_launcher
    from grader.sandbox.policy import Limits
    from grader.submissions import discover

    try:
        executor = None
        if scheduler is not None or dask_local is not None:
            if scheduler is not None and dask_local is not None:
                raise UsageError("--scheduler and --dask-local are two ways to get a Dask cluster: pass one")
            if jobs is not None or shard is not None:
                raise UsageError("-j is for worker processes on this machine; on Dask, the cluster's workers grade: drop -j")
            from grader.dask_executor import DaskExecutor

            executor = DaskExecutor(scheduler=scheduler, local_workers=dask_local)
        root = course_mod.course_root(course)
        a = course_mod.load(assignment, root=root)
        if a.hidden_checks is None:
            raise UsageError(f"the hidden checks of {a.name} are not installed here (solutions/{a.name}/): grade from the instructor's checkout")
        entries = discover([d.resolve() for d in dirs])
        out_dir = output.resolve()
        if any(out_dir == d.resolve() or d.resolve() in out_dir.parents for d in dirs):
            raise UsageError(f"-o {output} lies inside a submissions folder: pick another output folder")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / ".write-test").touch()
            (out_dir / ".write-test").unlink()
        except OSError as exc:
            raise UsageError(f"-o {output}: cannot write there ({exc.strerror or exc})") from None
        if shard is not None:
            entries = _shard(entries, shard)
        if nbgrader_course is not None and shard is None:
            from grader.nbgrader_gradebook import require_nbgrader

            require_nbgrader(nbgrader_course.resolve())  # before grading, without importing it before the launcher
        n_workers = min(jobs or _cores(), len(entries) // SUBMISSIONS_PER_WORKER) if shard is None else 0
        if executor is None and n_workers > 1:
            executor = LocalWorkers(n_workers)
        # Before any check is loaded (see grader.sandbox.launcher), and before Dask starts its threads; warmed
        # at once where this process grades the batch (the final pass after an executor warms it if it grades).
        launcher = make_launcher(warm=executor is None)
    except GraderError as exc:
        _fail(exc)
    # Never readable by a student process: solutions, the output, every submission, the grader's working folder.
    hidden_paths = [root / "solutions", out_dir, *(d.resolve() for d in dirs), Path.cwd()]
    on_cluster = scheduler is not None or dask_local is not None
    if shard is None:
        _print_notes(launcher)
        if not on_cluster:
            _warn_missing_layers(launcher, hidden_paths)
    from grader.grading import grade_class

    limits = Limits(check_seconds=timeout, submission_seconds=max(60.0, 12 * timeout), import_seconds=timeout, memory_mb=memory)
    batch = Batch(assignment=a, entries=entries, dirs=list(dirs), out=out_dir, limits=limits, course=root, course_option=course)
    outcome = None
    try:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            _Rate(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
            console=err, transient=False, disable=quiet or shard is not None,
        ) as progress:
            task = progress.add_task(f"grading {a.name}", total=len(entries), last="")
            if executor is not None:
                outcome = executor.run(
                    batch,
                    progress=lambda done, last: progress.update(task, completed=done, last=escape(last)),
                    on_layers=lambda missing: _warn_layers(missing, where=" on the Dask workers"),
                )
                for note in outcome.notes:
                    err.print(f"[yellow]{escape(note)}[/]")
                progress.update(task, completed=0, last="")

            def on_done(student: str, status: str) -> None:
                progress.update(task, advance=1, last=escape(f"{student}: {status}"))

            result = grade_class(
                assignment=a, entries=entries, out=out_dir, course=root, launcher=launcher, limits=limits,
                hidden_paths=hidden_paths, on_done=on_done, write_gradebook=shard is None,
                crashed=outcome.crashed if outcome else None,
            )
    except GraderError as exc:
        _fail(exc)
    finally:
        launcher.close()
    if outcome is None:
        graded, reused = result.graded, len(result.reused)
    elif outcome.graded is None:  # local workers: every row but the failures
        graded, reused = len(entries) - len(result.failures), 0
    else:
        graded, reused = outcome.graded + result.graded, outcome.reused
    reused_text = f" (and reused {reused} unchanged results)" if reused else ""
    elapsed = time.monotonic() - started
    where = "" if shard is not None else f" in {elapsed:.1f} s; gradebook: {escape(str(out_dir / 'grades.csv'))}, class report: {escape(str(out_dir / 'report.html'))}"
    err.print(f"graded {graded} submissions{outcome.how if outcome else ''}{reused_text}{where}")
    problems = Counter(code for codes in result.problems.values() for code in codes)
    if problems and shard is None:
        err.print("problems: " + ", ".join(f"{code} {n}" for code, n in sorted(problems.items())))
    for student, what in result.failures:
        err.print(f"[bold red]grader failure on {escape(student)}:[/] {escape(what)}")
    if nbgrader_course is not None and shard is None:
        _write_nbgrader(nbgrader_course.resolve(), a, out_dir, sorted(result.problems))
    incomplete = sorted(name for name, codes in result.problems.items() if "internal" in codes)
    if incomplete and shard is None:
        err.print(f"[bold red]the grader failed on some checks of {len(incomplete)} submissions[/] (problem `internal`; "
                  f"grade.log names the check): {escape(', '.join(incomplete[:20]))}; run the same command again to regrade them")
        for name in incomplete[:20]:
            for line in result.internal.get(name, []):
                err.print(f"  {escape(name)}: the grader failed on {escape(line)}")
    raise typer.Exit(1 if result.failures or incomplete else 0)


def _write_nbgrader(course: Path, a, out_dir: Path, students: list[str]) -> None:
    from grader.nbgrader_gradebook import write_scores

    try:
        written = write_scores(course, a, out_dir / "results", students)
    except GraderError as exc:
        _fail(exc)
    for warning in written.warnings:
        err.print(f"[yellow]nbgrader:[/] {escape(warning)}")
    err.print(f"nbgrader: wrote {len(written.students)} submissions into the gradebook of {escape(str(course))} (nbgrader export, formgrader)")


class _Rate(ProgressColumn):
    """Submissions graded per second (rich's own speed column counts bytes)."""

    def render(self, task):
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s", style="progress.data.speed")


def _cores() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _shard(entries: list, spec: str) -> list:
    try:
        k, n = (int(v) for v in spec.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        raise UsageError(f"--shard {spec!r}: expected K/N with 0 <= K < N") from None
    return entries[k::n]


@app.command()
def doctor(
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Ask every worker of this Dask scheduler instead (its address or scheduler file)."),
) -> None:
    """Which sandbox layers a student process gets on this machine (or on each Dask worker), and why any is missing."""
    from grader.sandbox import layers

    if scheduler is not None:
        from grader.dask_executor import DaskExecutor

        try:
            executor = DaskExecutor(scheduler=scheduler)
            with executor.connect() as client:
                executor.setup_workers(client)
                reports = executor.probe(client)
        except GraderError as exc:
            _fail(exc)
        for worker, report in sorted(reports.items()):
            out.print(escape(f"worker {worker}:"))
            for line in layers.lines(report):
                out.print(escape(f"  {line}"))
        raise typer.Exit(0 if reports and all(why is None for r in reports.values() for why in r.values()) else 1)
    from grader.sandbox.launcher import make_launcher

    try:
        launcher = make_launcher()
    except GraderError as exc:
        _fail(exc)
    try:
        report = layers.probe(launcher)
    finally:
        launcher.close()
    for line in layers.lines(report):
        out.print(escape(line))
    raise typer.Exit(0 if all(why is None for why in report.values()) else 1)


@app.command()
def release(
    assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for <assignment>/ and <assignment>.zip."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Build the students' handout: stub, README, public checks, install notes; a folder and a zip."""
    from grader.release import release as build

    try:
        root = course_mod.course_root(course)
        folder, archive = build(course_mod.load(assignment, root=root), output.resolve())
    except GraderError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(UsageError(f"-o {output}: cannot write there ({exc.strerror or exc})"))
    out.print(f"handout: {escape(str(folder))}/ and {escape(str(archive))}")


@app.command()
def gradescope(
    assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),
    output: Path = typer.Option(Path("autograder.zip"), "-o", "--output", help="The autograder zip to write."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Build a Gradescope autograder (setup.sh, run_autograder, the grader, the hidden checks)."""
    from grader.gradescope import build

    try:
        root = course_mod.course_root(course)
        a = course_mod.load(assignment, root=root)
        if a.hidden_checks is None:
            raise UsageError(f"the hidden checks of {a.name} are not installed here (solutions/{a.name}/): build from the instructor's checkout")
        path = build(a, output.resolve())
    except GraderError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(UsageError(f"-o {output}: cannot write there ({exc.strerror or exc})"))
    out.print(f"Gradescope autograder: {escape(str(path))} (upload it as the assignment's autograder zip)")


nbgrader_app = typer.Typer(no_args_is_help=True, help="nbgrader courses: source notebooks (grade with `grader grade ... --nbgrader COURSE`).")
app.add_typer(nbgrader_app, name="nbgrader")


@nbgrader_app.command("source")
def nbgrader_source(
    assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),
    nbgrader_course: Path = typer.Argument(..., help="The nbgrader course folder; writes source/<assignment>/<module>.ipynb there."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Write the assignment as an nbgrader source notebook: solution cells and autograded test cells."""
    from grader.nbgrader_source import write_source

    try:
        root = course_mod.course_root(course)
        path = write_source(course_mod.load(assignment, root=root), nbgrader_course.resolve())
    except GraderError as exc:
        _fail(exc)
    out.print(f"nbgrader source notebook: {escape(str(path))}")
    out.print(f"next, in {escape(str(nbgrader_course))}: nbgrader generate_assignment {assignment}")


#: Limits for grading mutants: a mutant that hangs costs 5 s per check, not ``grade``'s 10.
VALIDATE_CHECK_SECONDS = 5.0


@app.command()
def validate(
    assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    course: Optional[Path] = CourseOpt,
) -> None:
    """Mutation analysis: plant small bugs in the reference solution and report those no check catches."""
    from grader import mutation
    from grader.sandbox.launcher import make_launcher

    try:
        root = course_mod.course_root(course)
        a = course_mod.load(assignment, root=root)
        mutation.solution_file(a)
        launcher = make_launcher(warm=True)  # before any check is loaded: see grader.sandbox.launcher
    except GraderError as exc:
        _fail(exc)
    _print_notes(launcher)
    from grader.sandbox.policy import Limits

    seconds = VALIDATE_CHECK_SECONDS
    limits = Limits(check_seconds=seconds, submission_seconds=12 * seconds, import_seconds=seconds)
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
        _fail(exc)
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
            if not o.killed:
                listed = " [bold red](must be killed)[/]" if o.mutant.kind in result.must_kill else ""
                out.print(f"  survived {escape(o.mutant.id)}: {escape(o.mutant.description)}{listed}")
    listed = ", ".join(result.must_kill) or "none"
    if result.failing:
        ids = ", ".join(o.mutant.id for o in result.failing)
        out.print(f"[bold red]FAILED:[/] {len(result.failing)} mutant(s) of a kind that must be killed ({escape(listed)}) survived: {escape(ids)}")
    else:
        out.print(f"every mutant of a kind that must be killed ({escape(listed)}) was killed")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
