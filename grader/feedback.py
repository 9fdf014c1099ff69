"""A student's feedback, as Markdown and as a self-contained HTML page, from the same parts."""

from __future__ import annotations

from grader import html
from grader.report import ordered_problems
from grader.scoring import CheckResult, Score, fmt_points

MARK = {"passed": "passed", "partial": "partial", "failed": "FAILED", "internal": "grader error"}


def check_line(check_id: str, score: float, max_score: float, passed: bool) -> str:
    """One check as a line of plain text (notebook cells): ``  ✓ forward.worked_example  3/3``, ``~`` for partial credit."""
    mark = "✓" if passed else ("~" if score else "✗")
    return f"  {mark} {check_id}  {fmt_points(score)}/{fmt_points(max_score)}"


def markdown(student: str, assignment: str, results: list[CheckResult], score: Score, problems: set[str], notes: list[str]) -> str:
    lines = [f"# {assignment}: feedback for {student}", "", f"**Score: {fmt_points(score.score)} / {fmt_points(score.max_score)}**", ""]
    if problems:
        lines += [f"Problems: {', '.join(ordered_problems(problems))}", ""]
    lines += [f"> {note}" for note in notes]
    if notes:
        lines.append("")
    lines += ["| check | points | result |", "| --- | --- | --- |"]
    for r in results:
        bonus = " (bonus)" if r.bonus else ""
        lines.append(f"| `{r.id}`{bonus} | {fmt_points(score.earned[r.id])} / {fmt_points(r.points)} | {MARK[r.outcome]} |")
    failing = [r for r in results if r.outcome != "passed"]
    if failing:
        lines += ["", "## What to fix", ""]
        for r in failing:
            lines += [f"### `{r.id}`", "", _md_text(r.message), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_text(text: str) -> str:
    return text.replace("\r", " ").replace("<", "&lt;").replace(">", "&gt;")


def page(student: str, assignment: str, results: list[CheckResult], score: Score, problems: set[str], notes: list[str]) -> str:
    e = html.esc
    body = [
        f"<h1>{e(assignment)}: feedback for {e(student)}</h1>",
        f"<p class=\"score\">Score: {fmt_points(score.score)} / {fmt_points(score.max_score)}</p>",
    ]
    if problems:
        body.append(f"<p>Problems: {e(', '.join(ordered_problems(problems)))}</p>")
    body += [f"<p class=\"note\">{e(note)}</p>" for note in notes]
    rows = [
        [
            f"<code>{e(r.id)}</code>" + (" (bonus)" if r.bonus else ""),
            f"{fmt_points(score.earned[r.id])} / {fmt_points(r.points)}",
            f"<span class=\"{r.outcome}\">{MARK[r.outcome]}</span>",
        ]
        for r in results
    ]
    body.append(html.table(["check", "points", "result"], rows, numeric={1}))
    failing = [r for r in results if r.outcome != "passed"]
    if failing:
        body.append("<h2>What to fix</h2>")
        for r in failing:
            body += [f"<h3 id=\"{e(r.id)}\"><code>{e(r.id)}</code></h3>", f"<pre>{e(r.message)}</pre>"]
    return html.page(f"{assignment}: feedback for {student}", "\n".join(body))
