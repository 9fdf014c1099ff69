"""Fixture: correct. make_leaf through .tolist(); sum / numel; torch.autograd.backward."""
import torch


def make_leaf(values):
    if hasattr(values, "tolist"):  # tensors and NumPy arrays, views included
        values = values.tolist()
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


def forward(x):
    return ((x + 2).pow(2) * 3).sum() / x.numel()


def grad_of_forward(x):
    out = forward(x)
    torch.autograd.backward(out)
    return x.grad


def analytic_grad(x):
    return torch.full_like(x, 6.0 / x.numel()) * (x + 2)


def forward_no_grad(x):
    return forward(x.detach())


def to_numpy(t):
    return t.detach().clone().numpy()


def accumulated_grad(x, times):
    out = forward(x)
    for _ in range(times):
        torch.autograd.backward(out, retain_graph=True)
    return x.grad
