"""The authoring kit: `grader new` scaffolds a gradable assignment, `grader author` checks one before release.

A course made with `grader new` in a temporary folder (two assignments, one with three functions) is checked as
a student checks it (the stub scores 0, every failure says the function is still a stub); its solutions and
references are then written with working code, and every command runs on it: check, grade -j 2 and on Dask,
release, gradescope, nbgrader source and author, with nothing read from the bundled course and no file of the
grader package touched. Then four copies of one scaffolded assignment, each broken in one way an author breaks
one, are authored in one run: each fails for its own reason and only for it. Bad `grader new` inputs write
nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import zipfile

import pytest

from conftest import ROOT, run_grader

FUNCTIONS = "double,triple,halve"
#: What the authors write once `grader new` is done: the solutions (inside their regions) and torch's own ops.
SOLUTIONS = {
    "tiny": {"double": ("F.softsign(x)", "x / (1 + x.abs())"), "triple": ("F.silu(x)", "x * torch.sigmoid(x)"),
             "halve": ("F.tanhshrink(x)", "x - torch.tanh(x)")},
    "pair": {"clip": ("F.relu6(x)", "x.clamp(0, 6)")},
}


def _digest(folder):
    """Relative path -> SHA-256 of every file under ``folder`` (bytecode caches left out)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("new") / "course"
    proc = run_grader("new", "tiny", "--module", "ops", "--functions", FUNCTIONS, "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_grader("new", "pair", "--module", "clipping", "--functions", "clip", "--course", course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course


def _fill(course):
    """Write working code where `grader new` left placeholders: each solution region, each reference."""
    for name, functions in SOLUTIONS.items():
        module = "ops" if name == "tiny" else "clipping"
        solution = course / "solutions" / name / f"{module}.py"
        references = course / "assignments" / name / "references.py"
        text, refs = solution.read_text(), references.read_text().replace("import torch\n", "import torch\nimport torch.nn.functional as F\n", 1)
        for function, (reference, code) in SOLUTIONS[name].items():
            text = re.sub(rf"(def {function}\(x\):.*?### BEGIN SOLUTION\n)    return x \* 2\.0[^\n]*\n", rf"\g<1>    return {code}\n", text, count=1, flags=re.S)
            refs = re.sub(rf"(def {function}\(x: torch.Tensor\).*?\n    \"\"\".*?\"\"\"\n)    return torch.mul\(x, 2.0\)\n", rf"\g<1>    return {reference}\n", refs, count=1, flags=re.S)
        refs = refs.replace("tensors(draw(shapes()), dtype)", "tensors(draw(shapes()), dtype, low=-10.0, high=10.0)")  # past relu6's 6
        assert "x * 2.0" not in text and "torch.mul" not in refs and "high=10.0" in refs, (text, refs)
        solution.write_text(text)
        references.write_text(refs)


def test_new_writes_a_whole_assignment(course):
    names = {str(p.relative_to(course)) for p in course.rglob("*") if p.is_file() and "tiny" in p.parts or p.name == "course.toml"}
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
    assert sum(points) == 100 and len(points) == 6
    assert "### BEGIN SOLUTION" not in (course / "assignments/tiny/ops.py").read_text()
    assert "## Worked example" in (course / "assignments/tiny/README.md").read_text()


def test_the_stub_scores_zero_and_says_each_function_is_a_stub(course):
    proc = run_grader("check", "tiny", "--course", course, "--path", course / "assignments" / "tiny", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["score"] == 0 and doc["checks"], doc
    for result in doc["checks"]:
        assert "still raises NotImplementedError" in result["message"], result


def test_author_passes_on_what_new_wrote(course, tmp_path):
    placeholder = tmp_path / "placeholder"
    shutil.copytree(course, placeholder)
    proc = run_grader("author", "pair", "--course", placeholder, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    doc = json.loads(proc.stdout)["assignments"]["pair"]
    assert doc["ok"] and doc["deterministic"] and not doc["leaks"] and sum(doc["stub"].values()) == 0
    assert all(v["earned"] == v["points"] for v in doc["solution"].values())
    assert doc["mutation"]["mutation_score"] == 100.0 and doc["mutation"]["mutants"] >= 3
    assert set(doc["seconds"]) == set(doc["solution"])


#: Logs every file a grader process opens under the bundled course (its assignments/ and solutions/).
AUDIT = """import os, sys
_bundled = tuple(os.path.join(os.environ["BUNDLED_ROOT"], half) + os.sep for half in ("assignments", "solutions"))
_log = os.environ["BUNDLED_LOG"]
def _hook(event, args):
    if event == "open" and isinstance(args[0], str) and os.path.abspath(args[0]).startswith(_bundled):
        with open(_log, "a") as f:
            f.write(args[0] + "\\n")
sys.addaudithook(_hook)
"""


def test_a_new_course_filled_in_is_graded_by_every_command(course, tmp_path_factory):
    """The must-hold of the authoring kit: a brand-new course, its solutions written, through every command."""
    _fill(course)
    package = _digest(ROOT / "grader")
    work = tmp_path_factory.mktemp("work")
    audit = tmp_path_factory.mktemp("audit")
    (audit / "sitecustomize.py").write_text(AUDIT)
    log = audit / "opened.txt"
    env = {"PYTHONPATH": str(audit), "BUNDLED_ROOT": str(ROOT), "BUNDLED_LOG": str(log), "GRADER_COURSE": ""}

    def grader(*args):
        return run_grader(*args, "--course", course, cwd=work, env=env)

    klass = work / "class"
    for student, source in (("solution", course / "solutions/tiny/ops.py"), ("stub", course / "assignments/tiny/ops.py")):
        (klass / student).mkdir(parents=True)
        (klass / student / "ops.py").write_text(re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", source.read_text(), flags=re.M))
    # Right code, computed in float32 and cast back: the float64 checks `grader new` wrote must catch it.
    (klass / "float32").mkdir()
    (klass / "float32" / "ops.py").write_text("import torch\n" + "".join(
        f"\n\ndef {function}(x):\n    x32 = x.float()\n    return ({code.replace('x', 'x32')}).to(x.dtype)\n"
        for function, (_, code) in SOLUTIONS["tiny"].items()))
    proc = grader("check", "tiny", "--path", klass / "solution", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["score"] == json.loads(proc.stdout)["max_score"], proc.stdout + proc.stderr
    local = grader("grade", "tiny", klass, "-o", work / "local", "-j", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    rows = (work / "local" / "grades.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["student", "score", "max_score"] and len(rows[0].split(",")) == 4 + 6
    scores = {line.split(",")[0]: float(line.split(",")[1]) for line in rows[1:]}
    assert scores["solution"] == 100.0 and scores["stub"] == 0.0
    float32 = {t["name"]: t["score"] for t in json.loads((work / "local" / "results" / "float32.json").read_text())["tests"]}
    assert {name for name, score in float32.items() if name.endswith(".float64") and score == 0} == {
        f"{function}.float64" for function in SOLUTIONS["tiny"]}, float32
    if importlib.util.find_spec("distributed") is not None or os.environ.get("GRADER_REQUIRE_DASK"):
        dask = grader("grade", "tiny", klass, "-o", work / "dask", "--dask-local", "2")
        assert dask.returncode == 0, dask.stderr[-3000:]
        assert (work / "dask" / "grades.csv").read_text() == (work / "local" / "grades.csv").read_text()
    for name, module in (("tiny", "ops"), ("pair", "clipping")):
        proc = grader("release", name, "-o", work / "handout")
        assert proc.returncode == 0, proc.stderr
        handed = (work / "handout" / name / f"{module}.py").read_text()
        solution_lines = [code for _, code in SOLUTIONS[name].values()]
        assert "BEGIN SOLUTION" not in handed and not any(code in handed for code in solution_lines)
        assert not (work / "handout" / name / "checks_hidden.py").exists()
    proc = grader("gradescope", "tiny", "-o", work / "autograder.zip")
    assert proc.returncode == 0, proc.stderr
    names = zipfile.ZipFile(work / "autograder.zip").namelist()
    assert "course/solutions/tiny/checks_hidden.py" in names and "course/solutions/tiny/ops.py" not in names
    (work / "nbgrader").mkdir()
    proc = grader("nbgrader", "source", "pair", work / "nbgrader")
    assert proc.returncode == 0, proc.stderr
    assert "def clip(x)" in (work / "nbgrader" / "source" / "pair" / "clipping.ipynb").read_text()
    proc = grader("author", "tiny", "pair", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for report in json.loads(proc.stdout)["assignments"].values():
        assert report["ok"] and report["mutation"]["mutation_score"] >= 90.0, report
    assert not log.exists() or not log.read_text(), log.read_text()[:2000]
    assert _digest(ROOT / "grader") == package


@pytest.mark.parametrize("args, message", [
    (["tiny", "--module", "ops2", "--functions", "f"], "already exists"),
    (["week-1", "--module", "ops", "--functions", "f"], "not a Python identifier"),
    (["other", "--module", "ops", "--functions", "f,g,f"], "lists 'f' twice"),
    (["other", "--module", "math", "--functions", "f"], "shadows the standard-library module"),
    (["other", "--module", "torch", "--functions", "f"], "shadows"),
    (["other", "--module", "ops", "--functions", "f,2g"], "not a Python identifier"),
])
def test_bad_new_inputs_are_clear_errors_that_write_nothing(course, args, message):
    before = _digest(course)
    proc = run_grader("new", *args, "--course", course)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert _digest(course) == before


# ---------------------------------------------------------------- author's failures, one course, one run

BROKEN = ("loses_a_point", "stub_out_of_sync", "leaks_a_hidden_line", "listed_kind_survives")


def test_new_in_an_existing_course_leaves_its_course_toml_alone(tmp_path):
    """A course folder without course.toml (the bundled one) keeps none: its title stays the grader's default."""
    (tmp_path / "assignments").mkdir()
    proc = run_grader("new", "extra", "--module", "ops", "--functions", "double", "--course", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "assignments" / "extra" / "ops.py").is_file() and not (tmp_path / "course.toml").exists()


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
