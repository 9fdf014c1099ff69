"""Fixture: correct. make_leaf through a fresh C-ordered NumPy copy; float64 intermediates cast back."""
import numpy as np
import torch


def make_leaf(values):
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.array(values, dtype=np.float32, order="C", copy=True)
    t = torch.from_numpy(array)
    t.requires_grad = True
    return t


def forward(x):
    return torch.mean(3 * torch.pow(x + 2, 2))


def grad_of_forward(x):
    loss = forward(x)
    loss.backward(torch.ones_like(loss))
    return x.grad


def analytic_grad(x):
    n = x.numel()
    return (2 * 3 * (x.double() + 2) / n).to(x.dtype)


@torch.no_grad()
def forward_no_grad(x):
    return forward(x)


def to_numpy(t):
    return np.array(t.detach())


def accumulated_grad(x, times):
    for _ in range(times):  # a fresh graph per pass: observably the same
        forward(x).backward()
    return x.grad
