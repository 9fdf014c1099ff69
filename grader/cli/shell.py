"""What every command shares: the Typer app, the two consoles, the ``--course`` option and the limits it implies,
how errors and sandbox warnings are said."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from grader.errors import GraderError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Graded PyTorch autograd exercises.")
# Piped output (logs, CI, tests) gets wide lines instead of Rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)

CourseOpt = typer.Option(
    None, "--course",
    help="Course folder (holds assignments/, solutions/ and optionally course.toml); default: $GRADER_COURSE, else the installed course.",
)


def grading_limits(course, *, timeout: float | None = None, memory: int | None = None, default_timeout: float | None = None):
    """The limits of the student processes: ``--timeout`` / ``--memory`` where given, else the course's
    ``course.toml`` (:class:`grader.course.LimitDefaults`), else the command's default, else the grader's."""
    from grader.sandbox.policy import Limits

    seconds = next(v for v in (timeout, course.limits.timeout, default_timeout, Limits.check_seconds) if v is not None)
    mb = next(v for v in (memory, course.limits.memory, Limits.memory_mb) if v is not None)
    seconds = float(seconds)
    return Limits(check_seconds=seconds, submission_seconds=max(60.0, 12 * seconds), import_seconds=seconds, memory_mb=int(mb))


def fail(exc: GraderError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


def printable(text: str, limit: int) -> str:
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "\n... (output cut)"


def print_notes(launcher) -> None:
    """Say where this machine starts student processes the slow way."""
    if launcher.note:
        err.print(f"[yellow]note:[/] {launcher.note}")


def warn_missing_layers(launcher, hidden: list[Path]) -> None:
    """One line when student processes here get fewer sandbox layers than the grader has."""
    from grader.engine.doctor import probe

    warn_layers({name: why for name, why in probe(launcher, hidden=hidden).items() if why is not None}, where=" here")


def warn_layers(missing: dict, *, where: str) -> None:
    from grader.sandbox import layers

    if missing:
        err.print(
            f"[bold yellow]warning:[/] student processes run with {len(layers.LAYERS) - len(missing)} of "
            f"{len(layers.LAYERS)} sandbox layers{where}; missing: {escape(', '.join(missing))} (`grader doctor` says why)"
        )
