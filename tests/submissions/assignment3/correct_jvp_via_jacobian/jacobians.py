"""Correct: jacobian built from vjp with one-hot vectors; jvp as J @ u over flattened x."""

import torch

def vjp(f, x, v):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    (g,) = torch.autograd.grad(y, xc, grad_outputs=v)
    return g


def jacobian(f, x):
    y = f(x.detach())
    return torch.stack([vjp(f, x, torch.eye(y.shape[0], dtype=y.dtype)[i]) for i in range(y.shape[0])])


def jvp(f, x, u):
    flat = lambda z: f(z.reshape(x.shape)).reshape(-1)
    J = jacobian(flat, x.detach().reshape(-1))
    out_shape = f(x.detach()).shape
    return (J @ u.reshape(-1)).reshape(out_shape)
