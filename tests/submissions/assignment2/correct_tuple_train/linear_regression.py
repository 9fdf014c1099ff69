"""Fixture: correct. train returns a tuple; params materialised once with tuple()."""
from typing import Iterable, Tuple

import torch
from torch import Tensor


def forward(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return x @ w + b


def mse_loss(y_pred: Tensor, y: Tensor) -> Tensor:
    return ((y_pred - y) ** 2).sum() / y_pred.numel()


def zero_grad(params: Iterable[Tensor]) -> None:
    params = tuple(params)
    for p in params:
        if p.grad is not None:
            p.grad.zero_()


def sgd_step(params: Iterable[Tensor], lr: float) -> None:
    params = tuple(params)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def train(x: Tensor, y: Tensor, w: Tensor, b: Tensor, lr: float, epochs: int) -> Tuple[float, ...]:
    losses = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        losses.append(loss.item())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return tuple(losses)
