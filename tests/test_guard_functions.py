"""A course's ``torch.autograd.Function``: named APIs forbidden in forward and in backward, the backward called
directly, the result's ``grad_fn`` named (the kit features a custom-Function assignment needs)."""

from __future__ import annotations

import pytest
import torch

from grader.engine.student import Student, StudentError
from grader.sandbox import launcher
from grader.sandbox.policy import Limits
from grader.submissions.submission import Submission

SOURCE = '''
import torch
import torch.nn.functional as F
softplus_alias = F.softplus  # bound at import: still the forbidden built-in


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2, None


class WrongShape(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, g):
        return g.expand(3, *g.shape)  # autograd sums it to x's shape; the direct call shows it


class CheatsInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.log1p(torch.exp(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            y = softplus_alias(x.detach().requires_grad_(True))
            (d,) = torch.autograd.grad(y.sum(), y)
        return g * d


class UsesModule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.nn.Softplus()(x)  # torch's module calls the built-in

    @staticmethod
    def backward(ctx, g):
        return g


def double(x, k):
    return Double.apply(x, k)


def wrong_shape(x):
    return WrongShape.apply(x)


def cheats_in_backward(x):
    return CheatsInBackward.apply(x)


def uses_module(x):
    return UsesModule.apply(x)


def plain(x):
    return F.softplus(x)


def dispatcher(x):
    return torch.ops.aten.softplus(x)


def dispatcher_overload(x):
    return torch.ops.aten.softplus.default(x)


def not_a_function(x):
    return torch.log1p(torch.exp(x))
'''
FUNCTIONS = ["double", "wrong_shape", "cheats_in_backward", "uses_module", "plain", "not_a_function", "dispatcher",
             "dispatcher_overload"]
RULES = ["autograd", "torch.nn.functional.softplus", "torch.ops.aten.softplus"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tmp_path_factory.mktemp("functions") / "mod.py"
    path.write_text(SOURCE)
    server = launcher.make_launcher("fork")
    s = Student(launcher=server, submission=Submission(name="f", module_path=path), module_name="mod",
                functions=FUNCTIONS, limits=Limits(), filesystem=None,
                forbidden={f: RULES for f in FUNCTIONS if f != "plain"} | {"plain": "torch.nn.functional.softplus"})
    s.begin_check()
    yield s
    s.close()
    server.close()


def test_the_student_backward_runs_through_autograd_under_the_guard(student):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    call = student.call("double", x, 3, backward=torch.tensor([1.0, 10.0]))
    assert call.backward_error is None
    assert torch.equal(call.inputs[0].grad, torch.tensor([2.0, 20.0]))
    facts = call.facts(call.value)
    assert (facts.grad_fn, facts.function) == ("DoubleBackward", "mod.Double")


def test_the_backward_called_directly_returns_what_it_returned(student):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    call = student.call("double", x, 3, backward=torch.tensor([1.0, 10.0]), direct_backward=True)
    grad, none = call.backward_value
    assert none is None and torch.equal(grad, torch.tensor([2.0, 20.0]))
    assert call.inputs[0].grad is None  # the engine did not run
    g = torch.tensor([1.0, 1.0])
    shaped = student.call("wrong_shape", x, backward=g, direct_backward=True).backward_value
    assert tuple(shaped.shape) == (3, 2)
    engine = student.call("wrong_shape", x, backward=g)  # autograd alone hides it
    assert engine.backward_error is None and torch.equal(engine.inputs[0].grad, torch.tensor([3.0, 3.0]))


def test_a_result_not_made_by_a_function_says_so(student):
    x = torch.tensor([1.0], requires_grad=True)
    call = student.call("not_a_function", x, backward=torch.tensor([1.0]), direct_backward=True)
    assert "Log1PBackward0" in call.backward_error and "torch.autograd.Function" in call.backward_error
    facts = call.facts(call.value)
    assert (facts.grad_fn, facts.function) == ("Log1PBackward0", None)


@pytest.mark.parametrize("direct", [False, True])
def test_forbidden_apis_are_caught_inside_backward(student, direct):
    x = torch.tensor([0.5], requires_grad=True)
    with pytest.raises(StudentError, match="torch.enable_grad|softplus|autograd") as info:
        student.call("cheats_in_backward", x, backward=torch.tensor([1.0]), direct_backward=direct)
    assert info.value.problem == "forbidden_api"


def test_a_named_builtin_is_caught_however_reached(student):
    x = torch.tensor([0.5])
    for fn in ("uses_module", "plain"):
        with pytest.raises(StudentError, match="called torch.nn.functional.softplus"):
            student.call(fn, x)
    for fn in ("dispatcher", "dispatcher_overload"):  # the op's dispatcher entry, by its packet's name
        with pytest.raises(StudentError, match="called torch.ops.aten.softplus"):
            student.call(fn, x)


def test_the_course_and_the_guard_know_the_same_groups():
    from grader.course import FORBIDDEN_GROUPS
    from grader.sandbox.guard import GROUPS

    assert FORBIDDEN_GROUPS == GROUPS
