"""`grader gradescope`: an autograder zip whose run_autograder, run as Gradescope runs it, writes a valid results.json."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT, SUBMISSIONS, run_grader

SOLUTION = ROOT / "solutions" / "assignment2" / "linear_regression.py"


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    proc = run_grader("gradescope", "assignment2", "-o", base / "autograder.zip")
    assert proc.returncode == 0, proc.stderr
    return base / "autograder.zip"


def _run(autograder, tmp_path, files: dict) -> dict:
    """Lay out /autograder as Gradescope does (source = the unzipped autograder) and run run_autograder."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder) as zf:
        zf.extractall(root / "source")
    for info in zipfile.ZipFile(autograder).infolist():  # extractall drops the modes
        os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777 or 0o644)
    (root / "submission").mkdir()
    for name, data in files.items():
        (root / "submission" / name).write_bytes(data)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def _valid(doc: dict) -> None:
    """Gradescope's results.json: numeric score, tests with the documented fields and values."""
    assert isinstance(doc["score"], (int, float))
    for test in doc["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert test.get("status", "passed") in ("passed", "failed")


def test_the_zip_holds_scripts_grader_and_hidden_checks_but_no_solution(autograder):
    with zipfile.ZipFile(autograder) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "run_autograder.py", "course/solutions/assignment2/checks_hidden.py",
            "course/assignments/assignment2/checks_public.py", "package/grader/cli/__init__.py"} <= names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert not any(n.startswith("course/solutions/") and not n.endswith("checks_hidden.py") for n in names)
    assert "torch --index-url https://download.pytorch.org/whl/cpu" in zipfile.ZipFile(autograder).read("setup.sh").decode()


def test_run_autograder_grades_like_grader_grade(autograder, tmp_path):
    doc = _run(autograder, tmp_path, {"linear_regression.py": SOLUTION.read_bytes()})
    _valid(doc)
    assert doc["score"] == doc["max_score"] == 100
    book = run_grader("check", "assignment2", "--path", SOLUTION, "--json")
    public = [c["id"] for c in json.loads(book.stdout)["checks"]]
    names = [t["name"] for t in doc["tests"]]
    assert set(public) < set(names) and len(names) == 28
    hidden = [t for t in doc["tests"] if t["name"] not in public]
    assert hidden and all(t["visibility"] == "after_published" for t in hidden)


def test_broken_and_buggy_submissions_get_their_reasons(autograder, tmp_path):
    broken = _run(autograder, tmp_path / "a", {"linear_regression.py": b"def forward(x, w, b)\n    return x\n"})
    _valid(broken)
    assert broken["score"] == 0 and "syntax" in broken["extra_data"]["problems"]
    buggy = (SUBMISSIONS / "assignment2" / "fails_mse_sum" / "linear_regression.py").read_bytes()
    doc = _run(autograder, tmp_path / "b", {"linear_regression.py": buggy, "notes.txt": b"my notes"})
    _valid(doc)
    assert 0 < doc["score"] < 100
    assert any(t["name"].startswith("mse_loss.") and t["score"] == 0 for t in doc["tests"])
