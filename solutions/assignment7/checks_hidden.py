"""Hidden checks of assignment7: run only by `grader grade`, never handed out.

Random shapes from 0-dim to 4-D with every kind of broadcasting, every kind of ``dim``, ties, repeated indices,
float32 at float32's tolerance and float64 with some inputs far past float32's range (every function here is
linear in ``grad_out``, and ``mul``/``matmul`` in each operand: float64 holds the scaled result exactly, and code
that computes in float32 meets ``inf``).
"""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import assignment_module, check
from grader.checks import strategies as S

ref = assignment_module(__file__, "references")

F32, F64 = torch.float32, torch.float64
AB = ("grad_a", "grad_b")
FLOAT64_HINT = "compute in the input's dtype, float64 here: no float32 tensor in between (these values go past float32's range, 3.4e38)"


def _values(seed: int, shape, dtype, scale: float = 1.0) -> torch.Tensor:
    return (torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed), dtype=dtype) * 4 - 2) * scale


# ------------------------------------------------------------------ unbroadcast
@check("unbroadcast.float64", points=4, hint="sum over the added leading dimensions and, keeping them, over the size-1 ones; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(shapes=ref.broadcasts(), seed=S.seeds, scale=S.float64_scales())
def test_unbroadcast_float64(student, judge, shapes, seed, scale):
    out, shape = shapes
    grad = _values(seed, out, F64, scale)
    ref.check_call(student, judge, "unbroadcast", {"grad": grad, "shape": shape}, ref.unbroadcast(grad, shape))


# ------------------------------------------------------------------ add_backward
def _add(student, judge, shapes, seed, dtype, scale=1.0):
    a_shape, b_shape, out = shapes
    grad_out = _values(seed, out, dtype, scale)
    ref.check_call(student, judge, "add_backward", {"grad_out": grad_out, "a_shape": a_shape, "b_shape": b_shape},
                   ref.add_backward(grad_out, a_shape, b_shape), names=AB)


@check("add_backward.broadcasting", points=3, hint="both a and b may be broadcast (leading dimensions, size-1 dimensions, 0-dim): "
       "unbroadcast grad_out to each shape separately")
@settings(max_examples=6)
@given(shapes=ref.broadcast_pairs(), seed=S.seeds)
def test_add_backward_broadcasting(student, judge, shapes, seed):
    _add(student, judge, shapes, seed, F32)


@check("add_backward.float64", points=3, hint="unbroadcast grad_out to each shape; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(shapes=ref.broadcast_pairs(), seed=S.seeds, scale=S.float64_scales())
def test_add_backward_float64(student, judge, shapes, seed, scale):
    _add(student, judge, shapes, seed, F64, scale)


# ------------------------------------------------------------------ mul_backward
def _binary(student, judge, fn: str, shapes, seed, dtype, scale=1.0):
    """``fn`` (mul_backward or matmul_backward) on operands of the shapes drawn, against autograd through the op."""
    a_shape, b_shape, out = shapes
    a, b, grad_out = _values(seed, a_shape, dtype, scale), _values(seed + 1, b_shape, dtype), _values(seed + 2, out, dtype, scale)
    ref.check_call(student, judge, fn, {"grad_out": grad_out, "a": a, "b": b}, getattr(ref, fn)(grad_out, a, b), names=AB)


@check("mul_backward.broadcasting", points=4, hint="grad_a = unbroadcast(grad_out * b, a.shape), grad_b = unbroadcast(grad_out * a, "
       "b.shape): both operands may be broadcast, 0-dim ones too")
@settings(max_examples=6)
@given(shapes=ref.broadcast_pairs(), seed=S.seeds)
def test_mul_backward_broadcasting(student, judge, shapes, seed):
    _binary(student, judge, "mul_backward", shapes, seed, F32)


@check("mul_backward.float64", points=4, hint="grad_out * b for a, grad_out * a for b, each unbroadcast; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(shapes=ref.broadcast_pairs(), seed=S.seeds, scale=S.float64_scales())
def test_mul_backward_float64(student, judge, shapes, seed, scale):
    _binary(student, judge, "mul_backward", shapes, seed, F64, scale)


# ------------------------------------------------------------------ matmul_backward
@check("matmul_backward.batch_broadcast", points=5, hint="grad_out @ b.mT and a.mT @ grad_out have the broadcast batch "
       "dimensions: sum them back to a's and b's own shapes ((n, k) @ (5, k, m): grad_a sums over the 5)")
@settings(max_examples=6)
@given(shapes=ref.matmul_shapes(), seed=S.seeds)
def test_matmul_backward_batch_broadcast(student, judge, shapes, seed):
    _binary(student, judge, "matmul_backward", shapes, seed, F32)


@check("matmul_backward.float64", points=4, hint="grad_out @ b.mT and a.mT @ grad_out, unbroadcast; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(shapes=ref.matmul_shapes(), seed=S.seeds, scale=S.float64_scales())
def test_matmul_backward_float64(student, judge, shapes, seed, scale):
    _binary(student, judge, "matmul_backward", shapes, seed, F64, scale)


# ------------------------------------------------------------------ sum_backward
def _sum(student, judge, case, seed, dtype, scale=1.0):
    shape, dim = case
    for keepdim in (False,) if dim is None else (False, True):
        grad_out = _values(seed, ref.sum_forward(torch.zeros(shape), dim, keepdim).shape, dtype, scale)
        ref.check_call(student, judge, "sum_backward", {"grad_out": grad_out, "shape": shape, "dim": dim, "keepdim": keepdim},
                       ref.sum_backward(grad_out, shape, dim, keepdim))


@check("sum_backward.dims", points=5, hint="dim may be an int, a negative int, a tuple of them in any order, or None (all): "
       "normalise negative dims (d % x.dim()), unsqueeze every summed dimension when keepdim is False (in increasing "
       "order), then expand to `shape`")
@settings(max_examples=6)
@given(case=ref.sums(2), seed=S.seeds)
def test_sum_backward_dims(student, judge, case, seed):
    _sum(student, judge, case, seed, F32)


@check("sum_backward.float64", points=4, hint="put the summed dimensions back and expand; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(case=ref.sums(0), seed=S.seeds, scale=S.float64_scales())
def test_sum_backward_float64(student, judge, case, seed, scale):
    _sum(student, judge, case, seed, F64, scale)


# ------------------------------------------------------------------ max_backward
def _max(student, judge, case, keepdim, x, seed, dtype, scale=1.0):
    shape, dim = case
    grad_out = _values(seed, x.max(dim=dim, keepdim=keepdim).values.shape, dtype, scale)
    ref.check_call(student, judge, "max_backward", {"grad_out": grad_out, "x": x, "dim": dim, "keepdim": keepdim},
                   ref.max_backward(grad_out, x, dim, keepdim))


@st.composite
def _max_cases(draw, dtype):
    case = draw(ref.shape_and_dim())
    return case, draw(st.booleans()), draw(ref.small_integers(case[0], dtype))


@check("max_backward.ties", points=4, hint="x has many equal values here: only the FIRST maximal one of each row (x.argmax(dim)) "
       "gets the gradient, not every tied one and not the last; dim may be negative, keepdim True or False")
@settings(max_examples=6)
@given(cases=_max_cases(F32), seed=S.seeds)
def test_max_backward_ties(student, judge, cases, seed):
    _max(student, judge, *cases, seed, F32)


@check("max_backward.float64", points=4, hint="route grad_out to the first maximal index of each row; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(cases=_max_cases(F64), seed=S.seeds, scale=S.float64_scales())
def test_max_backward_float64(student, judge, cases, seed, scale):
    _max(student, judge, *cases, seed, F64, scale)


# ------------------------------------------------------------------ softmax_backward
def _softmax(student, judge, case, seed, dtype, scale=1.0):
    shape, dim = case
    x = _values(seed, shape, dtype) * 2
    grad_out = _values(seed + 1, shape, dtype, scale)
    ref.check_call(student, judge, "softmax_backward", {"grad_out": grad_out, "y": torch.softmax(x, dim), "dim": dim},
                   ref.softmax_backward(grad_out, x, dim))


@check("softmax_backward.dims", points=4, hint="(grad_out * y).sum(dim, keepdim=True) along the softmax dimension only (any "
       "dim, negative too), subtracted from grad_out, times y")
@settings(max_examples=6)
@given(case=ref.shape_and_dim(), seed=S.seeds)
def test_softmax_backward_dims(student, judge, case, seed):
    _softmax(student, judge, case, seed, F32)


@check("softmax_backward.float64", points=4, hint="y * (grad_out - (grad_out * y).sum(dim, keepdim=True)); " + FLOAT64_HINT)
@settings(max_examples=6)
@given(case=ref.shape_and_dim(), seed=S.seeds, scale=S.float64_scales())
def test_softmax_backward_float64(student, judge, case, seed, scale):
    _softmax(student, judge, case, seed, F64, scale)


# ------------------------------------------------------------------ embedding_backward
@st.composite
def _lookups(draw):
    n = draw(st.integers(1, 6))
    return draw(ref.indices(n)), n, draw(st.integers(1, 4))


def _embedding(student, judge, lookup, seed, dtype, scale=1.0):
    idx, n, d = lookup
    grad_out = _values(seed, (*idx.shape, d), dtype, scale)
    ref.check_call(student, judge, "embedding_backward", {"grad_out": grad_out, "indices": idx, "num_embeddings": n},
                   ref.embedding_backward(grad_out, idx, n))


@check("embedding_backward.repeats", points=4, hint="indices of any shape (0-dim too) with many repeats: flatten them and grad_out's "
       "rows to (-1, D), then ADD every row into its place (index_add_, index_put_ with accumulate=True); rows never "
       "read stay zero")
@settings(max_examples=6)
@given(lookup=_lookups(), seed=S.seeds)
def test_embedding_backward_repeats(student, judge, lookup, seed):
    _embedding(student, judge, lookup, seed, F32)


@check("embedding_backward.float64", points=4, hint="zeros of grad_out's dtype, rows added in; " + FLOAT64_HINT)
@settings(max_examples=6)
@given(lookup=_lookups(), seed=S.seeds, scale=S.float64_scales())
def test_embedding_backward_float64(student, judge, lookup, seed, scale):
    _embedding(student, judge, lookup, seed, F64, scale)
