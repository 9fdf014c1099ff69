"""Assignment 6's course files keep their promises: the README example is true, the references give COURSE.md's
numbers, and the gradcheck stand-in keeps the student's code where it runs."""

from __future__ import annotations

import re

import torch

from conftest import ROOT, readme_example_code, readme_example_output
from grader.checks import assignment_module
from grader.course import course_root, load

ref = assignment_module(ROOT / "assignments" / "assignment6" / "references.py", "references")


def test_assignment6_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment6", monkeypatch)
    assert printed[:4] == ["0.417", "[-0.341, 0.2424, 0.0986]", "1000.0", "SoftmaxCrossEntropyBackward"]
    comments = [c.split("  ")[0] for c in re.findall(r"print\(.*\)\s+# (.*)", readme_example_code("assignment6"))]
    assert comments == printed


def test_references_give_the_course_numbers():
    logits, target = torch.tensor(ref.WORKED_LOGITS), torch.tensor(ref.WORKED_TARGET)
    assert round(ref.cross_entropy(logits, target).item(), 4) == 0.4170
    grad = ref.cross_entropy_grad(logits, target, torch.tensor(1.0))
    assert [round(g, 4) for g in grad[0].tolist()] == [-0.3410, 0.2424, 0.0986]
    assert ref.softplus(torch.tensor(1000.0)).item() == 1000.0


def test_every_function_is_guarded_and_the_classes_name_the_checks():
    a = load("assignment6", root=course_root())
    applied = {cls: fn for cls, fn in ref.APPLIED_BY.items()}
    assert a.functions == [name for cls, fn in applied.items() for name in (cls, fn)]
    assert set(a.forbidden) == set(applied.values()) and all("autograd" in a.forbidden[fn] for fn in a.forbidden)
