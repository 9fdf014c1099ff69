"""Public checks of assignment7 (backward rules by hand).

Run them with ``grader check assignment7``. Each check calls one of your
functions in a separate process, with tensors built here, and compares what
it returns with ``torch.autograd.grad`` through torch's own operation (``a + b``,
``a @ b``, ``x.sum(dim)``, ``x.max(dim)``, ``torch.softmax``, ``F.embedding``),
run by the grader: first the type, shape and dtype of each gradient, then its
values, then that the tensors you were given are unchanged. Your functions
run with autograd disabled: ``.backward()``, ``torch.autograd.grad`` or
``torch.func`` fail the call.
"""

import torch
from hypothesis import given, settings

from grader.checks import assignment_module, check
from grader.checks import strategies as S

ref = assignment_module(__file__, "references")

AB = ("grad_a", "grad_b")


def _arange(shape, dtype=torch.float32) -> torch.Tensor:
    """Distinct values 1, 2, 3, ... of ``shape``: a sum over the wrong dimension shows."""
    return torch.arange(1, 1 + torch.Size(shape).numel(), dtype=dtype).reshape(shape)


# ------------------------------------------------------------------ unbroadcast
@check("unbroadcast.basics", points=4, hint="sum over the dimensions broadcasting added in front, and with keepdim=True over "
       "those where `shape` has 1 and grad does not: the result has exactly `shape` (a (1, 3) input gets a (1, 3) "
       "gradient, not (3,); shape () gets a 0-dim one)")
def test_unbroadcast_basics(student, judge):
    for grad in (torch.ones(2, 3), _arange((2, 3))):
        for shape in ((3,), (2, 3), (1, 3), (2, 1), (1, 1), ()):
            ref.check_call(student, judge, "unbroadcast", {"grad": grad, "shape": shape}, ref.unbroadcast(grad, shape))


@check("unbroadcast.values", points=4, hint="leading dimensions: sum them away; size-1 dimensions of `shape`: sum with "
       "keepdim=True; keep grad's dtype")
