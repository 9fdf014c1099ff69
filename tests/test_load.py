"""A grade depends on the submission only: not on the machine's load, the number of workers or the executor.

A class of correct, one-bug, hanging and crashing submissions is graded with ``-j 2`` on the machine as it
is, then with ``-j 2`` and ``--dask-local 2`` at once while a busy loop per two cores competes with their four
workers: every gradebook is the same, byte for byte. Time limits are on the student's CPU time, so
the hanging submission still times out (after 1 s of CPU time) and every correct function keeps its points
however slow the machine is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from conftest import HANG_TRAIN as HANG, ROOT, SUBMISSIONS, run_grader

LIMITS = ("--timeout", "1", "--memory", "400")
#: 16 students (-j 2 starts 2 workers only from 16 submissions: one worker per 8 at most), with the hanging one
#: (conftest.HANG_TRAIN). ``correct_loops`` is left out: its train needs about 1 s of CPU time, the limit itself.
CLASS = [
    *(f"assignment2/{name}" for name in (
        "correct_functional", "correct_bom", "correct_matmul_addmm", "correct_no_grad", "correct_tuple_train",
        "correct_zero_fill", "correct_detach_sub",
        "fails_forward_transposed", "fails_mse_per_sample", "fails_sgd_wrong_sign", "fails_sgd_missing_no_grad",
        "fails_train_no_zero_grad", "fails_zero_grad_sets_none", "fails_mse_keeps_dims",
    )),
    "assignment2_broken/broken_segfault_mse_loss",
]
HAVE_DASK = importlib.util.find_spec("distributed") is not None


def _cores() -> int:
    return len(os.sched_getaffinity(0))


@contextlib.contextmanager
def busy(loops: int, seconds: float = 600):
    """``loops`` busy loops, each ending by itself after ``seconds`` at the latest, and killed (by their pids)
    when the block ends."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    loops = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(loops)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def _grade(folder, out, *extra) -> str:
    proc = run_grader("grade", "assignment2", folder, "-o", out, *LIMITS, "--quiet", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (out / "grades.csv").read_text()


def _grade_together(folder, runs: dict) -> dict[str, str]:
    """Several `grader grade` runs at the same time (each is load for the others): name -> gradebook."""
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "grader.cli", "grade", "assignment2", str(folder), "-o", str(out),
                                *LIMITS, "--quiet", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for name, (out, extra) in runs.items()
    }
    books = {}
    for name, proc in procs.items():
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
        books[name] = (runs[name][0] / "grades.csv").read_text()
    return books


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load") / "class"
    for entry in CLASS:
        shutil.copytree(SUBMISSIONS / entry, folder / entry.split("/")[1])
    (folder / "hangs_train").mkdir()
    (folder / "hangs_train" / "linear_regression.py").write_text(HANG)
    return folder


@pytest.fixture(scope="module")
def gradebooks(folder):
    """The gradebook graded with -j 2 on the machine as it is, then with -j 2 and (with Dask) --dask-local 2 at
    the same time, their four workers with a busy loop per two cores (and the suite's other tests beside them):
    well over 2 runnable processes per core. (A loop per core as well burned a minute of both cores for nothing
    the four workers do not already prove.)"""
    base = folder.parent
    books = {"quiet -j 2": _grade(folder, base / "quiet-j2", "-j", "2")}
    # -j 1 against -j 2 is test_resume's; here the executors under load: two workers, and Dask's.
    runs = {"busy -j 2": (base / "busy-j2", ["-j", "2"])}
    if HAVE_DASK:
        runs["busy --dask-local 2"] = (base / "busy-dask", ["--dask-local", "2"])
    with busy(loops=max(1, _cores() // 2)):
        books.update(_grade_together(folder, runs))
    return books


def test_the_gradebook_is_the_same_under_load_and_with_any_executor(gradebooks):
    quiet = gradebooks["quiet -j 2"]
    for how, book in gradebooks.items():
        assert book == quiet, f"{how} differs from quiet -j 2:\n{book}\n---\n{quiet}"
    if not HAVE_DASK and os.environ.get("GRADER_REQUIRE_DASK"):
        pytest.fail("GRADER_REQUIRE_DASK is set (as in CI) but Dask's distributed is not installed")


def test_the_class_gets_its_expected_grades(gradebooks):
    rows = {line.split(",")[0]: line.split(",") for line in gradebooks["quiet -j 2"].splitlines()[1:]}
    assert len(rows) == 16
    for name, row in rows.items():
        if name.startswith("correct_"):
            assert row[1:4] == ["100", "100", ""], row
        elif name.startswith("fails_"):
            assert float(row[1]) < 100 and row[3] == "", row
    assert rows["hangs_train"][3] == "timeout" and rows["broken_segfault_mse_loss"][3] == "crash"
