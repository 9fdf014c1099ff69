"""References for assignment4 (gradients without autograd): torch autograd on float64.

The students may not use autograd; the references do: the cost is
``F.mse_loss``, every gradient is ``torch.autograd.grad`` of that cost (or of
``L = 0.5 * sum((w * x**2 + b - y) ** 2)``, i.e. half of ``F.mse_loss`` with
``reduction="sum"``), and ``fit_quadratic`` is gradient descent with those
gradients and ``torch.optim.sgd.sgd``, the functional step that
``torch.optim.SGD.step`` calls. Everything runs on float64 tensors in the
trusted process; results come back as float64 tensors (0-dim for one number,
shape ``(2,)`` for a pair).

The module also holds the worked examples' data and the coercion of a
student's returned numbers, shared by the public and the hidden checks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.sgd import sgd as _sgd

from hypothesis import strategies as st

from grader.checks import Judge, NumpyScalar
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs, describe_value

F64 = torch.float64


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=F64)


def _scalar(v: float, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(float(v), dtype=F64, requires_grad=requires_grad)


# ------------------------------------------------------------------ references
def cost(xs, ys, w) -> torch.Tensor:
    """``mean((w * x - y) ** 2)`` as a 0-dim float64 tensor."""
    return F.mse_loss(_scalar(w) * _tensor(xs), _tensor(ys))


def gradient(xs, ys, w) -> torch.Tensor:
    """``d cost / d w`` by autograd, 0-dim float64."""
    w = _scalar(w, requires_grad=True)
    (g,) = torch.autograd.grad(F.mse_loss(w * _tensor(xs), _tensor(ys)), w)
    return g.detach()


def _quadratic_loss(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``L = 0.5 * sum((w * x**2 + b - y) ** 2)``."""
    return 0.5 * F.mse_loss(w * x**2 + b, y, reduction="sum")


def quadratic_loss_grads(x, y, w, b) -> torch.Tensor:
    """``(dL/dw, dL/db)`` by autograd, as a float64 tensor of shape ``(2,)``."""
    w, b = _scalar(w, True), _scalar(b, True)
    grads = torch.autograd.grad(_quadratic_loss(_tensor(x), _tensor(y), w, b), [w, b])
    return torch.stack([g.detach() for g in grads])


def fit_quadratic(x, y, w0, b0, lr, epochs) -> torch.Tensor:
    """Final ``(w, b)`` of ``epochs`` plain SGD steps on ``L`` from ``(w0, b0)``, shape ``(2,)``."""
    x, y = _tensor(x), _tensor(y)
    w, b = _scalar(w0, True), _scalar(b0, True)
    for _ in range(epochs):
        grads = list(torch.autograd.grad(_quadratic_loss(x, y, w, b), [w, b]))
        with torch.no_grad():
            _sgd([w, b], grads, [None, None], weight_decay=0.0, momentum=0.0, lr=lr,
                 dampening=0.0, nesterov=False, maximize=False)
    return torch.stack([w.detach(), b.detach()])


# ------------------------------------------------------------------ worked examples
def linear_example() -> tuple[np.ndarray, np.ndarray]:
    """COURSE.md's ``x_data = [1, 2, 3]``, ``y_data = [2, 4, 6]``."""
    return np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])


def quadratic_example() -> tuple[np.ndarray, np.ndarray]:
    """``x = linspace(-1, 1, 100)``, ``y = 3 x**2 + 2 + 0.1 * noise`` (``default_rng(0)``), as in the README."""
    rng = np.random.default_rng(0)
    x = np.linspace(-1, 1, 100)
    return x, 3 * x**2 + 2 + 0.1 * rng.standard_normal(100)


# ------------------------------------------------------------------ inputs the checks draw
def weights(low: float = -3.0, high: float = 3.0):
    """A Python float in ``[low, high]``."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def arrays(draw, n: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """A 1-D NumPy float64 array of length ``n``, values uniform in ``[low, high)``."""
    return draw(S.tensors((n,), F64, low, high)).numpy()


@st.composite
def samples(draw, max_n: int = 20, low: float = -2.0, high: float = 2.0):
    """``(x, y)``: two 1-D float64 arrays of the same length, 1 to ``max_n``."""
    n = draw(st.integers(1, max_n))
    return draw(arrays(n, low, high)), draw(arrays(n, low, high))


def show(**inputs) -> str:
    """``describe_inputs`` with NumPy arrays shown like tensors (values, dtype, shape)."""
    return describe_inputs(**{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()})


def describe(value) -> str:
    """``describe_value`` that also shows NumPy arrays (inside a tuple or list too) by their values."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return "a NumPy array " + describe_value(torch.from_numpy(value))
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"{type(value).__name__} of {len(value)}: [{inner}{more}]"
    return describe_value(value)


# ------------------------------------------------------------------ returned numbers
def as_number(value, judge: Judge, *, what: str) -> torch.Tensor:
    """A returned number as a 0-dim float64 tensor, whatever carries it.

    A Python or NumPy scalar, or an array or tensor holding one real number;
    the checks of the values accept all of them (the type has its own check).
    """
    if isinstance(value, bool):
        judge.fail(f"{what} is a bool, not a number.")
    if isinstance(value, (int, float)):
        return torch.tensor(float(value), dtype=F64)
    if isinstance(value, NumpyScalar):
        return torch.tensor(float(value.value), dtype=F64)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value) if value.dtype.kind in "iuf" else value
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool:
        return value.detach().reshape(()).to(F64)
    judge.fail(f"{what} should be one number but is {describe(value)}.")


def as_pair(value, judge: Judge, *, what: str) -> torch.Tensor:
    """A returned pair (tuple, list, array or tensor of two numbers) as a float64 tensor of shape ``(2,)``."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor) and value.numel() == 2 and not value.is_complex() and value.dtype != torch.bool:
        return value.detach().reshape(2).to(F64)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        judge.fail(f"{what} should be a pair of two numbers but is {describe(value)}.")
    return torch.stack([as_number(v, judge, what=f"{what}[{i}]") for i, v in enumerate(value)])
