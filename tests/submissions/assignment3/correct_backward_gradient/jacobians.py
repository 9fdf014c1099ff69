"""Correct: .backward(gradient=...) and .grad everywhere."""

import torch

def vjp(f, x, v):
    xc = x.detach().clone()
    xc.requires_grad = True
    y = f(xc)
    y.backward(gradient=v)
    return xc.grad


def jacobian(f, x):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    rows = []
    for i in range(y.shape[0]):
        e = torch.zeros_like(y)
        e[i] = 1.0
        y.backward(e, retain_graph=True)
        rows.append(xc.grad.clone())
        xc.grad.zero_()
    return torch.stack(rows)


def jvp(f, x, u):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    v = torch.zeros_like(y).requires_grad_(True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    g.backward(gradient=u)
    return v.grad
