"""Hidden checks of assignment3: run only by `grader grade`, never shipped to students."""

import torch
from hypothesis import given, settings

from grader.checks import NonLeaf, assignment_module, check, leaf
from grader.checks.helpers import changed

ref = assignment_module(__file__, "references")


# ------------------------------------------------------------------ vjp
@check("vjp.values_float64", points=10, hint="differentiate in the dtype of x; the result has the shape of x")
@settings(max_examples=10)
@given(problem=ref.vjp_problems(torch.float64))
def test_vjp_values_float64(student, judge, problem):
    fn, x, v = problem
    got = student.call("vjp", fn, x, v).value
    judge.close(got, ref.vjp(fn, x, v), what="vjp(f, x, v)", inputs=ref.describe_problem(fn, x=x, v=v))


@check("vjp.x_without_grad", points=6, hint="x may not require grad: make a detached copy that does, and leave the caller's x as it was")
def test_vjp_x_without_grad(student, judge):
    for dtype in (torch.float32, torch.float64):
        fn = ref.fixed_fn(2, 3, seed=51)
        x = torch.tensor([[0.3, -1.2], [1.1, 0.4]], dtype=dtype)
        v = torch.tensor([[1.0, -0.5, 2.0], [0.25, 1.5, -1.0]], dtype=dtype)
        inputs = ref.describe_problem(fn, x=x, v=v) + " (x does not require grad)"
        call = student.call("vjp", fn, x, v)
        judge.close(call.value, ref.vjp(fn, x, v), what="vjp(f, x, v) with x not requiring grad", inputs=inputs)
        state = call.inputs[0]
        judge.expect(not changed(state.value, x), "vjp changed the values of x.", inputs=inputs)
        judge.expect(not state.requires_grad,
                     "after vjp, the caller's x requires grad: vjp switched it on (x.requires_grad_()). Work on a detached copy instead.",
                     inputs=inputs)
        judge.expect(state.grad is None, "vjp left a gradient in x.grad (it must stay None).", inputs=inputs)


@check("vjp.non_leaf_input", points=6, hint="x may be an intermediate (non-leaf) tensor: x.detach().clone().requires_grad_(True) is a leaf whatever x is")
def test_vjp_non_leaf_input(student, judge):
    fn = ref.fixed_fn(3, 2, seed=61)
    x = torch.tensor([0.7, -0.4, 1.3])
    v = torch.tensor([1.5, -2.0])
    inputs = ref.describe_problem(fn, x=x, v=v) + " (x requires grad and is not a leaf)"
    call = student.call("vjp", fn, NonLeaf(x), v)
    judge.close(call.value, ref.vjp(fn, x, v), what="vjp(f, x, v) with a non-leaf x", inputs=inputs)
    state = call.inputs[0]
    judge.expect(not changed(state.value, x), "vjp changed the values of x.", inputs=inputs)
    judge.expect(state.grad is None, "vjp left a gradient in x.grad (it must stay None).", inputs=inputs)


@check("vjp.linear_function", points=5, hint="for f(x) = x @ A.T the vjp is v @ A: contract v with the OUTPUT index of J (vᵀ·J, not J·v)")
def test_vjp_linear_function(student, judge):
    for n, m, batch, seed in ((3, 2, (), 71), (2, 4, (3,), 72)):
        fn = ref.linear_fn(n, m, seed)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(batch + (n,), generator=g, dtype=torch.float64)
        v = torch.randn(batch + (m,), generator=g, dtype=torch.float64)
        got = student.call("vjp", fn, x, v).value
        judge.close(got, ref.vjp(fn, x, v), what=f"vjp(f, x, v) for a linear f from size {n} to size {m}", inputs=ref.describe_problem(fn, x=x, v=v))


# ------------------------------------------------------------------ jacobian
@check("jacobian.values_float64", points=10, hint="one backward pass per output with a one-hot gradient in the dtype of x; clear x.grad between rows")
@settings(max_examples=10)
@given(problem=ref.jacobian_problems(torch.float64))
def test_jacobian_values_float64(student, judge, problem):
    fn, x = problem
    got = student.call("jacobian", fn, x).value
    ref.close_jacobian(judge, got, ref.jacobian(fn, x), what="jacobian(f, x)", inputs=ref.describe_problem(fn, x=x))


@check("jacobian.linear_function", points=7, hint="for f(x) = x @ A.T the Jacobian is A itself, shape (m, n)")
def test_jacobian_linear_function(student, judge):
    for n, m, seed in ((2, 5, 81), (4, 3, 82)):
        fn = ref.linear_fn(n, m, seed)
        x = torch.linspace(-1.5, 1.0, n, dtype=torch.float64)
        got = student.call("jacobian", fn, x).value
        ref.close_jacobian(judge, got, ref.jacobian(fn, x), what=f"jacobian(f, x) for a linear f from size {n} to size {m}", inputs=ref.describe_problem(fn, x=x))


@check("jacobian.x_requires_grad", points=8, hint="x may already require grad: x.clone() is then not a leaf and gets no .grad; use x.detach().clone()")
def test_jacobian_x_requires_grad(student, judge):
    fn = ref.fixed_fn(3, 4, seed=91)
    x = torch.tensor([0.2, -0.9, 1.4])
    inputs = ref.describe_problem(fn, x=x) + " (x is a leaf with requires_grad=True)"
    got = student.call("jacobian", fn, leaf(x)).value
    ref.close_jacobian(judge, got, ref.jacobian(fn, x), what="jacobian(f, x) with x requiring grad", inputs=inputs)


# ------------------------------------------------------------------ jvp (bonus)
@check("jvp.values_float32", points=4, bonus=True, hint="J·u has the shape of f(x): differentiate vᵀ·J (create_graph=True) with respect to v, with u as grad_outputs")
@settings(max_examples=8)
@given(problem=ref.jvp_problems(torch.float32))
def test_jvp_values_float32(student, judge, problem):
    fn, x, u = problem
    got = student.call("jvp", fn, x, u).value
    judge.close(got, ref.jvp(fn, x, u), what="jvp(f, x, u)", inputs=ref.describe_problem(fn, x=x, u=u))


@check("jvp.values_float64", points=3, bonus=True, hint="J·u has the shape of f(x), in the dtype of x")
@settings(max_examples=8)
@given(problem=ref.jvp_problems(torch.float64))
def test_jvp_values_float64(student, judge, problem):
    fn, x, u = problem
    got = student.call("jvp", fn, x, u).value
    judge.close(got, ref.jvp(fn, x, u), what="jvp(f, x, u)", inputs=ref.describe_problem(fn, x=x, u=u))
