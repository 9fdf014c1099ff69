"""Broken submissions: the right problem codes, the other checks still score, the batch completes."""

from __future__ import annotations

import pytest

from conftest import SUBMISSIONS, grade

ALL = "*"
EXPECTED = {
    "broken_syntax": (["syntax"], ALL),
    "broken_encoding": (["encoding"], ALL),
    "broken_unknown_codec": (["encoding"], ALL),
    "broken_bom_with_latin1_declared": (["encoding"], ALL),
    "broken_import_error": (["import"], ALL),
    "broken_import_missing_package": (["import"], ALL),
    "broken_import_exit": (["import"], ALL),
    "broken_import_input": (["import"], ALL),
    "broken_stub": (["stub"], ALL),
    "broken_misnamed": (["file_name"], ALL),
    "broken_empty_folder": (["missing"], ALL),
    "broken_missing_train": (["missing"], ["train"]),
    "broken_hang_sgd_step": (["timeout"], ["sgd_step", "train"]),
    "broken_exit_zero_grad": (["crash"], ["zero_grad", "train"]),
    "broken_segfault_mse_loss": (["crash"], ["mse_loss", "train"]),
    "broken_huge_alloc_mse_loss": (["memory"], ["mse_loss", "train"]),
    "broken_memory_growth_forward": (["memory"], ["forward", "train"]),
    "broken_prints_10mb": (["output"], []),
    "broken_system_exit_forward": ([], ["forward", "train"]),
    "broken_keyboard_interrupt_forward": ([], ["forward", "train"]),
}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return grade(SUBMISSIONS / "assignment2_broken", tmp_path_factory.mktemp("out"), "--timeout", "2", "--memory", "300", "-j", "1")


def test_every_broken_submission_has_a_row(book):
    assert sorted(book.rows) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_problem_codes_and_affected_checks(book, name):
    problems, functions = EXPECTED[name]
    row = book.rows[name]
    assert (row["problems"].split(";") if row["problems"] else []) == problems, book.feedback(name)
    earned = book.earned(name)
    for cid in book.check_ids:
        affected = functions == ALL or cid.split(".")[0] in functions
        assert (earned[cid] == 0) == affected, f"{cid}: {book.feedback(name)}"


def test_reasons_are_clear(book):
    assert "expected a file named exactly linear_regression.py; found: linear_regresion.py, notes.txt" in book.feedback("broken_misnamed")
    assert "syntax error (line 25)" in book.feedback("broken_syntax")
    assert "cannot be decoded: SyntaxError: unknown encoding: klingon" in book.feedback("broken_unknown_codec")
    assert "did not finish within the time limit" in book.feedback("broken_hang_sgd_step")
    assert "exited with status 7" in book.feedback("broken_exit_zero_grad")
    assert "segmentation fault" in book.feedback("broken_segfault_mse_loss")
    assert "ran out of memory" in book.feedback("broken_huge_alloc_mse_loss")
    assert "still raises NotImplementedError" in book.feedback("broken_stub")
    assert "has no function train()" in book.feedback("broken_missing_train")
    assert "raised SystemExit" in book.feedback("broken_system_exit_forward")


def test_grade_log_has_a_line_per_student(book):
    log = (book.out / "grade.log").read_text()
    for name in EXPECTED:
        assert f" {name}: " in log
    assert "[timeout]" in log and "[crash]" in log


def test_prints_never_reach_any_output(book):
    text = book.all_output_text()
    assert "x" * 100 not in text
    assert "printed 10485761 bytes" in book.feedback("broken_prints_10mb")
    assert "x" * 100 not in book.proc.stdout + book.proc.stderr
