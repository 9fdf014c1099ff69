"""`grader grade`: a class, on this machine (``-j``) or on a Dask cluster, with progress and a closing summary."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grader import course as course_mod
from grader.cli.shell import CourseOpt, app, err, fail, grading_limits, print_notes, warn_layers, warn_missing_layers
from grader.errors import GraderError, UsageError

#: A worker costs a torch import and a collection of the checks (about what 5 submissions cost),
#: so ``-j`` starts at most one worker per this many submissions.
SUBMISSIONS_PER_WORKER = 8


@app.command()
def grade(
    assignment: str = typer.Argument(..., help="Assignment name: a folder of the course's assignments/."),
    dirs: List[Path] = typer.Argument(..., help="Folders whose every entry is one student's submission."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for grades.csv, results/ and feedback/."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.1, help="CPU seconds one check may use in the student's processes (a submission's checks get 12x, at least 60 s); the wall clock is a safety net of 4x, at least 30 s. Default: the course's course.toml ([limits] timeout), else 10."),
    memory: Optional[int] = typer.Option(None, "--memory", min=64, help="MB of memory a student process may use beyond the warm process. Default: the course's course.toml ([limits] memory), else 1024."),
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
    from grader.engine.executors import Batch, LocalWorkers
    from grader.sandbox.launcher import make_launcher
    from grader.submissions.locate import discover

    # First, before the class is discovered: a fresh interpreter that imports torch while this process goes on
    # (see grader.sandbox.launcher); warmed below where this process grades the batch.
    launcher = make_launcher()
    try:
        executor = None
        if scheduler is not None or dask_local is not None:
            if scheduler is not None and dask_local is not None:
                raise UsageError("--scheduler and --dask-local are two ways to get a Dask cluster: pass one")
            if jobs is not None or shard is not None:
                raise UsageError("-j is for worker processes on this machine; on Dask, the cluster's workers grade: drop -j")
            from grader.engine.dask_executor import DaskExecutor

            executor = DaskExecutor(scheduler=scheduler, local_workers=dask_local)
        the_course = course_mod.load_course(course)
        root = the_course.root
        a = course_mod.load(assignment, root=root)
        if a.hidden_checks is None:
            raise UsageError(f"the hidden checks of {a.name} are not installed here (solutions/{a.name}/): grade from the instructor's checkout")
        entries = discover([d.resolve() for d in dirs])
        out_dir = output.resolve()
        if any(out_dir == d.resolve() or d.resolve() in out_dir.parents for d in dirs):
            raise UsageError(f"-o {output} lies inside a submissions folder: pick another output folder")
        if shard is None:
            from grader.engine.grading import load_checks

            # Before OUT is touched: checks that do not load are said now, by file and line, with nothing written.
            load_checks(a, root)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / ".write-test").touch()
            (out_dir / ".write-test").unlink()
        except OSError as exc:
            raise UsageError(f"-o {output}: cannot write there ({exc.strerror or exc})") from None
        if shard is not None:
            entries = _shard(entries, shard)
        if nbgrader_course is not None and shard is None:
            from grader.interop.nbgrader_gradebook import require_nbgrader

            require_nbgrader(nbgrader_course.resolve())  # before grading, without importing it before the launcher
        n_workers = min(jobs or _cores(), len(entries) // SUBMISSIONS_PER_WORKER) if shard is None else 0
        if executor is None and n_workers > 1:
            executor = LocalWorkers(n_workers, entry=_this_cli())
            # The workers grade, and say the layers of their student processes: this process's warm process
            # starts only if its final pass has a student left to grade.
            launcher.close()
            launcher = make_launcher(start=False)
        if executor is None:  # at once where this process grades the batch (the final pass after an executor warms it if it grades)
            launcher.warm()
    except GraderError as exc:
        launcher.close()
        fail(exc)
    # Never readable by a student process: solutions, the output, every submission, the grader's working folder.
    hidden_paths = [root / "solutions", out_dir, *(d.resolve() for d in dirs), Path.cwd()]
    on_cluster = scheduler is not None or dask_local is not None
    if shard is None:
        print_notes(launcher)
        if executor is None:
            warn_missing_layers(launcher, hidden_paths)
    elif shard.startswith("0/"):  # the first worker of -j says the layers for all (see LocalWorkers)
        from grader.engine.doctor import probe

        print(json.dumps({"layers": probe(launcher, hidden=hidden_paths)}), flush=True)
    from grader.engine import resume
    from grader.engine.grading import grade_class

    limits = grading_limits(the_course, timeout=timeout, memory=memory)
    checks = resume.course_digest(a)
    if shard is None:
        changed = resume.checks_changed((name for name, _ in entries), course=checks, out=out_dir)
        if changed:
            err.print(f"the checks of {a.name} changed since the last run: regrading {len(changed)} student{'s' if len(changed) != 1 else ''}")
    batch = Batch(assignment=a, entries=entries, dirs=list(dirs), out=out_dir, limits=limits, course=root, course_option=course)
    if isinstance(executor, LocalWorkers):
        executor.start(batch)  # before the progress display's thread: forked from this process, imports done
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
                    on_layers=lambda missing: warn_layers(missing, where=" on the Dask workers" if on_cluster else " here"),
                )
                for note in outcome.notes:
                    err.print(f"[yellow]{escape(note)}[/]")
                progress.update(task, completed=0, last="")

            def on_done(student: str, status: str) -> None:
                progress.update(task, advance=1, last=escape(f"{student}: {status}"))

            result = grade_class(
                assignment=a, entries=entries, out=out_dir, course=root, launcher=launcher, limits=limits,
                hidden_paths=hidden_paths, on_done=on_done, write_gradebook=shard is None,
                crashed=outcome.crashed if outcome else None, checks=checks,
            )
    except GraderError as exc:
        fail(exc)
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
    tampered = sorted(name for name, codes in result.problems.items() if "tampering" in codes)
    if tampered and shard is None:
        err.print(f"[bold red]tampering found in {len(tampered)} submissions[/] (problem `tampering`; grade.log has the "
                  f"evidence): {escape(', '.join(tampered[:20]))}")
    raise typer.Exit(1 if result.failures or incomplete else 0)


def _write_nbgrader(course: Path, a, out_dir: Path, students: list[str]) -> None:
    from grader.interop.nbgrader_gradebook import write_scores

    try:
        written = write_scores(course, a, out_dir / "results", students)
    except GraderError as exc:
        fail(exc)
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


def _this_cli():
    """``entry(ARGS)``: ``grader ARGS`` in this process, a forked -j worker's life (it exits with the command's status)."""
    from grader.cli.shell import app

    return lambda args: app(args=args, prog_name="grader")
