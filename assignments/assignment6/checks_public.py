"""Public checks of assignment6 (autograd Functions with your own backward).

Run them with ``grader check assignment6``. Each check calls one of the module-level functions (``softplus``,
``softmax_cross_entropy``, ``layer_norm``, ``straight_through_clamp``) in a separate process and compares with
torch's own op, and with autograd through it for the gradients, which flow through your ``backward``. Autograd and
torch's own op are forbidden inside your forward and backward: calling them fails the call.
"""

import torch
from hypothesis import given, settings

from grader.checks import assignment_module, check, leaf, same_tensor

ref = assignment_module(__file__, "references")
show = ref.show


# ------------------------------------------------------------------ Softplus
@check("Softplus.worked_example", points=3, hint="log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): exp never overflows that way")
def test_softplus_worked_example(student, judge):
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([1000.0, 0.0, -1000.0, 2.0], dtype=dtype)
        got = student.call("softplus", x).value
        same_tensor(judge, got, ref.softplus(x), what="softplus(x)", inputs=show(x=x))


@check("Softplus.values_float32", points=3, hint="log(1 + exp(x)) elementwise, the shape and dtype of x")
@settings(max_examples=8)
@given(xg=ref.elementwise(torch.float32))
def test_softplus_values(student, judge, xg):
    x, _ = xg
    same_tensor(judge, student.call("softplus", x).value, ref.softplus(x), what="softplus(x)", inputs=show(x=x))


@check("Softplus.gradients", points=5, hint="backward returns grad_output * sigmoid(x): save x in forward with ctx.save_for_backward")
@settings(max_examples=8)
@given(xg=ref.elementwise())
def test_softplus_gradients(student, judge, xg):
    x, g = xg
    call = student.call("softplus", leaf(x), backward=g)
    judge.expect(call.backward_error is None, f"backward through softplus(x) failed: {call.backward_error}", inputs=show(x=x, grad_output=g))
    same_tensor(judge, call.inputs[0].grad, ref.softplus_grad(x, g), what="x.grad after softplus(x).backward(grad_output)",
                inputs=show(x=x, grad_output=g))


@check("Softplus.grad_fn", points=2, hint="softplus(x) returns Softplus.apply(x)")
def test_softplus_grad_fn(student, judge):
    x = torch.tensor([0.5, -1.0], requires_grad=True)
    ref.made_by(judge, student.call("softplus", x), "Softplus", "softplus(x)", inputs=show(x=x))


# ------------------------------------------------------------------ SoftmaxCrossEntropy
@check("SoftmaxCrossEntropy.worked_example", points=4, hint="loss = mean(logsumexp(logits[i]) - logits[i, target[i]]); gradient (softmax - onehot) / N")
def test_cross_entropy_worked_example(student, judge):
    logits, target = torch.tensor(ref.WORKED_LOGITS), torch.tensor(ref.WORKED_TARGET)
    call = student.call("softmax_cross_entropy", leaf(logits), target, backward=torch.tensor(1.0))
    inputs = show(logits=logits, target=target)
    same_tensor(judge, call.value, ref.cross_entropy(logits, target), what="softmax_cross_entropy(logits, target)", inputs=inputs)
    judge.expect(call.backward_error is None, f"backward through softmax_cross_entropy failed: {call.backward_error}", inputs=inputs)
    same_tensor(judge, call.inputs[0].grad, ref.cross_entropy_grad(logits, target, torch.tensor(1.0)),
                what="logits.grad after loss.backward()", inputs=inputs)


@check("SoftmaxCrossEntropy.values_float32", points=4, hint="a 0-dim tensor: the MEAN over the N rows, with logsumexp for stability")
@settings(max_examples=8)
@given(batch=ref.logits_and_targets(torch.float32))
def test_cross_entropy_values(student, judge, batch):
    logits, target, _ = batch
    same_tensor(judge, student.call("softmax_cross_entropy", logits, target).value, ref.cross_entropy(logits, target),
                what="softmax_cross_entropy(logits, target)", inputs=show(logits=logits, target=target))


@check("SoftmaxCrossEntropy.gradients", points=5, hint="grad_output * (softmax(logits) - onehot(target)) / N, and None for target")
@settings(max_examples=8)
@given(batch=ref.logits_and_targets())
def test_cross_entropy_gradients(student, judge, batch):
    logits, target, g = batch
    inputs = show(logits=logits, target=target, grad_output=g)
    call = student.call("softmax_cross_entropy", leaf(logits), target, backward=g)
    judge.expect(call.backward_error is None, f"backward through softmax_cross_entropy failed: {call.backward_error}", inputs=inputs)
    same_tensor(judge, call.inputs[0].grad, ref.cross_entropy_grad(logits, target, g),
                what="logits.grad after loss.backward(grad_output)", inputs=inputs)


