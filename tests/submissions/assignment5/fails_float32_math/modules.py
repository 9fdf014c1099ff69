"""Assignment 5: nn.Module and optim.

The linear regression of assignment 2 again, this time with PyTorch's own
building blocks: a ``torch.nn.Module`` that holds a ``torch.nn.Linear``,
``torch.optim.SGD`` for the update and ``torch.nn.MSELoss`` for the loss.

Worked example: ``x = [[1.], [2.], [3.]]``, ``y = [[2.], [4.], [6.]]``,
``nn.Linear(1, 1)``, ``MSELoss``, ``SGD(lr=0.01)``, 100 epochs; then predict
at ``x = 4``: ``fit(x, y, lr=0.01, epochs=100, seed=0)`` gives a model whose
prediction at 4 is close to 8 (the data lie on ``y = 2x``).
"""

import torch


class LinearModel(torch.nn.Module):
    """A linear model ``y = x @ W.T + b`` built on ``torch.nn.Linear``.

    ``__init__(self, in_features=1, out_features=1)`` calls
    ``super().__init__()`` and creates ``self.linear =
    torch.nn.Linear(in_features, out_features)`` (PyTorch's own
    initialisation, nothing overwritten) and nothing else with parameters: the
    model's parameters are exactly ``linear.weight`` (shape
    ``(out_features, in_features)``) and ``linear.bias`` (shape
    ``(out_features,)``).

    ``forward(x)`` takes ``x`` of shape ``(N, in_features)`` and returns
    ``self.linear(x)``, shape ``(N, out_features)``, in the dtype of the
    model's parameters, differentiable with respect to them.
    """

    def __init__(self, in_features=1, out_features=1):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, out_features)

    def forward(self, x):
        """Return ``self.linear(x)``."""
        weight, bias = self.linear.weight.float(), self.linear.bias.float()
        return torch.nn.functional.linear(x.float(), weight, bias).to(x.dtype)


def make_optimizer(model, lr):
    """Plain stochastic gradient descent over all of the model's parameters.

    Args:
        model: a ``torch.nn.Module``.
        lr: the learning rate, a Python float.

    Returns:
        ``torch.optim.SGD`` over ALL of ``model.parameters()`` with learning
        rate ``lr`` and otherwise torch's defaults: no momentum (0, no
        Nesterov), no dampening, no weight decay.
    """
    return torch.optim.SGD(model.parameters(), lr=lr)


def train_step(model, optimizer, criterion, x, y):
    """One training step.

    In this order: zero the gradients (``optimizer.zero_grad()``), predict
    ``pred = model(x)``, compute ``loss = criterion(pred, y)`` (prediction
    first, target second), ``loss.backward()``, ``optimizer.step()``.
    Gradients left on the parameters by earlier work must not leak into the
    update.

    Args:
        model: a ``torch.nn.Module`` (for instance a ``LinearModel``).
        optimizer: an optimizer over the model's parameters.
        criterion: a loss module such as ``torch.nn.MSELoss()``.
        x: inputs ``(N, in_features)``; y: targets ``(N, out_features)``.

    Returns:
        The loss BEFORE the update, as a Python float (``loss.item()``).
    """
    optimizer.zero_grad()
    loss = criterion(model(x).float(), y.float())
    loss.backward()
    optimizer.step()
    return loss.item()


def fit(x, y, lr, epochs, seed):
    """Train a fresh ``LinearModel`` on ``(x, y)`` with ``MSELoss`` and SGD.

    In this order: ``torch.manual_seed(seed)``; THEN build
    ``LinearModel(x.shape[1], y.shape[1])`` (so its initial parameters depend
    on ``seed`` only); ``make_optimizer(model, lr)``; ``torch.nn.MSELoss()``;
    then ``epochs`` calls of ``train_step`` on the full batch.

    Args:
        x: float32 inputs ``(N, in_features)``; y: float32 targets
            ``(N, out_features)``.
        lr: learning rate; epochs: number of steps (``0`` returns the
            freshly built model); seed: an int for ``torch.manual_seed``.

    Returns:
        The trained ``LinearModel``.
    """
    torch.manual_seed(seed)
    model = LinearModel(x.shape[1], y.shape[1])
    optimizer = make_optimizer(model, lr)
    criterion = torch.nn.MSELoss()
    for _ in range(epochs):
        train_step(model, optimizer, criterion, x, y)
    return model
