"""Objects of assignment5 that the checks cannot send as bytes: loss criteria, a module, an optimizer.

The grader builds them in your process from data, with the builders of
``OBJECTS`` below (a check sends a name and arguments, never code), so that a
check of one of your functions never depends on another of them; the checks
build the very same objects for their references with the same builders.

Runs in your process too, before your module: imports only torch.
"""

from __future__ import annotations

import torch


# ----------------------------------------------------------------- criteria
class AsymmetricLoss(torch.nn.Module):
    """``mean(((pred - y) ** 2) * (1 + 3 * sigmoid(4 * y)))``: the target weights the error."""

    def forward(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (((pred - y) ** 2) * (1 + 3 * torch.sigmoid(4 * y))).mean()


CRITERIA = {
    # The contract's criterion.
    "mse": lambda: torch.nn.MSELoss(),
    # Asymmetric in its arguments: criterion(pred, y) != criterion(y, pred).
    "asymmetric": lambda: AsymmetricLoss(),
}


def criterion(name: str) -> torch.nn.Module:
    """The loss criterion ``name`` of :data:`CRITERIA`."""
    if name not in CRITERIA:
        raise ValueError(f"unknown criterion {name!r}")
    return CRITERIA[name]()


# ----------------------------------------------------------------- the model and its optimizer
class LinearModule(torch.nn.Module):
    """Shaped like the contract's ``LinearModel``: ``self.linear`` is a ``torch.nn.Linear``, nothing else.

    Built by the grader, so a check of ``make_optimizer`` or ``train_step``
    never depends on your own ``LinearModel``, while code written for that
    class (``model.linear.parameters()``) still works on it.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        out_features, in_features = weight.shape
        self.linear = torch.nn.Linear(in_features, out_features, dtype=weight.dtype)
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def linear(weight: torch.Tensor, bias: torch.Tensor, grad_weight=None, grad_bias=None) -> LinearModule:
    """A :class:`LinearModule` with exactly these parameters (dtype included) and, optionally, stale gradients."""
    module = LinearModule(weight, bias)
    module.linear.weight.grad = None if grad_weight is None else grad_weight.clone()
    module.linear.bias.grad = None if grad_bias is None else grad_bias.clone()
    return module


def sgd(module: torch.nn.Module, lr: float) -> torch.optim.SGD:
    """``torch.optim.SGD(module.parameters(), lr=lr)``, torch's defaults for everything else."""
    return torch.optim.SGD(module.parameters(), lr=lr)


#: The builders the checks may name (``Build("linear", weight, bias, keep="model")``, ...).
OBJECTS = {"criterion": criterion, "linear": linear, "sgd": sgd}
