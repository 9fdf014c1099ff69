"""Generate student stubs from reference solutions (nbgrader's ClearSolutions rule).

Every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
``raise NotImplementedError`` at the region's indentation; everything else
(signatures, docstrings, imports) is kept, so stub and solution never drift.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from grader.errors import CourseError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def solution_regions(source: str, *, name: str = "<solution>") -> list[tuple[int, int]]:
    """``(begin, end)`` line numbers (1-based) of every ``### BEGIN/END SOLUTION`` marker pair."""
    regions, begin = [], None
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise CourseError(f"{name}:{number}: {BEGIN} inside another solution region")
            begin = number
        elif stripped == END:
            if begin is None:
                raise CourseError(f"{name}:{number}: {END} without {BEGIN}")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise CourseError(f"{name}: {BEGIN} is never closed")
    return regions


def definition_spans(tree: ast.Module, names) -> dict[str, tuple[int, int]]:
    """Where each top-level function or class named in ``names`` is: ``(first, end)`` with ``first`` the
    0-based index of its first line (decorators included) and ``end`` its 1-based last line, so that
    ``lines[first:end]`` is the whole definition."""
    spans = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
            spans[node.name] = (min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1, node.end_lineno)
    return spans


def make_stub(source: str, *, name: str = "<solution>") -> str:
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    last = 0
    for begin, end in solution_regions(source, name=name):
        out += lines[last:begin - 1]
        marker = lines[begin - 1]
        out.append(f"{marker[: len(marker) - len(marker.lstrip())]}raise NotImplementedError\n")
        last = end
    out += lines[last:]
    return "".join(out)


def stub_pairs(course: Path):
    """``(solution file, stub file)`` for every assignment module with a solution."""
    for solution in sorted((course / "solutions").glob("*/*.py")):
        stub = course / "assignments" / solution.parent.name / solution.name
        if BEGIN in solution.read_text(encoding="utf-8"):
            yield solution, stub


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.authoring.stubs [COURSE]``: regenerate every stub from its solution."""
    from grader.course import course_root

    course = course_root((argv or sys.argv[1:] or [None])[0])
    for solution, stub in stub_pairs(course):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(make_stub(solution.read_text(encoding="utf-8"), name=str(solution)), encoding="utf-8")
        print(f"wrote {stub.relative_to(course)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
