"""The authoring kit: `grader new` scaffolds a gradable assignment, `grader author` checks one before release.

A course made with `grader new` in a temporary folder is checked as a student checks it (the stub scores 0,
every failure says the function is still a stub) and authored (`grader author` passes on the placeholder);
then four copies of one scaffolded assignment, each broken in one way an author breaks one, are authored in
one run: each fails for its own reason and only for it. Bad `grader new` inputs write nothing.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import run_grader

FUNCTIONS = "double,triple"


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("new") / "course"
    proc = run_grader("new", "tiny", "--module", "ops", "--functions", FUNCTIONS, "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course


def test_new_writes_a_whole_assignment(course):
    names = {str(p.relative_to(course)) for p in course.rglob("*") if p.is_file()}
    assert names == {
        "course.toml", "assignments/tiny/assignment.toml", "assignments/tiny/README.md", "assignments/tiny/ops.py",
        "assignments/tiny/references.py", "assignments/tiny/checks_public.py",
        "solutions/tiny/ops.py", "solutions/tiny/checks_hidden.py",
    }
    public = (course / "assignments/tiny/checks_public.py").read_text()
    hidden = (course / "solutions/tiny/checks_hidden.py").read_text()
    for function in FUNCTIONS.split(","):
        assert f'@check("{function}.' in public and f'@check("{function}.' in hidden
    points = [int(p) for p in re.findall(r"points=(\d+)", public + hidden)]
    assert sum(points) == 100 and len(points) == 4
    assert "### BEGIN SOLUTION" not in (course / "assignments/tiny/ops.py").read_text()
    assert "## Worked example" in (course / "assignments/tiny/README.md").read_text()


def test_the_stub_scores_zero_and_says_each_function_is_a_stub(course):
    proc = run_grader("check", "tiny", "--course", course, "--path", course / "assignments" / "tiny", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["score"] == 0 and doc["checks"], doc
    for result in doc["checks"]:
        assert "still raises NotImplementedError" in result["message"], result


def test_author_passes_on_what_new_wrote(course):
    proc = run_grader("author", "tiny", "--course", course, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    doc = json.loads(proc.stdout)["assignments"]["tiny"]
    assert doc["ok"] and doc["deterministic"] and not doc["leaks"] and sum(doc["stub"].values()) == 0
    assert all(v["earned"] == v["points"] for v in doc["solution"].values())
    assert doc["mutation"]["mutation_score"] == 100.0 and doc["mutation"]["mutants"] >= 6
    assert set(doc["seconds"]) == set(doc["solution"])


@pytest.mark.parametrize("args, message", [
    (["tiny", "--module", "ops2", "--functions", "f"], "already exists"),
    (["week-1", "--module", "ops", "--functions", "f"], "not a Python identifier"),
    (["other", "--module", "ops", "--functions", "f,g,f"], "lists 'f' twice"),
    (["other", "--module", "math", "--functions", "f"], "shadows the standard-library module"),
    (["other", "--module", "torch", "--functions", "f"], "shadows"),
    (["other", "--module", "ops", "--functions", "f,2g"], "not a Python identifier"),
])
def test_bad_new_inputs_are_clear_errors_that_write_nothing(course, args, message):
    before = _snapshot(course)
    proc = run_grader("new", *args, "--course", course)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert _snapshot(course) == before


# ---------------------------------------------------------------- author's failures, one course, one run

BROKEN = ("loses_a_point", "stub_out_of_sync", "leaks_a_hidden_line", "listed_kind_survives")


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """One scaffolded assignment copied four times, each copy broken in one way; `grader author` on all four."""
    course = tmp_path_factory.mktemp("broken") / "course"
    proc = run_grader("new", "base", "--module", "ops", "--functions", "double", "--course", course)
    assert proc.returncode == 0, proc.stderr
    for name in BROKEN:
        for half in ("assignments", "solutions"):
            shutil.copytree(course / half / "base", course / half / name)
    shutil.rmtree(course / "assignments" / "base")
    shutil.rmtree(course / "solutions" / "base")

    def edit(path, old, new):
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1))

    solution = "solutions/{}/ops.py"
    edit(course / solution.format("loses_a_point"), "return x * 2.0", "return x * 2.0 + 0.5")
    edit(course / "assignments/stub_out_of_sync/ops.py", "raise NotImplementedError", "return x")
    hidden_line = next(line for line in (course / "solutions/leaks_a_hidden_line/checks_hidden.py").read_text().splitlines()
                       if line.startswith("@check("))
    edit(course / "assignments/leaks_a_hidden_line/README.md", "## Common mistakes", f"{hidden_line}\n\n## Common mistakes")
    edit(course / solution.format("listed_kind_survives"), "return x * 2.0", "return x.detach() * 2.0")
    edit(course / "assignments/listed_kind_survives/assignment.toml", '"return"]', '"return", "detach"]')
    proc = run_grader("author", *BROKEN, "--course", course, "--json")
    return proc, json.loads(proc.stdout)


def test_author_fails_on_each_broken_copy_and_says_why(broken):
    proc, doc = broken
    assert proc.returncode == 1 and not doc["ok"], proc.stderr[-2000:]
    failing = {line.split(":", 1)[0] for line in doc["failures"]}
    assert failing == set(BROKEN), doc["failures"]


@pytest.mark.parametrize("name, pattern", [
    ("loses_a_point", r"^the solution earns 0 of \d+ on double\.(values|float64)$"),
    ("stub_out_of_sync", r"^assignments/stub_out_of_sync/ops\.py is out of sync with the solution \(line \d+: 'return x'"),
    ("leaks_a_hidden_line", r"^the handout would reveal README\.md: a line of the solution or hidden checks"),
    ("listed_kind_survives", r"^mutant double:detach:L\d+ survives every check .*validate\.must_kill lists detach$"),
])
def test_each_failure_is_one_line_naming_its_cause(broken, name, pattern):
    _, doc = broken
    failures = doc["assignments"][name]["failures"]
    assert failures and all(re.search(pattern, line) for line in failures), failures
