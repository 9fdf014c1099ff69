"""Fixture: correct. Updates through the .data attribute (w.data -= lr * w.grad)."""
import torch


def forward(x, w, b):
    return torch.matmul(x, w) + b


def mse_loss(y_pred, y):
    diff = y_pred - y
    return (diff * diff).mean()


def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.data.zero_()


def sgd_step(params, lr):
    for p in params:
        if p.grad is None:
            continue
        p.data -= lr * p.grad.data


def train(x, y, w, b, lr, epochs):
    history = []
    for epoch in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        history.append(loss.item())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return history
