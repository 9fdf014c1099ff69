"""Fixture: correct. train returns numpy.float64 values (a subclass of float)."""
import numpy as np
import torch


def forward(x, w, b):
    return x @ w + b


def mse_loss(y_pred, y):
    return torch.mean((y_pred - y).pow(2))


def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.zero_()


def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.add_(-lr * p.grad)


def train(x, y, w, b, lr, epochs):
    losses = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        losses.append(np.float64(loss.item()))
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return losses
