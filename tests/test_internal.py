"""The grader's own failures are never the student's (problem `internal`), and every check runs under the
grading profile whatever its own @settings."""

from __future__ import annotations

import json
import shutil
import types

import pytest

from conftest import ROOT, Gradebook, run_grader

SOLUTION = ROOT / "solutions" / "assignment2" / "linear_regression.py"
NOT_YOUR_MISTAKE = "the grader failed on this check; this is not your mistake"

#: Edits of a copy of assignment2's public checks, each (old text, new text).
EDITS = [
    # Helpers the edited checks use.
    (
        "leaf, worked_example = ref.leaf, ref.worked_example\n",
        "leaf, worked_example = ref.leaf, ref.worked_example\n"
        "from hypothesis.errors import FailedHealthCheck, InvalidArgument\n"
        "import time\n"
        "_HICCUPS = []\n\n\n"
        "def _unhealthy(t):\n"
        "    raise FailedHealthCheck('Input generation is slow: forced by the test')\n\n\n"
        "def _slow(t):\n"
        "    time.sleep(0.05)\n"
        "    return t\n\n\n"
        "def _hiccup_once():\n"
        "    if not _HICCUPS:\n"
        "        _HICCUPS.append(1)\n"
        "        raise InvalidArgument('a one-off failure of the grader')\n",
    ),
    # forward.values_float32: its reference is called with a weight of the wrong shape (a bug in the checks).
    ('judge.close(got, ref.forward(x, w, b), what="forward(x, w, b)"', 'judge.close(got, ref.forward(x, torch.ones(7, 3), b), what="forward(x, w, b)"'),
    # mse_loss.values_float32: a Hypothesis health check, in the grader's strategy.
    ("y_pred, y = data.draw(S.tensors(shape)), data.draw(S.tensors(shape))",
     "y_pred, y = data.draw(S.tensors(shape).map(_unhealthy)), data.draw(S.tensors(shape))"),
    # sgd_step.values asks for a 1 ms deadline and every health check, and draws slowly: the grading profile wins.
    ("@settings(max_examples=10)\n@given(dtype=S.float_dtypes, shape=S.shapes(max_dims=2), lr=S.learning_rates(), data=S.st.data())",
     "@settings(max_examples=10, deadline=1, suppress_health_check=[], derandomize=False)\n"
     "@given(dtype=S.float_dtypes, shape=S.shapes(max_dims=2).map(_slow), lr=S.learning_rates(), data=S.st.data())"),
    # zero_grad.zeroes: the grader fails once, then works: the retry gives the points.
    ("    for dtype in (torch.float32, torch.float64):\n        params = _params_with_grads(dtype)\n        call = student.call(\"zero_grad\", params)",
     "    _hiccup_once()\n    for dtype in (torch.float32, torch.float64):\n        params = _params_with_grads(dtype)\n        call = student.call(\"zero_grad\", params)"),
]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "assignments" / "assignment2", course / "assignments" / "assignment2")
    shutil.copytree(ROOT / "solutions" / "assignment2", course / "solutions" / "assignment2")
    public = course / "assignments" / "assignment2" / "checks_public.py"
    text = public.read_text()
    for old, new in EDITS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    public.write_text(text)
    return course


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    base = tmp_path_factory.mktemp("internal")
    cls, out = base / "class", base / "out"
    (cls / "alice").mkdir(parents=True)
    shutil.copy(SOLUTION, cls / "alice" / "linear_regression.py")
    proc = run_grader("grade", "assignment2", cls, "-o", out, "--course", course, "--timeout", "5")
    return proc, out


def test_a_grader_failure_is_internal_not_the_students(graded):
    proc, out = graded
    assert proc.returncode == 1, proc.stderr[-3000:]
    book = Gradebook(out, proc)
    row = book.rows["alice"]
    assert row["problems"] == "internal"
    earned = book.earned("alice")
    assert earned["forward.values_float32"] == 0 and earned["mse_loss.values_float32"] == 0
    full = {t["name"]: t["max_score"] for t in book.results("alice")["tests"]}
    # Every other check earned everything: the slow strategy with its own deadline and health checks, and the
    # check the grader failed on once (run again).
    assert {cid for cid, pts in earned.items() if pts < full[cid]} == {"forward.values_float32", "mse_loss.values_float32"}
    assert float(row["score"]) == sum(earned.values()) == 100 - full["forward.values_float32"] - full["mse_loss.values_float32"]


def test_the_student_reads_not_your_mistake_and_no_exception(graded):
    proc, out = graded
    feedback = (out / "feedback" / "alice.md").read_text()
    assert feedback.count(NOT_YOUR_MISTAKE) == 2 and "grader error" in feedback
    results = json.loads((out / "results" / "alice.json").read_text())
    outputs = {t["name"]: t["output"] for t in results["tests"]}
    assert outputs["forward.values_float32"] == outputs["mse_loss.values_float32"] == NOT_YOUR_MISTAKE
    assert results["extra_data"]["problems"] == ["internal"]
    for text in (feedback, json.dumps(results)):
        assert "FailedHealthCheck" not in text and "RuntimeError" not in text and "InvalidArgument" not in text


