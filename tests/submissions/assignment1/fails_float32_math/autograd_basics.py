"""Assignment 1: tensors that remember (requires_grad, grad_fn, backward).

Worked examples (from the lesson):

    x = torch.ones(2, 2, requires_grad=True)
    out = (3 * (x + 2) ** 2).mean()      # 27, and out.grad_fn is not None
    out.backward()                       # x.grad is 4.5 everywhere

    y = x + 1
    out = (y * y * 2).mean()             # 8

The function of this assignment is ``forward(x) = mean(3 * (x + 2) ** 2)``;
its gradient is ``6 * (x + 2) / x.numel()``.
"""

import numpy as np
import torch


def make_leaf(values):
    """A fresh leaf tensor that autograd tracks, built from ``values``.

    Args:
        values: a nested list of ints or floats, a bare Python number (gives a
            0-dim tensor), a NumPy array of any real dtype (possibly a
            non-contiguous or negative-stride view, possibly empty), or a
            tensor (which may require grad or be a non-leaf).

    Returns:
        A NEW float32 tensor with the same shape and values, with
        ``requires_grad=True`` and ``is_leaf=True``, sharing no memory with a
        tensor or array passed in (the caller's object is left untouched).
    """
    if isinstance(values, torch.Tensor):
        data = values.detach().to(torch.float32, copy=True)
    else:
        if isinstance(values, np.ndarray):
            values = values.copy()  # C order: torch.tensor rejects negative strides
        data = torch.tensor(values, dtype=torch.float32)
    return data.requires_grad_(True)


def forward(x):
    """``mean(3 * (x + 2) ** 2)`` over all elements of ``x``.

    Args:
        x: a floating-point tensor (float32 or float64) of any shape, at least
            one element.

    Returns:
        A 0-dim tensor. When ``x.requires_grad`` is True, the result is part of
        the autograd graph (its ``grad_fn`` is not None). ``x`` is not
        modified.
    """
    x32 = x.float()  # float32 math, cast back at the end
    return (3 * (x32 + 2) ** 2).mean().to(x.dtype)


def grad_of_forward(x):
    """The gradient of ``forward`` at ``x``, by autograd.

    Args:
        x: a leaf tensor with ``requires_grad=True`` and ``x.grad is None``.

    Computes ``forward(x)``, calls ``.backward()`` on it, and returns
    ``x.grad``: the gradient must be left in ``x.grad``. Its value is
    ``6 * (x + 2) / x.numel()``.

    Returns:
        ``x.grad``, a tensor shaped like ``x``.
    """
    forward(x).backward()
    return x.grad


def analytic_grad(x):
    """The closed-form derivative of ``forward`` at ``x``, WITHOUT autograd.

    Args:
        x: a floating-point tensor; it may not require grad, and the call may
            happen inside ``torch.no_grad()``.

    Calling autograd here (``backward``, ``torch.autograd.grad``,
    ``torch.autograd.functional``, ``torch.enable_grad``) is forbidden: work
    the derivative out by hand.

    Returns:
        A tensor with the same shape as ``x``: d forward / d x.
    """
    return (6 * (x.float() + 2) / x.numel()).to(x.dtype)


def forward_no_grad(x):
    """The value of ``forward(x)``, computed without tracking.

    Args:
        x: a floating-point tensor, which may require grad.

    Returns:
        A 0-dim tensor with the same value as ``forward(x)``, whose
        ``requires_grad`` is False and ``grad_fn`` is None even when ``x``
        requires grad. ``x`` itself is left as it was (still requiring grad if
        it did).
    """
    with torch.no_grad():
        return forward(x)


def to_numpy(t):
    """The values of tensor ``t`` as a NumPy array.

    Args:
        t: a tensor of any shape (empty and 0-dim included) and dtype; it may
            require grad.

    Returns:
        A ``numpy.ndarray`` with the same shape, values and dtype as ``t``
        (float32 stays float32, int64 stays int64).
    """
    return t.detach().cpu().numpy()


def accumulated_grad(x, times):
    """Gradients accumulate: backward ``times`` times through one graph.

    Args:
        x: a leaf tensor with ``requires_grad=True`` and ``x.grad is None``.
        times: how many backward passes, an int from 1 to 5.

    Builds the graph of ``forward(x)`` once and calls ``.backward`` on it
    ``times`` times (``retain_graph=True``), without zeroing in between.

    Returns:
        ``x.grad``: ``times`` times the gradient of ``forward`` at ``x``.
    """
    out = forward(x)
    for _ in range(times):
        out.backward(retain_graph=True)
    return x.grad
