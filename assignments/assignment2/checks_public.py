"""Public checks of assignment2 (linear regression by hand).

Run them with ``grader check assignment2``. Each check calls one of your
functions in a separate process with inputs built here, and compares what it
returns (and what it does to its inputs) with torch's own implementation.
"""

import torch
from hypothesis import given, settings

from grader.checks import assignment_module, check
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs, describe_value
from grader.checks.helpers import changed, numbers

ref = assignment_module(__file__, "references")
leaf, worked_example = ref.leaf, ref.worked_example


# ------------------------------------------------------------------ forward
@check("forward.worked_example", points=3, hint="return x @ w + b")
def test_forward_worked_example(student, judge):
    x, y, w, b = worked_example()
    w, b = torch.tensor([[3.0]]), torch.tensor([0.8])
    got = student.call("forward", x, w, b).value
    judge.close(got, ref.forward(x, w, b), what="forward(x, w, b) on the worked example (w = 3, b = 0.8)")


@check("forward.values_float32", points=4, hint="x @ w has shape (N, 1); adding b (shape (1,)) broadcasts")
@settings(max_examples=10)
@given(xwb=S.linear_problems(dtype=torch.float32))
def test_forward_values_float32(student, judge, xwb):
    x, w, b = xwb
    got = student.call("forward", x, w, b).value
    judge.close(got, ref.forward(x, w, b), what="forward(x, w, b)", inputs=describe_inputs(x=x, w=w, b=b))


@check("forward.differentiable", points=3, hint="compute with torch operations on w and b themselves, no .detach(), .item() or .data")
def test_forward_differentiable(student, judge):
    x, _, w, b = worked_example()
    call = student.call("forward", x, leaf(w), leaf(b))
    got = judge.tensor(call.value, what="forward(x, w, b)")
    facts = call.facts(got)
    judge.expect(
        facts.requires_grad and facts.has_grad_fn,
        "forward(x, w, b) with w and b requiring grad returned a tensor outside the autograd graph "
        "(requires_grad is False / grad_fn is None), so no gradient can reach w and b.",
    )


# ------------------------------------------------------------------ mse_loss
@check("mse_loss.values_float32", points=4, hint="the mean over ALL elements: ((y_pred - y) ** 2).mean()")
@settings(max_examples=10)
@given(shape=S.shapes(), data=S.st.data())
def test_mse_loss_values_float32(student, judge, shape, data):
    y_pred, y = data.draw(S.tensors(shape)), data.draw(S.tensors(shape))
    got = student.call("mse_loss", y_pred, y).value
    judge.close(got, ref.mse_loss(y_pred, y), what="mse_loss(y_pred, y)", inputs=describe_inputs(y_pred=y_pred, y=y))


@check("mse_loss.zero_dim", points=2, hint=".mean() with no dim argument gives a 0-dim tensor")
def test_mse_loss_zero_dim(student, judge):
    x, y, w, b = worked_example()
    got = judge.tensor(student.call("mse_loss", ref.forward(x, w, b), y).value, what="mse_loss(y_pred, y)")
    judge.expect(got.dim() == 0, f"mse_loss on (50, 1) inputs returned shape {tuple(got.shape)}; expected a 0-dim tensor (shape ()).")


# ------------------------------------------------------------------ zero_grad
def _params_with_grads(dtype=torch.float32):
    g = torch.Generator().manual_seed(7)
    return [leaf(torch.randn(s, generator=g, dtype=dtype), torch.randn(s, generator=g, dtype=dtype)) for s in [(3, 1), (1,)]]


@check("zero_grad.zeroes", points=5, hint="for each p with p.grad not None: p.grad.zero_()")
def test_zero_grad_zeroes(student, judge):
    for dtype in (torch.float32, torch.float64):
        params = _params_with_grads(dtype)
        call = student.call("zero_grad", params)
        for i, (state, expected) in enumerate(zip(call.inputs, ref.zero_grad(params))):
            judge.expect(state.grad is not None, f"params[{i}].grad is None after zero_grad; it should be a tensor of zeros.")
            judge.close(state.grad, expected, what=f"params[{i}].grad after zero_grad ({dtype})")


