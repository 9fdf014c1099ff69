"""The engine on assignment4: NumPy inputs, float and tuple results, broken and hostile submissions.

Mirrors test_grade_broken.py and test_grade_hostile.py (written for
assignment2) on ``manual_gradients.py``: every broken submission gets the
right problem codes and loses exactly the checks of the affected function and
of the functions that call it (``fit_quadratic`` calls
``quadratic_loss_grads``); hostile ones gain nothing and leak nothing.
"""

from __future__ import annotations

import pytest

from conftest import SUBMISSIONS, grade, max_points

ASSIGNMENT = "assignment4"
FUNCTIONS = {"cost", "gradient", "quadratic_loss_grads", "fit_quadratic"}
ALL = "*"
BROKEN = {
    "broken_syntax": (["syntax"], ALL),
    "broken_encoding": (["encoding"], ALL),
    "broken_import_error": (["import"], ALL),
    "broken_import_missing_package": (["import"], ALL),
    "broken_import_exit": (["import"], ALL),
    "broken_import_input": (["import"], ALL),
    "broken_stub": (["stub"], ALL),
    "broken_misnamed": (["file_name"], ALL),
    "broken_empty_folder": (["missing"], ALL),
    "broken_missing_quadratic_loss_grads": (["missing"], ["quadratic_loss_grads", "fit_quadratic"]),
    "broken_hang_gradient": (["timeout"], ["gradient"]),
    "broken_exit_cost": (["crash"], ["cost"]),
    "broken_segfault_quadratic_loss_grads": (["crash"], ["quadratic_loss_grads", "fit_quadratic"]),
    "broken_huge_alloc_fit_quadratic": (["memory"], ["fit_quadratic"]),
    "broken_memory_growth_quadratic_loss_grads": (["memory"], ["quadratic_loss_grads", "fit_quadratic"]),
    "broken_prints_10mb": (["output"], []),
    "broken_system_exit_cost": ([], ["cost"]),
    "broken_keyboard_interrupt_gradient": ([], ["gradient"]),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    return grade(SUBMISSIONS / "assignment4_broken", tmp_path_factory.mktemp("broken"), "--timeout", "2", "--memory", "300", "-j", "1", assignment=ASSIGNMENT)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return grade(SUBMISSIONS / "assignment4_hostile", tmp_path_factory.mktemp("hostile"), "--timeout", "5", assignment=ASSIGNMENT)


# ------------------------------------------------------------------ broken
def test_every_broken_submission_has_a_row(broken):
    assert sorted(broken.rows) == sorted(p.name for p in (SUBMISSIONS / "assignment4_broken").iterdir()) == sorted(BROKEN)
    assert {cid.split(".")[0] for cid in broken.check_ids} == FUNCTIONS


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_problem_codes_and_affected_checks(broken, name):
    problems, functions = BROKEN[name]
    row = broken.rows[name]
    assert (row["problems"].split(";") if row["problems"] else []) == problems, broken.feedback(name)
    earned, full = broken.earned(name), max_points(broken, name)
    for cid in broken.check_ids:
        affected = functions == ALL or cid.split(".")[0] in functions
        assert (earned[cid] == 0) == affected, f"{cid}: {broken.feedback(name)}"
        if not affected:
            assert earned[cid] == full[cid], f"{cid}: {broken.feedback(name)}"


def test_broken_reasons_are_clear(broken):
    assert "expected a file named exactly manual_gradients.py; found: manual_gradient.py, notes.txt" in broken.feedback("broken_misnamed")
    assert "syntax error (line 49)" in broken.feedback("broken_syntax")
    assert "did not finish within the time limit" in broken.feedback("broken_hang_gradient")
    assert "exited with status 7" in broken.feedback("broken_exit_cost")
    assert "segmentation fault" in broken.feedback("broken_segfault_quadratic_loss_grads")
    assert "ran out of memory" in broken.feedback("broken_huge_alloc_fit_quadratic")
    assert "ran out of memory" in broken.feedback("broken_memory_growth_quadratic_loss_grads")
    assert "still raises NotImplementedError" in broken.feedback("broken_stub")
    assert "has no function quadratic_loss_grads()" in broken.feedback("broken_missing_quadratic_loss_grads")
    assert "raised SystemExit" in broken.feedback("broken_system_exit_cost")
    assert "raised KeyboardInterrupt" in broken.feedback("broken_keyboard_interrupt_gradient")


def test_broken_prints_never_reach_any_output(broken):
    assert "x" * 100 not in broken.all_output_text()
    assert "printed 10485761 bytes" in broken.feedback("broken_prints_10mb")
    assert "x" * 100 not in broken.proc.stdout + broken.proc.stderr


# ------------------------------------------------------------------ hostile
@pytest.mark.parametrize("name", ["hostile_read_hidden_files", "hostile_gc_and_frames", "hostile_parent_memory", "hostile_forge_outputs"])
def test_attacks_find_nothing(hostile, name):
    """Each is a correct solution whose cost raises LEAKED if its attack found anything."""
    assert hostile.rows[name]["score"] == "100", hostile.feedback(name)
    assert hostile.rows[name]["problems"] == ""


def test_nothing_leaks_or_is_forged(hostile):
    text = hostile.all_output_text()
    for marker in ("LEAKED", "forged", "Hidden checks of assignment4", "1000"):
        assert marker not in text
    assert sorted(hostile.rows) == sorted(p.name for p in (SUBMISSIONS / "assignment4_hostile").iterdir())
    assert not (hostile.out.parent / "grades.csv").exists()


def test_monkeypatched_comparisons_do_not_help(hostile):
    earned, full = hostile.earned("hostile_monkeypatch"), max_points(hostile, "hostile_monkeypatch")
    for cid in ("cost.worked_example", "cost.values", "cost.wide_range", "cost.edge_cases"):
        assert earned[cid] == 0, cid
    for cid in hostile.check_ids:
        if not cid.startswith("cost."):
            assert earned[cid] == full[cid], cid


def test_lying_float_and_ndarray_subclasses_are_not_believed(hostile):
    name = "hostile_lying_numbers"
    earned, full = hostile.earned(name), max_points(hostile, name)
    for cid in hostile.check_ids:
        function = cid.split(".")[0]
        if function == "gradient" or cid in ("cost.worked_example", "cost.values", "cost.wide_range", "cost.edge_cases"):
            assert earned[cid] == 0, cid
        elif function in ("quadratic_loss_grads", "fit_quadratic"):
            assert earned[cid] == full[cid], cid
    feedback = hostile.feedback(name)
    assert "_LiarArray object" in feedback
    assert "expected 4.66667, got 10.3333" in feedback  # the float it is (2 * cost + 1), not the one it claims
