"""OUT/report.html and the HTML feedback: built from the results files, offline, and drawn by a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, grade
from grader.reports import class_report

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome")) if p), None)
PLOTS = ("histogram", "pass-rate", "points-lost", "problems")

#: Appended to a copy of the page: the browser's own layout of every plot, written where --dump-dom shows it.
MEASURE = """<script>
const plots = {};
for (const fig of document.querySelectorAll("figure.plot")) {
  const box = fig.querySelector("svg").getBoundingClientRect();
  const bars = [...fig.querySelectorAll("rect.bar")].map(r => r.getBoundingClientRect()).filter(b => b.width > 0 && b.height > 0);
  plots[fig.id] = {width: box.width, height: box.height, bars: bars.length};
}
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify({plots, links: document.querySelectorAll("a[href^='feedback/']").length});
document.body.appendChild(out);
</script>"""


def _doc(score: float, tests: list[tuple[str, float, float, str]], problems=(), bonus=()) -> dict:
    return {
        "score": score,
        "max_score": 100.0,
        "tests": [
            {"name": n, "score": s, "max_score": m, "output": o, **({"extra_data": {"bonus": True}} if n in bonus else {})}
            for n, s, m, o in tests
        ],
        "extra_data": {"problems": list(problems)},
    }


def test_report_counts_scores_pass_rates_losses_and_failures():
    wrong = "f(x) is wrong: expected {}, got {} (worst absolute error 1; tier: none). Input: x = [{}]. Hint: add b"
    docs = {
        "ann": _doc(100, [("f.values", 60, 60, ""), ("g.shape", 40, 40, "")]),
        "ben": _doc(70, [("f.values", 30, 60, "partial credit: values within the looser tier"), ("g.shape", 40, 40, "")]),
        "cy": _doc(40, [("f.values", 0, 60, wrong.format(1.5, 2.5, 3)), ("g.shape", 40, 40, "")], problems=["timeout"]),
        "dee": _doc(0, [("f.values", 0, 60, wrong.format(-7, 1e-3, 0.25)), ("g.shape", 0, 40, "g() raised ValueError: bad")]),
        "eve": _doc(105, [("f.values", 60, 60, ""), ("g.shape", 40, 40, ""), ("h.bonus", 5, 5, "")], bonus={"h.bonus"}),
    }
    page = class_report.build("a1", "The <first> one", docs)
    assert "<first>" not in page and "The &lt;first&gt; one: class report" in page
    assert "5 students; mean 63.0, median 70" in page
    histogram = page.split('id="plot-histogram"')[1].split("</figure>")[0]
    assert re.findall(r"<title>([^<]*)</title>", histogram) == [
        "0-10: 1", "10-20: 0", "20-30: 0", "30-40: 0", "40-50: 1", "50-60: 0", "60-70: 0", "70-80: 1", "80-90: 0", "90-100: 1", "&gt;100: 1",
    ]
    rates = page.split('id="plot-pass-rate"')[1].split("</figure>")[0]
    assert "f.values: 40% full, 20% partial" in rates and "g.shape: 80% full" in rates and "h.bonus: 20% full" in rates
    lost = page.split('id="plot-points-lost"')[1].split("</figure>")[0]
    # f: 30 + 60 + 60 lost over 5 students; g: 40; the bonus function h costs nothing.
    assert "f: 30.0" in lost and "g: 8.0" in lost and "h: 0.0" in lost
    # Alike failures group whatever their numbers, inputs and hints.
    assert "<td class=\"num\">2</td><td><code>f.values</code></td><td>f(x) is wrong: expected #, got #</td>" in page
    assert "timeout: 1" in page.split('id="plot-problems"')[1]
    assert page.count('<a href="feedback/') == 5


def test_failure_kind_drops_particulars():
    assert class_report.failure_kind("sgd_step() raised RuntimeError: boom (line 22 of m.py) Hint: no_grad") == "sgd_step() raised RuntimeError: boom"
    assert class_report.failure_kind("") == "(no message)"
    assert class_report.failure_kind("params[0].grad is wrong at index [3, 1]: expected 1.5e-07, got -2") == "params[#].grad is wrong at index [#, #]: expected #, got #"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The bundled example class: correct, buggy, a syntax error, a misnamed file, a crash."""
    return grade(ROOT / "examples" / "assignment2", tmp_path_factory.mktemp("class") / "out")


def test_grade_writes_an_offline_report_and_html_feedback_for_everyone(graded_class):
    out = graded_class.out
    page = (out / "report.html").read_text()
    assert "class report" in graded_class.proc.stderr
    for student, row in graded_class.rows.items():
        assert f'<a href="feedback/{student}.html">{student}</a>' in page
        feedback = (out / "feedback" / f"{student}.html").read_text()
        assert f"Score: {row['score']} / 100" in feedback
        assert feedback.count("<tr>") == len(graded_class.check_ids) + 1
    # Nothing is fetched: no scripts, stylesheets, images or fonts from anywhere.
    for html_file in [out / "report.html", *sorted((out / "feedback").glob("*.html"))]:
        text = html_file.read_text()
        assert "<script" not in text and not re.search(r"(src|href)=\"(https?:)?//", text) and "@import" not in text, html_file


def _render(page: Path, tmp_path: Path) -> dict:
    copy = tmp_path / page.name
    copy.write_text(page.read_text().replace("</body>", MEASURE + "\n</body>"))
    proc = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900", "--dump-dom", copy.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"Chromium did not run the page (status {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_the_report_renders_its_plots_in_a_real_browser(graded_class, tmp_path):
    if CHROMIUM is None:
        why = "Chromium is not installed: `apt-get install chromium` (Debian) to check the report in a real browser"
        if os.environ.get("GRADER_REQUIRE_BROWSER"):
            pytest.fail(why + " (GRADER_REQUIRE_BROWSER is set, as in CI)")
        pytest.skip(why)
    measured = _render(graded_class.out / "report.html", tmp_path)
    assert sorted(measured["plots"]) == sorted(f"plot-{name}" for name in PLOTS)
    n_checks = len(graded_class.check_ids)
    for name, drawn in measured["plots"].items():
        assert drawn["width"] > 200 and drawn["height"] > 40, (name, drawn)
        assert drawn["bars"] > 0, (name, drawn)
    # Every check someone passed has its bar; the example class has three problem codes.
    assert measured["plots"]["plot-pass-rate"]["bars"] >= n_checks
    assert measured["plots"]["plot-problems"]["bars"] == 3
    assert measured["links"] == len(graded_class.rows)
