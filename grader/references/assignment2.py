"""References for assignment2 (linear regression by hand): F.linear, F.mse_loss, optim.SGD."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def leaf(t: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
    """A fresh leaf copy of ``t`` that requires grad, optionally with ``grad`` attached."""
    p = t.detach().clone().requires_grad_(True)
    if grad is not None:
        p.grad = grad.detach().clone()
    return p


def forward(x, w, b):
    return F.linear(x, w.T, b)


def mse_loss(y_pred, y):
    return F.mse_loss(y_pred, y)


def zero_grad(params):
    """Gradients after zeroing, by ``torch.optim.SGD.zero_grad(set_to_none=False)``."""
    params = [leaf(p, p.grad) for p in params]
    torch.optim.SGD(params, lr=0.0).zero_grad(set_to_none=False)
    return [p.grad for p in params]


def sgd_step(params, lr):
    """Parameter values after one ``torch.optim.SGD`` step (``None`` grads skipped)."""
    params = [leaf(p, p.grad) for p in params]
    torch.optim.SGD(params, lr=lr).step()
    return [p.detach() for p in params]


def train(x, y, w, b, lr, epochs):
    """``(losses, w, b)`` of full-batch gradient descent with ``torch.optim.SGD``."""
    w, b = leaf(w), leaf(b)
    opt = torch.optim.SGD([w, b], lr=lr)
    losses = []
    for _ in range(epochs):
        loss = F.mse_loss(forward(x, w, b), y)
        losses.append(loss.item())
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
    return torch.tensor(losses, dtype=x.dtype), w.detach(), b.detach()
