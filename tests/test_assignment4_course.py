"""Assignment 4's course files keep their promises: the README example is true, the references are torch's."""

from __future__ import annotations

import re

import numpy as np
import torch

from conftest import ROOT, readme_example_code, readme_example_output
from grader.checks import assignment_module

ref = assignment_module(ROOT / "assignments" / "assignment4" / "references.py", "references")


def test_assignment4_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment4", monkeypatch)
    assert printed == ["4.6667 -9.3333", "2.0 8.0", "-130.27 -302.83", "2.95 2.03"]
    # The comments next to each print say the same.
    assert re.findall(r"print\(.*\)\s+# (.*)", readme_example_code("assignment4")) == printed


def test_readme_data_is_the_checks_data():
    x, y = ref.quadratic_example()
    rng = np.random.default_rng(0)
    assert np.array_equal(x, np.linspace(-1, 1, 100))
    assert np.array_equal(y, 3 * x**2 + 2 + 0.1 * rng.standard_normal(100))
    assert [a.tolist() for a in ref.linear_example()] == [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]


def test_worked_example_numbers_of_course_md():
    x, y = ref.linear_example()
    assert ref.cost(x, y, 1.0).item() == torch.tensor(14 / 3, dtype=torch.float64).item()
    assert abs(ref.gradient(x, y, 1.0).item() + 28 / 3) < 1e-12
    assert ref.gradient(x, y, 2.0).item() == 0.0
    w = 1.0
    for _ in range(100):
        w -= 0.01 * ref.gradient(x, y, w).item()
    assert round(w, 3) == 2.0 and round(4 * w, 3) == 8.0


def test_fit_reference_matches_an_optim_sgd_loop():
    x, y = ref.quadratic_example()
    got = ref.fit_quadratic(x, y, 0.5, -0.5, 0.001, 50)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=0.001)
    for _ in range(50):
        opt.zero_grad()
        (0.5 * ((w * xt**2 + b - yt) ** 2).sum()).backward()
        opt.step()
    assert torch.allclose(got, torch.stack([w.detach(), b.detach()]), rtol=1e-12, atol=1e-12)


def test_gradient_references_are_derivatives_of_the_losses():
    """Central differences of the reference losses agree with the autograd references."""
    g = np.random.default_rng(3)
    x, y, w, b, h = g.normal(size=7), g.normal(size=7), 0.7, -0.3, 1e-6
    slope = (ref.cost(x, y, w + h) - ref.cost(x, y, w - h)) / (2 * h)
    assert abs(slope.item() - ref.gradient(x, y, w).item()) < 1e-6

    def loss(w, b):
        return 0.5 * float(np.sum((w * x**2 + b - y) ** 2))

    dw, db = ref.quadratic_loss_grads(x, y, w, b).tolist()
    assert abs((loss(w + h, b) - loss(w - h, b)) / (2 * h) - dw) < 1e-5
    assert abs((loss(w, b + h) - loss(w, b - h)) / (2 * h) - db) < 1e-5


def test_returned_numbers_are_read_leniently_for_values():
    from grader.checks.compare import CheckFailed, Judge
    from grader.exchange import NumpyScalar

    judge = Judge()
    for v in (1.5, NumpyScalar(1.5, "numpy.float32"), np.array([1.5]), np.array(1.5), torch.tensor([[1.5]])):
        assert ref.as_number(v, judge, what="r").item() == 1.5
    for v in ((1.0, 2.0), [1.0, 2.0], np.array([1.0, 2.0]), (np.array(1.0), NumpyScalar(2.0, "numpy.float32"))):
        assert ref.as_pair(v, judge, what="r").tolist() == [1.0, 2.0]
    for bad in ((1.0, np.array([1.0, 2.0])), 3.0, (1.0, 2.0, 3.0), True, None):
        try:
            ref.as_pair(bad, judge, what="r")
        except CheckFailed:
            continue
        raise AssertionError(f"{bad!r} was read as a pair")
