"""Shared helpers: run the real `grader` command line in a subprocess."""

from __future__ import annotations

import atexit
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from warm_cli import WarmServer


ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"


_WARM = WarmServer(ROOT)
atexit.register(_WARM.close)


#: The pid of this worker's warm server, while it runs: the warm processes of its commands are its children.
WARM_SERVER_PIDS: list[int] = []


@pytest.fixture(scope="session", autouse=True)
def warm_processes():
    """One warm server per pytest worker (:mod:`grader.sandbox.warm_server`): every warm process this worker's
    tests start (the `grader` runs, their -j and Dask workers, the tests' own launchers) is forked from it
    instead of importing torch again, wherever its interpreter, import paths and sandbox layers match (a run
    that disables a layer starts its own). ``GRADER_TEST_EXEC=1`` (every run a fresh interpreter) and
    ``run_grader(fresh=True)`` leave it out: each such run starts its own warm process, as a user's does."""
    if os.environ.get("GRADER_TEST_EXEC") == "1":
        yield None
        return
    from grader.sandbox import warm_server

    proc, value = warm_server.start()
    os.environ[warm_server.VAR] = value
    WARM_SERVER_PIDS.append(proc.pid)
    try:
        yield value
    finally:
        os.environ.pop(warm_server.VAR, None)
        WARM_SERVER_PIDS.clear()
        proc.stdin.close()
        proc.wait(timeout=30)


#: The files that take longest (measured with ``--durations=0`` on 2 cores), run first: with ``-n 2 --dist
#: loadfile`` each worker takes the next file when it is done, so long files last would leave one core idle
#: while the other finishes them. Files not named keep their order, after these.
LONGEST_FIRST = (
    "test_grade_fixtures.py", "test_nbgrader.py", "test_dask.py", "test_resume.py", "test_redteam_tree.py",
    "test_load.py", "test_validate.py", "test_grade_broken.py", "test_course_renamed.py", "test_redteam_forgery.py",
    "test_authoring.py", "test_bad_input.py", "test_layers.py", "test_assignment4_engine.py", "test_redteam.py",
    "test_authoring_guide.py", "test_gradescope.py", "test_redteam_secrets.py",
)


def pytest_configure(config) -> None:
    """xdist's ``--dist loadfile`` hands out the files with the most tests first unless told otherwise: keep the
    order above, which puts the longest first."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept


def run_grader(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
               fresh: bool = False) -> subprocess.CompletedProcess:
    """``python -m grader.cli ARGS...`` as a user runs it: its own process, forked from a warm interpreter
    (:mod:`warm_cli`), its warm process forked from this worker's warm server (:func:`warm_processes`);
    ``fresh`` (or ``GRADER_TEST_EXEC=1`` for every run): a fresh interpreter that starts its own warm process,
    for what happens when one starts (``sitecustomize``, what it imports)."""
    full_env = {**os.environ, **(env or {})}
    if fresh and "GRADER_WARM_SERVER" not in (env or {}):
        full_env.pop("GRADER_WARM_SERVER", None)
    if fresh or os.environ.get("GRADER_TEST_EXEC") == "1":
        return subprocess.run(
            [sys.executable, "-m", "grader.cli", *map(str, args)],
            cwd=cwd or ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
        )
    with tempfile.TemporaryDirectory(prefix="grader-run-") as scratch:
        return _WARM.run([str(a) for a in args], Path(cwd or ROOT), full_env, timeout, Path(scratch))


def copy_course(dest: Path, *assignments: str) -> Path:
    """The bundled course (or only ``assignments`` of it) copied to ``dest``."""
    skip = shutil.ignore_patterns("__pycache__")
    for half in ("assignments", "solutions"):
        for name in assignments or [""]:
            shutil.copytree(ROOT / half / name, dest / half / name, ignore=skip)
    return dest


def small_class(folder: Path) -> Path:
    """Two small assignment1 submissions: a correct one and the untouched stub."""
    for name in ("correct_tolist", "fails_stub"):
        shutil.copytree(SUBMISSIONS / "assignment1" / name, folder / name)
    return folder


class Gradebook:
    """A finished `grader grade` run: its CSV rows, results and feedback."""

    def __init__(self, out: Path, proc: subprocess.CompletedProcess):
        self.out = out
        self.proc = proc
        with open(out / "grades.csv", newline="") as f:
            reader = csv.DictReader(f)
            self.columns = reader.fieldnames
            self.rows = {row["student"]: row for row in reader}
        self.check_ids = self.columns[4:]

    def results(self, student: str) -> dict:
        return json.loads((self.out / "results" / f"{student}.json").read_text())

    def feedback(self, student: str) -> str:
        return (self.out / "feedback" / f"{student}.md").read_text()

    def earned(self, student: str) -> dict[str, float]:
        return {cid: float(self.rows[student][cid]) for cid in self.check_ids}

    def all_output_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.out.rglob("*")) if p.is_file())


def grade(folder: Path, out: Path, *extra, assignment: str = "assignment2") -> Gradebook:
    proc = run_grader("grade", assignment, folder, "-o", out, *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Gradebook(out, proc)


def max_points(book: Gradebook, student: str) -> dict[str, float]:
    return {t["name"]: float(t["max_score"]) for t in book.results(student)["tests"]}


def solution_source(assignment: str = "assignment2", module: str = "linear_regression") -> str:
    """An assignment's reference solution as a submission's source: nbgrader's solution markers removed."""
    text = (ROOT / "solutions" / assignment / f"{module}.py").read_text()
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", text, flags=re.M)


#: assignment2's solution whose ``train`` hangs (a busy loop) in its worked example only: one check times out,
#: at the cost of one check's CPU time limit.
HANG_TRAIN = solution_source() + '''
_honest_train = train


def train(x, y, w, b, lr, epochs):
    if epochs == 200:
        while True:
            pass
    return _honest_train(x, y, w, b, lr, epochs)
'''


def load_solution(assignment: str):
    """An assignment's reference solution, imported from solutions/ (course checks never do this)."""
    from grader.course import load

    module = load(assignment, root=ROOT).module
    spec = importlib.util.spec_from_file_location(module, ROOT / "solutions" / assignment / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def readme_example_code(assignment: str) -> str:
    """The student README's ```python worked example."""
    readme = (ROOT / "assignments" / assignment / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", readme, re.S).group(1)


def readme_example_output(assignment: str, monkeypatch) -> list[str]:
    """What the student README's ```python worked example prints, run against the solution."""
    import torch

    code = readme_example_code(assignment)
    solution = load_solution(assignment)
    monkeypatch.setitem(sys.modules, solution.__name__, solution)
    printed: list[str] = []
    with torch.random.fork_rng(devices=[]):
        exec(compile(code, "README.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    return printed
