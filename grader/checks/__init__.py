"""What course authors write checks with: the marker, the comparison judge, strategies, the values checks send
and get back, and the course's own modules.

A check is a pytest test function marked with :func:`check`; it receives the
``student`` fixture (calls into the sandboxed submission) and the ``judge``
fixture (tolerance-tiered comparisons that build the feedback).

Owns the authoring API, everything a course's checks, references and objects import from the grader:

- :func:`check`: marks a test function as a graded check with an id and points.
- :class:`Judge`: compares with tolerance tiers and writes the feedback; :class:`CheckFailed` is its failure.
- :func:`assignment_module`: imports a course module beside the checks (``references``), else in the public folder.
- :func:`seeded`: a ``torch.Generator`` seeded with ``seed``, for inputs a check builds itself.
- :func:`same_tensor`: a result with exactly the expected shape and dtype, then close values.
- :func:`leaf`: a fresh leaf copy of a tensor that requires grad, optionally with stale gradients in ``.grad``.
- :class:`AsGenerator`: passes items to the student function as a one-shot generator.
- :class:`Build`: an object the course's ``objects.py`` builds in the student process, by name, from data.
- :class:`Ref`: an object kept in the student process by an earlier call or build (``keep=``).
- :class:`View`: a non-contiguous NumPy view, built in the student process.
- :class:`NonLeaf`: a tensor that requires grad and is not a leaf, built in the student process.
- :class:`InputState`: an input as the student process saw it after the call (``call.inputs``).
- :class:`ModuleInfo`, :class:`OptimizerInfo`, :class:`OptimizerGroup`: a returned module or optimizer, as data.
- :class:`NumpyScalar`: a returned NumPy scalar; :class:`Opaque`: a returned value known only by its type.
- :class:`TensorFacts`: what the student process observed about a returned tensor besides its values.
- :mod:`.compare` (comparison and description helpers), :mod:`.strategies` (Hypothesis strategies and the
  grading profile), :mod:`.helpers` (small shared building blocks), :mod:`.siblings` (the course's modules).

A course's ``objects.py`` runs in the student process and imports none of this (only torch, NumPy, the stdlib).
May import: :mod:`grader.exchange` (the values checks send and get back), torch, Hypothesis.
"""

import pytest

from grader.exchange import (
    AsGenerator,
    Build,
    InputState,
    ModuleInfo,
    NonLeaf,
    NumpyScalar,
    Opaque,
    OptimizerGroup,
    OptimizerInfo,
    Ref,
    TensorFacts,
    View,
)
from grader.checks import strategies as _strategies  # noqa: F401 - loads the grading profile before any check's @settings
from grader.checks.compare import CheckFailed, Judge
from grader.checks.helpers import leaf, same_tensor, seeded
from grader.checks.siblings import assignment_module

__all__ = [
    "AsGenerator", "Build", "CheckFailed", "InputState", "Judge", "ModuleInfo", "NonLeaf", "NumpyScalar", "Opaque",
    "OptimizerGroup", "OptimizerInfo", "Ref", "TensorFacts", "View", "assignment_module", "check", "leaf", "same_tensor",
    "seeded",
]


def check(check_id: str, *, points: float, bonus: bool = False, hint: str = ""):
    """Mark a test function as the check ``check_id`` (``<function>.<aspect>``) worth ``points``."""
    return pytest.mark.check(id=check_id, points=points, bonus=bonus, hint=hint)
