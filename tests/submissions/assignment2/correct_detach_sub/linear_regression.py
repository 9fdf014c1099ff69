"""Fixture: correct. Updates a detached view in place: p.detach().sub_(lr * p.grad)."""
import torch


def forward(x, w, b):
    return x.mm(w).add(b)


def mse_loss(y_pred, y):
    return (y_pred - y).pow(2).mean()


def zero_grad(params):
    for p in params:
        g = p.grad
        if g is not None:
            g.zero_()


def sgd_step(params, lr):
    for p in params:
        if p.grad is not None:
            # detach() shares storage with p, so this updates p itself
            p.detach().sub_(lr * p.grad)


def train(x, y, w, b, lr, epochs):
    out = []
    for _ in range(epochs):
        loss = mse_loss(forward(x, w, b), y)
        out.append(float(loss.item()))
        zero_grad([w, b])
        loss.backward()
        sgd_step([w, b], lr)
    return out
