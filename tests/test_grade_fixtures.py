"""`grader grade` end to end on fixture submissions named after their outcome."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, SUBMISSIONS, grade, max_points

EXPECTED = json.loads((SUBMISSIONS / "assignment2.expected.json").read_text())


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return grade(SUBMISSIONS / "assignment2", tmp_path_factory.mktemp("out"))


def test_every_fixture_has_an_expectation_and_a_row(book):
    folders = sorted(p.name for p in (SUBMISSIONS / "assignment2").iterdir() if p.is_dir())
    assert sorted(EXPECTED) == folders
    assert sorted(book.rows) == folders
    assert sum(name.startswith("correct_") for name in folders) >= 6
    assert sum(name.startswith("fails_") for name in folders) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_loses_exactly_the_expected_checks(book, name):
    expected = EXPECTED[name]
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


def test_correct_styles_score_100(book):
    for name in EXPECTED:
        if name.startswith("correct_"):
            assert book.rows[name]["score"] == "100", name


def test_outputs_have_the_fixed_formats(book):
    assert book.columns[:4] == ["student", "score", "max_score", "problems"]
    assert len(book.check_ids) == len(set(book.check_ids)) == 27
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
    for name in ("correct_loops", "fails_sgd_wrong_sign", "partial_forward_float32_math"):
        shutil.copytree(SUBMISSIONS / "assignment2" / name, folder / name)
    again = grade(folder, tmp_path / "out")
    first_lines = {line.split(",")[0]: line for line in (book.out / "grades.csv").read_text().splitlines()}
    for line in (again.out / "grades.csv").read_text().splitlines()[1:]:
        assert line == first_lines[line.split(",")[0]]
    assert (again.out / "grades.csv").read_text().splitlines()[0] == (book.out / "grades.csv").read_text().splitlines()[0]


def test_solution_scores_100_and_stub_0_through_grade(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copytree(ROOT / "solutions" / "assignment2", folder / "solution", ignore=shutil.ignore_patterns("checks_*"))
    shutil.copy(ROOT / "assignments" / "assignment2" / "linear_regression.py", folder / "stub.py")
    book = grade(folder, tmp_path / "out")
    assert book.rows["solution"]["score"] == "100" and book.rows["solution"]["problems"] == ""
    assert book.rows["stub"]["score"] == "0" and book.rows["stub"]["problems"] == "stub"
    assert book.results("solution")["score"] == 100 and book.results("solution")["max_score"] == 100
