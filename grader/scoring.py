"""The scoring rule, as one pure function of the check outcomes."""

from __future__ import annotations

from dataclasses import dataclass

#: Share of a check's points earned per outcome. ``internal``: the grader failed on the check (twice); its
#: points are not earned, and the submission's ``internal`` problem says that its grade is incomplete.
CREDIT = {"passed": 1.0, "partial": 0.5, "failed": 0.0, "internal": 0.0}
#: What the student reads for a check the grader failed on.
INTERNAL_MESSAGE = "the grader failed on this check; this is not your mistake"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome for one submission."""

    id: str
    points: float
    bonus: bool
    visibility: str  # "public" or "hidden"
    outcome: str  # "passed", "partial", "failed" or "internal"
    message: str
    output: str = ""
    detail: str = ""
    """For the instructor only, never in the student's feedback: the grader's own exception on an ``internal`` check."""


@dataclass(frozen=True)
class Score:
    earned: dict[str, float]
    """Points earned per check id, in check order."""
    score: float
    """Base points earned plus bonus points earned."""
    max_score: float
    """Base points available (bonus checks do not add to it)."""


def score(results: list[CheckResult]) -> Score:
    earned = {r.id: round(r.points * CREDIT[r.outcome], 4) for r in results}
    total = round(sum(earned.values()), 4)
    max_score = round(sum(r.points for r in results if not r.bonus), 4)
    return Score(earned=earned, score=total, max_score=max_score)


def function_of(check_id: str) -> str:
    """The function a check is about: check ids are ``<function>.<aspect>``."""
    return check_id.split(".", 1)[0]


def fmt_points(x: float) -> str:
    """Points as scripts and people read them: ``100``, ``97.5``."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
