"""Correct: a detached leaf, retain_graph=True, .grad set to None before each row."""

import torch

def vjp(f, x, v):
    xc = x.detach().requires_grad_()
    y = f(xc)
    torch.autograd.backward(y, v, inputs=[xc])
    return xc.grad


def jacobian(f, x):
    xc = x.detach().requires_grad_()
    y = f(xc)
    m = len(y)
    J = torch.empty(m, len(x), dtype=x.dtype)
    for i in range(m):
        xc.grad = None
        one_hot = torch.nn.functional.one_hot(torch.tensor(i), m).to(y.dtype)
        y.backward(one_hot, retain_graph=True)
        J[i] = xc.grad
    return J


def jvp(f, x, u):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
