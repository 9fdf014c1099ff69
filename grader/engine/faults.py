"""Whose failure a check's unexpected exception is: the grader's own (retried, then the problem ``internal``)
or the student's (a failed check)."""

from __future__ import annotations

from pathlib import Path

import hypothesis

import grader
from grader.checks import siblings
from grader.engine.student import Starved

_GRADER = Path(grader.__file__).resolve().parent
_HYPOTHESIS = Path(hypothesis.__file__).resolve().parent


def _inner_code(item):
    """The code object of a check's own body (under Hypothesis' wrapper, for a property)."""
    fn = getattr(item, "obj", None)
    inner = getattr(getattr(fn, "hypothesis", None), "inner_test", None) or fn
    return getattr(inner, "__code__", None)


def _origin(filename: str, course: Path) -> str | None:
    """Who wrote the code of a traceback frame: ``grader``, ``hypothesis``, ``reference`` (a course module the checks
    imported with :func:`grader.checks.assignment_module`: trusted code, like the grader's), ``course`` (the
    checks), or None (a library: torch, NumPy, Python's own, whose caller decides)."""
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return None
    if path.is_relative_to(_GRADER):
        return "grader"
    if siblings.is_course_module(str(path)):
        return "reference"
    if path.is_relative_to(_HYPOTHESIS):
        return "hypothesis"
    if path.is_relative_to(course):
        return "course"
    return None


def grader_fault(exc: BaseException, tb, item, course: Path) -> bool:
    """Whether an unexpected exception of a check is the grader's own failure rather than the student's.

    The grader's: Hypothesis' own errors (health checks, invalid strategies), an error while Hypothesis
    generated the inputs, a wire or process error (:class:`grader.engine.student.Starved`), and any exception raised in
    the grader's own code (strategies, comparisons, the student handle), in the course's reference modules, or
    outside the check's body. The student's: the check's own body stumbling over what the student returned (an object
    where it expected a tensor, say), and Hypothesis finding that their function gives different results for
    the same input (``FlakyFailure``).
    """
    from hypothesis.errors import FlakyFailure, HypothesisException

    if isinstance(exc, Starved):
        return True
    if isinstance(exc, FlakyFailure):
        return False
    if isinstance(exc, HypothesisException):
        return True
    body = _inner_code(item)
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    starts = [i for i, frame in enumerate(frames) if frame.f_code is body]
    if not starts:
        return True  # raised outside the check's body: a fixture, a strategy, Hypothesis itself
    culprit = "course"
    for frame in frames[starts[-1] + 1:]:
        origin = _origin(frame.f_code.co_filename, course)
        if origin == "hypothesis":
            return True  # drawing inputs inside the body (``data.draw``): the grader's strategies
        if origin is not None:
            culprit = origin
    return culprit != "course"


def describe(exc: BaseException) -> str:
    """The grader's own failure in one line, for the instructor (never for the student)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
