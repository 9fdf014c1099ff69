"""Fixture: correct. Classic-tutorial style: p.data = p.data - lr * p.grad.

The caller's tensor object is kept (only its data is swapped), so the
caller sees the new values and the parameter stays a leaf that requires grad.
"""
import torch


def forward(x, w, b):
    y_hat = x @ w
    y_hat = y_hat + b
    return y_hat


def mse_loss(y_pred, y):
    return torch.mean((y_pred - y) ** 2)


def zero_grad(params):
    for param in params:
        if param.grad is not None:
            param.grad.data.zero_()


def sgd_step(params, lr):
    for param in params:
        if param.grad is not None:
            param.data = param.data - lr * param.grad


def train(x, y, w, b, lr, epochs):
    losses = []
    for epoch in range(epochs):
        y_hat = forward(x, w, b)
        l = mse_loss(y_hat, y)
        losses.append(l.item())
        zero_grad([w, b])
        l.backward()
        sgd_step([w, b], lr)
    return losses
