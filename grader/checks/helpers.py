"""Small building blocks shared by checks: seeded generators and result coercions."""

from __future__ import annotations

import numpy as np
import torch

from grader.checks.compare import Judge, describe_value
from grader.exchange import ModuleInfo, NumpyScalar


def seeded(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``: inputs a check builds itself, the same on every run."""
    return torch.Generator().manual_seed(seed)


def leaf(t: torch.Tensor, grad: torch.Tensor | None = None) -> torch.Tensor:
    """A fresh leaf copy of ``t`` that requires grad; with ``grad``, a copy of it already in ``.grad``.

    Pass a stateful function (a training loop, an optimizer step, anything that zeroes or reads ``.grad``) such
    stale gradients too, left from earlier work: a loop that zeroes after the step instead of before backward
    passes every check whose parameters start with ``.grad`` None."""
    p = t.detach().clone().requires_grad_(True)
    if grad is not None:
        p.grad = grad.detach().clone()
    return p


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


def same_values(judge: Judge, value, expected: torch.Tensor, *, what: str, inputs: str = "") -> torch.Tensor:
    """``value`` as a tensor with exactly ``expected``'s shape (one element is not 0-dim) and close values."""
    got = judge.tensor(value, what=what, inputs=inputs)
    judge.expect(
        tuple(got.shape) == tuple(expected.shape),
        f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}.",
        inputs=inputs,
    )
    judge.close(got, expected, what=what, inputs=inputs)
    return got


def same_tensor(judge: Judge, value, expected: torch.Tensor, *, what: str, inputs: str = "") -> torch.Tensor:
    """``value`` as a tensor with exactly ``expected``'s shape and dtype, then close values: a gradient of shape
    ``(3,)`` for a ``(1, 3)`` input fails with a message that says so, where a broadcast comparison would pass it."""
    got = judge.tensor(value, what=what, inputs=inputs)
    judge.expect(tuple(got.shape) == tuple(expected.shape),
                 f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)} (a gradient has exactly the "
                 "shape of its input).", inputs=inputs)
    judge.expect(got.dtype == expected.dtype,
                 f"{what} has dtype {str(got.dtype).replace('torch.', '')}, expected "
                 f"{str(expected.dtype).replace('torch.', '')} (keep the input's dtype).", inputs=inputs)
    judge.close(got, expected, what=what, inputs=inputs)
    return got


def as_array(judge: Judge, value, *, what: str, inputs: str = "") -> np.ndarray:
    """``value`` if it is a NumPy array, else a failure naming what came back."""
    if not isinstance(value, np.ndarray):
        judge.fail(f"{what} should be a numpy.ndarray but is {describe_value(value)}.", inputs=inputs)
    return value


def same_array(judge: Judge, value, expected: np.ndarray, *, what: str, inputs: str = "") -> np.ndarray:
    """``value`` as a NumPy array with ``expected``'s shape and close values."""
    value = as_array(judge, value, what=what, inputs=inputs)
    judge.expect(value.shape == expected.shape, f"{what} has shape {value.shape}, expected {expected.shape}.", inputs=inputs)
    judge.close(torch.from_numpy(value.copy()), torch.from_numpy(expected), what=what, inputs=inputs)
    return value


def module_info(judge: Judge, value, *, what: str) -> ModuleInfo:
    """``value`` if it is a module (as data), else a failure naming what came back."""
    judge.expect(isinstance(value, ModuleInfo), f"{what} should be a torch.nn.Module but is {describe_value(value)}.")
    return value


def module_param(judge: Judge, info: ModuleInfo, name: str, *, what: str) -> torch.Tensor:
    """The parameter ``name`` of a module, else a failure listing the parameters it has."""
    if name not in info.params:
        judge.fail(f"{what} has no parameter {name!r}; its parameters are {sorted(info.params) or 'none'}.")
    return info.params[name]
