"""`grader list`: the course's assignments."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.markup import escape
from rich.table import Table

from grader import course as course_mod
from grader.cli.shell import CourseOpt, app, fail, out
from grader.errors import GraderError
from grader.scoring import fmt_points


@app.command("list")
def list_cmd(course: Optional[Path] = CourseOpt) -> None:
    """The course's title (from its course.toml) and its assignments, their titles and points."""
    try:
        the_course = course_mod.load_course(course)
        assignments = course_mod.list_all(root=the_course.root)
    except GraderError as exc:
        fail(exc)
    if the_course.title:
        out.print(f"[bold]{escape(the_course.title)}[/]")
    table = Table("assignment", "title", "module", "points", "bonus")
    for column in table.columns:
        column.no_wrap = True
    for a in assignments:
        table.add_row(a.name, a.title, f"{a.module}.py", fmt_points(a.points), fmt_points(a.bonus))
    out.print(table)
