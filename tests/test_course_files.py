"""The course files keep their promises: stubs match solutions, README examples are true."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, readme_example_output
from grader.authoring.stubs import make_stub, stub_pairs
from grader.course import course_root, list_all
from grader.errors import CourseError


def test_committed_stubs_are_generated_from_solutions():
    pairs = list(stub_pairs(ROOT))
    assert pairs, "no solution with solution markers found"
    for solution, stub in pairs:
        assert stub.read_text() == make_stub(solution.read_text()), f"{stub} is stale: run python -m grader.authoring.stubs"


def test_stub_bodies_raise_not_implemented_and_keep_docstrings():
    for solution, stub in stub_pairs(ROOT):
        text = stub.read_text()
        assert "### BEGIN SOLUTION" not in text
        assert text.count("raise NotImplementedError") == solution.read_text().count("### BEGIN SOLUTION")
        assert re.findall(r'"""(.*?)"""', text, re.S) == re.findall(r'"""(.*?)"""', solution.read_text(), re.S)


def test_make_stub_rejects_unbalanced_markers():
    with pytest.raises(CourseError):
        make_stub("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(CourseError):
        make_stub("def f():\n    ### END SOLUTION\n")


def test_assignment_points_match_the_checks():
    """assignment.toml's points (shown by `grader list`) equal the checks' total."""
    for a in list_all(root=course_root()):
        files = [a.public_checks] + ([a.hidden_checks] if a.hidden_checks else [])
        base = bonus = 0.0
        for f in files:
            for call in re.findall(r"@check\(([^)]*)\)", f.read_text()):
                points = float(re.search(r"points=([0-9.]+)", call).group(1))
                if "bonus=True" in call:
                    bonus += points
                else:
                    base += points
        assert (base, bonus) == (a.points, a.bonus), a.name


def test_assignment2_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment2", monkeypatch)
    assert printed == ["3.56 True", "3.0 0.8"]
