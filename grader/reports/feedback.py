"""A student's feedback, as Markdown and as a self-contained HTML page, from the same parts."""

from __future__ import annotations

import re

from grader.reports import html
from grader.reports.outputs import ordered_problems
from grader.scoring import CheckResult, Score, fmt_points

MARK = {"passed": "passed", "partial": "partial", "failed": "FAILED", "internal": "grader error"}


def check_line(check_id: str, score: float, max_score: float, passed: bool) -> str:
    """One check as a line of plain text (notebook cells): ``  ✓ area.float64  3/3``, ``~`` for partial credit."""
    mark = "✓" if passed else ("~" if score else "✗")
    return f"  {mark} {check_id}  {fmt_points(score)}/{fmt_points(max_score)}"


def markdown(student: str, assignment: str, results: list[CheckResult], score: Score, problems: set[str], notes: list[str]) -> str:
    """The feedback as Markdown. What a student controls (their name, file names, exception messages, returned
    values) is only ever inside a code span or a fenced block, where no link, image, heading, table or HTML renders."""
    lines = [f"# {assignment}: feedback for {_span(student)}", "", f"**Score: {fmt_points(score.score)} / {fmt_points(score.max_score)}**", ""]
    if problems:
        lines += [f"Problems: {', '.join(ordered_problems(problems))}", ""]
    if notes:
        lines += [*_fenced("\n".join(notes)), ""]
    lines += ["| check | points | result |", "| --- | --- | --- |"]
    for r in results:
        bonus = " (bonus)" if r.bonus else ""
        lines.append(f"| {_span(r.id)}{bonus} | {fmt_points(score.earned[r.id])} / {fmt_points(r.points)} | {MARK[r.outcome]} |")
    failing = [r for r in results if r.outcome != "passed"]
    if failing:
        lines += ["", "## What to fix", ""]
        for r in failing:
            lines += [f"### {_span(r.id)}", "", *_fenced(r.message), ""]
    return "\n".join(lines).rstrip() + "\n"


def _plain(text: str) -> str:
    """One line per line: carriage returns and other control characters (but tabs) become spaces."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)


def _fenced(text: str) -> list[str]:
    """``text`` as a fenced code block whose fence is longer than any run of backticks in it, so it cannot be closed early."""
    text = _plain(text)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [fence + "text", text, fence]


def _span(text: str) -> str:
    """``text`` on one line as a code span (CommonMark: delimiters longer than any backtick run inside, padded)."""
    text = _plain(text).replace("\n", " ").replace("|", "\\|")
    ticks = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


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
