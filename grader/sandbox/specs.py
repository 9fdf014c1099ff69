"""Objects a check cannot send as bytes, described as data and built on both sides.

A check may hand a student function a loss criterion, a differentiable
function ``f``, a NumPy view with odd strides or a non-leaf tensor.  None of
these can cross the boundary as raw bytes, and nothing is ever pickled, so
the check sends a *spec* and the student process builds the object from it
with the code below; the trusted side builds the very same object from the
same spec for its reference.  Imported by the warm process before any
check, so it holds no secret.
"""

from __future__ import annotations

import numpy as np
import torch

# ----------------------------------------------------------------- criteria
CRITERIA = {
    # The contract's criterion.
    "mse": lambda: torch.nn.MSELoss(),
    # Asymmetric in its arguments: criterion(pred, y) != criterion(y, pred).
    "asymmetric": lambda: AsymmetricLoss(),
}


class AsymmetricLoss(torch.nn.Module):
    """``mean(((pred - y) ** 2) * (1 + 3 * sigmoid(4 * y)))``: the target weights the error."""

    def forward(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (((pred - y) ** 2) * (1 + 3 * torch.sigmoid(4 * y))).mean()


def criterion(name: str) -> torch.nn.Module:
    if name not in CRITERIA:
        raise ValueError(f"unknown criterion {name!r}")
    return CRITERIA[name]()


# ----------------------------------------------------------------- functions
#: Elementwise steps of a generated function ``f``: name -> torch implementation.
UNARY = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "square": torch.square,
    "exp_half": lambda t: torch.exp(0.5 * t),
    "softplus": torch.nn.functional.softplus,
    "cube": lambda t: t**3,
}


def worked_example_f(x: torch.Tensor) -> torch.Tensor:
    """COURSE.md's ``y1 = x1**2 + 3*x2``, ``y2 = x2**2 + 2*x1`` for ``x`` of shape (2,) or (1, 2)."""
    x1, x2 = x[..., 0], x[..., 1]
    return torch.stack([x1**2 + 3 * x2, x2**2 + 2 * x1], dim=-1)


class Composed:
    """``f(x)`` as a chain of steps: ``("linear", A)`` is ``A @ x`` along the last axis,
    ``("unary", name)`` an elementwise function, ``("mix", B)`` is ``x * (B @ x)``
    (mixes coordinates non-linearly), ``("scale", c)`` multiplies by a constant."""

    def __init__(self, steps: list[tuple]):
        self.steps = steps

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for kind, arg in self.steps:
            if kind == "linear":
                x = x @ arg.to(x.dtype).T
            elif kind == "mix":
                x = x * (x @ arg.to(x.dtype).T)
            elif kind == "unary":
                x = UNARY[arg](x)
            elif kind == "scale":
                x = x * float(arg)
            else:
                raise ValueError(f"unknown step {kind!r}")
        return x


def function(spec: dict, tensors: list[torch.Tensor]):
    """Build ``f`` from ``{"name": "worked_example"}`` or ``{"steps": [[kind, arg], ...]}``.

    Tensor arguments of steps are given as indices into ``tensors``.
    """
    if spec.get("name") == "worked_example":
        return worked_example_f
    steps = []
    for kind, arg in spec["steps"]:
        if kind in ("linear", "mix"):
            arg = tensors[int(arg)]
        elif kind == "unary":
            if arg not in UNARY:
                raise ValueError(f"unknown unary step {arg!r}")
        elif kind == "scale":
            arg = float(arg)
        steps.append((kind, arg))
    return Composed(steps)


# ----------------------------------------------------------------- views
VIEWS = {
    "reversed": lambda a: a[::-1],
    "transposed": lambda a: a.T,
    "strided": lambda a: a[::2],
    "reversed_columns": lambda a: a[:, ::-1],
}


def view(array: np.ndarray, name: str) -> np.ndarray:
    """A non-contiguous view of ``array`` (negative or doubled strides, transposes)."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}")
    return VIEWS[name](array)


# ----------------------------------------------------------------- torch objects
class LinearModule(torch.nn.Module):
    """Shaped like the course's ``LinearModel``: ``self.linear`` is a ``torch.nn.Linear``, nothing else.

    Built by the harness, so a check of ``make_optimizer`` or ``train_step``
    never depends on the student's own ``LinearModel``, while code written for
    that class (``model.linear.parameters()``) still works on it.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        out_features, in_features = weight.shape
        self.linear = torch.nn.Linear(in_features, out_features, dtype=weight.dtype)
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def linear(weight: torch.Tensor, bias: torch.Tensor, grad_weight=None, grad_bias=None) -> LinearModule:
    """A :class:`LinearModule` with exactly these parameters (dtype included) and, optionally, stale gradients."""
    module = LinearModule(weight, bias)
    module.linear.weight.grad = None if grad_weight is None else grad_weight.clone()
    module.linear.bias.grad = None if grad_bias is None else grad_bias.clone()
    return module


def sgd(module: torch.nn.Module, lr: float) -> torch.optim.SGD:
    """``torch.optim.SGD(module.parameters(), lr=lr)``, torch's defaults for everything else."""
    return torch.optim.SGD(module.parameters(), lr=lr)


def non_leaf(t: torch.Tensor) -> torch.Tensor:
    """A tensor with the values of ``t`` that requires grad and is not a leaf."""
    return t.detach().clone().requires_grad_(True) * 1.0

