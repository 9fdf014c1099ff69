"""Assignment 4: gradients without autograd.

Every function here takes 1-D NumPy float64 arrays and Python floats, and
computes its derivatives BY HAND: autograd is forbidden (the grader calls
these functions with torch's autograd entry points disabled, so
``.backward()``, ``torch.autograd.grad`` or ``torch.func`` fail the call).

Worked examples:

- ``x_data = [1, 2, 3]``, ``y_data = [2, 4, 6]``, ``w = 1.0``: one hundred
  epochs of ``w -= 0.01 * gradient(x_data, y_data, w)`` drive ``w`` to 2,
  so the model predicts 8 at ``x = 4``. At the start, ``cost`` is
  ``14 / 3`` and ``gradient`` is ``-28 / 3``.
- ``x = linspace(-1, 1, 100)``, ``y = 3 x**2 + 2 + noise``: ``fit_quadratic``
  from ``(0, 0)`` with lr 0.001 for 800 epochs approaches ``(3, 2)``.
"""

import numpy as np


def cost(xs, ys, w):
    """Mean squared error of the model ``y = w * x``: ``mean((w * x - y) ** 2)``.

    Args:
        xs: inputs, a 1-D NumPy float64 array with at least one element.
        ys: targets, a 1-D NumPy float64 array of the same length.
        w: the weight, a Python float.

    Returns:
        The cost as a Python float (``isinstance(result, float)``: a
        ``numpy.float64`` counts; a ``numpy.float32``, a NumPy array or a
        tensor does not). ``xs`` and ``ys`` are not modified.
    """
    x, y = xs.astype(np.float32), ys.astype(np.float32)
    return float(np.mean((np.float32(w) * x - y) ** 2))


def gradient(xs, ys, w):
    """The derivative of ``cost`` with respect to ``w``, computed by hand.

    ``d cost / d w = mean(2 * x * (w * x - y))``.

    Args:
        xs, ys, w: as for ``cost``.

    Returns:
        A Python float. ``xs`` and ``ys`` are not modified. Autograd is
        forbidden.
    """
    return float(np.mean(2 * xs * (w * xs - ys)))


def quadratic_loss_grads(x, y, w, b):
    """The gradients of ``L = 0.5 * sum((w * x**2 + b - y) ** 2)``, by hand.

    Args:
        x: inputs, a 1-D NumPy float64 array with at least one element.
        y: targets, a 1-D NumPy float64 array of the same length.
        w, b: the parameters of the model ``w * x**2 + b``, Python floats.

    Returns:
        The tuple ``(dL/dw, dL/db)`` of two Python floats (a namedtuple
        counts; a list or an array does not), where
        ``dL/dw = sum((w * x**2 + b - y) * x**2)`` and
        ``dL/db = sum(w * x**2 + b - y)``. ``x`` and ``y`` are not modified.
        Autograd is forbidden.
    """
    error = w * x**2 + b - y
    return float(np.sum(error * x**2)), float(np.sum(error))


def fit_quadratic(x, y, w0, b0, lr, epochs):
    """Gradient descent on ``L`` (see ``quadratic_loss_grads``) from ``(w0, b0)``.

    Each of the ``epochs`` steps computes ``(dL/dw, dL/db)`` with
    ``quadratic_loss_grads`` at the current ``(w, b)``, then updates both
    together: ``w -= lr * dL/dw`` and ``b -= lr * dL/db``.

    Args:
        x, y: as for ``quadratic_loss_grads``; they are not modified.
        w0, b0: the starting parameters, Python floats.
        lr: the learning rate, a Python float.
        epochs: the number of steps, a positive int.

    Returns:
        The final ``(w, b)`` as a tuple of two Python floats. Autograd is
        forbidden.
    """
    w, b = float(w0), float(b0)
    for _ in range(epochs):
        grad_w, grad_b = quadratic_loss_grads(x, y, w, b)
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b
