"""Fixture: correct. torch.addmm forward, torch.square loss, grad.mul_(0), sub_ with alpha."""
import torch


def forward(x, w, b):
    # b (shape (1,)) is broadcast over the N rows of x @ w
    return torch.addmm(b, x, w)


def mse_loss(y_pred, y):
    return torch.mean(torch.square(y_pred - y))


def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.mul_(0)


def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.sub_(p.grad, alpha=lr)


def train(x, y, w, b, lr, epochs):
    losses = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        losses.append(loss.item())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return losses
