"""References for assignment6 (autograd Functions with your own backward), the inputs the checks draw, and the
checks' shared steps.

Every value is torch's own op (``F.softplus``, ``F.cross_entropy``, ``F.layer_norm``, ``torch.clamp``) and every
gradient is autograd through it, computed here in the grader, never in the student's process (where those ops
are forbidden). The straight-through clamp's gradient is its definition: the upstream gradient, unchanged.
:func:`gradcheck` runs ``torch.autograd.gradcheck`` here on a stand-in Function whose forward and backward are
calls into the student's process: the student's code never leaves its sandbox.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.gradcheck import GradcheckError
from hypothesis import strategies as st

from grader.checks import Judge, leaf
from grader.checks.compare import describe_inputs, describe_value
from grader.checks import seeded
from grader.checks.strategies import float_dtypes, seeds, shapes, tensors

MODULE = "custom_functions"
#: Each class and the module-level function that applies it.
APPLIED_BY = {"Softplus": "softplus", "SoftmaxCrossEntropy": "softmax_cross_entropy", "LayerNorm": "layer_norm",
              "StraightThroughClamp": "straight_through_clamp"}
WORKED_LOGITS, WORKED_TARGET = [[2.0, 1.0, 0.1]], [0]
EPSILONS = (1e-5, 0.1, 1.0)


# ------------------------------------------------------------------ references
def _grads(fn, tensors_in: list, wrt: list[int], grad_out: torch.Tensor) -> tuple:
    """Autograd's gradients of ``fn(*tensors_in)`` with respect to ``tensors_in[i]`` for ``i in wrt``."""
    args = [leaf(t) if i in wrt else t for i, t in enumerate(tensors_in)]
    return tuple(g.detach() for g in torch.autograd.grad(fn(*args), [args[i] for i in wrt], grad_out))


def softplus(x):
    return F.softplus(x)


def softplus_grad(x, grad_out):
    return _grads(F.softplus, [x], [0], grad_out)[0]


def cross_entropy(logits, target):
    return F.cross_entropy(logits, target)


def cross_entropy_grad(logits, target, grad_out):
    return _grads(F.cross_entropy, [logits, target], [0], grad_out)[0]


def layer_norm(x, weight, bias, eps):
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def layer_norm_grads(x, weight, bias, eps, grad_out) -> tuple:
    """``(dx, dweight, dbias)`` by autograd through ``F.layer_norm``."""
    return _grads(lambda x, w, b: layer_norm(x, w, b, eps), [x, weight, bias], [0, 1, 2], grad_out)


def clamp(x, lo, hi):
    return torch.clamp(x, lo, hi)


# ------------------------------------------------------------------ inputs
@st.composite
def elementwise(draw, dtype=None, low=-20.0, high=20.0):
    """``(x, grad_out)``: any shape from 0-dim to 4-D, float32 or float64."""
    dtype = dtype or draw(float_dtypes)
    shape = draw(shapes(max_dims=4, max_side=4))
    return draw(tensors(shape, dtype, low=low, high=high)), draw(tensors(shape, dtype))


@st.composite
def logits_and_targets(draw, dtype=None, low=-5.0, high=5.0):
    """``(logits (N, C), target (N,) int64, grad_out 0-dim)``."""
    dtype = dtype or draw(float_dtypes)
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    target = torch.randint(0, c, (n,), generator=seeded(draw(seeds)))
    return draw(tensors((n, c), dtype, low=low, high=high)), target, draw(tensors((), dtype, low=0.5, high=2.0))


@st.composite
def layer_norm_inputs(draw, dtype=None, low=-3.0, high=3.0):
    """``(x (N, D), weight (D,), bias (D,), eps, grad_out (N, D))``."""
    dtype = dtype or draw(float_dtypes)
    n, d = draw(st.integers(1, 4)), draw(st.integers(2, 6))
    x, w, b = draw(tensors((n, d), dtype, low=low, high=high)), draw(tensors((d,), dtype)), draw(tensors((d,), dtype))
    return x, w, b, draw(st.sampled_from(EPSILONS)), draw(tensors((n, d), dtype))


