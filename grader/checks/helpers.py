"""Small building blocks shared by checks: fixed examples and result coercions."""

from __future__ import annotations

import torch

from grader.checks.compare import Judge, describe_value
from grader.exchange import NumpyScalar


def worked_example(dtype=torch.float32):
    """COURSE.md's linear-regression data: ``x = rand(50, 1)``, ``y = 3x + 0.8``; start ``w`` random, ``b = 0``."""
    g = torch.Generator().manual_seed(2024)
    x = torch.rand(50, 1, generator=g, dtype=dtype)
    y = 3 * x + 0.8
    w = torch.rand(1, 1, generator=g, dtype=dtype)
    b = torch.zeros(1, dtype=dtype)
    return x, y, w, b


def changed(after: torch.Tensor, before: torch.Tensor) -> bool:
    """Whether a tensor no longer holds its old values."""
    return after.shape != before.shape or not torch.equal(after.detach().to(before.dtype), before.detach())


def numbers(value, judge: Judge, *, what: str) -> torch.Tensor:
    """A list or tuple of numbers (floats, ints, NumPy scalars, one-element tensors) as a float64 tensor."""
    if not isinstance(value, (list, tuple)):
        judge.fail(f"{what} should be a list of numbers but is {describe_value(value)}.")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool):
            judge.fail(f"{what}[{i}] is a bool, not a number.")
        if isinstance(v, (int, float)):
            out.append(float(v))
        elif isinstance(v, NumpyScalar):
            out.append(float(v.value))
        elif isinstance(v, torch.Tensor) and v.numel() == 1 and not v.is_complex():
            out.append(float(v.reshape(())))
        else:
            judge.fail(f"{what}[{i}] is {describe_value(v)}, not a number.")
    return torch.tensor(out, dtype=torch.float64)
