"""Hidden checks of assignment6: run by `grader grade`, never handed out.

float64 values past float32's range, extreme inputs, ``torch.autograd.gradcheck`` in float64 through the student's
process, and each backward called directly: autograd sums a wrong-shaped gradient to its input's shape and drops one
returned for an integer input, so what backward returns is compared as it returned it (tuple length, Nones, shapes).
"""

import torch
from hypothesis import given, settings

from grader.checks import assignment_module, check, leaf, same_tensor, seeded
from grader.checks.strategies import float64_scales

ref = assignment_module(__file__, "references")
show = ref.show
F64 = torch.float64


def _backward_ok(judge, call, what: str, inputs: str) -> None:
    judge.expect(call.backward_error is None, f"backward through {what} failed: {call.backward_error}", inputs=inputs)


# ------------------------------------------------------------------ Softplus
@check("Softplus.values_float64", points=3, hint="keep float64 throughout: these inputs go past float32's range (3.4e38)")
@settings(max_examples=6)
@given(xg=ref.elementwise(F64), scale=float64_scales())
def test_softplus_float64(student, judge, xg, scale):
    x = xg[0] * scale
    same_tensor(judge, student.call("softplus", x).value, ref.softplus(x), what="softplus(x)", inputs=show(x=x))


@check("Softplus.extreme_inputs", points=4, hint="never exp(x) of a large x: softplus(x) = max(x, 0) + log1p(exp(-|x|))")
def test_softplus_extreme(student, judge):
    for dtype in (torch.float32, F64):
        x = torch.tensor([1000.0, -1000.0, 100.0, -100.0, 30.5, -30.5, 88.0, -88.0, 0.0], dtype=dtype)
        g = torch.linspace(0.5, 1.5, x.numel(), dtype=dtype)
        call = student.call("softplus", leaf(x), backward=g)
        same_tensor(judge, call.value, ref.softplus(x), what="softplus(x)", inputs=show(x=x))
        _backward_ok(judge, call, "softplus(x)", show(x=x))
        same_tensor(judge, call.inputs[0].grad, ref.softplus_grad(x, g), what="x.grad", inputs=show(x=x, grad_output=g))


@check("Softplus.gradcheck", points=3, hint="backward must be the derivative of your forward: sigmoid(x) times grad_output")
def test_softplus_gradcheck(student, judge):
    for k, shape in enumerate([(), (3,), (2, 3)]):
        x = torch.rand(shape, generator=seeded(k), dtype=F64) * 10 - 5
        ref.gradcheck(judge, student, "softplus", [x], [0], inputs=show(x=x))


@check("Softplus.backward_returns", points=2, hint="backward returns one tensor with x's shape and dtype: grad_output * sigmoid(x)")
def test_softplus_backward_returns(student, judge):
    for k, (shape, dtype) in enumerate([((1, 3), torch.float32), ((2, 1, 3), F64), ((), F64)]):
        x, g = torch.rand(shape, generator=seeded(k), dtype=dtype) * 4 - 2, torch.rand(shape, generator=seeded(k + 9), dtype=dtype)
        inputs = show(x=x, grad_output=g)
        call = student.call("softplus", leaf(x), backward=g, direct_backward=True)
        (dx,) = ref.returned(judge, call, "Softplus", 1, inputs=inputs)
        same_tensor(judge, dx, ref.softplus_grad(x, g), what="Softplus.backward(ctx, grad_output)", inputs=inputs)


# ------------------------------------------------------------------ SoftmaxCrossEntropy
@check("SoftmaxCrossEntropy.values_float64", points=4, hint="keep float64 throughout; logsumexp keeps large logits finite")
@settings(max_examples=6)
@given(batch=ref.logits_and_targets(F64), scale=float64_scales())
def test_cross_entropy_float64(student, judge, batch, scale):
    logits, target, _ = batch
    logits = logits * scale
    same_tensor(judge, student.call("softmax_cross_entropy", logits, target).value, ref.cross_entropy(logits, target),
                what="softmax_cross_entropy(logits, target)", inputs=show(logits=logits, target=target))


