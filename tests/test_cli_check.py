"""`grader check` and `grader list` as students run them."""

from __future__ import annotations

import json
import shutil

from conftest import ROOT, SUBMISSIONS, run_grader

SOLUTION = ROOT / "solutions" / "assignment2"
PUBLIC_IDS = {
    "forward.worked_example", "forward.values_float32", "forward.differentiable",
    "mse_loss.values_float32", "mse_loss.zero_dim", "zero_grad.zeroes", "zero_grad.keeps_grad_object",
    "sgd_step.values", "sgd_step.in_place", "sgd_step.untracked", "train.worked_example", "train.returns_floats",
}


def check_json(*args, **kw):
    proc = run_grader("check", "assignment2", "--json", *args, **kw)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None)


def test_solution_passes_every_public_check():
    proc, doc = check_json("--path", SOLUTION)
    assert proc.returncode == 0, proc.stderr
    assert set(doc) == {"assignment", "score", "max_score", "checks"}
    assert doc["assignment"] == "assignment2"
    assert doc["score"] == doc["max_score"] > 0
    assert {c["id"] for c in doc["checks"]} == PUBLIC_IDS
    for c in doc["checks"]:
        assert set(c) == {"id", "score", "max_score", "passed", "message"}
        assert c["passed"] is True and c["score"] == c["max_score"]


def test_untouched_stub_scores_zero_from_the_course_folder():
    proc, doc = check_json(cwd=ROOT)  # default: assignments/assignment2/ under the current folder
    assert proc.returncode == 1
    assert doc["score"] == 0
    assert all("still raises NotImplementedError" in c["message"] for c in doc["checks"])


def test_default_path_is_the_module_in_the_current_folder(tmp_path):
    shutil.copy(SOLUTION / "linear_regression.py", tmp_path)
    proc, doc = check_json(cwd=tmp_path)
    assert proc.returncode == 0 and doc["score"] == doc["max_score"]


def test_failure_shows_shrunk_input_expected_got_hint_and_prints():
    proc = run_grader("check", "assignment2", "--path", SUBMISSIONS / "assignment2_check" / "prints_and_fails")
    assert proc.returncode == 1
    out = proc.stdout
    assert "mse_loss.values_float32" in out
    assert "Input: y_pred = " in out and "expected" in out and "got" in out and "Hint:" in out
    assert "is wrong at index [" in out and "tier: " in out  # the differing index and the tolerance tier
    assert "\x1b[" not in out  # piped: no colour codes
    assert "your output during mse_loss.values_float32" in out
    assert "debugging mse_loss" in out
    _, doc = check_json("--path", SUBMISSIONS / "assignment2_check" / "prints_and_fails")
    failing = {c["id"] for c in doc["checks"] if not c["passed"]}
    assert failing == {"mse_loss.values_float32", "train.worked_example"}
    shrunk = next(c for c in doc["checks"] if c["id"] == "mse_loss.values_float32")["message"]
    assert "shape (1, 2)" in shrunk or "shape (2,)" in shrunk or "shape (2, 1)" in shrunk, shrunk


def test_select_with_k():
    proc, doc = check_json("--path", SOLUTION, "-k", "zero_grad")
    assert proc.returncode == 0
    assert {c["id"] for c in doc["checks"]} == {"zero_grad.zeroes", "zero_grad.keeps_grad_object"}
    proc = run_grader("check", "assignment2", "--path", SOLUTION, "-k", "no_such_check")
    assert proc.returncode == 2 and "no check matches" in proc.stderr


def test_usage_errors_exit_2_with_a_clear_message(tmp_path):
    proc = run_grader("check", "assignment9")
    assert proc.returncode == 2 and "unknown assignment 'assignment9'" in proc.stderr and "assignment2" in proc.stderr
    proc = run_grader("check", "assignment2", "--path", tmp_path / "nope.py")
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    (tmp_path / "linear_regresion.py").write_text("x = 1\n")
    proc = run_grader("check", "assignment2", "--path", tmp_path)
    assert proc.returncode == 2 and "linear_regresion.py" in proc.stderr and "linear_regression.py" in proc.stderr
    proc = run_grader("check", "assignment2", cwd=tmp_path)
    assert proc.returncode == 2 and "--path" in proc.stderr
    proc = run_grader("grade", "assignment2", tmp_path / "missing", "-o", tmp_path / "out")
    assert proc.returncode == 2 and "is not a folder" in proc.stderr
    proc = run_grader("grade", "assignment2", ROOT / "examples" / "assignment2", "-o", "/proc/no-such-output")
    assert proc.returncode == 2 and "cannot write there" in proc.stderr


def test_check_works_without_solutions(tmp_path):
    """A student's copy: only assignments/ (and the grader package) exist."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments", course / "assignments")
    proc, doc = check_json("--path", SOLUTION, env={"GRADER_COURSE": str(course)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc["score"] == doc["max_score"]
    proc = run_grader("grade", "assignment2", tmp_path, "-o", tmp_path / "out", "--course", course)
    assert proc.returncode == 2 and "hidden checks" in proc.stderr


def test_spawn_fallback_gives_the_same_result_with_a_note():
    proc, doc = check_json("--path", SOLUTION, env={"GRADER_START_METHOD": "spawn"})
    assert proc.returncode == 0, proc.stderr
    assert doc["score"] == doc["max_score"]
    assert "fork is unavailable" in proc.stderr


def test_list_shows_assignments_with_points():
    proc = run_grader("list")
    assert proc.returncode == 0
    assert "assignment2" in proc.stdout and "Linear regression by hand" in proc.stdout and "100" in proc.stdout


def _in_terminal(*args, env=None) -> str:
    """``grader ARGS`` with its stdout on a pseudo-terminal, as a student's shell runs it."""
    import os
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", *map(str, args)], stdout=terminal, stderr=subprocess.DEVNULL,
                            cwd=ROOT, env={**os.environ, "TERM": "xterm-256color", **(env or {})})
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(controller)
    return b"".join(chunks).decode(errors="replace")


def test_colours_in_a_terminal_only_and_never_with_no_color():
    failing = SUBMISSIONS / "assignment2" / "fails_forward_no_bias"
    coloured = _in_terminal("check", "assignment2", "--path", failing, "-k", "forward")
    assert "\x1b[" in coloured and "forward.worked_example" in coloured
    plain = _in_terminal("check", "assignment2", "--path", failing, "-k", "forward", env={"NO_COLOR": "1"})
    assert "forward.worked_example" in plain and "\x1b[3" not in plain  # no colour (bold alone is not a colour)
