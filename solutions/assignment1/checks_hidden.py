"""Hidden checks of assignment1: run only by `grader grade`, never shipped to students."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import NonLeaf, View, assignment_module, check
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs, describe_value
from grader.checks.helpers import changed, same_array, same_values

ref = assignment_module(__file__, "references")
leaf = ref.leaf








def _example(shape, dtype=torch.float32, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=dtype) * 4 - 2


# ------------------------------------------------------------------ make_leaf
@check("make_leaf.float32", points=3, hint="convert to float32 whatever comes in: torch.tensor(..., dtype=torch.float32) or .to(torch.float32)")
def test_make_leaf_float32(student, judge):
    cases = [
        np.linspace(-1.0, 1.0, 6).reshape(3, 2),
        np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
        np.array([[0.5, 1.5], [-2.0, 4.0]], dtype=np.float16),
        _example((2, 2), torch.float64, seed=1),
        [[1, 2], [3, 4]],
        [0.25, -0.5, 1.0],
    ]
    for values in cases:
        inputs = f"values = {describe_value(values)}"
        got = same_values(judge, student.call("make_leaf", values).value, ref.make_leaf(values), what="make_leaf(values)", inputs=inputs)
        judge.expect(got.dtype == torch.float32, f"make_leaf(values) has dtype {got.dtype}; it must be torch.float32.", inputs=inputs)


@check("make_leaf.numbers", points=2, hint="a bare Python number gives a 0-dim tensor: torch.tensor(3.5) has shape ()")
def test_make_leaf_numbers(student, judge):
    for values in (2.5, -3, 0.0):
        inputs = f"values = {values!r}"
        got = same_values(judge, student.call("make_leaf", values).value, ref.make_leaf(values), what="make_leaf(values)", inputs=inputs)
        judge.expect(got.dim() == 0, f"make_leaf({values!r}) has shape {tuple(got.shape)}; a number gives a 0-dim tensor.", inputs=inputs)


@check("make_leaf.views", points=3, hint="torch.tensor rejects NumPy arrays with negative strides: copy the array first (values.copy() or np.ascontiguousarray)")
def test_make_leaf_views(student, judge):
    g = np.random.default_rng(5)
    cases = [
        View(g.uniform(-3, 3, (4, 3)), "reversed"),
        View(g.uniform(-3, 3, (3, 4)).astype(np.float32), "transposed"),
        View(g.integers(-9, 10, (5, 2)), "strided"),
        View(g.uniform(-3, 3, (2, 5)).astype(np.float32), "reversed_columns"),
        View(g.uniform(-3, 3, (6,)), "reversed"),
    ]
    for view in cases:
        values = view.build()
        inputs = f"values = {describe_value(values)}, a {view.name} view"
        call = student.call("make_leaf", view)
        same_values(judge, call.value, ref.make_leaf(values), what="make_leaf(values)", inputs=inputs)
        judge.expect(np.array_equal(call.inputs[0].value, values), "make_leaf modified the array passed in.", inputs=inputs)


@check("make_leaf.empty", points=2, hint="an empty array or list gives an empty tensor of the same shape, still requiring grad")
def test_make_leaf_empty(student, judge):
    for values in (np.zeros((0,), dtype=np.float32), np.zeros((2, 0)), []):
        inputs = f"values = {describe_value(values)}"
        call = student.call("make_leaf", values)
        got = same_values(judge, call.value, ref.make_leaf(values), what="make_leaf(values)", inputs=inputs)
        facts = call.facts(got)
        judge.expect(facts.requires_grad and facts.is_leaf, "make_leaf(values) on empty values must still return a leaf that requires grad.", inputs=inputs)


@check("make_leaf.tensors", points=4, hint="from a tensor: values.detach().clone() (then float32 and requires_grad_()); .clone() alone keeps the result in the old graph")
def test_make_leaf_tensors(student, judge):
    cases = [
        ("a float32 tensor", _example((2, 3), seed=2)),
        ("a float64 tensor", _example((4,), torch.float64, seed=3)),
        ("a leaf that requires grad", leaf(_example((3, 2), seed=4))),
        ("a non-leaf tensor", NonLeaf(_example((2, 2), seed=5))),
        ("a float64 non-leaf tensor", NonLeaf(_example((3,), torch.float64, seed=6))),
    ]
    for label, arg in cases:
        values = arg.values if isinstance(arg, NonLeaf) else arg
        inputs = f"values = {describe_value(values)}, {label}"
        call = student.call("make_leaf", arg)
        got = same_values(judge, call.value, ref.make_leaf(values), what=f"make_leaf on {label}", inputs=inputs)
        facts = call.facts(got)
        judge.expect(
            facts.requires_grad and facts.is_leaf,
            f"make_leaf on {label} returned a tensor with requires_grad={facts.requires_grad}, is_leaf={facts.is_leaf}; "
            "it must be a NEW leaf that requires grad.",
            inputs=inputs,
        )


# ------------------------------------------------------------------ forward
@check("forward.values_float64", points=3, hint="mean(3 * (x + 2) ** 2) in the input's dtype: float64 inputs here go past float32's range (3.4e38), so no .float() or float32 tensor in between")
@settings(max_examples=10)
@given(shape=S.shapes(), data=st.data())
def test_forward_values_float64(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float64)) * data.draw(S.float64_scales())
    got = student.call("forward", x).value
    judge.close(got, ref.forward(x), what="forward(x)", inputs=describe_inputs(x=x))


@check("forward.zero_dim", points=2, hint=".mean() with no dim argument gives a 0-dim tensor (shape ())")
def test_forward_zero_dim(student, judge):
    for shape in [(3, 4), (2, 2, 2), (5,)]:
        x = _example(shape, seed=7)
        got = judge.tensor(student.call("forward", x).value, what="forward(x)", inputs=describe_inputs(x=x))
        judge.expect(got.dim() == 0, f"forward(x) on a {shape} input has shape {tuple(got.shape)}; expected a 0-dim tensor (shape ()).")
        judge.close(got, ref.forward(x), what="forward(x)", inputs=describe_inputs(x=x))


@check("forward.input_untouched", points=2, hint="build new tensors (x + 2), never update x in place (x += 2, x.add_)")
def test_forward_input_untouched(student, judge):
    x = _example((3, 3), torch.float64, seed=8)
    call = student.call("forward", x)
    inputs = describe_inputs(x=x)
    judge.close(call.value, ref.forward(x), what="forward(x)", inputs=inputs)
    judge.expect(not changed(call.inputs[0].value, x), "forward(x) modified x.", inputs=inputs)


# ------------------------------------------------------------------ grad_of_forward
@check("grad_of_forward.values_float64", points=3, hint="forward(x).backward(), then return x.grad; float64 inputs here go past float32's range (3.4e38): compute in the input's dtype")
@settings(max_examples=8)
@given(shape=S.shapes(), data=st.data())
def test_grad_of_forward_values_float64(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float64)) * data.draw(S.float64_scales())
    got = student.call("grad_of_forward", leaf(x)).value
    judge.close(got, ref.grad_of_forward(x), what="grad_of_forward(x)", inputs=describe_inputs(x=x))


@check("grad_of_forward.leaves_grad", points=3, hint="use .backward() so that the gradient lands in x.grad, and return x.grad")
def test_grad_of_forward_leaves_grad(student, judge):
    for dtype in (torch.float32, torch.float64):
        x = _example((2, 3), dtype, seed=9)
        inputs = describe_inputs(x=x)
        call = student.call("grad_of_forward", leaf(x))
        expected = ref.grad_of_forward(x)
        judge.close(call.value, expected, what="grad_of_forward(x)'s return value", inputs=inputs)
        grad = call.inputs[0].grad
        judge.expect(grad is not None, "x.grad is None after grad_of_forward(x): the gradient must be left in x.grad.", inputs=inputs)
        judge.close(grad, expected, what="x.grad after grad_of_forward(x)", inputs=inputs)


# ------------------------------------------------------------------ analytic_grad
@check("analytic_grad.values_float64", points=3, hint="6 * (x + 2) / x.numel() keeps the input's dtype; float64 inputs here go past float32's range (3.4e38), so no .float() in between")
@settings(max_examples=8)
@given(shape=S.shapes(), data=st.data())
def test_analytic_grad_values_float64(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float64)) * data.draw(S.float64_scales())
    got = student.call("analytic_grad", x).value
    judge.close(got, ref.analytic_grad(x), what="analytic_grad(x)", inputs=describe_inputs(x=x))


@check("analytic_grad.no_grad_mode", points=3, hint="plain tensor arithmetic works inside torch.no_grad(); autograd does not")
def test_analytic_grad_no_grad_mode(student, judge):
    for dtype in (torch.float32, torch.float64):
        x = _example((3, 2), dtype, seed=10)
        inputs = describe_inputs(x=x) + ", called inside torch.no_grad()"
        got = student.call("analytic_grad", x, no_grad=True).value
        judge.close(got, ref.analytic_grad(x), what="analytic_grad(x)", inputs=inputs)


# ------------------------------------------------------------------ forward_no_grad
@check("forward_no_grad.values_float64", points=2, hint="the same value as forward(x), in the input's dtype (float64 inputs here go past float32's range, 3.4e38)")
@settings(max_examples=8)
@given(shape=S.shapes(), data=st.data())
def test_forward_no_grad_values_float64(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float64)) * data.draw(S.float64_scales())
    got = student.call("forward_no_grad", leaf(x)).value
    judge.close(got, ref.forward_no_grad(x), what="forward_no_grad(x)", inputs=describe_inputs(x=x) + " (requires grad)")


@check("forward_no_grad.input_untouched", points=2, hint="use `with torch.no_grad():`; do not switch off x.requires_grad (that changes the caller's tensor)")
def test_forward_no_grad_input_untouched(student, judge):
    x = _example((4,), torch.float64, seed=11)
    call = student.call("forward_no_grad", leaf(x))
    inputs = describe_inputs(x=x) + " (requires grad)"
    judge.close(call.value, ref.forward_no_grad(x), what="forward_no_grad(x)", inputs=inputs)
    state = call.inputs[0]
    judge.expect(
        state.requires_grad and state.is_leaf and not changed(state.value, x),
        f"after forward_no_grad(x), x has requires_grad={state.requires_grad}, is_leaf={state.is_leaf}"
        f"{' and new values' if changed(state.value, x) else ''}; x must be left as it was.",
        inputs=inputs,
    )
    judge.expect(state.grad is None, "forward_no_grad(x) left a gradient in x.grad; it must not run backward.", inputs=inputs)


# ------------------------------------------------------------------ to_numpy
@check("to_numpy.dtype", points=3, hint="t.detach().numpy() keeps the dtype: float32 stays float32, int64 stays int64")
def test_to_numpy_dtype(student, judge):
    for t in (_example((2, 3), seed=12), _example((3,), torch.float64, seed=13), torch.arange(-3, 3).reshape(3, 2), torch.tensor([1, 5, -2], dtype=torch.int32)):
        inputs = describe_inputs(t=t)
        expected = ref.to_numpy(t)
        got = same_array(judge, student.call("to_numpy", t).value, expected, what="to_numpy(t)", inputs=inputs)
        judge.expect(got.dtype == expected.dtype, f"to_numpy(t) has dtype {got.dtype}; expected {expected.dtype}, the tensor's own dtype.", inputs=inputs)


@check("to_numpy.empty_and_zero_dim", points=3, hint="t.detach().numpy() works for every shape; .item() and .tolist() do not give arrays")
def test_to_numpy_empty_and_zero_dim(student, judge):
    for t in (torch.zeros(0), torch.zeros(2, 0, dtype=torch.float64), torch.tensor(1.5), torch.tensor(-2.25, dtype=torch.float64)):
        inputs = describe_inputs(t=t)
        same_array(judge, student.call("to_numpy", t).value, ref.to_numpy(t), what="to_numpy(t)", inputs=inputs)


# ------------------------------------------------------------------ accumulated_grad
@check("accumulated_grad.worked_example", points=3, hint="two backward passes at ones(2, 2) accumulate 4.5 + 4.5 = 9 in x.grad")
def test_accumulated_grad_worked_example(student, judge):
    x = torch.ones(2, 2)
    got = student.call("accumulated_grad", leaf(x), 2).value
    judge.close(got, ref.accumulated_grad(x, 2), what="accumulated_grad(x, times=2) at x = torch.ones(2, 2, requires_grad=True)")


@check("accumulated_grad.values_float64", points=3, hint="backward(retain_graph=True) `times` times; the gradients add up in x.grad, in the input's dtype (float64 inputs here go past float32's range, 3.4e38)")
@settings(max_examples=8)
@given(shape=S.shapes(max_dims=2), times=st.integers(1, 5), data=st.data())
def test_accumulated_grad_values_float64(student, judge, shape, times, data):
    x = data.draw(S.tensors(shape, torch.float64)) * data.draw(S.float64_scales())
    got = student.call("accumulated_grad", leaf(x), times).value
    judge.close(got, ref.accumulated_grad(x, times), what=f"accumulated_grad(x, times={times})", inputs=describe_inputs(x=x) + f"; times = {times}")


@check("accumulated_grad.leaves_grad", points=3, hint="let the backward passes accumulate in x.grad itself and return x.grad")
def test_accumulated_grad_leaves_grad(student, judge):
    for dtype, times in ((torch.float32, 3), (torch.float64, 4)):
        x = _example((2, 3), dtype, seed=14)
        inputs = describe_inputs(x=x) + f"; times = {times}"
        call = student.call("accumulated_grad", leaf(x), times)
        expected = ref.accumulated_grad(x, times)
        judge.close(call.value, expected, what=f"accumulated_grad(x, times={times})'s return value", inputs=inputs)
        grad = call.inputs[0].grad
        judge.expect(grad is not None, "x.grad is None after accumulated_grad: the gradients must accumulate in x.grad.", inputs=inputs)
        judge.close(grad, expected, what=f"x.grad after accumulated_grad(x, times={times})", inputs=inputs)
