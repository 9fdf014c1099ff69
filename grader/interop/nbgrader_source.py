"""An assignment as an nbgrader source notebook (``grader nbgrader source``).

``COURSE/source/<assignment>/<module>.ipynb`` holds, in order: the student
README as a markdown cell; the module's header (docstring, imports) as a
plain code cell; then per function of the contract a *solution cell* (its
code, ``### BEGIN/END SOLUTION`` markers included, which
``nbgrader generate_assignment`` replaces with ``raise NotImplementedError()``)
and an *autograded test cell* worth the function's points (public and hidden
checks) that calls :func:`grader.notebook.check`. Concatenating the code cells
gives back the reference solution, so what students edit is the module that
``grader grade`` grades.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader.authoring import stubs as authoring
from grader.course import Assignment
from grader.errors import CourseError, UsageError
from grader.reports.outputs import write_atomic
from grader.scoring import fmt_points, function_of

SCHEMA_VERSION = 3

TEST_CELL = '''\
# Autograded: the checks of `{fn}` ({points} points). Run this cell to see its public checks;
# the hidden checks run when your instructor grades with `grader grade`.
from grader.notebook import check
check("{assignment}", "{fn}")
'''


def function_points(assignment: Assignment) -> dict[str, tuple[float, float]]:
    """``function -> (points, bonus points)`` over the public and hidden checks, read from their
    ``@check("function.name", points=..., bonus=...)`` markers without importing them."""
    totals = {fn: [0.0, 0.0] for fn in assignment.functions}
    files = [assignment.public_checks, *([assignment.hidden_checks] if assignment.hidden_checks else [])]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and node.args):
                continue
            try:
                check_id = ast.literal_eval(node.args[0])
                kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("points", "bonus")}
            except ValueError:
                raise CourseError(f"{path}:{node.lineno}: a @check marker needs a literal id and points") from None
            fn = function_of(str(check_id))
            if fn not in totals:
                raise CourseError(f"{path}:{node.lineno}: check {check_id!r} is not about a function of {assignment.name}")
            totals[fn][1 if kw.get("bonus") else 0] += float(kw.get("points", 0))
    return {fn: (p, b) for fn, (p, b) in totals.items()}


def _cells_of(source: str, functions: list[str], name: str) -> tuple[str, list[tuple[str, str]]]:
    """The module's header and ``(function, code)`` per contract function, cut where each definition
    starts (its decorators and the comment lines right above it included)."""
    lines = source.splitlines()
    starts = {}
    for fn, (first, _) in authoring.definition_spans(ast.parse(source, filename=name), functions).items():
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        starts[fn] = first
    missing = [fn for fn in functions if fn not in starts]
    if missing:
        raise CourseError(f"{name}: no top-level definition of {', '.join(missing)}")
    order = sorted(starts, key=starts.get)
    bounds = [starts[fn] for fn in order] + [len(lines)]
    header = "\n".join(lines[: bounds[0]]).strip("\n")
    return header, [(fn, "\n".join(lines[bounds[k]: bounds[k + 1]]).strip("\n")) for k, fn in enumerate(order)]


def _meta(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = int(points) if float(points).is_integer() else points
    return {"nbgrader": meta}


def source_notebook(assignment: Assignment):
    """The nbgrader source notebook of ``assignment`` (an ``nbformat`` notebook)."""
    import nbformat

    if assignment.solution is None:
        raise UsageError(f"the reference solution of {assignment.name} is not installed here: run this from the instructor's checkout")
    source = assignment.solution.read_text(encoding="utf-8")
    authoring.solution_regions(source, name=str(assignment.solution))  # refuses unbalanced markers
    header, functions = _cells_of(source, assignment.functions, str(assignment.solution))
    points = function_points(assignment)
    readme = assignment.directory / "README.md"
    nb = nbformat.v4.new_notebook()
    nb.metadata.update({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    if readme.is_file():
        nb.cells.append(nbformat.v4.new_markdown_cell(readme.read_text(encoding="utf-8").strip()))
    nb.cells.append(nbformat.v4.new_code_cell(header))
    for fn, code in functions:
        has_solution = authoring.BEGIN in code
        nb.cells.append(nbformat.v4.new_code_cell(
            code, metadata=_meta(f"{fn}_code", solution=True, grade=False, locked=False) if has_solution else {},
        ))
        regular, bonus = points[fn]
        if regular or bonus:
            label = fmt_points(regular) + (f" + {fmt_points(bonus)} bonus" if bonus else "")
            nb.cells.append(nbformat.v4.new_code_cell(
                TEST_CELL.format(fn=fn, points=label, assignment=assignment.name),
                metadata=_meta(fn, solution=False, grade=True, locked=True, points=regular),
            ))
    return nb


def write_source(assignment: Assignment, course: Path) -> Path:
    """Write ``course/source/<assignment>/<module>.ipynb``; returns its path."""
    import nbformat

    path = course / "source" / assignment.name / f"{assignment.module}.ipynb"
    nb = source_notebook(assignment)
    nbformat.validate(nb)
    try:
        write_atomic(path, nbformat.writes(nb))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
