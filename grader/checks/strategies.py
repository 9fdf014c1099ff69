"""Hypothesis strategies for checks, and the deterministic grading profile.

Values come from a seeded ``torch.Generator`` (Hypothesis draws and shrinks
the seed and the shape), bounded so that every reference result is finite.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

settings.register_profile(
    "grading",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=20,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
settings.load_profile("grading")


def grading_settings(own: settings | None, *, explicit: bool, shrink: bool = True) -> settings:
    """The settings a check runs under: the grading profile, keeping only the check's own example count
    (``explicit``: from its own ``@settings``; else the profile's) and phases the profile runs.

    Whatever the check asked for and whatever profile was loaded when its module was imported, it runs
    derandomized, without a database, deadline or health checks, so that its grade depends on the submission.
    ``shrink=False`` (a verdict without feedback: mutation analysis) stops at the first failing example instead
    of looking for the smallest one; the points are the same (a failure earns nothing, however small).
    """
    profile = settings.get_profile("grading")
    phases = [phase for phase in profile.phases if (shrink or phase != Phase.shrink)
              and (own is None or not explicit or phase in own.phases)]
    if own is None or not explicit:
        return settings(profile, phases=phases)
    return settings(
        profile,
        max_examples=own.max_examples,
        stateful_step_count=own.stateful_step_count,
        phases=phases,
    )


def _cache_function_digests() -> None:
    """Hypothesis hashes a test's source (``inspect.getsource`` + tokenize, ~2 ms) every time it
    runs; a batch runs each check once per student, so remember the digest per function."""
    try:
        import hypothesis.core as core
    except ImportError:  # pragma: no cover
        return
    digest = getattr(core, "function_digest", None)
    if digest is None or getattr(digest, "cached", False):
        return
    cache: dict = {}

    def cached(function):
        key = id(function)
        if key not in cache:
            cache[key] = (function, digest(function))  # keep the function alive: ids stay unique
        return cache[key][1]

    cached.cached = True
    core.function_digest = cached


def _no_local_constants() -> None:
    """Hypothesis (6.131 and later) also draws numbers and strings found in the source of every "local" module
    imported so far: any module outside the standard library and site-packages. Which modules those are depends
    on how the grader was installed (editable or from a wheel), which of its modules a command has imported by
    then, and where the course folder lies, so the same check could see other examples on a student's machine,
    on the instructor's, or later in a batch. The pool is kept empty: a check's examples depend on the check
    and the submission only."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover
        return
    pool = getattr(providers, "_local_constants", None)
    if pool is None or not callable(getattr(providers, "_get_local_constants", None)):
        return  # a Hypothesis without the pool
    try:
        empty = type(pool)(integers=type(pool.integers)(), floats=type(pool.floats)(key=pool.floats.key),
                           bytes=type(pool.bytes)(), strings=type(pool.strings)())
    except (AttributeError, TypeError):  # pragma: no cover - another shape of the pool: leave Hypothesis as it is
        return
    providers._get_local_constants = lambda *args, **kwargs: empty
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if cache is not None and hasattr(cache, "cache"):
        cache.cache.clear()


_cache_function_digests()
_no_local_constants()

float_dtypes = st.sampled_from([torch.float32, torch.float64])
seeds = st.integers(min_value=0, max_value=2**16)

#: A factor that takes values of order 1 past float32's range (its largest finite value is about 3.4e38) while
#: float64 holds them, and their products with a few more such values, with room to spare (it goes to 1.8e308).
PAST_FLOAT32 = 1e40


def float64_scales():
    """A factor for a float64 check's inputs: :data:`PAST_FLOAT32` (drawn first) or 1.

    Scale the inputs a function is homogeneous in (``x`` of ``mean(3 * (x + 2) ** 2)``, ``y`` and ``w`` of
    ``mean((w * x - y) ** 2)``): the float64 result stays finite and exact, while code that computes in float32,
    even for one intermediate cast back, meets ``inf`` and fails the check instead of passing it within float32's
    rounding. Draws of 1 keep testing the values at ordinary magnitudes (the ``+ 2`` that a scaled ``x``
    hides). Not for functions that saturate (``sigmoid``, ``tanh``): float32 gives them the same limit.
    """
    return st.sampled_from([PAST_FLOAT32, 1.0])


@st.composite
def tensors(draw, shape, dtype=torch.float32, low: float = -2.0, high: float = 2.0) -> torch.Tensor:
    """A tensor of ``shape`` with values uniform in ``[low, high)``."""
    g = torch.Generator().manual_seed(draw(seeds))
    return torch.rand(tuple(shape), generator=g, dtype=dtype) * (high - low) + low


def learning_rates():
    return st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.5])


@st.composite
def linear_problems(draw, dtype=None, max_n: int = 8, max_d: int = 4):
    """``(x, w, b)`` with ``x`` of shape (N, D), ``w`` (D, 1) and ``b`` (1,)."""
    dtype = dtype or draw(float_dtypes)
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    return draw(tensors((n, d), dtype)), draw(tensors((d, 1), dtype)), draw(tensors((1,), dtype))


@st.composite
def shapes(draw, max_dims: int = 3, max_side: int = 5):
    """Any shape with at least one element, 0-dim included."""
    return tuple(draw(st.lists(st.integers(1, max_side), min_size=0, max_size=max_dims)))
