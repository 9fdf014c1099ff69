"""Fixture: correct. torch.nn.functional: F.linear forward, F.mse_loss loss."""
import torch
import torch.nn.functional as F


def forward(x, w, b):
    # F.linear computes x @ weight.T + bias; weight is (out, in) = w.T
    return F.linear(x, w.t(), b)


def mse_loss(y_pred, y):
    return F.mse_loss(y_pred, y)


def zero_grad(params):
    for p in params:
        if p.grad is not None:
            p.grad.zero_()


@torch.no_grad()
def sgd_step(params, lr):
    for p in params:
        if p.grad is not None:
            p.add_(p.grad, alpha=-lr)


def train(x, y, w, b, lr, epochs):
    recorded = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        recorded.append(loss.detach().clone())
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return [float(v) for v in recorded]
