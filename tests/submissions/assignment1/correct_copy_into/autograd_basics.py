"""Fixture: correct. make_leaf copies into a new float32 tensor; no_grad inside analytic_grad; set_grad_enabled(False)."""
import numpy as np
import torch


def make_leaf(values):
    if isinstance(values, torch.Tensor):
        source = values.detach()
    else:
        source = torch.from_numpy(np.array(values, dtype=np.float64))
    out = torch.empty(source.shape, dtype=torch.float32)
    out.copy_(source)
    return out.requires_grad_()


def forward(x):
    y = x + 2
    return (3 * y * y).mean()


def grad_of_forward(x):
    result = forward(x)
    result.backward()
    return x.grad


def analytic_grad(x):
    with torch.no_grad():  # switching autograd off is not using it
        return (x + 2) * 6 / x.numel()


def forward_no_grad(x):
    with torch.set_grad_enabled(False):
        out = forward(x)
    return out


def to_numpy(t):
    return t.detach().numpy().copy()


def accumulated_grad(x, times):
    out = forward(x)
    for i in range(times):
        out.backward(retain_graph=i < times - 1)
    return x.grad
