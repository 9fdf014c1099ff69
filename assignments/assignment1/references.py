"""References for assignment1 (tensors that remember): torch's conversions and autograd.

``forward`` is the contract's own formula (torch has no such function); every
gradient below is torch autograd run on a fresh leaf copy of the input, never
a hand-written derivative, and the conversions are ``torch.tensor`` and
``Tensor.numpy``.
"""

from __future__ import annotations

import numpy as np
import torch

from grader.checks import leaf


def make_leaf(values) -> torch.Tensor:
    """The values as a float32 tensor (``torch.tensor`` copies; NumPy views are copied to C order first)."""
    if isinstance(values, torch.Tensor):
        return values.detach().to(torch.float32)
    if isinstance(values, np.ndarray):
        values = values.copy()
    return torch.tensor(values, dtype=torch.float32)


def forward(x: torch.Tensor) -> torch.Tensor:
    """``mean(3 * (x + 2) ** 2)``, 0-dim."""
    return (3 * (x + 2) ** 2).mean()


def grad_of_forward(x: torch.Tensor) -> torch.Tensor:
    """``x.grad`` after ``forward(x).backward()``, by torch autograd on a leaf copy of ``x``."""
    x = leaf(x)
    forward(x).backward()
    return x.grad


def analytic_grad(x: torch.Tensor) -> torch.Tensor:
    """The derivative of ``forward`` at ``x``: torch autograd on a copy, in the trusted process."""
    with torch.enable_grad():
        return grad_of_forward(x)


def forward_no_grad(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return forward(x)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


def accumulated_grad(x: torch.Tensor, times: int) -> torch.Tensor:
    """``x.grad`` after ``times`` backward passes through one retained graph of ``forward(x)``."""
    x = leaf(x)
    out = forward(x)
    for _ in range(times):
        out.backward(retain_graph=True)
    return x.grad