@check("SoftmaxCrossEntropy.grad_fn", points=2, hint="softmax_cross_entropy(logits, target) returns SoftmaxCrossEntropy.apply(logits, target)")
def test_cross_entropy_grad_fn(student, judge):
    logits, target = leaf(torch.tensor(ref.WORKED_LOGITS)), torch.tensor(ref.WORKED_TARGET)
    call = student.call("softmax_cross_entropy", logits, target)
    ref.made_by(judge, call, "SoftmaxCrossEntropy", "softmax_cross_entropy(logits, target)", inputs=show(logits=logits, target=target))


# ------------------------------------------------------------------ LayerNorm
@check("LayerNorm.values_float32", points=4, hint="per row: (x - mean) / sqrt(var + eps) * weight + bias, var = mean((x - mean) ** 2), divided by D")
@settings(max_examples=8)
@given(batch=ref.layer_norm_inputs(torch.float32))
def test_layer_norm_values(student, judge, batch):
    x, w, b, eps, _ = batch
    same_tensor(judge, student.call("layer_norm", x, w, b, eps).value, ref.layer_norm(x, w, b, eps),
                what="layer_norm(x, weight, bias, eps)", inputs=show(x=x, weight=w, bias=b, eps=eps))


@check("LayerNorm.gradients", points=6, hint="dbias sums grad_output over rows, dweight sums grad_output * x_hat; dx has three terms")
@settings(max_examples=8)
@given(batch=ref.layer_norm_inputs())
def test_layer_norm_gradients(student, judge, batch):
    x, w, b, eps, g = batch
    inputs = show(x=x, weight=w, bias=b, eps=eps, grad_output=g)
    call = student.call("layer_norm", leaf(x), leaf(w), leaf(b), eps, backward=g)
    judge.expect(call.backward_error is None, f"backward through layer_norm failed: {call.backward_error}", inputs=inputs)
    for state, name, expected in zip(call.inputs, ("x", "weight", "bias"), ref.layer_norm_grads(x, w, b, eps, g)):
        same_tensor(judge, state.grad, expected, what=f"{name}.grad after layer_norm(...).backward(grad_output)", inputs=inputs)


@check("LayerNorm.grad_fn", points=2, hint="layer_norm(x, weight, bias, eps) returns LayerNorm.apply(x, weight, bias, eps)")
def test_layer_norm_grad_fn(student, judge):
    x, w, b = leaf(torch.tensor([[1.0, 2.0, 4.0]])), leaf(torch.ones(3)), leaf(torch.zeros(3))
    ref.made_by(judge, student.call("layer_norm", x, w, b, 1e-5), "LayerNorm", "layer_norm(x, weight, bias, eps)",
                inputs=show(x=x, weight=w, bias=b))


# ------------------------------------------------------------------ StraightThroughClamp
@check("StraightThroughClamp.values", points=4, hint="forward is x.clamp(lo, hi)")
@settings(max_examples=8)
@given(batch=ref.clamp_inputs())
def test_clamp_values(student, judge, batch):
    x, lo, hi, _ = batch
    same_tensor(judge, student.call("straight_through_clamp", x, lo, hi).value, ref.clamp(x, lo, hi),
                what=f"straight_through_clamp(x, {lo}, {hi})", inputs=show(x=x))


@check("StraightThroughClamp.gradients", points=4, hint="backward returns grad_output unchanged, also where x was clamped (that is the point)")
@settings(max_examples=8)
@given(batch=ref.clamp_inputs())
def test_clamp_gradients(student, judge, batch):
    x, lo, hi, g = batch
    inputs = show(x=x, grad_output=g)
    call = student.call("straight_through_clamp", leaf(x), lo, hi, backward=g)
    judge.expect(call.backward_error is None, f"backward through straight_through_clamp failed: {call.backward_error}", inputs=inputs)
    same_tensor(judge, call.inputs[0].grad, g, what=f"x.grad after straight_through_clamp(x, {lo}, {hi}).backward(grad_output)", inputs=inputs)


@check("StraightThroughClamp.grad_fn", points=3, hint="straight_through_clamp(x, lo, hi) returns StraightThroughClamp.apply(x, lo, hi)")
def test_clamp_grad_fn(student, judge):
    x = leaf(torch.tensor([-3.0, 0.5, 3.0]))
    ref.made_by(judge, student.call("straight_through_clamp", x, -1.0, 1.0), "StraightThroughClamp",
                "straight_through_clamp(x, -1.0, 1.0)", inputs=show(x=x))
