"""Assignment 1 (tensors that remember): the README's example and the references keep COURSE.md's promises."""

from __future__ import annotations

import numpy as np
import torch

from conftest import ROOT, grade, readme_example_output
from grader.exchange import View
from grader.checks import assignment_module

ref = assignment_module(ROOT / "assignments" / "assignment1" / "references.py", "references")


def test_assignment1_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment1", monkeypatch)
    assert printed == [
        "torch.float32 True True",
        "27.0 True",
        "[[4.5, 4.5], [4.5, 4.5]]",
        "[[4.5, 4.5], [4.5, 4.5]]",
        "[[9.0, 9.0], [9.0, 9.0]]",
        "27.0 False None",
        "ndarray float32 (2, 2)",
        "8.0",
    ]


def test_references_give_the_course_worked_examples():
    x = torch.ones(2, 2)
    assert ref.forward(x).item() == 27.0
    assert torch.equal(ref.grad_of_forward(x), torch.full((2, 2), 4.5))
    assert torch.equal(ref.analytic_grad(x), torch.full((2, 2), 4.5))
    assert torch.equal(ref.accumulated_grad(x, 2), torch.full((2, 2), 9.0))
    y = x.clone().requires_grad_(True) + 1
    assert (y * y * 2).mean().item() == 8.0


def test_reference_gradient_is_the_contract_formula():
    """COURSE.md: the gradient equals 6 * (x + 2) / x.numel(); the reference (autograd) agrees."""
    g = torch.Generator().manual_seed(0)
    for shape in [(), (1,), (3, 4), (2, 3, 5)]:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        torch.testing.assert_close(ref.grad_of_forward(x), 6 * (x + 2) / x.numel())
        torch.testing.assert_close(ref.accumulated_grad(x, 3), 3 * ref.grad_of_forward(x))
        with torch.no_grad():
            torch.testing.assert_close(ref.analytic_grad(x), 6 * (x + 2) / x.numel())


def test_make_leaf_reference_handles_every_input_kind():
    a = np.arange(12.0).reshape(4, 3)
    for name in ("reversed", "transposed", "strided", "reversed_columns"):
        view = View(a, name).build()
        out = ref.make_leaf(view)
        assert out.dtype == torch.float32 and out.shape == view.shape and np.array_equal(out.numpy(), view)
    assert ref.make_leaf(2.5).shape == () and ref.make_leaf(np.array(3)).shape == ()
    assert ref.make_leaf(np.zeros((2, 0))).shape == (2, 0) and ref.make_leaf([]).shape == (0,)
    assert ref.make_leaf([[1, 2], [3, 4]]).dtype == torch.float32


_NO_GRAD_INSIDE = {
    "with_block": "def analytic_grad(x):\n    with torch.no_grad():\n        return 6 * (x + 2) / x.numel()\n",
    "decorator": "@torch.no_grad()\ndef analytic_grad(x):\n    return 6 * (x + 2) / x.numel()\n",
}


def test_no_grad_inside_analytic_grad_is_not_forbidden(tmp_path):
    """Switching autograd OFF inside analytic_grad is not using autograd: full marks, no problem code
    (the guard once took no_grad's exit, which switches grad mode back on, for torch.set_grad_enabled(True))."""
    source = (ROOT / "solutions" / "assignment1" / "autograd_basics.py").read_text()
    start = source.index("def analytic_grad(x):")
    end = source.index("def forward_no_grad(x):")
    folder = tmp_path / "class"
    for name, body in _NO_GRAD_INSIDE.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "autograd_basics.py").write_text(source[:start] + body + "\n\n" + source[end:])
    book = grade(folder, tmp_path / "out", assignment="assignment1")
    for name in _NO_GRAD_INSIDE:
        assert book.rows[name]["problems"] == "", book.feedback(name)
        assert float(book.rows[name]["score"]) == 100, book.feedback(name)
