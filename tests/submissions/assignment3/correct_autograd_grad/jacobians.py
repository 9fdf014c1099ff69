"""Correct: torch.autograd.grad with grad_outputs; the graph is rebuilt for every row."""

import torch

def vjp(f, x, v):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v)
    return g


def jacobian(f, x):
    n = x.shape[0]
    rows = []
    for i in range(f(x.detach()).shape[0]):
        xc = x.detach().clone().requires_grad_(True)
        y = f(xc)
        e = torch.zeros(y.shape, dtype=y.dtype)
        e[i] = 1
        (row,) = torch.autograd.grad(y, xc, grad_outputs=e)
        rows.append(row)
    return torch.stack(rows).reshape(len(rows), n)


def jvp(f, x, u):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    v = torch.ones_like(y, requires_grad=True)  # any value: vᵀJ is linear in v
    (g,) = torch.autograd.grad(y, xc, v, create_graph=True)
    return torch.autograd.grad(g, v, u)[0]
