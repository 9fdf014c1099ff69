"""Fixture: correct. Zeroes gradients with p.grad.fill_(0), updates with p.sub_ under no_grad."""
import torch


def forward(x, w, b):
    return torch.matmul(x, w) + b


def mse_loss(y_pred, y):
    errors = y_pred - y
    return torch.mean(errors ** 2)


def zero_grad(params):
    for p in params:
        if p.grad is None:
            continue
        p.grad.fill_(0.0)


def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p.sub_(lr * p.grad)


def train(x, y, w, b, lr, epochs):
    losses = []
    for _ in range(epochs):
        pred = forward(x, w, b)
        loss = mse_loss(pred, y)
        losses.append(loss.item())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return losses
