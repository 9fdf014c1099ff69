"""Generate student stubs from reference solutions (nbgrader's ClearSolutions rule).

Every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
``raise NotImplementedError`` at the region's indentation; everything else
(signatures, docstrings, imports) is kept, so stub and solution never drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grader.errors import CourseError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def make_stub(source: str, *, name: str = "<solution>") -> str:
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise CourseError(f"{name}:{number}: {BEGIN} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError\n")
        elif stripped == END:
            if not inside:
                raise CourseError(f"{name}:{number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise CourseError(f"{name}: {BEGIN} is never closed")
    return "".join(out)


def stub_pairs(course: Path):
    """``(solution file, stub file)`` for every assignment module with a solution."""
    for solution in sorted((course / "solutions").glob("*/*.py")):
        stub = course / "assignments" / solution.parent.name / solution.name
        if BEGIN in solution.read_text(encoding="utf-8"):
            yield solution, stub


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.authoring [COURSE]``: regenerate every stub from its solution."""
    from grader.course import course_root

    course = course_root((argv or sys.argv[1:] or [None])[0])
    for solution, stub in stub_pairs(course):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(make_stub(solution.read_text(encoding="utf-8"), name=str(solution)), encoding="utf-8")
        print(f"wrote {stub.relative_to(course)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
