"""Bug: uses the caller's x, then 'cleans up' by switching its requires_grad off."""

import torch

def vjp(f, x, v):
    x.requires_grad_(True)
    y = f(x)
    y.backward(v)
    g = x.grad.clone()
    x.grad = None
    x.requires_grad_(False)
    return g


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
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
