"""Fixture: correct. Two passes over params, made safe for generators with list() once."""
import torch


def forward(x, w, b):
    return x @ w + b


def mse_loss(y_pred, y):
    n = y_pred.numel()
    return ((y_pred - y) ** 2).sum() / n


def zero_grad(params):
    params = list(params)
    with_grad = [p for p in params if p.grad is not None]
    for p in with_grad:
        p.grad.zero_()


def sgd_step(params, lr):
    params = list(params)
    to_update = [p for p in params if p.grad is not None]
    with torch.no_grad():
        for p in to_update:
            p.sub_(lr * p.grad)


def train(x, y, w, b, lr, epochs):
    params = [w, b]
    losses = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        losses.append(loss.item())
        zero_grad(params)
        loss.backward()
        sgd_step(params, lr)
    return losses
