"""`grader grade` end to end on fixture submissions named after their outcome.

Every ``tests/submissions/<assignment>.expected.json`` maps the folders of
``tests/submissions/<assignment>/`` to the check ids each must lose (and the
problem codes it must get); each assignment's class is graded once.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, SUBMISSIONS, grade, max_points
from grader.course import course_root, list_all, load

ASSIGNMENTS = sorted(p.name.removesuffix(".expected.json") for p in SUBMISSIONS.glob("*.expected.json"))
EXPECTED = {a: json.loads((SUBMISSIONS / f"{a}.expected.json").read_text()) for a in ASSIGNMENTS}
CASES = [(a, name) for a in ASSIGNMENTS for name in sorted(EXPECTED[a])]


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    cache = {}

    def get(assignment: str):
        if assignment not in cache:
            # One process: -j's workers give the same gradebook (test_resume, test_load) and cost two more torch imports.
            cache[assignment] = grade(SUBMISSIONS / assignment, tmp_path_factory.mktemp(assignment), "-j", "1", assignment=assignment)
        return cache[assignment]

    return get


@pytest.fixture(scope="module")
def book(books):
    return books("assignment2")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_fixture_has_an_expectation_and_a_row(books, assignment):
    folders = sorted(p.name for p in (SUBMISSIONS / assignment).iterdir() if p.is_dir())
    assert sorted(EXPECTED[assignment]) == folders
    assert sorted(books(assignment).rows) == folders
    assert sum(name.startswith("correct_") for name in folders) >= 4
    assert sum(name.startswith("fails_") for name in folders) >= (12 if assignment in ("assignment3", "assignment6", "assignment7") else 10)


@pytest.mark.parametrize("assignment, name", CASES)
def test_fixture_loses_exactly_the_expected_checks(books, assignment, name):
    book = books(assignment)
    expected = EXPECTED[assignment][name]
    earned, full = book.earned(name), max_points(book, name)
    lost = sorted(cid for cid in book.check_ids if earned[cid] < full[cid])
    assert lost == sorted(expected["lose"]), book.feedback(name)
    for cid in expected.get("partial", []):
        assert earned[cid] == full[cid] / 2, f"{cid} should earn exactly half: {book.feedback(name)}"
    for cid in set(expected["lose"]) - set(expected.get("partial", [])):
        assert earned[cid] == 0, cid
    problems = book.rows[name]["problems"]
    assert (problems.split(";") if problems else []) == sorted(expected["problems"])
    assert float(book.rows[name]["score"]) == pytest.approx(sum(earned.values()))
    if name.startswith("correct_"):
        assert float(book.rows[name]["score"]) >= 100


def test_assignment2_has_its_share_of_fixtures():
    names = EXPECTED["assignment2"]
    assert sum(n.startswith("correct_") for n in names) >= 6 and sum(n.startswith("fails_") for n in names) >= 12


def test_outputs_have_the_fixed_formats(book):
    assert book.columns[:4] == ["student", "score", "max_score", "problems"]
    assert len(book.check_ids) == len(set(book.check_ids)) == 28
    assert all(cid.split(".")[0] in {"forward", "mse_loss", "zero_grad", "sgd_step", "train"} for cid in book.check_ids)
    doc = book.results("fails_mse_sum")
    assert set(doc) >= {"score", "tests"}
    assert [t["name"] for t in doc["tests"]] == book.check_ids
    for test in doc["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] in {"visible", "after_published"}
    assert doc["score"] == float(book.rows["fails_mse_sum"]["score"])
    failing = next(t for t in doc["tests"] if t["name"] == "mse_loss.values_float32")
    assert "expected" in failing["output"] and "got" in failing["output"] and "Input:" in failing["output"]
    assert "tier" in failing["output"] and "Hint:" in failing["output"]
    assert "fails_mse_sum" in book.feedback("fails_mse_sum")
    assert not list(book.out.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_hidden_feedback_never_shows_check_source(book):
    hidden_source = (ROOT / "solutions" / "assignment2" / "checks_hidden.py").read_text()
    text = book.all_output_text()
    for line in hidden_source.splitlines():
        line = line.strip()
        if len(line) > 40 and not line.startswith(("#", '"""', "@check", "judge.expect(", "f\"")) and "hint=" not in line:
            assert line not in text, f"hidden check source leaked: {line}"


def test_same_submission_graded_twice_gives_identical_rows(book, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("correct_loops", "fails_sgd_wrong_sign", "fails_forward_float32_math"):
        shutil.copytree(SUBMISSIONS / "assignment2" / name, folder / name)
    again = grade(folder, tmp_path / "out")
    first_lines = {line.split(",")[0]: line for line in (book.out / "grades.csv").read_text().splitlines()}
    for line in (again.out / "grades.csv").read_text().splitlines()[1:]:
        assert line == first_lines[line.split(",")[0]]
    assert (again.out / "grades.csv").read_text().splitlines()[0] == (book.out / "grades.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("assignment", [a.name for a in list_all(root=course_root())])
def test_solution_scores_full_marks_and_stub_0_through_grade(tmp_path, assignment):
    a = load(assignment, root=course_root())
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copytree(ROOT / "solutions" / assignment, folder / "solution", ignore=shutil.ignore_patterns("checks_*"))
    shutil.copy(a.stub, folder / "stub.py")
    book = grade(folder, tmp_path / "out", assignment=assignment)
    assert float(book.rows["solution"]["score"]) == a.points + a.bonus and book.rows["solution"]["problems"] == ""
    assert book.rows["stub"]["score"] == "0" and book.rows["stub"]["problems"] == "stub"
    assert book.results("solution")["max_score"] == a.points == 100
