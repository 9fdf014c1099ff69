"""Public checks of assignment1 (tensors that remember).

Run them with ``grader check assignment1``. Each check calls one of your
functions in a separate process with inputs built here, and compares what it
returns (and what it does to its inputs) with torch's own conversions and
autograd.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import assignment_module, check
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs, describe_value
from grader.checks.helpers import as_array, same_values

ref = assignment_module(__file__, "references")
leaf = ref.leaf

ARRAY_DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8"]


# ------------------------------------------------------------------ helpers






@st.composite
def nested_lists(draw):
    """A nested list (1 to 3 levels) of Python floats or of Python ints."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    g = torch.Generator().manual_seed(draw(S.seeds))
    if draw(st.booleans()):
        return (torch.rand(shape, generator=g, dtype=torch.float64) * 8 - 4).tolist()
    return torch.randint(-9, 10, shape, generator=g).tolist()


@st.composite
def arrays(draw, shapes=S.shapes()):
    """A NumPy array of a real dtype, any shape (0-dim included)."""
    dtype = np.dtype(draw(st.sampled_from(ARRAY_DTYPES)))
    shape = draw(shapes)
    g = torch.Generator().manual_seed(draw(S.seeds))
    if dtype.kind == "f":
        values = torch.rand(shape, generator=g, dtype=torch.float64) * 20 - 10
    else:
        values = torch.randint(0 if dtype.kind == "u" else -100, 100, shape, generator=g)
    return values.numpy().astype(dtype)


EXAMPLE = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -3.0]])


# ------------------------------------------------------------------ make_leaf
@check("make_leaf.nested_lists", points=3, hint="torch.tensor(values, dtype=torch.float32) reads nested lists of ints or floats")
@settings(max_examples=6)
@given(values=nested_lists())
def test_make_leaf_nested_lists(student, judge, values):
    call = student.call("make_leaf", values)
    same_values(judge, call.value, ref.make_leaf(values), what="make_leaf(values)", inputs=f"values = {describe_value(values)}")


@check("make_leaf.arrays", points=3, hint="torch.tensor copies a NumPy array of any dtype and keeps its shape, 0-dim included")
@settings(max_examples=8)
@given(values=arrays())
def test_make_leaf_arrays(student, judge, values):
    call = student.call("make_leaf", values)
    same_values(judge, call.value, ref.make_leaf(values), what="make_leaf(values)", inputs=f"values = {describe_value(values)}")


@check("make_leaf.leaf_requires_grad", points=3, hint="create the tensor with requires_grad=True (or call .requires_grad_() on the new tensor, after any dtype conversion)")
def test_make_leaf_leaf_requires_grad(student, judge):
    cases = [
        [[1.0, 1.0], [1.0, 1.0]],
        [0.5, -2.0, 3.25],
        np.linspace(-1.0, 1.0, 6).reshape(2, 3),
    ]
    for values in cases:
        inputs = f"values = {describe_value(values)}"
        call = student.call("make_leaf", values)
        got = same_values(judge, call.value, ref.make_leaf(values), what="make_leaf(values)", inputs=inputs)
        facts = call.facts(got)
        judge.expect(
            facts.requires_grad and facts.is_leaf,
            f"make_leaf(values) returned a tensor with requires_grad={facts.requires_grad}, is_leaf={facts.is_leaf}; "
            "it must be a leaf that requires grad, so that backward() fills its .grad.",
            inputs=inputs,
        )


