"""nbgrader end to end with nbgrader's own commands: source notebooks that `nbgrader generate_assignment`
accepts, `grader grade --nbgrader` writing nbgrader's gradebook (read back by `nbgrader export`, formgrader's
API and `nbgrader generate_feedback`), and the test cells run by `nbgrader validate` in a real kernel."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, run_grader

if importlib.util.find_spec("nbgrader") is None:
    if os.environ.get("GRADER_REQUIRE_NBGRADER"):
        raise RuntimeError("nbgrader is not installed (GRADER_REQUIRE_NBGRADER is set, as in CI): pip install -e '.[nbgrader]'")
    pytest.skip("nbgrader is not installed: pip install -e '.[nbgrader]'", allow_module_level=True)

from grader.authoring.stubs import solution_regions  # noqa: E402
from grader.course import list_all, load  # noqa: E402
from grader.interop.nbgrader_source import function_points  # noqa: E402
from grader.submissions.forms import notebook_source  # noqa: E402

NBGRADER = [sys.executable, "-m", "nbgrader"]
TIMESTAMP = "2026-11-20 10:00:00.000000 UTC"


def nbgrader(*args, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([*NBGRADER, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """An nbgrader course with assignment2's source notebook and nbgrader's release of it (generate_assignment: about
    9 s of CPU), made once; each test works on its own copy (:func:`_course`)."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    proc = run_grader("nbgrader", "source", "assignment2", course)
    assert proc.returncode == 0, proc.stderr
    nbgrader("generate_assignment", "assignment2", cwd=course)
    return course


