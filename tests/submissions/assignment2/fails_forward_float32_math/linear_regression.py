"""Fixture: correct. In-place update of the parameters inside torch.no_grad()."""
import torch


def forward(x, w, b):
    return (x.float() @ w.float() + b.float()).to(x.dtype)


def mse_loss(y_pred, y):
    return ((y_pred - y) ** 2).mean()


def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.zero_()


def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def train(x, y, w, b, lr, epochs):
    losses = []
    for _ in range(epochs):
        y_pred = forward(x, w, b)
        loss = mse_loss(y_pred, y)
        losses.append(loss.item())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return losses
