"""A checks file that does not import, said as ``FILE:LINE: what``: the runner's collection errors, so that a broken
course is reported by the file and line to fix, never by pytest's traceback."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from grader.errors import GraderError


def import_failure(exc: BaseException, path: Path, *, root: Path) -> str:
    """``FILE:LINE: what went wrong`` for the checks file ``path`` whose import raised ``exc``: the line of the
    statement of that file that failed, and where the error arose when that is another file of the course at
    ``root`` (under its ``assignments/`` or ``solutions/``), e.g. a module the checks import that has a syntax error."""
    if isinstance(exc, pytest.Collector.CollectError):  # pytest's wrapper of a SyntaxError or an ImportError
        if exc.__cause__ is None:
            return f"{path}: {str(exc).strip()[-2000:]}"
        exc = exc.__cause__
    path = path.resolve()
    frames = [(Path(f.filename), f.lineno) for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if isinstance(exc, SyntaxError) and exc.filename and not exc.filename.startswith("<"):
        frames.append((Path(exc.filename), exc.lineno))

    def resolved(file: Path) -> Path:
        try:
            return file.resolve()
        except OSError:
            return file

    lines = [line for file, line in frames if resolved(file) == path]
    where = f"{path}:{lines[-1]}" if lines and lines[-1] else str(path)
    if isinstance(exc, GraderError):
        what = str(exc)
    elif isinstance(exc, SyntaxError):
        what = f"{type(exc).__name__}: {exc.msg}"
    else:
        what = f"{type(exc).__name__}: {exc}"
    deepest = (resolved(frames[-1][0]), frames[-1][1]) if frames else None
    if deepest is not None and deepest[0] != path and any(deepest[0].is_relative_to(root / half) for half in ("assignments", "solutions")):
        what += f" (at {deepest[0]}:{deepest[1]})"
    return f"{where}: {what}"