@st.composite
def clamp_inputs(draw, dtype=None):
    """``(x, lo, hi, grad_out)``: any shape from 0-dim to 4-D, bounds inside the values' range (some clamped)."""
    x, g = draw(elementwise(dtype, low=-3.0, high=3.0))
    lo = draw(st.sampled_from([-2.0, -1.0, -0.5, 0.0]))
    return x, lo, lo + draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])), g


# ------------------------------------------------------------------ the checks' shared steps
show = describe_inputs  # the inputs of a call, for feedback


def made_by(judge: Judge, call, cls: str, call_text: str, *, inputs: str = "") -> None:
    """The result's ``grad_fn`` is ``cls``'s backward: ``APPLIED_BY[cls]`` returned ``cls.apply(...)``."""
    facts = call.facts(call.value) if isinstance(call.value, torch.Tensor) else None
    if facts is None:
        judge.fail(f"{call_text} returned {describe_value(call.value)}, not a tensor.", inputs=inputs)
    if facts.function != f"{MODULE}.{cls}":
        made = f"grad_fn {facts.grad_fn}" if facts.grad_fn else "no grad_fn (no gradient can flow through it)"
        judge.fail(f"{call_text}'s result has {made}, not the backward of your {cls}: {APPLIED_BY[cls]}() must "
                   f"return {cls}.apply(...), and {cls} must be a torch.autograd.Function.", inputs=inputs)


def returned(judge: Judge, call, cls: str, count: int, *, inputs: str = "") -> tuple:
    """What ``cls.backward`` returned, called directly, as a tuple of ``count`` entries (one tensor alone counts as
    a tuple of one where ``count`` is 1)."""
    if call.backward_error:
        judge.fail(f"{cls}.backward(ctx, grad_output) failed: {call.backward_error}", inputs=inputs)
    value = call.backward_value
    if count == 1 and isinstance(value, torch.Tensor):
        return (value,)
    if not isinstance(value, tuple) or len(value) != count:
        judge.fail(f"{cls}.backward returned {describe_value(value)}; expected a tuple of {count} entries, one per "
                   f"argument of forward after ctx (None for an argument that gets no gradient).", inputs=inputs)
    return value


def expect_none(judge: Judge, value, cls: str, index: int, argument: str, *, inputs: str = "") -> None:
    judge.expect(value is None, f"{cls}.backward returned {describe_value(value)} at position {index} (for {argument}); "
                 f"expected None: {argument} gets no gradient.", inputs=inputs)


def gradcheck(judge: Judge, student, fn: str, args: list, wrt: list[int], *, inputs: str = "") -> None:
    """``torch.autograd.gradcheck`` of ``fn`` with respect to ``args[i]`` (float64 tensors) for ``i in wrt``:
    the analytical gradients (the student's backward, through autograd in the student's process) against finite
    differences of the student's forward."""
    positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

    class Remote(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *diff):
            ctx.args = list(args)
            for i, t in zip(wrt, diff):
                ctx.args[i] = t.detach().clone()
            value = student.call(fn, *ctx.args).value
            judge.expect(isinstance(value, torch.Tensor) and value.dtype == torch.float64,
                         f"{fn}() returned {describe_value(value)} for float64 inputs, not a float64 tensor.", inputs=inputs)
            return value.detach().clone()

        @staticmethod
        def backward(ctx, grad_out):
            sent = [leaf(a) if i in wrt else a for i, a in enumerate(ctx.args)]
            call = student.call(fn, *sent, backward=grad_out.detach().clone())
            if call.backward_error:
                judge.fail(f"backward through {fn}() failed: {call.backward_error}", inputs=inputs)
            grads = [call.inputs[positions.index(i)].grad for i in wrt]
            return tuple(torch.zeros_like(args[i]) if g is None else g for i, g in zip(wrt, grads))

    try:
        torch.autograd.gradcheck(Remote.apply, tuple(leaf(args[i]) for i in wrt), eps=1e-6, atol=1e-6, rtol=1e-4,
                                 check_undefined_grad=False, check_batched_grad=False)
    except GradcheckError as exc:
        first = str(exc).strip().splitlines()[0]
        judge.fail(f"torch.autograd.gradcheck: the gradient of your backward differs from finite differences of your "
                   f"forward in float64 ({first})", inputs=inputs)