@check("make_leaf.no_shared_memory", points=3, hint="copy the data: torch.tensor(array) or t.detach().clone(); torch.from_numpy, torch.as_tensor and .detach() alone share memory")
def test_make_leaf_no_shared_memory(student, judge):
    cases = [
        ("a float32 NumPy array", (np.arange(6, dtype=np.float32).reshape(2, 3) - 2) / 4),
        ("a float32 tensor", torch.linspace(-1.0, 1.0, 5)),
        ("a float32 tensor that requires grad", leaf(EXAMPLE)),
    ]
    for label, values in cases:
        inputs = f"values = {describe_value(values)}"
        call = student.call("make_leaf", values)
        got = same_values(judge, call.value, ref.make_leaf(values), what=f"make_leaf on {label}", inputs=inputs)
        facts = call.facts(got)
        judge.expect(
            facts.same_as_input is None,
            f"make_leaf on {label} returned the very object passed in; it must return a NEW tensor.",
            inputs=inputs,
        )
        judge.expect(
            facts.shares_input is None,
            f"make_leaf on {label} returned a tensor that shares memory with its input: "
            "writing to one would change the other.",
            inputs=inputs,
        )
        state = call.inputs[0]
        if isinstance(values, np.ndarray):
            judge.expect(np.array_equal(state.value, values), f"make_leaf modified the {label} passed in.", inputs=inputs)
        else:
            judge.expect(
                torch.equal(state.value, values.detach())
                and state.requires_grad == values.requires_grad
                and state.is_leaf
                and state.grad is None,
                f"make_leaf changed the {label} passed in (its values, requires_grad or grad); "
                "leave the caller's tensor as it was.",
                inputs=inputs,
            )


# ------------------------------------------------------------------ forward
@check("forward.worked_example", points=3, hint="(3 * (x + 2) ** 2).mean() is 27 at x = torch.ones(2, 2)")
def test_forward_worked_example(student, judge):
    x = torch.ones(2, 2)
    got = student.call("forward", leaf(x)).value
    judge.close(got, ref.forward(x), what="forward(x) at x = torch.ones(2, 2, requires_grad=True)")


@check("forward.values_float32", points=3, hint="the MEAN over all elements of 3 * (x + 2) ** 2, not the sum")
@settings(max_examples=8)
@given(shape=S.shapes(), data=st.data())
def test_forward_values_float32(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float32))
    got = student.call("forward", x).value
    judge.close(got, ref.forward(x), what="forward(x)", inputs=describe_inputs(x=x))


@check("forward.in_graph", points=3, hint="compute with torch operations on x itself: no .item(), .detach(), .data, NumPy or torch.tensor(...) around the result")
def test_forward_in_graph(student, judge):
    call = student.call("forward", leaf(EXAMPLE), backward="ones")
    inputs = describe_inputs(x=EXAMPLE)
    got = judge.tensor(call.value, what="forward(x)", inputs=inputs)
    judge.close(got, ref.forward(EXAMPLE), what="forward(x)", inputs=inputs)
    facts = call.facts(got)
    judge.expect(
        facts.requires_grad and facts.has_grad_fn,
        "forward(x) with x requiring grad returned a tensor outside the autograd graph "
        f"(requires_grad={facts.requires_grad}, grad_fn is {'set' if facts.has_grad_fn else 'None'}).",
        inputs=inputs,
    )
    judge.expect(call.backward_error is None, f"backward from forward(x) failed ({call.backward_error}).", inputs=inputs)
    grad = call.inputs[0].grad
    judge.expect(grad is not None, "x.grad is None after backward from forward(x): the result is not connected to x.", inputs=inputs)
    judge.close(grad, ref.grad_of_forward(EXAMPLE), what="x.grad after backward from forward(x)", inputs=inputs)


# ------------------------------------------------------------------ grad_of_forward
@check("grad_of_forward.worked_example", points=3, hint="forward(x).backward(), then return x.grad: 4.5 everywhere at ones(2, 2)")
def test_grad_of_forward_worked_example(student, judge):
    x = torch.ones(2, 2)
    got = student.call("grad_of_forward", leaf(x)).value
    judge.close(got, ref.grad_of_forward(x), what="grad_of_forward(x) at x = torch.ones(2, 2, requires_grad=True)")


@check("grad_of_forward.values_float32", points=3, hint="call forward(x).backward() once and return x.grad")
@settings(max_examples=6)
@given(shape=S.shapes(), data=st.data())
def test_grad_of_forward_values_float32(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float32))
    got = student.call("grad_of_forward", leaf(x)).value
    judge.close(got, ref.grad_of_forward(x), what="grad_of_forward(x)", inputs=describe_inputs(x=x))


# ------------------------------------------------------------------ analytic_grad
@check("analytic_grad.worked_example", points=3, hint="d/dx mean(3 * (x + 2) ** 2) = 6 * (x + 2) / (number of elements): 4.5 at ones(2, 2)")
def test_analytic_grad_worked_example(student, judge):
    x = torch.ones(2, 2)
    got = student.call("analytic_grad", x).value
    judge.close(got, ref.analytic_grad(x), what="analytic_grad(x) at x = torch.ones(2, 2)")


