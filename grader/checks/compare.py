"""Tolerance-tiered comparison with a diagnosis, and the judge that records it.

Full credit within ``torch.testing``'s default tolerance for the dtype,
partial credit within a looser tier, none beyond.  A failure names what was
compared, the worst index, expected versus received, the worst absolute and
relative errors, the input and a hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from grader.exchange import ModuleInfo, NumpyScalar, OptimizerInfo, Opaque

#: (rtol, atol) per dtype: torch.testing.assert_close defaults.
TIGHT = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}
#: The partial-credit tier: 1000x the relative and 100x the absolute tolerance.
LOOSE = {dtype: (rtol * 1000, atol * 100) for dtype, (rtol, atol) in TIGHT.items()}

FULL, PARTIAL, NONE = "full", "partial", "none"
_RANK = {FULL: 0, PARTIAL: 1, NONE: 2}


class CheckFailed(AssertionError):
    """A check's verdict on the student's result, with the message the student sees."""


def describe_value(value) -> str:
    """A short, data-only rendering of a value for feedback."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        if value.numel() <= 12:
            body = _nested(value.detach().tolist())
        else:
            flat = value.detach().reshape(-1)[:6].tolist()
            body = "[" + ", ".join(f"{v:.6g}" for v in flat) + ", ...]"
        return f"{body} ({dtype}, shape {tuple(value.shape)})"
    if isinstance(value, np.ndarray):
        flat = value.reshape(-1)
        body = _nested(value.tolist()) if value.size <= 12 else "[" + ", ".join(f"{v:.6g}" for v in flat[:6].tolist()) + ", ...]"
        return f"a NumPy array {body} (dtype {value.dtype}, shape {value.shape})"
    if isinstance(value, float):
        return f"{value!r} (float)"
    if isinstance(value, NumpyScalar):
        return f"{value.value!r} ({value.type})"
    if isinstance(value, (Opaque, ModuleInfo, OptimizerInfo)):
        return str(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe_value(v) for v in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"{type(value).__name__} of {len(value)}: [{inner}{more}]"
    return f"{value!r} ({type(value).__name__})"


def _nested(values) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return f"{values:.6g}" if isinstance(values, float) else str(values)


def describe_inputs(**inputs) -> str:
    return "; ".join(f"{name} = {describe_value(v)}" for name, v in inputs.items())


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _unravel(flat: int, shape: tuple) -> tuple:
    """Index into ``shape`` of flat position ``flat`` (``torch.unravel_index`` costs 0.25 s on first use)."""
    index = []
    for side in reversed(shape):
        flat, i = divmod(flat, side)
        index.append(i)
    return tuple(reversed(index))


@dataclass
class Comparison:
    tier: str
    max_abs: float
    max_rel: float
    index: tuple
    expected: float
    got: float


def compare(actual: torch.Tensor, expected: torch.Tensor) -> Comparison:
    """Which tier ``actual`` reaches against ``expected`` (same shape), and the worst error."""
    tight = TIGHT.get(expected.dtype, TIGHT[torch.float64])
    loose = LOOSE.get(expected.dtype, LOOSE[torch.float64])
    a, e = actual.detach().to(torch.float64), expected.detach().to(torch.float64)
    if e.numel() == 0:
        return Comparison(FULL, 0.0, 0.0, (), 0.0, 0.0)
    err = (a - e).abs()
    err = torch.where(torch.isnan(err) | torch.isinf(a), torch.full_like(err, math.inf), err)
    rel = err / e.abs().clamp_min(1e-30)
    excess = err - (loose[1] + loose[0] * e.abs())
    worst = int(torch.argmax(torch.maximum(excess, err - (tight[1] + tight[0] * e.abs()))))
    index = _unravel(worst, tuple(e.shape))
    if bool((err <= tight[1] + tight[0] * e.abs()).all()):
        tier = FULL
    elif bool((excess <= 0).all()):
        tier = PARTIAL
    else:
        tier = NONE
    return Comparison(tier, float(err.max()), float(rel.max()), index, float(e.reshape(-1)[worst]), float(a.reshape(-1)[worst]))


class Judge:
    """Per-check recorder: the worst tier reached and the worst errors seen."""

    def __init__(self, hint: str = "", on_fail=None):
        self.hint = hint
        self._on_fail = on_fail
        self.tier = FULL
        self.max_abs = 0.0
        self.max_rel = 0.0

    def fail(self, message: str, *, inputs: str = "") -> None:
        parts = [message]
        if inputs:
            parts.append(f"Input: {inputs}.")
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        message = " ".join(parts)
        if self._on_fail is not None:
            self._on_fail(message)
        raise CheckFailed(message)

    def expect(self, condition: bool, message: str, *, inputs: str = "") -> None:
        if not condition:
            self.fail(message, inputs=inputs)

    def tensor(self, value, *, what: str, inputs: str = "") -> torch.Tensor:
        """``value`` if it is a tensor, else a failure naming what came back."""
        if not isinstance(value, torch.Tensor):
            self.fail(f"{what} should be a torch.Tensor but is {describe_value(value)}.", inputs=inputs)
        return value

    def close(self, actual, expected: torch.Tensor, *, what: str, inputs: str = "") -> None:
        """Compare values (numbers count as 0-dim tensors); record the tier or fail."""
        if isinstance(actual, (int, float)) and not isinstance(actual, bool):
            actual = torch.tensor(float(actual), dtype=torch.float64)
        elif isinstance(actual, NumpyScalar):
            actual = torch.tensor(actual.value, dtype=torch.float64)
        actual = self.tensor(actual, what=what, inputs=inputs)
        if tuple(actual.shape) != tuple(expected.shape) and not (actual.numel() == 1 and expected.numel() == 1 and expected.dim() == 0):
            self.fail(
                f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}.", inputs=inputs
            )
        if actual.is_complex() or actual.dtype == torch.bool:
            self.fail(f"{what} has dtype {actual.dtype}, expected real numbers.", inputs=inputs)
        c = compare(actual.reshape(expected.shape), expected)
        self.max_abs, self.max_rel = max(self.max_abs, c.max_abs), max(self.max_rel, c.max_rel)
        if c.tier == NONE:
            where = f" at index {list(c.index)}" if c.index else ""
            rtol, atol = LOOSE.get(expected.dtype, LOOSE[torch.float64])
            self.fail(
                f"{what} is wrong{where}: expected {_fmt(c.expected)}, got {_fmt(c.got)} "
                f"(worst absolute error {c.max_abs:.3g}, worst relative error {c.max_rel:.3g}; "
                f"tier: none, beyond even the partial-credit tolerance rtol={rtol:g}, atol={atol:g} "
                f"for {str(expected.dtype).replace('torch.', '')}).",
                inputs=inputs,
            )
        if _RANK[c.tier] > _RANK[self.tier]:
            self.tier = c.tier

    def summary(self) -> str:
        """How a passing check went, for the feedback."""
        errors = f"worst absolute error {self.max_abs:.3g}, worst relative error {self.max_rel:.3g}"
        if self.tier == PARTIAL:
            return f"partial credit: values are within the looser tolerance tier only ({errors})"
        return f"passed ({errors})" if self.max_abs or self.max_rel else "passed"