@settings(max_examples=10)
@given(shapes=ref.broadcasts(), dtype=S.float_dtypes, seed=S.seeds)
def test_unbroadcast_values(student, judge, shapes, dtype, seed):
    out, shape = shapes
    grad = torch.rand(out, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 4 - 2
    ref.check_call(student, judge, "unbroadcast", {"grad": grad, "shape": shape}, ref.unbroadcast(grad, shape))


# ------------------------------------------------------------------ add_backward
@check("add_backward.worked_example", points=4, hint="a + b passes grad_out to both unchanged, then each is summed back "
       "to its input's shape: (2, 3) + (3,) with grad_out ones(2, 3) gives ones(2, 3) and [2., 2., 2.]")
def test_add_backward_worked_example(student, judge):
    grad_out, a_shape, b_shape = ref.worked_example()
    for g, sa, sb in ((grad_out, a_shape, b_shape), (grad_out, b_shape, a_shape), (_arange((2, 3)), a_shape, b_shape),
                      (_arange((2, 3)), (2, 3), (2, 3)), (_arange((2, 3)), (2, 1), (1, 3)),
                      (_arange((2, 3)), (2, 3), ())):
        ref.check_call(student, judge, "add_backward", {"grad_out": g, "a_shape": sa, "b_shape": sb},
                       ref.add_backward(g, sa, sb), names=AB)


# ------------------------------------------------------------------ mul_backward
@check("mul_backward.basics", points=4, hint="d(a * b)/da is b and d(a * b)/db is a: grad_a = grad_out * b and grad_b = "
       "grad_out * a, each then summed back to its own input's shape (unbroadcast)")
def test_mul_backward_basics(student, judge):
    cases = [(_arange((2, 3)), torch.tensor([0.5, -1.0, 2.0])),
             (_arange((2, 3)), -_arange((2, 3)) / 4),
             (torch.tensor([[1.5], [-2.0]]), torch.tensor([3.0, 0.5, -1.0])),
             (_arange((2, 3)), torch.tensor(-1.5))]
    for a, b in cases:
        out = torch.broadcast_shapes(a.shape, b.shape)
        grad_out = _arange(out) / 2 - 1
        ref.check_call(student, judge, "mul_backward", {"grad_out": grad_out, "a": a, "b": b},
                       ref.mul_backward(grad_out, a, b), names=AB)


# ------------------------------------------------------------------ matmul_backward
@check("matmul_backward.basics", points=5, hint="grad_a = grad_out @ b^T and grad_b = a^T @ grad_out (transpose the last "
       "two dimensions: .mT), then sum over the batch dimensions that broadcasting added (unbroadcast)")
def test_matmul_backward_basics(student, judge):
    for sa, sb in (((2, 3), (3, 4)), ((1, 1), (1, 2)), ((2, 2, 3), (2, 3, 4)), ((2, 3), (2, 3, 4))):
        a, b = _arange(sa) / 4, -_arange(sb) / 8
        grad_out = _arange((a @ b).shape) / 2 - 2
        ref.check_call(student, judge, "matmul_backward", {"grad_out": grad_out, "a": a, "b": b},
                       ref.matmul_backward(grad_out, a, b), names=AB)


# ------------------------------------------------------------------ sum_backward
@check("sum_backward.basics", points=5, hint="each element of x was summed into one element of out: copy grad_out back "
       "along the summed dimensions; without keepdim, first put each summed dimension back with size 1 (unsqueeze), "
       "then expand to `shape`. dim=-1 is the last dimension; dim=None sums everything")
def test_sum_backward_basics(student, judge):
    cases = [((2, 3), 0, False), ((2, 3), 1, False), ((3, 3), 1, False), ((3, 3), 0, True), ((2, 3), -1, False),
             ((2, 3), None, False), ((2, 3, 2), (0, 2), False), ((2, 3, 2), (0, -1), True),
             ((), None, False)]
    for shape, dim, keepdim in cases:
        out = ref.sum_forward(torch.zeros(shape), dim, keepdim)
        grad_out = _arange(out.shape)
        ref.check_call(student, judge, "sum_backward", {"grad_out": grad_out, "shape": shape, "dim": dim, "keepdim": keepdim},
                       ref.sum_backward(grad_out, shape, dim, keepdim))


# ------------------------------------------------------------------ max_backward
@check("max_backward.basics", points=5, hint="each element of grad_out goes to the position x.max(dim) picked (x.argmax(dim): "
       "the FIRST maximal value when several are equal), zero elsewhere; without keepdim, unsqueeze grad_out at dim "
       "first (scatter or a one-hot mask)")
def test_max_backward_basics(student, judge):
    x = torch.tensor([[1.0, 5.0, 2.0], [4.0, -1.0, 3.0]])
    ties = torch.tensor([[2.0, 7.0, 7.0], [2.0, 0.0, 2.0]])
    for x_, dim, keepdim in ((x, 1, False), (x, 0, False), (x, 1, True), (x, -1, False), (ties, 1, False), (ties, 0, True)):
        out = x_.max(dim=dim, keepdim=keepdim).values
        grad_out = _arange(out.shape)
        ref.check_call(student, judge, "max_backward", {"grad_out": grad_out, "x": x_, "dim": dim, "keepdim": keepdim},
                       ref.max_backward(grad_out, x_, dim, keepdim))


# ------------------------------------------------------------------ softmax_backward
@check("softmax_backward.basics", points=4, hint="y * (grad_out - (grad_out * y).sum(dim, keepdim=True)): the sum runs along "
       "the softmax dimension only, and keepdim=True lets it broadcast back; without the subtracted sum, it is wrong")
def test_softmax_backward_basics(student, judge):
    x = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    grad_out = torch.tensor([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]])
    for dim in (1, 0, -1):
        y = torch.softmax(x, dim)
        ref.check_call(student, judge, "softmax_backward", {"grad_out": grad_out, "y": y, "dim": dim},
                       ref.softmax_backward(grad_out, x, dim))


# ------------------------------------------------------------------ embedding_backward
@check("embedding_backward.basics", points=5, hint="start from zeros (num_embeddings, D) and ADD each row of grad_out into "
       "the row it was read from: a repeated index receives the sum (index_add_, or index_put_ with accumulate=True; "
       "grad[indices] = grad_out keeps only one of the repeats)")
def test_embedding_backward_basics(student, judge):
    cases = [(torch.tensor([0, 2, 4]), 5), (torch.tensor([1, 3, 1, 1]), 6), (torch.tensor([[0, 1], [1, 2]]), 3),
             (torch.tensor(2), 4)]
    for idx, n in cases:
        grad_out = _arange((*idx.shape, 2))
        ref.check_call(student, judge, "embedding_backward", {"grad_out": grad_out, "indices": idx, "num_embeddings": n},
                       ref.embedding_backward(grad_out, idx, n))

