"""The scoring rule and the tolerance tiers, as pure functions."""

from __future__ import annotations

import pytest
import torch

from grader.checks.compare import FULL, NONE, PARTIAL, CheckFailed, Judge, compare
from grader.scoring import CheckResult, fmt_points, score


def result(cid, points, outcome, bonus=False):
    return CheckResult(id=cid, points=points, bonus=bonus, visibility="public", outcome=outcome, message="")


def test_score_adds_credit_per_outcome_and_bonus_on_top():
    s = score([result("f.a", 4, "passed"), result("f.b", 3, "partial"), result("f.c", 3, "failed"), result("g.bonus", 5, "passed", bonus=True)])
    assert s.earned == {"f.a": 4.0, "f.b": 1.5, "f.c": 0.0, "g.bonus": 5.0}
    assert s.score == 10.5
    assert s.max_score == 10.0


def test_points_formatting_is_stable():
    assert [fmt_points(x) for x in (100.0, 97.5, 0.0, 1 / 3, -0.0)] == ["100", "97.5", "0", "0.33", "0"]


@pytest.mark.parametrize("dtype, tight_err, loose_err, bad_err", [
    (torch.float32, 1e-6, 5e-4, 1e-1),
    (torch.float64, 1e-9, 5e-6, 1e-2),
])
def test_tiers_follow_torch_testing_defaults(dtype, tight_err, loose_err, bad_err):
    expected = torch.tensor([1.0, -2.0, 0.5], dtype=dtype)
    assert compare(expected + tight_err, expected).tier == FULL
    assert compare(expected + loose_err, expected).tier == PARTIAL
    c = compare(expected + torch.tensor([0, bad_err, 0], dtype=dtype), expected)
    assert c.tier == NONE and c.index == (1,) and c.expected == -2.0
    assert c.max_abs == pytest.approx(bad_err, rel=1e-3)
    assert compare(torch.tensor([float("nan"), -2.0, 0.5], dtype=dtype), expected).tier == NONE


def test_judge_records_the_worst_tier_and_explains_failures():
    judge = Judge(hint="use .mean()")
    expected = torch.ones(2, 2, dtype=torch.float64)
    judge.close(expected.clone(), expected, what="r")
    assert judge.tier == FULL
    judge.close(expected + 5e-6, expected, what="r")
    assert judge.tier == PARTIAL and "partial credit" in judge.summary()
    judge.close(expected.clone(), expected, what="r")
    assert judge.tier == PARTIAL
    with pytest.raises(CheckFailed) as info:
        judge.close(expected * 2, expected, what="loss", inputs="x = 1")
    message = str(info.value)
    assert "loss is wrong at index [0, 0]: expected 1, got 2" in message
    assert "tier: none" in message and "Input: x = 1." in message and "Hint: use .mean()" in message
    with pytest.raises(CheckFailed, match=r"has shape \(4,\), expected \(2, 2\)"):
        judge.close(torch.ones(4), expected, what="r")
    with pytest.raises(CheckFailed, match="should be a torch.Tensor"):
        judge.close([1.0], expected, what="r")
    judge = Judge()
    judge.close(2.0, torch.tensor(2.0), what="a float for a 0-dim tensor")
    assert judge.tier == FULL
