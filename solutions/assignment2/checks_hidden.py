"""Hidden checks of assignment2: run only by `grader grade`, never shipped to students."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import AsGenerator, assignment_module, check
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs
from grader.checks.helpers import changed, numbers

ref = assignment_module(__file__, "references")
leaf, worked_example = ref.leaf, ref.worked_example


def _params(dtype=torch.float32, seed=11, with_grads=(True, True, True)):
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 1), (1,), (2, 3)]
    return [
        leaf(torch.randn(s, generator=g, dtype=dtype), torch.randn(s, generator=g, dtype=dtype) if has else None)
        for s, has in zip(shapes, with_grads)
    ]


# ------------------------------------------------------------------ forward
@check("forward.values_float64", points=4, hint="x @ w + b keeps the inputs' dtype: float64 inputs here go past float32's range (3.4e38), so no .float() in between")
@settings(max_examples=10)
@given(xwb=S.linear_problems(dtype=torch.float64), scale=S.float64_scales())
def test_forward_values_float64(student, judge, xwb, scale):
    x, w, b = xwb
    x, b = x * scale, b * scale
    got = student.call("forward", x, w, b).value
    judge.close(got, ref.forward(x, w, b), what="forward(x, w, b)", inputs=describe_inputs(x=x, w=w, b=b))


@check("forward.gradients", points=4, hint="build the result from w and b with differentiable torch operations")
@settings(max_examples=10)
@given(xwb=S.linear_problems(), data=st.data())
def test_forward_gradients(student, judge, xwb, data):
    x, w, b = xwb
    if x.dtype == torch.float64:
        scale = data.draw(S.float64_scales())
        x, b = x * scale, b * scale
    grad_out = data.draw(S.tensors((x.shape[0], 1), x.dtype))
    call = student.call("forward", x, leaf(w), leaf(b), backward=grad_out)
    inputs = describe_inputs(x=x, w=w, b=b)
    judge.expect(call.backward_error is None, f"backward through forward's result failed ({call.backward_error}).", inputs=inputs)
    w_ref, b_ref = leaf(w), leaf(b)
    ref.forward(x, w_ref, b_ref).backward(grad_out)
    for name, state, expected in (("w", call.inputs[1], w_ref.grad), ("b", call.inputs[2], b_ref.grad)):
        judge.expect(state.grad is not None, f"{name}.grad is None after backward: forward's result is not connected to {name}.", inputs=inputs)
        judge.close(state.grad, expected, what=f"{name}.grad after backward through forward", inputs=inputs)


@check("forward.inputs_untouched", points=2, hint="compute a new tensor; do not modify x, w or b in place")
def test_forward_inputs_untouched(student, judge):
    x, _, w, b = worked_example()
    call = student.call("forward", x, w, b)
    for name, state, before in zip("xwb", call.inputs, (x, w, b)):
        judge.expect(not changed(state.value, before), f"forward modified its input {name}.")


# ------------------------------------------------------------------ mse_loss
@check("mse_loss.values_float64", points=4, hint="the mean over ALL elements, in the inputs' dtype: float64 inputs here go past float32's range (3.4e38)")
@settings(max_examples=10)
@given(shape=S.shapes(), scale=S.float64_scales(), data=st.data())
def test_mse_loss_values_float64(student, judge, shape, scale, data):
    y_pred, y = data.draw(S.tensors(shape, torch.float64)) * scale, data.draw(S.tensors(shape, torch.float64)) * scale
    got = student.call("mse_loss", y_pred, y).value
    judge.close(got, ref.mse_loss(y_pred, y), what="mse_loss(y_pred, y)", inputs=describe_inputs(y_pred=y_pred, y=y))


@check("mse_loss.any_shape", points=3, hint="average over every element, whatever the shape: no dim argument")
def test_mse_loss_any_shape(student, judge):
    g = torch.Generator().manual_seed(5)
    for shape in [(6, 3), (2, 3, 4), ()]:
        y_pred, y = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        got = student.call("mse_loss", y_pred, y).value
        judge.close(got, ref.mse_loss(y_pred, y), what=f"mse_loss on inputs of shape {shape}", inputs=describe_inputs(y_pred=y_pred, y=y))


@check("mse_loss.gradient", points=5, hint="compute the loss from y_pred with torch operations, no .item() or .detach()")
@settings(max_examples=10)
@given(shape=S.shapes(), dtype=S.float_dtypes, data=st.data())
def test_mse_loss_gradient(student, judge, shape, dtype, data):
    scale = data.draw(S.float64_scales()) if dtype == torch.float64 else 1.0
    y_pred, y = data.draw(S.tensors(shape, dtype)) * scale, data.draw(S.tensors(shape, dtype)) * scale
    call = student.call("mse_loss", leaf(y_pred), y, backward="ones")
    inputs = describe_inputs(y_pred=y_pred, y=y)
    judge.expect(call.backward_error is None, f"backward from mse_loss's result failed ({call.backward_error}).", inputs=inputs)
    p = leaf(y_pred)
    ref.mse_loss(p, y).backward()
    state = call.inputs[0]
    judge.expect(state.grad is not None, "y_pred.grad is None after backward: the loss is not connected to y_pred.", inputs=inputs)
    judge.close(state.grad, p.grad, what="y_pred.grad after backward from mse_loss", inputs=inputs)


# ------------------------------------------------------------------ zero_grad
def _all_zeroed(judge, call, params, label: str) -> None:
    for i, (state, p) in enumerate(zip(call.inputs, params)):
        if p.grad is None:
            continue
        judge.expect(
            state.grad is not None and not bool(state.grad.any()),
            f"{label}: params[{i}].grad is not a tensor of zeros after zero_grad.",
        )


@check("zero_grad.none_stays_none", points=3, hint="skip parameters whose .grad is None")
def test_zero_grad_none_stays_none(student, judge):
    params = _params(with_grads=(True, False, True))
    call = student.call("zero_grad", params)
    judge.expect(call.inputs[1].grad is None, "params[1].grad was None before zero_grad and must stay None.")
    _all_zeroed(judge, call, params, "with one gradient None")


@check("zero_grad.params_untouched", points=3, hint="zero the gradients only, never the parameters")
def test_zero_grad_params_untouched(student, judge):
    params = _params(torch.float64)
    call = student.call("zero_grad", params)
    _all_zeroed(judge, call, params, "float64 parameters")
    for i, (state, p) in enumerate(zip(call.inputs, params)):
        judge.expect(not changed(state.value, p), f"zero_grad changed the values of params[{i}].")
        judge.expect(state.is_leaf and state.requires_grad, f"params[{i}] is no longer a leaf that requires grad after zero_grad.")


@check("zero_grad.iterables", points=4, hint="params may be a tuple or a generator: iterate over it exactly once")
def test_zero_grad_iterables(student, judge):
    for label, wrap in (("a tuple", tuple), ("a generator", AsGenerator)):
        params = _params(seed=13)
        call = student.call("zero_grad", wrap(params))
        judge.expect(len(call.inputs) == len(params), f"zero_grad with params given as {label}: wrong number of parameters seen.")
        _all_zeroed(judge, call, params, f"params given as {label}")


# ------------------------------------------------------------------ sgd_step
@check("sgd_step.grads_unchanged", points=3, hint="read p.grad, never modify or replace it in sgd_step")
def test_sgd_step_grads_unchanged(student, judge):
    params = _params()
    call = student.call("sgd_step", params, 0.05)
    for i, (state, p) in enumerate(zip(call.inputs, params)):
        judge.expect(changed(state.value, p), f"params[{i}] was not updated by sgd_step.")
        judge.expect(
            state.grad is not None and state.grad_same_object and not changed(state.grad, p.grad),
            f"params[{i}].grad changed during sgd_step (it must be the same tensor with the same values).",
        )


@check("sgd_step.skips_none", points=3, hint="skip parameters whose .grad is None")
def test_sgd_step_skips_none(student, judge):
    params = _params(with_grads=(True, False, True))
    call = student.call("sgd_step", params, 0.05)
    judge.expect(not changed(call.inputs[1].value, params[1]), "params[1] has no gradient, so sgd_step must leave it unchanged.")
    judge.expect(call.inputs[1].grad is None, "params[1].grad was None and must stay None.")
    for i in (0, 2):
        judge.expect(changed(call.inputs[i].value, params[i]), f"params[{i}] has a gradient but was not updated.")


@check("sgd_step.iterables", points=3, hint="params may be a tuple or a generator: iterate over it exactly once")
def test_sgd_step_iterables(student, judge):
    as_list = student.call("sgd_step", _params(seed=17), 0.05)
    for label, wrap in (("a tuple", tuple), ("a generator", AsGenerator)):
        params = _params(seed=17)
        call = student.call("sgd_step", wrap(params), 0.05)
        judge.expect(len(call.inputs) == len(params), f"sgd_step with params given as {label}: wrong number of parameters seen.")
        for i, (state, same, p) in enumerate(zip(call.inputs, as_list.inputs, params)):
            judge.expect(changed(state.value, p), f"with params given as {label}, params[{i}] was not updated.")
            judge.expect(
                torch.equal(state.value, same.value),
                f"with params given as {label}, params[{i}] differs from the result with a list.",
            )


# ------------------------------------------------------------------ train
def _problem(dtype, n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randn(n, 1, generator=g, dtype=dtype)
    return x, y, torch.randn(d, 1, generator=g, dtype=dtype) * 0.5, torch.randn(1, generator=g, dtype=dtype) * 0.5


@check("train.losses_before_update", points=3, hint="record each epoch's loss before calling sgd_step; the first loss uses the initial w and b")
def test_train_losses_before_update(student, judge):
    x, y, w, b = _problem(torch.float64, 12, 3, seed=21)
    call = student.call("train", x, y, leaf(w), leaf(b), 0.1, 4)
    losses, _, _ = ref.train(x, y, w, b, 0.1, 4)
    got = numbers(call.value, judge, what="train's return value")
    judge.expect(len(got) == 4, f"train(..., epochs=4) returned {len(got)} losses; expected 4.")
    judge.close(got[:1], losses[:1], what="the first loss (it must be measured with the initial w and b)")
    judge.close(got, losses, what="the losses returned by train (each measured before that epoch's update)")


@check("train.updates_in_place", points=3, hint="update the w and b you were given, in place (through sgd_step)")
def test_train_updates_in_place(student, judge):
    x, y, w, b = _problem(torch.float32, 10, 2, seed=23)
    call = student.call("train", x, y, leaf(w), leaf(b), 0.05, 5)
    _, w_ref, b_ref = ref.train(x, y, w, b, 0.05, 5)
    judge.close(call.inputs[2].value, w_ref, what="the caller's w after train (5 epochs, lr 0.05)")
    judge.close(call.inputs[3].value, b_ref, what="the caller's b after train (5 epochs, lr 0.05)")


@check("train.random_problems", points=3, hint="each epoch: forward, mse_loss, zero_grad, backward, sgd_step")
@settings(max_examples=8)
@given(dtype=S.float_dtypes, n=st.integers(1, 8), d=st.integers(1, 3), epochs=st.integers(1, 5), lr=S.learning_rates(), seed=S.seeds,
       scale=S.float64_scales())
def test_train_random_problems(student, judge, dtype, n, d, epochs, lr, seed, scale):
    x, y, w, b = _problem(dtype, n, d, seed)
    if dtype == torch.float64:  # gradient descent is linear in (y, w, b): scaled, every iterate scales with them
        y, w, b = y * scale, w * scale, b * scale
    call = student.call("train", x, y, leaf(w), leaf(b), lr, epochs)
    losses, _, _ = ref.train(x, y, w, b, lr, epochs)
    inputs = describe_inputs(x=x, y=y, w=w, b=b) + f"; lr = {lr}; epochs = {epochs}"
    got = numbers(call.value, judge, what="train's return value")
    judge.close(got, losses, what="the losses returned by train", inputs=inputs)


@check("train.stale_gradients", points=3, hint="zero the gradients before each backward, not after the step: w and b may arrive with .grad already set")
def test_train_stale_gradients(student, judge):
    """w and b arrive with gradients left from earlier work: zeroed before the first backward (the order the
    contract fixes), they change nothing; zeroed only after each step, they add to the first update."""
    x, y, w, b = _problem(torch.float64, 10, 2, seed=29)
    g = torch.Generator().manual_seed(31)
    stale = [torch.randn(p.shape, generator=g, dtype=p.dtype) * 10 for p in (w, b)]
    call = student.call("train", x, y, leaf(w, stale[0]), leaf(b, stale[1]), 0.1, 3)
    losses, _, _ = ref.train(x, y, w, b, 0.1, 3)
    got = numbers(call.value, judge, what="train's return value")
    judge.expect(len(got) == 3, f"train(..., epochs=3) returned {len(got)} losses; expected 3.")
    judge.close(got, losses, what="the losses returned by train when w.grad and b.grad were already set on entry",
                inputs=describe_inputs(x=x, y=y, w=w, b=b) + f"; w.grad = {stale[0].tolist()}; b.grad = {stale[1].tolist()}; lr = 0.1; epochs = 3")
