"""What course authors write checks with: the marker, the comparison judge, strategies.

A check is a pytest test function marked with :func:`check`; it receives the
``student`` fixture (calls into the sandboxed submission) and the ``judge``
fixture (tolerance-tiered comparisons that build the feedback).

Owns the authoring API: :func:`check`, :class:`Judge` and the comparison and
description helpers (:mod:`.compare`), the strategies and the grading profile
(:mod:`.strategies`), small shared building blocks (:mod:`.helpers`).
May import: :mod:`grader.exchange` (the values checks send and get back), torch, Hypothesis.
"""

import pytest

from grader.exchange import AsGenerator
from grader.checks import strategies as _strategies  # noqa: F401 - loads the grading profile before any check's @settings
from grader.checks.compare import CheckFailed, Judge

__all__ = ["AsGenerator", "CheckFailed", "Judge", "check"]


def check(check_id: str, *, points: float, bonus: bool = False, hint: str = ""):
    """Mark a test function as the check ``check_id`` (``<function>.<aspect>``) worth ``points``."""
    return pytest.mark.check(id=check_id, points=points, bonus=bonus, hint=hint)