@check("analytic_grad.values_float32", points=3, hint="6 * (x + 2) / x.numel(), with plain tensor arithmetic (no backward, no torch.autograd)")
@settings(max_examples=6)
@given(shape=S.shapes(), data=st.data())
def test_analytic_grad_values_float32(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float32))
    got = student.call("analytic_grad", x).value
    judge.close(got, ref.analytic_grad(x), what="analytic_grad(x)", inputs=describe_inputs(x=x))


# ------------------------------------------------------------------ forward_no_grad
@check("forward_no_grad.values_float32", points=3, hint="the same value as forward(x)")
@settings(max_examples=6)
@given(shape=S.shapes(), data=st.data())
def test_forward_no_grad_values_float32(student, judge, shape, data):
    x = data.draw(S.tensors(shape, torch.float32))
    got = student.call("forward_no_grad", x).value
    judge.close(got, ref.forward_no_grad(x), what="forward_no_grad(x)", inputs=describe_inputs(x=x))


@check("forward_no_grad.untracked", points=3, hint="compute forward(x) inside `with torch.no_grad():`")
def test_forward_no_grad_untracked(student, judge):
    call = student.call("forward_no_grad", leaf(EXAMPLE))
    inputs = describe_inputs(x=EXAMPLE) + " (requires grad)"
    got = judge.tensor(call.value, what="forward_no_grad(x)", inputs=inputs)
    judge.close(got, ref.forward_no_grad(EXAMPLE), what="forward_no_grad(x)", inputs=inputs)
    facts = call.facts(got)
    judge.expect(
        not facts.requires_grad and not facts.has_grad_fn,
        f"forward_no_grad(x) with x requiring grad returned a tensor with requires_grad={facts.requires_grad} "
        f"and grad_fn {'set' if facts.has_grad_fn else 'None'}; autograd must not track it.",
        inputs=inputs,
    )


# ------------------------------------------------------------------ to_numpy
@check("to_numpy.values", points=3, hint="t.detach().numpy() gives an ndarray with the same shape and values")
@settings(max_examples=6)
@given(dtype=S.float_dtypes, shape=S.shapes(), data=st.data())
def test_to_numpy_values(student, judge, dtype, shape, data):
    t = data.draw(S.tensors(shape, dtype))
    inputs = describe_inputs(t=t)
    got = as_array(judge, student.call("to_numpy", t).value, what="to_numpy(t)", inputs=inputs)
    expected = ref.to_numpy(t)
    judge.expect(got.shape == expected.shape, f"to_numpy(t) has shape {got.shape}, expected {expected.shape}.", inputs=inputs)
    judge.close(torch.from_numpy(got.copy()), torch.from_numpy(expected), what="to_numpy(t)", inputs=inputs)


@check("to_numpy.requires_grad", points=3, hint="a tensor that requires grad must be detached first: t.detach().numpy()")
def test_to_numpy_requires_grad(student, judge):
    inputs = describe_inputs(t=EXAMPLE) + " (requires grad)"
    got = as_array(judge, student.call("to_numpy", leaf(EXAMPLE)).value, what="to_numpy(t)", inputs=inputs)
    expected = ref.to_numpy(EXAMPLE)
    judge.expect(got.shape == expected.shape, f"to_numpy(t) has shape {got.shape}, expected {expected.shape}.", inputs=inputs)
    judge.close(torch.from_numpy(got.copy()), torch.from_numpy(expected), what="to_numpy(t)", inputs=inputs)


# ------------------------------------------------------------------ accumulated_grad
@check("accumulated_grad.values_float32", points=3, hint="out = forward(x) once, then out.backward(retain_graph=True) `times` times, without zeroing x.grad")
@settings(max_examples=6)
@given(shape=S.shapes(max_dims=2), times=st.integers(1, 5), data=st.data())
def test_accumulated_grad_values_float32(student, judge, shape, times, data):
    x = data.draw(S.tensors(shape, torch.float32))
    got = student.call("accumulated_grad", leaf(x), times).value
    judge.close(got, ref.accumulated_grad(x, times), what=f"accumulated_grad(x, times={times})", inputs=describe_inputs(x=x) + f"; times = {times}")
