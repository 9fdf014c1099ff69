"""Assignment 3: vector-Jacobian products.

``f`` is a Python function built from differentiable torch operations. When
``f(x)`` is not a scalar, ``y.backward()`` needs a ``gradient`` argument ``v``
of the shape of ``y``, and what lands in ``x.grad`` is the vector-Jacobian
product ``vᵀ·J``, not the Jacobian ``J`` itself.

Worked example: ``x = [[2., 3.]]``, ``y1 = x1**2 + 3*x2``, ``y2 = x2**2 + 2*x1``.
The Jacobian is ``[[4, 3], [2, 6]]``. Calling ``y.backward(torch.ones(1, 2))``
gives ``x.grad == [[6, 9]]``: the column sums, not the Jacobian (a classic
mistake). One backward pass per row, with a one-hot ``v``, gives the rows.

Using ``torch.autograd.functional`` or ``torch.func`` is forbidden in this
assignment (the grader checks while your functions run); use
``.backward(gradient=...)`` or ``torch.autograd.grad(..., grad_outputs=...)``.
"""

import torch


def vjp(f, x, v):
    """The vector-Jacobian product ``vᵀ·J_f(x)``.

    Args:
        f: a function built from differentiable torch operations; ``f(x)`` is
            a tensor.
        x: the point, a tensor (float32 or float64), e.g. of shape ``(n,)`` or
            ``(b, n)``. It may or may not require grad, and may be a non-leaf
            tensor.
        v: a tensor of the shape of ``f(x)``.

    Returns:
        A tensor of the same shape as ``x``: ``sum_i v_i * d f_i / d x``.

    Works on a detached leaf copy of ``x``: does not modify ``x`` (values,
    ``requires_grad``) and leaves no ``.grad`` on it.
    """
    x = x.detach().clone().to(torch.float).requires_grad_(True)  # float32, whatever x was
    with torch.enable_grad():
        y = f(x)
    (g,) = torch.autograd.grad(y, x, grad_outputs=v)
    return g


def jacobian(f, x):
    """The Jacobian matrix of ``f`` at ``x``.

    Args:
        f: a function built from differentiable torch operations.
        x: a 1-D tensor of size ``n`` (float32 or float64); ``f(x)`` is 1-D of
            size ``m``.

    Returns:
        The ``(m, n)`` tensor ``J`` with ``J[i, j] = d f_i / d x_j``.

    One backward pass per row ``i``, with the one-hot vector ``e_i`` as the
    gradient (``retain_graph=True``), clearing the gradient between rows.
    """
    x = x.detach().clone().to(torch.float).requires_grad_(True)  # float32, whatever x was
    with torch.enable_grad():
        y = f(x)
    rows = []
    for i in range(y.numel()):
        one_hot = torch.zeros_like(y)
        one_hot[i] = 1.0
        y.backward(one_hot, retain_graph=True)
        rows.append(x.grad.clone())
        x.grad.zero_()
    return torch.stack(rows)


def jvp(f, x, u):
    """Bonus: the Jacobian-vector product ``J_f(x)·u``.

    Args:
        f: a function built from differentiable torch operations.
        x: the point, a tensor (float32 or float64), e.g. of shape ``(n,)`` or
            ``(b, n)``.
        u: a tensor of the shape of ``x``.

    Returns:
        A tensor of the shape of ``f(x)``: ``sum_j d f / d x_j * u_j``.

    By the double-backward trick: ``g(v) = vᵀ·J`` taken with
    ``create_graph=True`` is linear in ``v``, and differentiating ``uᵀ·g(v)``
    with respect to ``v`` gives ``J·u``.
    """
    x = x.detach().clone().to(torch.float).requires_grad_(True)  # float32, whatever x was
    with torch.enable_grad():
        y = f(x)
        v = torch.zeros_like(y, requires_grad=True)
        (g,) = torch.autograd.grad(y, x, grad_outputs=v, create_graph=True)
        (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
