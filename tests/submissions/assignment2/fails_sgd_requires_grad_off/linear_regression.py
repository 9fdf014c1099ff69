"""Fixture: buggy. sgd_step turns requires_grad off to update in place and never turns it back on."""
import torch


def forward(x, w, b):
    return x @ w + b


def mse_loss(y_pred, y):
    return ((y_pred - y) ** 2).mean()


def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.zero_()


def sgd_step(params, lr):
    for p in params:
        if p.grad is not None:
            p.requires_grad_(False)
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
