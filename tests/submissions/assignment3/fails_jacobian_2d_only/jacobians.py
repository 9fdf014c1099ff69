"""Bug: written for the worked example's x of shape (1, 2) only."""

import torch

def vjp(f, x, v):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v)
    return g


def jacobian(f, x):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    m = y.shape[-1]
    rows = []
    for i in range(m):
        e = torch.zeros(1, m, dtype=y.dtype)
        e[0, i] = 1.0
        y.backward(e, retain_graph=True)
        rows.append(xc.grad.clone())
        xc.grad.zero_()
    return torch.cat(rows)


def jvp(f, x, u):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
