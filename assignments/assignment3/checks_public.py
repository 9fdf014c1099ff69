"""Public checks of assignment3 (vector-Jacobian products).

Run them with ``grader check assignment3``. Each check calls one of your
functions in a separate process with a function ``f`` and inputs built here,
and compares what it returns (and what it does to ``x``) with
``torch.autograd.functional``, which runs here, in the grader, never in your
process: there, it and ``torch.func`` are forbidden.
"""

import torch
from hypothesis import given, settings

from grader.checks import assignment_module, check, leaf
from grader.checks.helpers import changed

ref = assignment_module(__file__, "references")


# ------------------------------------------------------------------ vjp
@check("vjp.worked_example", points=6, hint="y = f(x_copy); torch.autograd.grad(y, x_copy, grad_outputs=v) gives vᵀ·J, shaped like x")
def test_vjp_worked_example(student, judge):
    x = torch.tensor(ref.WORKED_X)
    fn = ref.WORKED_EXAMPLE
    for v, meaning in (([[1.0, 0.0]], "row 0 of J, [[4, 3]]"), ([[0.0, 1.0]], "row 1 of J, [[2, 6]]"), ([[1.0, 1.0]], "the column sums [[6, 9]]")):
        v = torch.tensor(v)
        got = student.call("vjp", fn, x, v).value
        judge.close(got, ref.vjp(fn, x, v), what=f"vjp(f, x, v) on the worked example with v = {v.tolist()} ({meaning})",
                    inputs=ref.describe_problem(fn, x=x, v=v))


@check("vjp.values_float32", points=10, hint="v weights the outputs: the result is sum_i v_i * grad(f_i), with the shape of x")
@settings(max_examples=8)
@given(problem=ref.vjp_problems(torch.float32))
def test_vjp_values_float32(student, judge, problem):
    fn, x, v = problem
    got = student.call("vjp", fn, x, v).value
    judge.close(got, ref.vjp(fn, x, v), what="vjp(f, x, v)", inputs=ref.describe_problem(fn, x=x, v=v))


@check("vjp.leaves_x_untouched", points=7, hint="work on a detached leaf copy: xc = x.detach().clone().requires_grad_(True)")
def test_vjp_leaves_x_untouched(student, judge):
    for fn, x in ((ref.WORKED_EXAMPLE, torch.tensor(ref.WORKED_X)), (ref.fixed_fn(3, 2, seed=31), torch.tensor([0.5, -1.0, 1.5]))):
        v = torch.linspace(-1.0, 1.5, ref.output_shape(fn, x)[-1]).reshape(ref.output_shape(fn, x))
        inputs = ref.describe_problem(fn, x=x, v=v) + " (x is a leaf with requires_grad=True)"
        call = student.call("vjp", fn, leaf(x), v)
        judge.close(call.value, ref.vjp(fn, x, v), what="vjp(f, x, v) with x requiring grad", inputs=inputs)
        state = call.inputs[0]
        judge.expect(not changed(state.value, x), "vjp changed the values of x.", inputs=inputs)
        judge.expect(state.grad is None, "vjp left a gradient in x.grad (it must stay None): differentiate a detached copy of x, not x itself.", inputs=inputs)
        judge.expect(state.requires_grad and state.is_leaf,
                     f"after vjp, x has requires_grad={state.requires_grad}, is_leaf={state.is_leaf}; it must stay a leaf that requires grad.",
                     inputs=inputs)


# ------------------------------------------------------------------ jacobian
@check("jacobian.worked_example", points=8, hint="row i is the vjp with the one-hot vector e_i: backward(e_i, retain_graph=True), then copy x.grad and clear it")
def test_jacobian_worked_example(student, judge):
    x = torch.tensor(ref.WORKED_X[0])
    fn = ref.WORKED_EXAMPLE
    got = student.call("jacobian", fn, x).value
    ref.close_jacobian(judge, got, ref.jacobian(fn, x), what="jacobian(f, x) on the worked example (expected [[4, 3], [2, 6]])",
                       inputs=ref.describe_problem(fn, x=x))


@check("jacobian.values_float32", points=10, hint="one backward pass per output with a one-hot gradient; x.grad.clone() each row and zero x.grad before the next")
@settings(max_examples=8)
@given(problem=ref.jacobian_problems(torch.float32))
def test_jacobian_values_float32(student, judge, problem):
    fn, x = problem
    got = student.call("jacobian", fn, x).value
    ref.close_jacobian(judge, got, ref.jacobian(fn, x), what="jacobian(f, x)", inputs=ref.describe_problem(fn, x=x))


@check("jacobian.shape", points=7, hint="the result is (m, n): one row per output f_i, one column per input x_j")
def test_jacobian_shape(student, judge):
    for n, m, seed in ((2, 3, 41), (4, 2, 42), (3, 1, 43), (1, 4, 44)):
        fn = ref.fixed_fn(n, m, seed)
        x = torch.linspace(-1.0, 1.0, n)
        got = judge.tensor(student.call("jacobian", fn, x).value, what="jacobian(f, x)", inputs=ref.describe_problem(fn, x=x))
        judge.expect(tuple(got.shape) == (m, n),
                     f"jacobian(f, x) with x of size n = {n} and f(x) of size m = {m} has shape {tuple(got.shape)}; expected {(m, n)}"
                     + (" (transposed)." if tuple(got.shape) == (n, m) else "."), inputs=ref.describe_problem(fn, x=x))
        ref.close_jacobian(judge, got, ref.jacobian(fn, x), what=f"jacobian(f, x) for n = {n}, m = {m}", inputs=ref.describe_problem(fn, x=x))


# ------------------------------------------------------------------ jvp (bonus)
@check("jvp.worked_example", points=3, bonus=True, hint="a vjp taken with create_graph=True is linear in its vector v; differentiate it with respect to v, with u as the gradient")
def test_jvp_worked_example(student, judge):
    x = torch.tensor(ref.WORKED_X)
    fn = ref.WORKED_EXAMPLE
    for u, meaning in (([[1.0, 0.0]], "column 0 of J, [[4, 2]]"), ([[0.0, 1.0]], "column 1 of J, [[3, 6]]")):
        u = torch.tensor(u)
        got = student.call("jvp", fn, x, u).value
        judge.close(got, ref.jvp(fn, x, u), what=f"jvp(f, x, u) on the worked example with u = {u.tolist()} ({meaning})",
                    inputs=ref.describe_problem(fn, x=x, u=u))
