"""References for assignment7 (backward rules by hand): torch autograd through torch's own ops.

Every reference is ``torch.autograd.grad`` of the forward operation the
function is named after, with the same upstream gradient, never a second
formula: ``unbroadcast`` differentiates ``torch.broadcast_to``, ``add_backward``
``a + b``, ``mul_backward`` ``a * b``, ``matmul_backward`` ``a @ b``,
``sum_backward`` ``x.sum(dim=dim, keepdim=keepdim)`` (``x.sum()`` for None),
``max_backward`` ``x.max(dim=dim, keepdim=keepdim).values``,
``softmax_backward`` ``torch.softmax(x, dim)`` (the check sends the student
``y = softmax(x)``) and ``embedding_backward`` ``F.embedding(indices, weight)``.
They run in the grader, where autograd is allowed, on leaf copies of the
inputs, in the inputs' dtype.

The module also holds the inputs the checks draw (Hypothesis strategies) and
the comparison every check makes: the returned tensors' type, shape and dtype
first, then their values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader.checks import Judge, leaf, same_tensor
from grader.checks import strategies as S
from grader.checks.compare import describe_value


def _zeros_leaf(shape, dtype) -> torch.Tensor:
    return torch.zeros(tuple(shape), dtype=dtype, requires_grad=True)


def _grads(out: torch.Tensor, inputs, grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(g.detach() for g in torch.autograd.grad(out, inputs, grad_out))


# ------------------------------------------------------------------ references
def unbroadcast(grad: torch.Tensor, shape) -> torch.Tensor:
    """The gradient of an input of ``shape`` broadcast to ``grad.shape`` (``torch.broadcast_to``)."""
    x = _zeros_leaf(shape, grad.dtype)
    return _grads(torch.broadcast_to(x, grad.shape), x, grad)[0]


def add_backward(grad_out: torch.Tensor, a_shape, b_shape) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _zeros_leaf(a_shape, grad_out.dtype), _zeros_leaf(b_shape, grad_out.dtype)
    return _grads(a + b, (a, b), grad_out)


def mul_backward(grad_out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = leaf(a), leaf(b)
    return _grads(a * b, (a, b), grad_out)


def matmul_backward(grad_out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = leaf(a), leaf(b)
    return _grads(a @ b, (a, b), grad_out)


def sum_forward(x: torch.Tensor, dim, keepdim: bool) -> torch.Tensor:
    return x.sum() if dim is None else x.sum(dim=dim, keepdim=keepdim)


def sum_backward(grad_out: torch.Tensor, shape, dim, keepdim: bool) -> torch.Tensor:
    x = _zeros_leaf(shape, grad_out.dtype)
    return _grads(sum_forward(x, dim, keepdim), x, grad_out)[0]


def max_backward(grad_out: torch.Tensor, x: torch.Tensor, dim: int, keepdim: bool) -> torch.Tensor:
    x = leaf(x)
    return _grads(x.max(dim=dim, keepdim=keepdim).values, x, grad_out)[0]


def softmax_backward(grad_out: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """The gradient of ``torch.softmax(x, dim)`` at ``x`` (the student gets ``y = softmax(x)``, not ``x``)."""
    x = leaf(x)
    return _grads(torch.softmax(x, dim), x, grad_out)[0]


def embedding_backward(grad_out: torch.Tensor, indices: torch.Tensor, num_embeddings: int) -> torch.Tensor:
    weight = _zeros_leaf((num_embeddings, grad_out.shape[-1]), grad_out.dtype)
    return _grads(F.embedding(indices, weight), weight, grad_out)[0]


# ------------------------------------------------------------------ worked example
def worked_example() -> tuple[torch.Tensor, tuple, tuple]:
    """COURSE.md's ``a`` of shape ``(2, 3)`` plus ``b`` of shape ``(3,)``, upstream ``ones(2, 3)``."""
    return torch.ones(2, 3), (2, 3), (3,)


