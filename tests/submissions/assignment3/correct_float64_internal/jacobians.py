"""Correct: differentiates in float64 and casts the result back to the input's dtype."""

import torch

def vjp(f, x, v):
    xc = x.detach().to(torch.float64).requires_grad_(True)
    (g,) = torch.autograd.grad(f(xc), xc, grad_outputs=v.to(torch.float64))
    return g.to(x.dtype)


def jacobian(f, x):
    xc = x.detach().to(torch.float64).requires_grad_(True)
    y = f(xc)
    rows = []
    for i in range(y.shape[0]):
        e = torch.zeros_like(y)
        e[i] = 1.0
        (row,) = torch.autograd.grad(y, xc, e, retain_graph=True)
        rows.append(row)
    return torch.stack(rows).to(x.dtype)


def jvp(f, x, u):
    xc = x.detach().to(torch.float64).requires_grad_(True)
    y = f(xc)
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, u.to(torch.float64))
    return out.to(x.dtype)
