"""Fixture: correct. clone().detach(), torch.square, math.prod for the element count."""
import math

import numpy as np
import torch


def make_leaf(values):
    if torch.is_tensor(values):
        t = values.clone().detach().to(dtype=torch.float32)
    elif isinstance(values, np.ndarray):
        t = torch.tensor(np.ascontiguousarray(values).reshape(values.shape), dtype=torch.float32)
    else:
        t = torch.tensor(values, dtype=torch.float32)
    return t.requires_grad_(True)


def forward(x):
    return 3 * torch.square(x + 2).mean()


def grad_of_forward(x):
    forward(x).backward()
    grad = x.grad
    return grad


def analytic_grad(x):
    n = math.prod(x.shape)
    return 6 * (x + 2) / n


def forward_no_grad(x):
    with torch.no_grad():
        value = forward(x)
    return value


def to_numpy(t):
    if t.requires_grad:
        t = t.detach()
    return t.numpy()


def accumulated_grad(x, times):
    out = forward(x)
    for _ in range(times):
        out.backward(retain_graph=True)
    return x.grad
