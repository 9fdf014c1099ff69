"""A course the grader has never heard of: the bundled assignment3 copied elsewhere with its module and every one
of its functions renamed (solution, stub, checks, references, assignment.toml, submissions), then every command run
on it with --course from another working folder. Nothing in grader/ knows the new names, and the same submissions,
renamed the same way, get the same scores under the new check ids."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from conftest import SUBMISSIONS, Gradebook, copy_course, max_points, run_grader

ASSIGNMENT = "assignment3"
#: Old name -> new name: the module and every function of the contract.
RENAMES = {"jacobians": "jac_tools", "vjp": "pullback", "jacobian": "full_jacobian", "jvp": "pushforward"}
#: Fixtures of tests/submissions/assignment3 graded under the new names: a correct one, one caught by the
#: forbidden-API guard, one-bug variants of each function, the stub.
STUDENTS = ("correct_autograd_grad", "fails_forbidden_jacrev", "fails_jacobian_transposed", "fails_jvp_ignores_u",
            "fails_vjp_leaves_grad", "fails_stub")
EXPECTED = json.loads((SUBMISSIONS / f"{ASSIGNMENT}.expected.json").read_text())


def _renamed(text: str) -> str:
    """Every contract name as a whole word, except as an attribute of something other than the course's own
    modules (``torch.autograd.functional.jacobian`` keeps its name; ``ref.jacobian`` follows the course's)."""
    for old, new in RENAMES.items():
        text = re.sub(rf"(?:(?<=\bref\.)|(?<!\.))\b{old}\b", new, text)
    return text


def _new_id(check_id: str) -> str:
    fn, aspect = check_id.split(".", 1)
    return f"{RENAMES.get(fn, fn)}.{aspect}"


def _rename_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".toml", ".md"):
            path.write_text(_renamed(path.read_text(encoding="utf-8")), encoding="utf-8")
            if path.stem in RENAMES:
                path.rename(path.with_name(RENAMES[path.stem] + path.suffix))


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """``(course, class folder, working folder)``: the renamed copy, the renamed submissions, a third folder."""
    base = tmp_path_factory.mktemp("renamed")
    course = copy_course(base / "course", ASSIGNMENT)
    _rename_tree(course)
    toml = (course / "assignments" / ASSIGNMENT / "assignment.toml").read_text()
    assert 'module = "jac_tools"' in toml and '["pullback", "full_jacobian", "pushforward"]' in toml
    klass = base / "class"
    for student in STUDENTS:
        for path in (SUBMISSIONS / ASSIGNMENT / student).iterdir():
            target = klass / student / (RENAMES.get(path.stem, path.stem) + path.suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_renamed(path.read_text(encoding="utf-8")), encoding="utf-8")
    work = base / "work"
    work.mkdir()
    return course, klass, work


def _expected_rows(book: Gradebook) -> None:
    """Every renamed fixture loses exactly the (renamed) checks it loses under the bundled course."""
    assert set(book.check_ids) >= {"pullback.worked_example", "full_jacobian.shape", "pushforward.worked_example"}
    assert not any(cid.split(".")[0] in RENAMES for cid in book.check_ids)
    assert sorted(book.rows) == sorted(STUDENTS)
    for student in STUDENTS:
        earned, full = book.earned(student), max_points(book, student)
        lost = sorted(cid for cid in book.check_ids if earned[cid] < full[cid])
        assert lost == sorted(_new_id(c) for c in EXPECTED[student]["lose"]), (student, book.feedback(student))
        problems = book.rows[student]["problems"]
        assert (problems.split(";") if problems else []) == EXPECTED[student]["problems"], student
    assert float(book.rows["correct_autograd_grad"]["score"]) == 110  # 100 and the jvp bonus


def test_list_check_and_validate_know_the_new_names(renamed):
    course, klass, work = renamed
    listed = run_grader("list", "--course", course, cwd=work)
    assert listed.returncode == 0 and ASSIGNMENT in listed.stdout, listed.stderr
    ok = run_grader("check", ASSIGNMENT, "--path", klass / "correct_autograd_grad" / "jac_tools.py", "--course", course, "--json", cwd=work)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    ids = [c["id"] for c in doc["checks"]]
    assert ids and all(i.split(".")[0] in RENAMES.values() for i in ids)
    assert all(c["passed"] for c in doc["checks"])
    bug = run_grader("check", ASSIGNMENT, "--path", klass / "fails_jacobian_transposed" / "jac_tools.py", "--course", course, "--json", cwd=work)
    assert bug.returncode == 1, bug.stderr
    lost = sorted(c["id"] for c in json.loads(bug.stdout)["checks"] if c["score"] < c["max_score"])
    assert lost == sorted(_new_id(c) for c in EXPECTED["fails_jacobian_transposed"]["lose"] if _new_id(c) in ids)
    validated = run_grader("validate", ASSIGNMENT, "--course", course, "--json", cwd=work)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert set(json.loads(validated.stdout)["functions"]) == {"pullback", "full_jacobian", "pushforward"}


def test_grade_with_workers_and_on_dask_scores_the_renamed_class_as_the_bundled_one(renamed, tmp_path):
    course, klass, work = renamed
    proc = run_grader("grade", ASSIGNMENT, klass, "-o", tmp_path / "local", "-j", "2", "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    local = Gradebook(tmp_path / "local", proc)
    _expected_rows(local)
    if importlib.util.find_spec("distributed") is None and not os.environ.get("GRADER_REQUIRE_DASK"):
        pytest.skip("Dask's distributed is not installed (pip install -e '.[dask]')")
    proc = run_grader("grade", ASSIGNMENT, klass, "-o", tmp_path / "dask", "--dask-local", "2", "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "dask" / "grades.csv").read_text() == (tmp_path / "local" / "grades.csv").read_text()


def test_release_gradescope_and_nbgrader_source_ship_the_renamed_assignment(renamed, tmp_path):
    course, _, work = renamed
    proc = run_grader("release", ASSIGNMENT, "-o", tmp_path / "handout", "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr
    stub = (tmp_path / "handout" / ASSIGNMENT / "jac_tools.py").read_text()
    assert "def pullback(" in stub and "def full_jacobian(" in stub and "BEGIN SOLUTION" not in stub
    proc = run_grader("gradescope", ASSIGNMENT, "-o", tmp_path / "autograder.zip", "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr
    names = zipfile.ZipFile(tmp_path / "autograder.zip").namelist()
    assert f"course/assignments/{ASSIGNMENT}/jac_tools.py" in names and f"course/assignments/{ASSIGNMENT}/objects.py" in names
    assert f"course/solutions/{ASSIGNMENT}/jac_tools.py" not in names
    nbgrader = tmp_path / "nbgrader"
    nbgrader.mkdir()
    proc = run_grader("nbgrader", "source", ASSIGNMENT, nbgrader, "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr
    notebook = (nbgrader / "source" / ASSIGNMENT / "jac_tools.ipynb").read_text()
    assert "def pullback(f, x, v)" in notebook and "def full_jacobian(f, x)" in notebook and "def vjp(" not in notebook
