"""``OUT/report.html``: how the class did, from the students' results files, as one offline page.

Plots are inline SVG (:mod:`grader.reports.plots`): score histogram, pass rate per
check, points lost per function, problem codes; then the most common failure
messages and every student's row with a link to their HTML feedback.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict

from grader.reports import html
from grader.reports import plots
from grader.reports.outputs import PROBLEM_CODES
from grader.scoring import fmt_points, function_of

TOP_MESSAGES = 15
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)
_DETAILS = (" (worst", " Input:", " Hint:", " (tier", " (line ")


def failure_kind(message: str) -> str:
    """A failure message without its particulars (values, inputs, hints), so that alike failures group."""
    text = message.splitlines()[0] if message else "(no message)"
    for marker in _DETAILS:
        text = text.split(marker, 1)[0]
    text = _NUMBER.sub("#", text)
    return text[:200].rstrip(" .:;,") or "(no message)"


def _histogram(scores: list[float], max_score: float) -> list[tuple[str, float]]:
    width = max_score / 10 if max_score > 0 else 10
    bins = [0] * 10
    over = 0
    for s in scores:
        if s > max_score:
            over += 1
        else:
            bins[min(9, int(s // width))] += 1
    bars = [(f"{fmt_points(i * width)}-{fmt_points((i + 1) * width)}", n) for i, n in enumerate(bins)]
    if over:
        bars.append((f">{fmt_points(max_score)}", over))
    return bars


def build(assignment: str, title: str, docs: dict[str, dict]) -> str:
    """The class report for ``docs``: each student's results JSON (:func:`grader.reports.outputs.results_json`)."""
    e = html.esc
    students = sorted(docs)
    scores = [float(docs[s]["score"]) for s in students]
    max_score = max([float(docs[s]["max_score"]) for s in students] + [0.0])
    check_ids: list[str] = []
    full, partial, lost = Counter(), Counter(), defaultdict(float)
    points: dict[str, float] = {}
    messages: Counter = Counter()
    problems: Counter = Counter()
    codes_of = {s: docs[s].get("extra_data", {}).get("problems", []) for s in students}
    for s in students:
        problems.update(codes_of[s])
        for t in docs[s]["tests"]:
            cid = t["name"]
            if cid not in points:
                check_ids.append(cid)
                points[cid] = float(t["max_score"])
            earned = float(t["score"])
            full[cid] += earned >= points[cid]
            partial[cid] += 0 < earned < points[cid]
            if not t.get("extra_data", {}).get("bonus"):
                lost[function_of(cid)] += points[cid] - earned
            if earned < points[cid]:
                messages[(cid, failure_kind(t.get("output", "")))] += 1
    n = len(students)
    body = [f"<h1>{e(title)}: class report</h1>"]
    if n:
        body.append(
            f"<p>{n} students; mean {statistics.fmean(scores):.1f}, median {fmt_points(statistics.median(scores))}, "
            f"min {fmt_points(min(scores))}, max {fmt_points(max(scores))} (out of {fmt_points(max_score)}).</p>"
        )
    else:
        body.append("<p>No students were graded.</p>")
    body.append("<h2>Scores</h2>")
    body.append(plots.columns("histogram", "Students per score range", _histogram(scores, max_score)))
    body.append("<h2>Pass rate per check</h2>")
    body.append(plots.rows(
        "pass-rate", "Share of students with full points (green) and partial points (amber), per check",
        [
            (cid, [(full[cid] / n if n else 0, plots.GREEN), (partial[cid] / n if n else 0, plots.AMBER)],
             f"{100 * full[cid] / n if n else 0:.0f}% full" + (f", {100 * partial[cid] / n:.0f}% partial" if partial[cid] else ""))
            for cid in check_ids
        ],
        vmax=1.0,
    ))
    functions = list(dict.fromkeys(function_of(cid) for cid in check_ids))
    per_student = {f: lost[f] / n if n else 0.0 for f in functions}
    body.append("<h2>Points lost per function</h2>")
    body.append(plots.rows(
        "points-lost", "Points lost per student on average, per function (bonus checks not counted)",
        [(f, [(per_student[f], plots.RED)], f"{per_student[f]:.1f}") for f in functions],
        vmax=max(list(per_student.values()) + [1e-9]),
    ))
    body.append("<h2>Problem codes</h2>")
    codes = [(c, problems[c]) for c in PROBLEM_CODES if problems[c]]
    if codes:
        body.append(plots.rows(
            "problems", "Students per problem code", [(c, [(k, plots.AMBER)], str(k)) for c, k in codes], vmax=max(k for _, k in codes),
        ))
    else:
        body.append("<p id=\"plot-problems\">No submission had a problem (syntax, import, timeout, crash, ...).</p>")
    body.append("<h2>Most common failures</h2>")
    common = messages.most_common(TOP_MESSAGES)
    if common:
        body.append(html.table(
            ["students", "check", "failure"], [[str(k), f"<code>{e(cid)}</code>", e(kind)] for (cid, kind), k in common], numeric={0},
        ))
    else:
        body.append("<p>No check failed.</p>")
    body.append("<h2>Students</h2>")
    body.append(html.table(
        ["student", "score", "problems"],
        [
            [f"<a href=\"feedback/{e(s)}.html\">{e(s)}</a>", fmt_points(float(docs[s]["score"])),
             e(";".join(codes_of[s]))]
            for s in students
        ],
        numeric={1},
    ))
    return html.page(f"{title}: class report", "\n".join(body))