@check("zero_grad.keeps_grad_object", points=5, hint="zero the existing tensor in place (p.grad.zero_()), do not assign a new one")
def test_zero_grad_keeps_grad_object(student, judge):
    params = _params_with_grads()
    call = student.call("zero_grad", params)
    for i, state in enumerate(call.inputs):
        judge.expect(
            state.grad is not None and state.grad_same_object and state.storage_same and not bool(state.grad.any()),
            f"params[{i}].grad is not the same tensor object, zeroed, after zero_grad: "
            "it must be zeroed in place, not replaced or set to None.",
        )


# ------------------------------------------------------------------ sgd_step
@check("sgd_step.values", points=5, hint="p -= lr * p.grad, inside torch.no_grad()")
@settings(max_examples=10)
@given(dtype=S.float_dtypes, shape=S.shapes(max_dims=2), lr=S.learning_rates(), data=S.st.data())
def test_sgd_step_values(student, judge, dtype, shape, lr, data):
    scale = data.draw(S.float64_scales()) if dtype == torch.float64 else 1.0  # the step is linear in p and p.grad
    params = [leaf(data.draw(S.tensors(shape, dtype)) * scale, data.draw(S.tensors(shape, dtype)) * scale),
              leaf(data.draw(S.tensors((1,), dtype)) * scale, data.draw(S.tensors((1,), dtype)) * scale)]
    call = student.call("sgd_step", params, lr)
    for i, (state, expected) in enumerate(zip(call.inputs, ref.sgd_step(params, lr))):
        judge.close(state.value, expected, what=f"params[{i}] after sgd_step(params, lr={lr})", inputs=describe_inputs(p=params[i], grad=params[i].grad))


@check("sgd_step.in_place", points=4, hint="update the tensor you were given (p -= ..., p.sub_(...)), do not rebind the name p")
def test_sgd_step_in_place(student, judge):
    params = _params_with_grads()
    call = student.call("sgd_step", params, 0.1)
    for i, (state, p) in enumerate(zip(call.inputs, params)):
        judge.expect(
            changed(state.value, p),
            f"params[{i}] still holds its old values after sgd_step: the caller's tensor must be updated in place.",
        )


@check("sgd_step.untracked", points=4, hint="do the update inside `with torch.no_grad():` and keep requires_grad=True")
def test_sgd_step_untracked(student, judge):
    params = _params_with_grads()
    call = student.call("sgd_step", params, 0.1)
    for i, (state, p) in enumerate(zip(call.inputs, params)):
        judge.expect(changed(state.value, p), f"params[{i}] was not updated by sgd_step.")
        judge.expect(
            state.is_leaf and state.requires_grad and not state.has_grad_fn,
            f"after sgd_step, params[{i}] is_leaf={state.is_leaf}, requires_grad={state.requires_grad}, "
            f"has grad_fn={state.has_grad_fn}; it must stay a leaf that requires grad (the update must not be recorded by autograd).",
        )


# ------------------------------------------------------------------ train
@check("train.worked_example", points=5, hint="each epoch: forward, mse_loss, zero_grad, backward, sgd_step; record loss.item() before the step")
def test_train_worked_example(student, judge):
    x, y, w, b = worked_example()
    call = student.call("train", x, y, leaf(w), leaf(b), 0.01, 200)
    losses, _, _ = ref.train(x, y, w, b, 0.01, 200)
    judge.close(numbers(call.value, judge, what="train(...)'s return value"), losses, what="the losses returned by train on the worked example (lr 0.01, 200 epochs)")


@check("train.returns_floats", points=3, hint="return [loss.item() for each epoch]: Python floats, not tensors")
def test_train_returns_floats(student, judge):
    x, y, w, b = worked_example()
    got = student.call("train", x, y, leaf(w), leaf(b), 0.01, 3).value
    judge.expect(isinstance(got, (list, tuple)), f"train should return a list of 3 floats but returned {describe_value(got)}.")
    judge.expect(len(got) == 3, f"train(..., epochs=3) returned {len(got)} values; expected 3.")
    for i, v in enumerate(got):
        judge.expect(isinstance(v, float), f"losses[{i}] is {describe_value(v)}; expected a Python float (use loss.item()).")