def _course(tmp_path: Path, generated: Path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(generated, course)
    return course


def _answers(source_nb, released_nb, replace: tuple[str, str] | None = None):
    """The released notebook with its solution cells answered from the source notebook (markers dropped)."""
    nb = nbformat.from_dict(released_nb)
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            src = answers[cell.metadata["nbgrader"]["grade_id"]]
            cell.source = "\n".join(line for line in src.source.splitlines() if "### " not in line)
            if replace:
                cell.source = cell.source.replace(*replace)
    return nb


def _submit(course: Path, student: str, assignment: str, nb=None, *, name: str | None = None) -> None:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    if nb is not None:
        nbformat.write(nb, folder / (name or f"{load(assignment, root=ROOT).module}.ipynb"))
    (folder / "timestamp.txt").write_text(TIMESTAMP)


GENERATE_ALL = """
import sys
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

api = NbGraderAPI(CourseDirectory(root=sys.argv[1]))
for name in sys.argv[2:]:
    result = api.generate_assignment(name)
    if not result["success"]:
        sys.exit(name + ": " + result["error"] + result["log"][-2000:])
"""


def test_every_source_notebook_is_accepted_by_generate_assignment(tmp_path):
    """What formgrader's Generate button runs (nbgrader's API, one process for the five assignments)."""
    course = tmp_path / "course"
    assignments = list_all(root=ROOT)
    for a in assignments:
        proc = run_grader("nbgrader", "source", a.name, course)
        assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-c", GENERATE_ALL, course, *(a.name for a in assignments)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for a in assignments:
        source = nbformat.read(course / "source" / a.name / f"{a.module}.ipynb", as_version=4)
        released = nbformat.read(course / "release" / a.name / f"{a.module}.ipynb", as_version=4)

        # The code cells are the reference solution, statement for statement.
        solution = a.solution.read_text()
        assert ast.dump(ast.parse(notebook_source(nbformat.writes(source).encode()))) == ast.dump(ast.parse(solution))
        # One autograded test cell per function that checks are about (assignment6's given module-level functions
        # have none: their class's checks call them), worth its checks' points; together the assignment's points.
        tests = [c.metadata["nbgrader"] for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
        points = function_points(a)
        assert [t["grade_id"] for t in tests] == [fn for fn in a.functions if points[fn] != (0.0, 0.0)]
        assert [t["points"] for t in tests] == [points[t["grade_id"]][0] for t in tests]
        assert sum(t["points"] for t in tests) == a.points
        # nbgrader's release keeps no solution: no marker, no line that only a solution region has.
        text = nbformat.writes(released)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        lines = solution.splitlines()
        stub = {line.strip() for line in a.stub.read_text().splitlines()}
        secret = {lines[n].strip() for begin, end in solution_regions(solution) for n in range(begin, end - 1)} - stub
        code = [c for c in released.cells if c.cell_type == "code"]
        released_code = {line.strip() for c in code for line in c.source.splitlines()}
        assert secret and not secret & released_code, a.name
        assert sum(c.source.count("raise NotImplementedError()") for c in code) == len(solution_regions(solution))


def _export(course: Path) -> dict[str, dict]:
    nbgrader("export", "--to", course / "export.csv", cwd=course)
    with open(course / "export.csv", newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == "assignment2"}


def test_grade_writes_nbgrader_gradebook_end_to_end(tmp_path, generated):
    course = _course(tmp_path, generated)
    source = nbformat.read(course / "source" / "assignment2" / "linear_regression.ipynb", as_version=4)
    released = nbformat.read(course / "release" / "assignment2" / "linear_regression.ipynb", as_version=4)
    _submit(course, "alice", "assignment2", _answers(source, released))
    _submit(course, "bob", "assignment2", released)  # handed in untouched
    _submit(course, "carol", "assignment2", _answers(source, released, ("return x @ w + b", "return x @ w")))
    _submit(course, "dave", "assignment2", _answers(source, released), name="renamed.ipynb")
    out = tmp_path / "out"

    # A course folder whose gradebook lacks the assignment: told what to run, and the grades are kept.
    elsewhere = tmp_path / "not-generated"
    elsewhere.mkdir()
    proc = run_grader("grade", "assignment2", course / "submitted", "-o", out, "--nbgrader", elsewhere)
    assert proc.returncode == 2 and "nbgrader generate_assignment assignment2" in proc.stderr, proc.stderr
    assert (out / "grades.csv").read_text().count("\n") == 5

    proc = run_grader("grade", "assignment2", course / "submitted", "-o", out, "--nbgrader", course)
    assert proc.returncode == 0, proc.stderr
    assert "reused 4 unchanged results" in proc.stderr
    assert "wrote 4 submissions into the gradebook" in proc.stderr
    with open(out / "grades.csv", newline="") as f:
        ours = {row["student"]: row for row in csv.DictReader(f)}
    # dave's renamed notebook is the one notebook in his folder: graded as it is (an upload is not lost to its name).
    assert ours["alice"]["score"] == "100" and ours["bob"]["score"] == "0" and ours["dave"]["score"] == "100"
    assert 0 < float(ours["carol"]["score"]) < 100

    # nbgrader's own export reads the same scores (and the submission timestamps) from its gradebook.
    exported = _export(course)
    assert {s: float(r["score"]) for s, r in exported.items()} == {s: float(r["score"]) for s, r in ours.items()}
    assert all(r["max_score"] == "100.0" and r["timestamp"].startswith("2026-11-20 10:00:00") for r in exported.values())

    # Formgrader's API: every submission autograded, per-cell scores summing to ours, nothing to review.
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    api = NbGraderAPI(CourseDirectory(root=str(course)))
    listed = {s["student"]: s for s in api.get_submissions("assignment2")}
    assert set(listed) == set(ours)
    assert all(s["autograded"] and not s["needs_manual_grade"] for s in listed.values())
    assert {s: v["score"] for s, v in listed.items()} == {s: float(r["score"]) for s, r in ours.items()}
    # Per cell: each function's test cell holds what its checks earned.
    from nbgrader.api import Gradebook

    earned: dict[str, float] = {}
    for test in json.loads((out / "results" / "carol.json").read_text())["tests"]:
        fn = test["name"].split(".")[0]
        earned[fn] = earned.get(fn, 0) + test["score"]
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        grades = {g.name: g.score for g in gb.find_submission_notebook("linear_regression", "assignment2", "carol").grades}
        assert grades == earned and grades["forward"] < 20
        # An instructor's manual override survives a regrade.
        gb.find_grade("forward", "linear_regression", "assignment2", "carol").manual_score = 20
        gb.db.commit()
    # nbgrader's feedback pages are built from the autograded notebooks: carol's names her failing check.
    nbgrader("generate_feedback", "assignment2", cwd=course)
    page = (course / "feedback" / "carol" / "assignment2" / "linear_regression.html").read_text()
    assert "forward.worked_example" in page and "expected 0.94" in page

    proc = run_grader("grade", "assignment2", course / "submitted", "-o", out, "--nbgrader", course)
    assert proc.returncode == 0, proc.stderr
    again = _export(course)
    assert float(again["carol"]["score"]) == float(ours["carol"]["score"]) - grades["forward"] + 20
    assert {s: r["score"] for s, r in again.items() if s != "carol"} == {s: r["score"] for s, r in exported.items() if s != "carol"}

    # A student graded from elsewhere has no nbgrader student folder: told, never invented in the gradebook.
    from grader.interop.nbgrader_gradebook import write_scores

    shutil.copy(out / "results" / "alice.json", out / "results" / "zed.json")
    written = write_scores(course, load("assignment2", root=ROOT), out / "results", ["alice", "zed"])
    assert written.students == ["alice"] and len(written.warnings) == 1 and written.warnings[0].startswith("zed: no folder")
    assert "zed" not in _export(course)


def test_nbgrader_validate_runs_the_public_checks_in_the_kernel(tmp_path, generated):
    course = _course(tmp_path, generated)
    source = nbformat.read(course / "source" / "assignment2" / "linear_regression.ipynb", as_version=4)
    released = nbformat.read(course / "release" / "assignment2" / "linear_regression.ipynb", as_version=4)
    for student, nb in {"alice": _answers(source, released),
                        "carol": _answers(source, released, ("return x @ w + b", "return x @ w"))}.items():
        _submit(course, student, "assignment2", nb)
    ok = nbgrader("validate", course / "submitted" / "alice" / "assignment2" / "linear_regression.ipynb", cwd=course)
    assert "Success! Your notebook passes all the tests." in ok.stdout + ok.stderr
    bad = subprocess.run([*NBGRADER, "validate", "linear_regression.ipynb"], capture_output=True, text=True,
                         cwd=course / "submitted" / "carol" / "assignment2", timeout=600)
    text = bad.stdout + bad.stderr
    assert 'check("assignment2", "forward")' in text
    assert "ChecksFailed: 2 of 3 public checks of forward failed (3 / 10 points)" in text
    assert "forward.worked_example: forward(x, w, b) on the worked example" in text and "Hint: return" in text
    assert 'check("assignment2", "mse_loss")' not in text  # the other functions pass


def test_nbgrader_flag_without_nbgrader_installed_fails_before_grading(tmp_path):
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['nbgrader'] = None\n")
    proc = run_grader("grade", "assignment2", ROOT / "examples" / "assignment2", "-o", tmp_path / "out",
                      "--nbgrader", tmp_path, env={"PYTHONPATH": str(blocker)}, fresh=True)
    assert proc.returncode == 2
    assert "pip install 'torch-autograder[nbgrader]'" in proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_malformed_notebooks_and_metadata_stop_one_student_never_the_export(tmp_path, generated):
    """nbgrader metadata of every wrong shape, a notebook that is not JSON, and cells that claim to be test
    cells: each is that student's problem (or a warning), and every other student is in the gradebook."""
    course = _course(tmp_path, generated)
    source = nbformat.read(course / "source" / "assignment2" / "linear_regression.ipynb", as_version=4)
    released = nbformat.read(course / "release" / "assignment2" / "linear_regression.ipynb", as_version=4)
    _submit(course, "alice", "assignment2", _answers(source, released))
    odd = {"bob": "a string", "erin": ["a", "list"], "fay": 7}
    for student, value in odd.items():  # valid JSON that nbformat accepts: the cells' code is still the module
        nb = _answers(source, released)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        first_code.metadata["nbgrader"] = value
        _submit(course, student, "assignment2", nb)
    _submit(course, "carol", "assignment2")
    (course / "submitted" / "carol" / "assignment2" / "linear_regression.ipynb").write_text("{not json")
    dave = _answers(source, released)  # a second cell claiming to be forward's test cell, with a forged output
    forged = nbformat.v4.new_code_cell("print('forward: 20 points')", metadata={"nbgrader": {
        "grade": True, "solution": False, "grade_id": "forward", "points": 20, "locked": True, "schema_version": 3}})
    forged.outputs = [nbformat.v4.new_output("stream", name="stdout", text="forward: 20 points (forged)\n")]
    dave.cells.append(forged)
    _submit(course, "dave", "assignment2", dave)
    out = tmp_path / "out"
    proc = run_grader("grade", "assignment2", course / "submitted", "-o", out, "--nbgrader", course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "grades.csv", newline="") as f:
        ours = {row["student"]: row for row in csv.DictReader(f)}
    assert {s: (r["score"], r["problems"]) for s, r in ours.items()} == {
        "alice": ("100", ""), "bob": ("100", ""), "erin": ("100", ""), "fay": ("100", ""), "dave": ("100", ""),
        "carol": ("0", "syntax")}
    assert "wrote 6 submissions into the gradebook" in proc.stderr, proc.stderr
    assert "dave: cell" in proc.stderr and "repeats the test cell forward" in proc.stderr
    assert "carol: linear_regression.ipynb was not copied" in proc.stderr
    exported = _export(course)
    assert {s: float(r["score"]) for s, r in exported.items()} == {s: float(r["score"]) for s, r in ours.items()}
    autograded = nbformat.read(course / "autograded" / "dave" / "assignment2" / "linear_regression.ipynb", as_version=4)
    assert "forged" not in json.dumps(autograded)
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    listed = {s["student"]: s for s in NbGraderAPI(CourseDirectory(root=str(course))).get_submissions("assignment2")}
    assert set(listed) == set(ours) and all(s["autograded"] for s in listed.values())