@check("SoftmaxCrossEntropy.extreme_logits", points=4, hint="subtract each row's max before exp (or use torch.logsumexp), in forward and backward")
def test_cross_entropy_extreme(student, judge):
    for dtype in (torch.float32, F64):
        logits = torch.tensor([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
        target, g = torch.tensor([1, 2, 0]), torch.tensor(1.5, dtype=dtype)
        inputs = show(logits=logits, target=target)
        call = student.call("softmax_cross_entropy", leaf(logits), target, backward=g)
        same_tensor(judge, call.value, ref.cross_entropy(logits, target), what="softmax_cross_entropy(logits, target)", inputs=inputs)
        _backward_ok(judge, call, "softmax_cross_entropy", inputs)
        same_tensor(judge, call.inputs[0].grad, ref.cross_entropy_grad(logits, target, g), what="logits.grad", inputs=inputs)


@check("SoftmaxCrossEntropy.gradcheck", points=3, hint="backward must be the derivative of your forward: (softmax - onehot) / N")
def test_cross_entropy_gradcheck(student, judge):
    for k, (n, c) in enumerate([(1, 3), (3, 4)]):
        logits = torch.rand((n, c), generator=seeded(k), dtype=F64) * 6 - 3
        target = torch.randint(0, c, (n,), generator=seeded(k + 5))
        ref.gradcheck(judge, student, "softmax_cross_entropy", [logits, target], [0], inputs=show(logits=logits, target=target))


@check("SoftmaxCrossEntropy.backward_returns", points=4, hint="backward returns a tuple (grad_logits, None): None for target, the integer indices")
def test_cross_entropy_backward_returns(student, judge):
    for k, dtype in enumerate((torch.float32, F64)):
        logits = torch.rand((4, 3), generator=seeded(k), dtype=dtype) * 4 - 2
        target, g = torch.tensor([0, 2, 1, 2]), torch.tensor(0.75, dtype=dtype)
        inputs = show(logits=logits, target=target, grad_output=g)
        call = student.call("softmax_cross_entropy", leaf(logits), target, backward=g, direct_backward=True)
        d_logits, d_target = ref.returned(judge, call, "SoftmaxCrossEntropy", 2, inputs=inputs)
        same_tensor(judge, d_logits, ref.cross_entropy_grad(logits, target, g), what="SoftmaxCrossEntropy.backward(...)[0]", inputs=inputs)
        ref.expect_none(judge, d_target, "SoftmaxCrossEntropy", 1, "target", inputs=inputs)


# ------------------------------------------------------------------ LayerNorm
@check("LayerNorm.values_float64", points=4, hint="keep float64 throughout: these rows go past float32's range (3.4e38)")
@settings(max_examples=6)
@given(batch=ref.layer_norm_inputs(F64), scale=float64_scales())
def test_layer_norm_float64(student, judge, batch, scale):
    x, w, b, eps, _ = batch
    x = x * scale
    same_tensor(judge, student.call("layer_norm", x, w, b, eps).value, ref.layer_norm(x, w, b, eps),
                what="layer_norm(x, weight, bias, eps)", inputs=show(x=x, weight=w, bias=b, eps=eps))


@check("LayerNorm.eps", points=3, hint="eps goes inside the square root: (x - mean) / sqrt(var + eps), var divided by D (biased)")
@settings(max_examples=6)
@given(batch=ref.layer_norm_inputs(low=-0.5, high=0.5))
def test_layer_norm_eps(student, judge, batch):
    x, w, b, _, g = batch
    for eps in (1.0, 10.0):
        inputs = show(x=x, weight=w, bias=b, eps=eps, grad_output=g)
        call = student.call("layer_norm", leaf(x), w, b, eps, backward=g)
        same_tensor(judge, call.value, ref.layer_norm(x, w, b, eps), what="layer_norm(x, weight, bias, eps)", inputs=inputs)
        _backward_ok(judge, call, "layer_norm", inputs)
        same_tensor(judge, call.inputs[0].grad, ref.layer_norm_grads(x, w, b, eps, g)[0], what="x.grad", inputs=inputs)


@check("LayerNorm.gradcheck", points=4, hint="backward must be the derivative of your forward, for x, weight and bias")
def test_layer_norm_gradcheck(student, judge):
    for k, (n, d) in enumerate([(1, 2), (2, 3)]):
        x = torch.rand((n, d), generator=seeded(k), dtype=F64) * 4 - 2
        w, b = torch.rand(d, generator=seeded(k + 3), dtype=F64) + 0.5, torch.rand(d, generator=seeded(k + 6), dtype=F64)
        ref.gradcheck(judge, student, "layer_norm", [x, w, b, 0.1], [0, 1, 2], inputs=show(x=x, weight=w, bias=b, eps=0.1))


@check("LayerNorm.backward_returns", points=5, hint="backward returns (dx, dweight, dbias, None): the shapes of x, weight, bias, and None for eps")
def test_layer_norm_backward_returns(student, judge):
    for k, dtype in enumerate((torch.float32, F64)):
        x = torch.rand((3, 4), generator=seeded(k), dtype=dtype) * 4 - 2
        w, b = torch.rand(4, generator=seeded(k + 3), dtype=dtype) + 0.5, torch.rand(4, generator=seeded(k + 6), dtype=dtype)
        g = torch.rand((3, 4), generator=seeded(k + 9), dtype=dtype) - 0.5
        inputs = show(x=x, weight=w, bias=b, eps=1e-5, grad_output=g)
        call = student.call("layer_norm", leaf(x), leaf(w), leaf(b), 1e-5, backward=g, direct_backward=True)
        got = ref.returned(judge, call, "LayerNorm", 4, inputs=inputs)
        for i, (name, expected) in enumerate(zip(("dx", "dweight", "dbias"), ref.layer_norm_grads(x, w, b, 1e-5, g))):
            same_tensor(judge, got[i], expected, what=f"LayerNorm.backward(...)[{i}] ({name})", inputs=inputs)
        ref.expect_none(judge, got[3], "LayerNorm", 3, "eps", inputs=inputs)


@check("LayerNorm.frozen_parameters", points=2, hint="backward works whichever inputs require grad (check ctx.needs_input_grad, or always return all three)")
def test_layer_norm_frozen(student, judge):
    x = torch.rand((2, 3), generator=seeded(1), dtype=F64) * 4 - 2
    w, b, g = torch.tensor([0.5, 1.0, 2.0], dtype=F64), torch.tensor([0.1, 0.2, 0.3], dtype=F64), torch.ones(2, 3, dtype=F64)
    expected = ref.layer_norm_grads(x, w, b, 1e-5, g)
    for which in ((0,), (1, 2)):
        sent = [leaf(t) if i in which else t for i, t in enumerate((x, w, b))]
        inputs = show(x=x, weight=w, bias=b, requires_grad=[("x", "weight", "bias")[i] for i in which])
        call = student.call("layer_norm", *sent, 1e-5, backward=g)
        _backward_ok(judge, call, "layer_norm", inputs)
        for i in which:
            same_tensor(judge, call.inputs[i].grad, expected[i], what=f"{('x', 'weight', 'bias')[i]}.grad", inputs=inputs)


# ------------------------------------------------------------------ StraightThroughClamp
@check("StraightThroughClamp.backward_returns", points=4, hint="backward returns (grad_output, None, None): None for lo and hi")
def test_clamp_backward_returns(student, judge):
    for k, (shape, dtype) in enumerate([((1, 4), torch.float32), ((2, 1, 3), F64), ((), F64)]):
        x, g = torch.rand(shape, generator=seeded(k), dtype=dtype) * 6 - 3, torch.rand(shape, generator=seeded(k + 9), dtype=dtype)
        inputs = show(x=x, grad_output=g)
        call = student.call("straight_through_clamp", leaf(x), -1.0, 1.0, backward=g, direct_backward=True)
        got = ref.returned(judge, call, "StraightThroughClamp", 3, inputs=inputs)
        same_tensor(judge, got[0], g, what="StraightThroughClamp.backward(...)[0]", inputs=inputs)
        ref.expect_none(judge, got[1], "StraightThroughClamp", 1, "lo", inputs=inputs)
        ref.expect_none(judge, got[2], "StraightThroughClamp", 2, "hi", inputs=inputs)
