"""Forbidden: torch.func.jacrev."""

import torch

def vjp(f, x, v):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v)
    return g


def jacobian(f, x):
    return torch.func.jacrev(f)(x.detach())


def jvp(f, x, u):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
