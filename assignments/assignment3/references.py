"""References for assignment3 (vector-Jacobian products): ``torch.autograd.functional``.

These run in the trusted parent, where ``torch.autograd.functional`` is
allowed (the student's process forbids it). ``f`` reaches both sides as an
:class:`Fn` spec, built by :mod:`objects` (the course's registry) in the
student's process and here alike; :func:`functions` draws such specs: chains
of ``linear`` steps (``(out, in)`` matrices, ``out != in``) with ``mix``,
``unary`` and ``scale`` steps in between, so ``f`` always depends on ``x`` and
mixes its coordinates, and ``f(x)`` has a different size than ``x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch.autograd import functional as AF

from grader.checks import Build, assignment_module
from grader.checks.compare import describe_inputs, describe_value

objects = assignment_module(__file__, "objects")


@dataclass(frozen=True)
class Fn:
    """A differentiable function ``f`` described as data: the worked example (``name``) or a chain of ``steps``
    (:mod:`objects`). Passed to ``student.call`` as is; its text describes ``f`` in feedback."""

    name: str | None = None
    steps: tuple = ()

    def to_build(self) -> Build:
        """How the student's process builds it: ``objects.function`` from the name or the steps."""
        return Build("function", self.name or list(self.steps))

    def build(self):
        """The same function, built here for the references."""
        return objects.function(self.name or list(self.steps))

    def __str__(self) -> str:
        if self.name:
            return f"the {self.name.replace('_', ' ')} function"
        parts = []
        for kind, arg in self.steps:
            if kind in ("linear", "mix"):
                parts.append(f"{kind} {tuple(arg.shape)}")
            else:
                parts.append(f"{arg}" if kind == "unary" else f"scale {arg}")
        return "f = " + " -> ".join(parts)


#: ``Fn(name="worked_example")``: ``y1 = x1**2 + 3*x2``, ``y2 = x2**2 + 2*x1``.
WORKED_EXAMPLE = Fn(name="worked_example")
#: The worked example's point and its Jacobian there (COURSE.md).
WORKED_X = [[2.0, 3.0]]
WORKED_J = [[4.0, 3.0], [2.0, 6.0]]

#: Elementwise steps that keep values (and derivatives) moderate on the inputs drawn here.
UNARY_STEPS = ("sin", "cos", "tanh", "sigmoid", "softplus", "square", "cube", "exp_half")


def _as(fn: Fn):
    return fn.build()


