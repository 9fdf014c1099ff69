"""Hostile submissions gain nothing and leak nothing into any output."""

from __future__ import annotations

import pytest

from conftest import SUBMISSIONS, grade


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return grade(SUBMISSIONS / "assignment2_hostile", tmp_path_factory.mktemp("out"), "--timeout", "5")


@pytest.mark.parametrize("name", ["hostile_read_hidden_files", "hostile_gc_and_frames", "hostile_parent_memory", "hostile_forge_outputs"])
def test_attacks_find_nothing(book, name):
    """Each is a correct solution that fails forward with LEAKED if its attack found anything."""
    assert book.rows[name]["score"] == "100", book.feedback(name)
    assert book.rows[name]["problems"] == ""


def test_nothing_leaks_or_is_forged(book):
    text = book.all_output_text()
    for marker in ("LEAKED", "forged", "Hidden checks of assignment2", "1000"):
        assert marker not in text
    assert sorted(book.rows) == sorted(p.name for p in (SUBMISSIONS / "assignment2_hostile").iterdir())
    assert not (book.out.parent / "grades.csv").exists()


def test_monkeypatched_comparisons_do_not_help(book):
    earned = book.earned("hostile_monkeypatch")
    assert earned["forward.worked_example"] == 0 and earned["forward.values_float32"] == 0
    assert earned["mse_loss.values_float32"] > 0


def test_lying_tensor_subclass_is_not_believed(book):
    earned = book.earned("hostile_lying_tensor")
    assert earned["forward.worked_example"] == 0
    assert "torch.Tensor subclass" in book.feedback("hostile_lying_tensor")
