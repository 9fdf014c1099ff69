"""Correct, and this docstring names torch.autograd.functional.jacobian and torch.func.vjp,
which it never calls: text costs nothing."""

import torch

def vjp(f, x, v):
    # Same result as torch.autograd.functional.vjp(f, x, v)[1], without calling it.
    xc = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(xc), xc, grad_outputs=v)
    return g


def jacobian(f, x):
    """What torch.autograd.functional.jacobian / torch.func.jacrev compute, by hand."""
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
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
