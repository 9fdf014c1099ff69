"""Fixture: buggy. make_leaf hands NumPy views straight to torch.tensor, which rejects negative strides."""
import numpy as np
import torch


def make_leaf(values):
    if isinstance(values, torch.Tensor):
        values = values.detach().clone()
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


def forward(x):
    return (3 * (x + 2) ** 2).mean()


def grad_of_forward(x):
    forward(x).backward()
    return x.grad


def analytic_grad(x):
    return 6 * (x + 2) / x.numel()


def forward_no_grad(x):
    with torch.no_grad():
        return forward(x)


def to_numpy(t):
    return t.detach().cpu().numpy()


def accumulated_grad(x, times):
    out = forward(x)
    for _ in range(times):
        out.backward(retain_graph=True)
    return x.grad
