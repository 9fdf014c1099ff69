"""Forbidden APIs are caught at run time however they are reached, and only when called."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from conftest import ROOT
from grader.checks import assignment_module
from grader.sandbox import launcher
from grader.sandbox.policy import Limits
from grader.engine.student import Student, StudentError
from grader.submissions.submission import Submission

#: The course's function spec (built in the student process by assignment3's objects.py).
Fn = assignment_module(ROOT / "assignments" / "assignment3" / "references.py", "references").Fn

SOURCE = '''
"""Docstring that names torch.autograd.functional.jacobian and x.backward(): costs nothing."""
import importlib
import numpy as np
import torch
from torch.autograd.functional import jacobian as J  # an alias bound at import


def alias(f, x):
    return J(f, x)


def by_getattr(f, x):
    return getattr(importlib.import_module("torch.func"), "jacrev")(f)(x)


def import_inside(f, x):
    from torch.autograd import functional
    return functional.vjp(f, x, torch.ones(2))[1]


def allowed_grad(f, x):
    # torch.autograd.functional is only mentioned here
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g


def backward_swallowed(xs):
    try:
        t = torch.tensor(xs, requires_grad=True)
        (t * 2).sum().backward()
    except BaseException:
        pass
    return 1.0


def engine_direct(xs):
    t = torch.tensor(xs, requires_grad=True)
    y = (t * 2).sum()
    torch.autograd.Variable._execution_engine.run_backward((y,), (torch.tensor(1.0, dtype=y.dtype),), False, False, (), False, False)
    return float(t.grad.sum())


def no_grad_is_fine(xs):
    with torch.no_grad():
        t = torch.tensor(xs) * 2
    return float(t.sum())


def enable_grad_trick(xs):
    with torch.enable_grad():
        return 1.0


def grad_mode(xs):
    return torch.is_grad_enabled()
'''
FUNCTIONAL = ["alias", "by_getattr", "import_inside", "allowed_grad"]
AUTOGRAD = ["backward_swallowed", "engine_direct", "no_grad_is_fine", "enable_grad_trick", "grad_mode"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guard")
    path = folder / "mod.py"
    path.write_text(SOURCE)
    server = launcher.make_launcher("fork")
    s = Student(
        launcher=server, submission=Submission(name="g", module_path=path), module_name="mod",
        functions=FUNCTIONAL + AUTOGRAD, limits=Limits(), filesystem=None,
        forbidden={**{f: "functional" for f in FUNCTIONAL}, **{f: "autograd" for f in AUTOGRAD}},
        objects=ROOT / "assignments" / "assignment3" / "objects.py",
    )
    s.begin_check()
    yield s
    s.close()
    server.close()


@pytest.mark.parametrize("fn, api", [
    ("alias", "torch.autograd.functional.jacobian"),
    ("by_getattr", "torch._functorch"),
    ("import_inside", "torch.autograd.functional.vjp"),
])
def test_functional_apis_are_caught_however_reached(student, fn, api):
    with pytest.raises(StudentError, match=f"called {api}") as info:
        student.call(fn, Fn(name="worked_example"), torch.tensor([2.0, 3.0]))
    assert info.value.problem == "forbidden_api"


def test_plain_autograd_and_mentions_are_allowed_where_only_functional_is_forbidden(student):
    got = student.call("allowed_grad", Fn(name="worked_example"), torch.tensor([2.0, 3.0])).value
    assert torch.equal(got, torch.tensor([6.0, 9.0]))


@pytest.mark.parametrize("fn, api", [
    ("backward_swallowed", "Tensor.backward"),
    ("engine_direct", "autograd engine"),
    ("enable_grad_trick", "torch.enable_grad"),
])
def test_any_autograd_is_caught_even_when_the_error_is_swallowed(student, fn, api):
    with pytest.raises(StudentError, match=api):
        student.call(fn, np.ones(3))
    assert "forbidden_api" in student.problems


def test_no_grad_is_not_autograd_and_grad_mode_is_restored(student):
    assert student.call("no_grad_is_fine", np.ones(3)).value == 6.0
    assert student.call("grad_mode", np.ones(3)).value is True
    assert student.call("grad_mode", np.ones(3), no_grad=True).value is False
    assert student.call("grad_mode", np.ones(3)).value is True
