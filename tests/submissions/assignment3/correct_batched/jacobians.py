"""Correct: all Jacobian rows in one batched torch.autograd.grad call; vjp by the scalar trick."""

import torch

def vjp(f, x, v):
    xc = x.detach().clone().requires_grad_(True)
    (f(xc) * v).sum().backward()
    return xc.grad


def jacobian(f, x):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    eye = torch.eye(y.numel(), dtype=y.dtype)
    (J,) = torch.autograd.grad(y, xc, grad_outputs=eye, is_grads_batched=True)
    return J


def jvp(f, x, u):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v, create_graph=True)
    (out,) = torch.autograd.grad(g, v, grad_outputs=u)
    return out
