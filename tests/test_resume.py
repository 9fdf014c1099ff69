"""An interrupted or repeated `grader grade` continues where it stopped and never loses or duplicates a grade."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from conftest import HANG_TRAIN, ROOT, run_grader

CLASS = ROOT / "examples" / "assignment2"


def _class(tmp_path):
    folder = tmp_path / "class"
    shutil.copytree(CLASS, folder)
    return folder


def test_unchanged_results_are_reused_and_changed_submissions_regraded(tmp_path):
    folder, out = _class(tmp_path), tmp_path / "out"
    first = run_grader("grade", "assignment2", folder, "-o", out)
    assert first.returncode == 0, first.stderr
    gradebook = (out / "grades.csv").read_text()
    assert "grading assignment2" in first.stderr and "problems: crash 1, file_name 1, syntax 1" in first.stderr
    assert re.search(r"12/12 \S+ \d+\.\d/s eta", first.stderr), first.stderr  # progress: count, time, rate, ETA
    again = run_grader("grade", "assignment2", folder, "-o", out, "--quiet")
    assert again.returncode == 0 and "graded 0 submissions (and reused 12 unchanged results)" in again.stderr
    assert "grading assignment2" not in again.stderr  # --quiet: no progress bar
    assert (out / "grades.csv").read_text() == gradebook
    # dave fixes his zero_grad: only he is graded again, and his row changes.
    shutil.copy(folder / "alice" / "linear_regression.py", folder / "dave" / "linear_regression.py")
    fixed = run_grader("grade", "assignment2", folder, "-o", out)
    assert "graded 1 submissions (and reused 11 unchanged results)" in fixed.stderr
    rows = {line.split(",")[0]: line for line in (out / "grades.csv").read_text().splitlines()}
    assert rows["dave"].split(",")[1] == "100"
    assert {k: v for k, v in rows.items() if k != "dave"} == {
        line.split(",")[0]: line for line in gradebook.splitlines() if not line.startswith("dave,")
    }


def test_changed_checks_regrade_everyone(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments", course / "assignments")
    shutil.copytree(ROOT / "solutions", course / "solutions")
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    for name in ("alice", "dave"):
        shutil.copytree(CLASS / name, folder / name)
    assert run_grader("grade", "assignment2", folder, "-o", out, "--course", course).returncode == 0
    hidden = course / "solutions" / "assignment2" / "checks_hidden.py"
    hidden.write_text(hidden.read_text() + "\n# an edited check file\n")
    again = run_grader("grade", "assignment2", folder, "-o", out, "--course", course)
    assert again.returncode == 0 and "graded 2 submissions" in again.stderr and "reused" not in again.stderr


def test_sigkill_mid_batch_then_rerun_gives_the_uninterrupted_gradebook(tmp_path):
    folder = _class(tmp_path)
    clean = run_grader("grade", "assignment2", folder, "-o", tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "grade", "assignment2", str(folder), "-o", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "results").glob("*.json"))) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "results").glob("*.json")))
    assert 4 <= done < 12, f"the batch was not interrupted mid-way ({done} results)"
    assert not (out / "grades.csv").exists()
    rerun = run_grader("grade", "assignment2", folder, "-o", out)
    assert rerun.returncode == 0, rerun.stderr
    assert f"reused {done} unchanged results" in rerun.stderr
    assert (out / "grades.csv").read_text() == (tmp_path / "clean" / "grades.csv").read_text()


def test_parallel_workers_write_the_same_gradebook_whatever_some_submissions_do(tmp_path):
    """Default -j (the cores) against -j 1, on a class with a hang, a segfault and a memory bomb among it."""
    folder = tmp_path / "class"
    for copy in ("a", "b"):  # every submission, and a second copy of four of them (graded by another worker)
        for entry in sorted(CLASS.iterdir())[:None if copy == "a" else 4]:
            target = folder / f"{entry.stem}_{copy}{entry.suffix}"
            (shutil.copytree if entry.is_dir() else shutil.copy)(entry, target)
    broken = ROOT / "tests" / "submissions" / "assignment2_broken"
    for name in ("broken_segfault_mse_loss", "broken_huge_alloc_mse_loss"):
        shutil.copytree(broken / name, folder / name)
    # A hang in one check (train's worked example): the same proof as a hang in every check, for 2 s of CPU.
    (folder / "broken_hang_train").mkdir()
    (folder / "broken_hang_train" / "linear_regression.py").write_text(HANG_TRAIN)
    limits = ("--timeout", "2", "--memory", "300")
    serial = run_grader("grade", "assignment2", folder, "-o", tmp_path / "serial", "-j", "1", *limits)
    parallel = run_grader("grade", "assignment2", folder, "-o", tmp_path / "parallel", *limits)
    assert serial.returncode == parallel.returncode == 0, parallel.stderr
    count = len(list(folder.iterdir()))
    assert count >= 16  # -j starts a second worker from 16 submissions
    workers = min(len(os.sched_getaffinity(0)), count // 8)
    assert ("with 2 workers" in parallel.stderr) == (workers == 2) and f"graded {count} submissions" in parallel.stderr
    gradebook = (tmp_path / "serial" / "grades.csv").read_text()
    assert (tmp_path / "parallel" / "grades.csv").read_text() == gradebook
    names = sorted(p.name for p in (tmp_path / "serial" / "results").iterdir())
    assert sorted(p.name for p in (tmp_path / "parallel" / "results").iterdir()) == names
    # Everyone else's grade is what it is alone.
    alone = run_grader("grade", "assignment2", CLASS, "-o", tmp_path / "alone", *limits)
    rows = {line.split(",", 1)[0]: line.split(",", 1)[1] for line in gradebook.splitlines()[1:]}
    for line in (tmp_path / "alone" / "grades.csv").read_text().splitlines()[1:]:
        student, rest = line.split(",", 1)
        assert rows[f"{student}_a"] == rows.get(f"{student}_b", rest) == rest, student
    assert rows["broken_hang_train"].split(",")[2] == "timeout" and rows["broken_segfault_mse_loss"].split(",")[2] == "crash"
    assert rows["broken_huge_alloc_mse_loss"].split(",")[2] == "memory"
