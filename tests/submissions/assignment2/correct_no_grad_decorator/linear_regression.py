"""Fixture: correct. @torch.no_grad() decorators, p.copy_(...) update, grad.copy_(zeros)."""
import torch


def forward(x, w, b):
    return torch.mm(x, w) + b


def mse_loss(y_pred, y):
    return (y_pred - y).square().mean()


@torch.no_grad()
def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.copy_(torch.zeros_like(p.grad))


@torch.no_grad()
def sgd_step(params, lr):
    for p in params:
        if p.grad is not None:
            p.copy_(p - lr * p.grad)


def train(x, y, w, b, lr, epochs):
    losses = []
    for _ in range(int(epochs)):
        loss = mse_loss(forward(x, w, b), y)
        losses.append(float(loss))
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return losses
