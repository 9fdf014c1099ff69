"""Objects of assignment3 that the checks cannot send as bytes: the functions ``f`` to differentiate.

The grader builds them in your process from data, with the builders of
``OBJECTS`` below (a check sends a name and arguments, never code), and the
checks build the very same ``f`` for their references with the same builders.
A function is either the worked example (``"worked_example"``) or a chain of
steps, each ``(kind, arg)``: ``("linear", A)`` is ``x @ A.T`` along the last
axis, ``("unary", name)`` an elementwise function of :data:`UNARY`,
``("mix", B)`` is ``x * (x @ B.T)`` (mixes coordinates non-linearly) and
``("scale", c)`` multiplies by a constant.

Runs in your process too, before your module: imports only torch.
"""

from __future__ import annotations

import torch

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
    """``f(x)`` as a chain of steps (see the module's docstring)."""

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


def function(spec):
    """``f`` from ``"worked_example"`` or from a list of ``(kind, arg)`` steps."""
    if spec == "worked_example":
        return worked_example_f
    steps = []
    for kind, arg in spec:
        if kind in ("linear", "mix"):
            if not isinstance(arg, torch.Tensor):
                raise ValueError(f"a {kind} step needs a matrix")
        elif kind == "unary":
            if arg not in UNARY:
                raise ValueError(f"unknown unary step {arg!r}")
        elif kind == "scale":
            arg = float(arg)
        steps.append((kind, arg))
    return Composed(steps)


#: The builders the checks may name (``Build("function", spec)``).
OBJECTS = {"function": function}
