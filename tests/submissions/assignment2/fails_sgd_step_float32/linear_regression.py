"""Assignment 2: linear regression by hand.

Shapes used throughout: ``x`` is ``(N, D)``, ``w`` is ``(D, 1)``, ``b`` is
``(1,)``; predictions and targets are ``(N, 1)``.

Worked example: data ``y = 3x + 0.8`` with ``x = torch.rand(50, 1)``; after
training with learning rate 0.01, ``w`` approaches 3 and ``b`` approaches 0.8.
"""

import torch


def forward(x, w, b):
    """Predictions of the linear model: ``x @ w + b``.

    Args:
        x: inputs, shape ``(N, D)``.
        w: weights, shape ``(D, 1)``.
        b: bias, shape ``(1,)``.

    Returns:
        A tensor of shape ``(N, 1)``, differentiable with respect to ``w`` and
        ``b`` (when they require grad, the result is part of the graph).
    """
    return x @ w + b


def mse_loss(y_pred, y):
    """Mean squared error: the mean of ``(y_pred - y) ** 2`` over ALL elements.

    ``y_pred`` and ``y`` have the same shape, which may be any shape:
    ``(N, 1)``, ``(N, k)``, 3-D or 0-dim.

    Returns:
        A 0-dim tensor, differentiable (with respect to ``y_pred``).
    """
    return ((y_pred - y) ** 2).mean()


def zero_grad(params):
    """Zero the gradient of every parameter, IN PLACE.

    Args:
        params: an iterable of leaf tensors: a list, a tuple or a generator
            (iterate over it only once).

    For each parameter whose ``.grad`` is not None, set that gradient to zero
    in place: the same ``.grad`` tensor object stays attached. A parameter
    whose ``.grad`` is None stays None. Parameter values are untouched.

    Returns:
        None.
    """
    for p in params:
        if p.grad is not None:
            p.grad.zero_()


def sgd_step(params, lr):
    """One step of gradient descent, in place: ``p -= lr * p.grad``.

    Args:
        params: an iterable of leaf tensors that require grad (list, tuple or
            generator; iterate over it only once).
        lr: the learning rate, a Python float.

    For each parameter with a gradient, update its values in place, without
    autograd recording the update. Afterwards every ``p`` is the same tensor
    object, still a leaf with ``requires_grad=True``, and its ``.grad`` is
    unchanged (same object, same values). Parameters whose ``.grad`` is None
    are skipped.

    Returns:
        None.
    """
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad.float()


def train(x, y, w, b, lr, epochs):
    """Full-batch gradient descent with the four functions above.

    Each of the ``epochs`` epochs: predict with ``forward``, compute
    ``mse_loss``, zero the gradients of ``[w, b]`` with ``zero_grad``, call
    ``backward`` on the loss, update with ``sgd_step``.

    Args:
        x: inputs ``(N, D)``; y: targets ``(N, 1)``.
        w: weights ``(D, 1)`` and b: bias ``(1,)``, leaf tensors with
            ``requires_grad=True``; they are updated IN PLACE.
        lr: learning rate; epochs: number of epochs (a positive int).

    Returns:
        A list of ``epochs`` Python floats: the loss of each epoch, measured
        BEFORE that epoch's update.
    """
    losses = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        losses.append(loss.item())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return losses