def test_the_instructor_reads_the_check_and_the_exception(graded):
    proc, out = graded
    assert "the grader failed on some checks of 1 submissions" in proc.stderr
    assert "alice: the grader failed on forward.values_float32: RuntimeError" in proc.stderr
    assert "alice: the grader failed on mse_loss.values_float32: FailedHealthCheck: Input generation is slow" in proc.stderr
    log = (out / "grade.log").read_text()
    assert "alice: the grader failed on forward.values_float32: RuntimeError" in log
    assert "alice: the grader failed on mse_loss.values_float32: FailedHealthCheck" in log
    assert "zero_grad.zeroes" not in log  # it failed once, and passed when run again


def test_a_rerun_grades_an_incomplete_row_again(graded, course):
    proc, out = graded
    again = run_grader("grade", "assignment2", out.parent / "class", "-o", out, "--course", course, "--timeout", "5", "--quiet")
    assert again.returncode == 1 and "graded 1 submissions" in again.stderr and "reused" not in again.stderr


def test_check_says_not_your_mistake(course):
    proc = run_grader("check", "assignment2", "--course", course, "--path", SOLUTION, "-k", "forward or sgd_step")
    assert proc.returncode == 1
    assert NOT_YOUR_MISTAKE in proc.stdout and "RuntimeError" not in proc.stdout
    assert "forward.values_float32" in proc.stdout and "internal" in proc.stdout
    proc = run_grader("check", "assignment2", "--json", "--course", course, "--path", SOLUTION, "-k", "forward")
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["forward.values_float32"]["internal"] is True and checks["forward.values_float32"]["message"] == NOT_YOUR_MISTAKE
    assert checks["forward.values_float32"]["passed"] is False and "internal" not in checks["forward.worked_example"]


# ------------------------------------------------------------------ whose fault, unit by unit
def _raise_in_body(body):
    """An exception raised by ``body``, with its traceback, and a stand-in pytest item for it."""
    try:
        body()
    except Exception as exc:  # noqa: BLE001
        return exc, exc.__traceback__, types.SimpleNamespace(obj=body)
    raise AssertionError("no exception")


def test_whose_fault():
    import torch
    from hypothesis.errors import FailedHealthCheck, FlakyFailure

    from grader.exchange import Opaque
    from grader.checks import assignment_module

    ref = assignment_module(ROOT / "assignments" / "assignment2" / "references.py", "references")
    from grader.engine.faults import grader_fault
    from grader.engine.student import Starved

    course = ROOT / "tests"  # this file stands for a check file of the course

    def garbage():  # the check's body stumbles over what the student returned: the student's
        Opaque("dict").shape  # noqa: B018

    def reference():  # a reference raises: the grader's
        ref.forward(torch.ones(2, 2), torch.ones(7, 3), torch.ones(1))

    def health():
        raise FailedHealthCheck("slow")

    def flaky():
        raise FlakyFailure("different results for the same input", [ValueError("x")])

    assert grader_fault(*_raise_in_body(garbage), course) is False
    assert grader_fault(*_raise_in_body(reference), course) is True
    assert grader_fault(*_raise_in_body(health), course) is True
    assert grader_fault(*_raise_in_body(flaky), course) is False
    exc, tb, item = _raise_in_body(garbage)
    assert grader_fault(exc, tb, types.SimpleNamespace(obj=reference), course) is True  # not raised in the check's body
    assert grader_fault(Starved("the machine was too busy"), None, item, course) is True


def test_every_check_runs_under_the_grading_profile_whatever_its_own_settings():
    from hypothesis import HealthCheck, settings

    from grader.checks.strategies import grading_settings

    profile = settings.get_profile("grading")
    own = settings(settings.default, max_examples=7, deadline=1, suppress_health_check=[], derandomize=False, database=None)
    enforced = grading_settings(own, explicit=True)
    assert enforced.max_examples == 7
    assert enforced.derandomize and enforced.database is None and enforced.deadline is None
    assert set(enforced.suppress_health_check) == set(HealthCheck)
    assert tuple(enforced.phases) == tuple(profile.phases)
    assert grading_settings(own, explicit=False).max_examples == profile.max_examples


def test_a_verdict_without_feedback_stops_at_the_first_failing_example():
    """Mutation analysis grades with ``shrink=False``: a failing check stops where it failed (the same 0 points)
    instead of replaying the submission to find the smallest input."""
    from hypothesis import Phase, given, settings
    from hypothesis import strategies as st

    from grader.checks.strategies import grading_settings

    for shrink, replays in ((True, True), (False, False)):
        calls = []

        @given(st.integers(0, 10**6))
        def check(n):
            calls.append(n)
            assert n < 1000

        check._hypothesis_internal_use_settings = grading_settings(settings(max_examples=50), explicit=True, shrink=shrink)
        assert (Phase.shrink in check._hypothesis_internal_use_settings.phases) is shrink
        with pytest.raises(AssertionError):
            check()
        failing = [n for n in calls if n >= 1000]
        # Shrinking replays the failure down to the smallest failing input (1000); without it, one failing input
        # is found and replayed once to report it.
        assert (min(failing) == 1000 and len(set(failing)) > 2) if replays else (len(set(failing)) == 1 and 1000 not in calls)