# ------------------------------------------------------------------ inputs the checks draw
def sizes(min_dims: int = 1, max_dims: int = 4, low: int = 1, high: int = 4):
    """A shape of ``min_dims`` to ``max_dims`` dimensions, each of size ``low`` to ``high``."""
    return st.lists(st.integers(low, high), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def reduced(draw, full: tuple, strict: bool = True) -> tuple:
    """A shape that broadcasts to ``full``: some leading dimensions dropped (all of them: ``()``), some others made
    1. ``strict``: never ``full`` itself (then at least the first dimension is dropped)."""
    lead = draw(st.integers(0, len(full)))
    shape = tuple(1 if draw(st.booleans()) else n for n in full[lead:])
    return full[1:] if strict and shape == full else shape


@st.composite
def broadcasts(draw, max_dims: int = 4):
    """``(out_shape, shape)``: ``shape`` (0-dim to 3-D) broadcasts to ``out_shape`` (1-D to 4-D) and differs from it."""
    full = draw(sizes(1, max_dims))
    return full, draw(reduced(full))


@st.composite
def broadcast_pairs(draw, max_dims: int = 4):
    """``(a_shape, b_shape, out_shape)``: one operand broadcast, or both at once ((2, 1) and (3,)); 0-dim included."""
    out = draw(sizes(1, max_dims))
    a, b = draw(st.one_of(st.just(out), reduced(out))), draw(reduced(out))
    if a == b:
        a = out
    if draw(st.booleans()):
        a, b = b, a
    return a, b, tuple(torch.broadcast_shapes(a, b))


@st.composite
def matmul_shapes(draw):
    """``(a_shape, b_shape, out_shape)`` of ``a @ b``, both at least 2-D, batch dimensions broadcasting:
    ``(n, k) @ (b, k, m)``, ``(b, 1, n, k) @ (c, k, m)``, ..."""
    batch = draw(sizes(1, 2, 1, 3))
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    a_batch, b_batch = draw(st.one_of(st.just(batch), reduced(batch))), draw(reduced(batch))
    if draw(st.booleans()):
        a_batch, b_batch = b_batch, a_batch
    a, b = a_batch + (n, k), b_batch + (k, m)
    return a, b, tuple(torch.broadcast_shapes(a[:-2], b[:-2])) + (n, m)


@st.composite
def dims(draw, rank: int):
    """``dim`` for ``x.sum`` of a ``rank``-D ``x``: an int or a tuple of distinct dims in any order, each maybe
    negative, or (less often) None; a 0-dim ``x`` always gets None."""
    kind = draw(st.sampled_from(["int", "tuple", "int", "tuple", "none"])) if rank else "none"
    if kind == "none":
        return None
    order = draw(st.permutations(range(rank)))
    chosen = [d - rank if draw(st.booleans()) else d for d in order[:draw(st.integers(1, rank)) if kind == "tuple" else 1]]
    return chosen[0] if kind == "int" else tuple(chosen)


@st.composite
def sums(draw, min_dims: int = 1):
    """``(shape, dim)``: ``x`` of ``min_dims`` to 4 dimensions of sizes 2 to 4, and how it is summed (the checks try
    both values of ``keepdim``, only False for None)."""
    shape = draw(sizes(min_dims, 4, 2, 4))
    return shape, draw(dims(len(shape)))


@st.composite
def shape_and_dim(draw):
    """``(shape, dim)``: 1-D to 4-D of sizes 2 to 4, and one of its dimensions, maybe negative."""
    shape = draw(sizes(1, 4, 2, 4))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@st.composite
def small_integers(draw, shape, dtype):
    """A float tensor of small integers in ``[-2, 2]``: ``max`` meets many ties."""
    g = torch.Generator().manual_seed(draw(S.seeds))
    return torch.randint(-2, 3, tuple(shape), generator=g).to(dtype)


@st.composite
def indices(draw, num_embeddings: int):
    """An int64 index tensor, 0-dim to 3-D, values in ``[0, num_embeddings)`` (repeats likely)."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=3)))
    g = torch.Generator().manual_seed(draw(S.seeds))
    return torch.randint(0, num_embeddings, shape, generator=g)


# ------------------------------------------------------------------ comparison
def show(**inputs) -> str:
    """The inputs of a call for feedback: tensors by their values, dtype and shape; shapes and dims as written."""
    return "; ".join(f"{name} = {describe_value(v) if isinstance(v, torch.Tensor) else repr(v)}" for name, v in inputs.items())


def same_gradient(judge: Judge, got, expected: torch.Tensor, *, what: str, inputs: str) -> None:
    """A tensor with exactly ``expected``'s shape and dtype (checked first, with their own messages), then its values."""
    same_tensor(judge, got, expected, what=what, inputs=inputs)


def same_gradients(judge: Judge, got, expected: tuple, *, what: str, names: tuple, inputs: str) -> None:
    """A tuple of gradients, each compared as :func:`same_gradient`."""
    judge.expect(
        isinstance(got, tuple) and len(got) == len(expected),
        f"{what} returned {describe_value(got)}; expected a tuple of {len(expected)} tensors "
        f"({', '.join(names)}).",
        inputs=inputs,
    )
    for name, g, e in zip(names, got, expected):
        same_gradient(judge, g, e, what=f"{name} of {what}", inputs=inputs)


def check_call(student, judge: Judge, fn: str, args: dict, expected, *, names: tuple = ()) -> None:
    """Call ``fn`` with ``args`` (name -> value, in order) and compare what it returns with ``expected`` (a tensor,
    or a tuple of tensors named ``names``). The contract does not say the tensors given are left as they were, so
    nothing here looks (the student's process gets copies: ``expected`` is from the originals)."""
    inputs = show(**args)
    call = student.call(fn, *args.values())
    what = f"{fn}({', '.join(args)})"
    if names:
        same_gradients(judge, call.value, expected, what=what, names=names, inputs=inputs)
    else:
        same_gradient(judge, call.value, expected, what=what, inputs=inputs)
