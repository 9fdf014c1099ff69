"""Assignment 7: backward rules by hand: broadcasting, reductions, indexing.

Each function returns the gradients that ``torch.autograd.grad`` would give
for the named forward operation and the upstream gradient ``grad_out`` (which
has the forward output's shape), with exactly the shapes and the dtype of
the inputs. Autograd is forbidden: the grader calls these functions with
torch's autograd entry points disabled (``.backward()``,
``torch.autograd.grad``, ``torch.func`` and ``torch.enable_grad()`` fail the
call). Plain tensor operations are all you need. Inputs are float32 or
float64 tensors with at least one element (``embedding_backward``'s
``indices`` are int64).

Worked example: ``a`` of shape ``(2, 3)`` plus ``b`` of shape ``(3,)``, with
the upstream gradient ``ones(2, 3)``: ``b``'s gradient is ``[2., 2., 2.]``
(summed over the broadcast row dimension) and ``a``'s is ``ones(2, 3)``.
Forgetting to sum gives a ``(2, 3)`` gradient for a ``(3,)`` tensor: the most
common bug in hand-written backward code.
"""

import torch


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``, undoing broadcasting.

    Args:
        grad: the gradient of a broadcast result, a tensor whose shape is the
            broadcast shape of an operation one of whose inputs had ``shape``.
        shape: that input's shape, a ``torch.Size`` or a tuple of ints
            (possibly ``()``, a 0-dim input).

    Returns:
        ``grad`` summed over the dimensions that broadcasting added in front
        and over those it expanded from size 1, as a tensor of exactly
        ``shape`` and of ``grad``'s dtype: a ``(1, 3)`` input gets a
        ``(1, 3)`` gradient, not a ``(3,)`` one.
    """
    raise NotImplementedError


def add_backward(grad_out, a_shape, b_shape):
    """The gradients of ``out = a + b`` (with broadcasting).

    Args:
        grad_out: the gradient of ``out``, of the broadcast shape of ``a`` and
            ``b``.
        a_shape, b_shape: the shapes of ``a`` and ``b`` (``torch.Size`` or
            tuples).

    Returns:
        The tuple ``(grad_a, grad_b)``, of shapes ``a_shape`` and ``b_shape``
        and ``grad_out``'s dtype.
    """
    raise NotImplementedError


def mul_backward(grad_out, a, b):
    """The gradients of ``out = a * b`` (with broadcasting).

    Args:
        grad_out: the gradient of ``out``, of the broadcast shape of ``a`` and
            ``b``.
        a, b: the two factors (same dtype as ``grad_out``).

    Returns:
        The tuple ``(grad_a, grad_b)``, of the shapes of ``a`` and ``b``.
    """
    raise NotImplementedError


def matmul_backward(grad_out, a, b):
    """The gradients of ``out = a @ b``.

    Args:
        grad_out: the gradient of ``out``, of shape ``(..., n, m)``.
        a: of shape ``(..., n, k)``, at least 2-D.
        b: of shape ``(..., k, m)``, at least 2-D. The batch dimensions
            (``...``) of ``a`` and ``b`` broadcast, as ``a @ b`` broadcasts
            them: ``(n, k) @ (5, k, m)`` and ``(5, 1, n, k) @ (4, k, m)`` are
            allowed.

    Returns:
        The tuple ``(grad_a, grad_b)``, of the shapes of ``a`` and ``b``.
    """
    raise NotImplementedError


def sum_backward(grad_out, shape, dim, keepdim):
    """The gradient of ``out = x.sum(dim=dim, keepdim=keepdim)`` (``x.sum()`` when ``dim`` is None).

    Args:
        grad_out: the gradient of ``out``, of its shape.
        shape: the shape of ``x`` (``torch.Size`` or tuple).
        dim: an int, a non-empty tuple of distinct ints (negative ones count
            from the end, as in torch), or None: every dimension (then
            ``keepdim`` is False).
        keepdim: whether the summed dimensions were kept with size 1.

    Returns:
        The gradient of ``x``: a tensor of ``shape`` and ``grad_out``'s dtype,
        each element of ``grad_out`` copied to every element of ``x`` that was
        summed into it.
    """
    raise NotImplementedError


def max_backward(grad_out, x, dim, keepdim):
    """The gradient of ``values = x.max(dim=dim, keepdim=keepdim).values``.

    Args:
        grad_out: the gradient of ``values``, of its shape.
        x: the input, at least 1-D.
        dim: an int (negative counts from the end).
        keepdim: whether the reduced dimension was kept with size 1.

    Returns:
        A tensor of the shape and dtype of ``x``: each element of ``grad_out``
        goes to the index that ``x.max(dim=dim)`` returns for its row (the
        FIRST maximal value when several are equal), zero everywhere else.
    """
    raise NotImplementedError


def softmax_backward(grad_out, y, dim):
    """The gradient of ``y = torch.softmax(x, dim)`` with respect to ``x``, given the output ``y``.

    Args:
        grad_out: the gradient of ``y``, of its shape.
        y: the softmax output (not ``x``), at least 1-D.
        dim: the softmax dimension, an int (negative counts from the end).

    Returns:
        ``y * (grad_out - (grad_out * y).sum(dim, keepdim=True))``: a tensor of
        the shape and dtype of ``y``.
    """
    raise NotImplementedError


def embedding_backward(grad_out, indices, num_embeddings):
    """The gradient of ``weight`` for ``out = weight[indices]``.

    Args:
        grad_out: the gradient of ``out``, of shape ``indices.shape + (D,)``.
        indices: an int64 tensor of any shape (0-dim included), values in
            ``[0, num_embeddings)``; an index may appear several times.
        num_embeddings: the number of rows of ``weight``, a positive int.

    Returns:
        The ``(num_embeddings, D)`` gradient of ``weight``, of ``grad_out``'s
        dtype: each row of ``grad_out`` added into the row it was read from (a
        row read several times receives the SUM of their gradients; a row never
        read, zeros).
    """
    raise NotImplementedError
