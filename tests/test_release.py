"""`grader release`: the students' handout holds what they need and nothing of the instructor's."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from conftest import ROOT, run_grader
from grader.authoring import stubs as authoring
from grader.interop import handout as release
from grader.course import course_root, list_all, load

ASSIGNMENTS = [a.name for a in list_all(root=course_root())]
FILES = {"INSTALL.md", "README.md", "assignment.toml", "checks_public.py"}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_handout_has_the_public_files_and_no_secret(tmp_path, name):
    proc = run_grader("release", name, "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    a = load(name, root=ROOT)
    folder = tmp_path / name
    assert {p.name for p in folder.iterdir()} == FILES | {f"{a.module}.py"}
    with zipfile.ZipFile(tmp_path / f"{name}.zip") as zf:
        assert sorted(zf.namelist()) == sorted(f"{name}/{p.name}" for p in folder.iterdir())
        for info in zf.infolist():
            assert zf.read(info).decode() == (folder / info.filename.split("/", 1)[1]).read_text()
    texts = {p.name: p.read_text() for p in folder.iterdir()}
    assert texts[f"{a.module}.py"] == (a.directory / f"{a.module}.py").read_text()  # the committed stub, fresh
    assert texts["checks_public.py"] == a.public_checks.read_text()
    everything = "\n".join(texts.values())
    lines = {line.strip() for line in everything.splitlines()}
    assert authoring.BEGIN not in everything and authoring.END not in everything
    # No distinctive line of the hidden checks and no solution region, checked directly.
    hidden = {line.strip() for line in a.hidden_checks.read_text().splitlines()}
    public = {line.strip() for line in a.public_checks.read_text().splitlines()}
    for line in hidden - public:
        if len(line) >= 40 and not line.startswith(("#", "import", "from")):
            assert line not in lines, line
    solution = (ROOT / "solutions" / name / f"{a.module}.py").read_text()
    for region in solution.split(authoring.BEGIN)[1:]:
        body = [line.strip() for line in region.split(authoring.END)[0].splitlines() if line.strip()]
        if len(body) >= 2:  # a one-line answer may be a public check's hint, by the author's choice
            assert "\n".join(body) not in "\n".join(line.strip() for line in everything.splitlines()), body[:2]
    assert "pip install torch-autograder" in texts["INSTALL.md"] and f"grader check {name}" in texts["INSTALL.md"]


def test_release_is_reproducible_and_the_handout_is_checkable(tmp_path):
    for out in ("one", "two"):
        assert run_grader("release", "assignment2", "-o", tmp_path / out).returncode == 0
    assert (tmp_path / "one" / "assignment2.zip").read_bytes() == (tmp_path / "two" / "assignment2.zip").read_bytes()
    # A student unpacks it and runs the grader there: the stub is graded (0 points, exit 1), not refused.
    proc = run_grader("check", "assignment2", cwd=tmp_path / "one" / "assignment2")
    assert proc.returncode == 1 and "still raises NotImplementedError" in proc.stdout


def test_a_handout_that_would_leak_is_refused(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments", course / "assignments")
    (course / "solutions").mkdir()
    shutil.copytree(ROOT / "solutions" / "assignment2", course / "solutions" / "assignment2")
    a = load("assignment2", root=course)
    files = release.handout_files(a)
    assert release.leaks(files, a) == []
    # The hidden checks copied in under another name, or the solution as the stub: found.
    hidden = a.hidden_checks.read_text().replace("checks_hidden", "x")
    assert release.leaks({**files, "more_checks.py": hidden}, a)
    solution_text = (course / "solutions" / "assignment2" / "linear_regression.py").read_text()
    as_stub = solution_text.replace(authoring.BEGIN, "").replace(authoring.END, "")
    assert release.leaks({**files, "linear_regression.py": as_stub}, a)
    # A README that shows the solution of sgd_step: the command refuses and writes nothing.
    readme = course / "assignments" / "assignment2" / "README.md"
    solution = (course / "solutions" / "assignment2" / "linear_regression.py").read_text()
    sgd = solution.split("def sgd_step")[1].split(authoring.BEGIN)[1].split(authoring.END)[0]
    readme.write_text(readme.read_text() + "\n```python\n" + sgd + "```\n")
    proc = run_grader("release", "assignment2", "-o", tmp_path / "out", "--course", course)
    assert proc.returncode == 2 and "would reveal" in proc.stderr and "README.md" in proc.stderr
    assert not (tmp_path / "out" / "assignment2").exists()