def vjp(fn: Fn, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``vᵀ·J_f(x)``, shaped like ``x``."""
    return AF.vjp(_as(fn), x.detach(), v.detach())[1]


def jacobian(fn: Fn, x: torch.Tensor) -> torch.Tensor:
    """The ``(m, n)`` Jacobian of ``f`` at a 1-D ``x``."""
    return AF.jacobian(_as(fn), x.detach())


def jvp(fn: Fn, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``J_f(x)·u``, shaped like ``f(x)``."""
    return AF.jvp(_as(fn), x.detach(), u.detach())[1]


def output_shape(fn: Fn, x: torch.Tensor) -> tuple:
    with torch.no_grad():
        return tuple(_as(fn)(x.detach()).shape)


def _matrix(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A float64 ``(rows, cols)`` matrix, entries uniform in ±1/sqrt(cols)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(rows, cols, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(cols)


@st.composite
def functions(draw, n: int, max_side: int = 5) -> Fn:
    """An ``Fn`` mapping the last axis from size ``n`` to a drawn size ``m != n`` (at most ``max_side``).

    One or two ``linear`` steps, each changing the size; after each, optionally
    a ``unary`` step, a ``mix`` step and a ``scale`` step.
    """
    m = draw(st.integers(1, max_side).filter(lambda d: d != n))
    sizes = [n]
    if draw(st.booleans()):
        sizes.append(draw(st.integers(1, max_side).filter(lambda d: d not in (n, m))))
    sizes.append(m)
    steps: list[tuple] = []
    seeds = st.integers(0, 2**16)
    for inner, outer in zip(sizes, sizes[1:]):
        steps.append(("linear", _matrix(outer, inner, draw(seeds))))
        if draw(st.booleans()):
            steps.append(("unary", draw(st.sampled_from(UNARY_STEPS))))
        if draw(st.booleans()):
            steps.append(("mix", _matrix(outer, outer, draw(seeds))))
        if draw(st.booleans()):
            steps.append(("scale", draw(st.sampled_from([-1.5, 0.5, 2.0]))))
    return Fn(steps=tuple(steps))


def describe_fn(fn: Fn) -> str:
    """``f`` for feedback: its steps and, for small ones, their matrices."""
    if fn.name:
        return str(fn)
    text = str(fn)
    mats = [(kind, arg) for kind, arg in fn.steps if kind in ("linear", "mix")]
    if sum(a.numel() for _, a in mats) <= 40:
        text += " (" + "; ".join(
            f"{'A' if kind == 'linear' else 'B'}{i + 1} = {describe_value(a)}" for i, (kind, a) in enumerate(mats)
        ) + "; linear is x @ A.T, mix is x * (x @ B.T))"
    return text


def fixed_fn(n: int, m: int, seed: int) -> Fn:
    """A fixed ``f`` from size ``n`` to size ``m``: linear, tanh, mix, scale."""
    return Fn(steps=(
        ("linear", _matrix(m, n, seed)),
        ("unary", "tanh"),
        ("mix", _matrix(m, m, seed + 1)),
        ("scale", 2.0),
    ))


def linear_fn(n: int, m: int, seed: int) -> Fn:
    """``f(x) = x @ A.T`` with an ``(m, n)`` matrix ``A``: its Jacobian is ``A``."""
    return Fn(steps=(("linear", _matrix(m, n, seed)),))


#: Condition number of the pair of linear steps that float64 problems start with (:func:`_exposing`).
EXPOSING_CONDITION = 1e5


def _exposing(fn: Fn, n: int, seed: int) -> Fn:
    """``fn`` after ``x @ P.T @ Pinv.T`` (two ``(n, n)`` linear steps whose product is the identity, ``P`` with
    condition number :data:`EXPOSING_CONDITION`): the same function, and in float64 the same values to about
    1e-11, but computed in float32 its Jacobian is off by about 1e-3 (float32's rounding of ``x @ P.T`` and of
    the matrices, amplified by ``Pinv``), far past even float64's partial-credit tolerance. So a float64 check
    fails code that copies ``x`` to float32. Needs ``n >= 2`` (one coordinate cannot be ill-conditioned)."""
    if n < 2:
        return fn
    g = torch.Generator().manual_seed(seed)
    q1, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    singular = torch.logspace(0, -math.log10(EXPOSING_CONDITION), n, dtype=torch.float64)
    p = q1 @ torch.diag(singular) @ q2.T
    return Fn(steps=(("linear", p), ("linear", torch.linalg.inv(p)), *fn.steps))


def _tensor(shape, dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=g, dtype=dtype) * 4 - 2


@st.composite
def vjp_problems(draw, dtype: torch.dtype, max_n: int = 4):
    """``(fn, x, v)``: ``x`` of shape ``(n,)`` or ``(b, n)``, ``v`` shaped like ``f(x)``."""
    n = draw(st.integers(1, max_n))
    fn = draw(functions(n))
    batch = draw(st.sampled_from([(), (1,), (3,)]))
    seeds = st.integers(0, 2**16)
    if dtype == torch.float64:
        fn = _exposing(fn, n, draw(seeds))
    x = _tensor(batch + (n,), dtype, draw(seeds))
    v = _tensor(output_shape(fn, x), dtype, draw(seeds))
    return fn, x, v


@st.composite
def jacobian_problems(draw, dtype: torch.dtype, max_n: int = 5):
    """``(fn, x)``: ``x`` 1-D of size ``n``, ``f(x)`` 1-D of size ``m != n``."""
    n = draw(st.integers(1, max_n))
    fn = draw(functions(n))
    if dtype == torch.float64:
        fn = _exposing(fn, n, draw(st.integers(0, 2**16)))
    return fn, _tensor((n,), dtype, draw(st.integers(0, 2**16)))


@st.composite
def jvp_problems(draw, dtype: torch.dtype, max_n: int = 4):
    """``(fn, x, u)``: ``x`` of shape ``(n,)`` or ``(b, n)``, ``u`` shaped like ``x``."""
    n = draw(st.integers(1, max_n))
    fn = draw(functions(n))
    batch = draw(st.sampled_from([(), (1,), (3,)]))
    seeds = st.integers(0, 2**16)
    if dtype == torch.float64:
        fn = _exposing(fn, n, draw(seeds))
    return fn, _tensor(batch + (n,), dtype, draw(seeds)), _tensor(batch + (n,), dtype, draw(seeds))


def describe_problem(fn: Fn, **tensors) -> str:
    """The ``Input:`` text of a check's feedback: ``f`` and the tensors it was given."""
    return "; ".join([describe_fn(fn), describe_inputs(**tensors)])


def close_jacobian(judge, got, expected: torch.Tensor, *, what: str, inputs: str) -> None:
    """``judge.close`` on a Jacobian, diagnosing the two classic mistakes first."""
    got = judge.tensor(got, what=what, inputs=inputs)
    m, n = expected.shape
    if tuple(got.shape) == (n, m) and m != n:
        judge.fail(f"{what} has shape {(n, m)}, expected {(m, n)}: it is transposed. Row i holds the gradient of f_i "
                   f"(m = {m} outputs), column j the derivatives with respect to x_j (n = {n} inputs).", inputs=inputs)
    if tuple(got.shape) == (m, n) and m > 1 and got.is_floating_point():
        sums = expected.sum(dim=0).expand(m, n)
        if torch.allclose(got.to(expected.dtype), sums) and not torch.allclose(sums, expected):
            judge.fail(f"{what}: every row equals the column sums {[round(s, 6) for s in sums[0].tolist()]}, what backward "
                       "with a vector of ones gives. Use a one-hot vector per row.", inputs=inputs)
    judge.close(got, expected, what=what, inputs=inputs)
