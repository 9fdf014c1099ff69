"""Fixture: buggy. to_numpy casts everything to float32."""
import numpy as np
import torch


def make_leaf(values):
    if isinstance(values, torch.Tensor):
        data = values.detach().to(torch.float32, copy=True)
    else:
        if isinstance(values, np.ndarray):
            values = values.copy()
        data = torch.tensor(values, dtype=torch.float32)
    return data.requires_grad_(True)


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
    return t.detach().numpy().astype(np.float32)


def accumulated_grad(x, times):
    out = forward(x)
    for _ in range(times):
        out.backward(retain_graph=True)
    return x.grad
