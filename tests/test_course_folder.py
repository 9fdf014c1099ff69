"""A course is a folder: assignments/, solutions/ and an optional course.toml, picked with --course or GRADER_COURSE
by every command, from any working folder; its files are what a grade's resume key and the Dask bundle carry."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import SUBMISSIONS, copy_course, run_grader, small_class
from grader.course import Course, LimitDefaults, course_files, load, load_course
from grader.errors import CourseError

TITLE = "Autograd, a copied course"
#: assignment1's title in the copy: every command that shows or ships it proves it read the copy.
COPIED = "Tensors that remember, as copied"
README_MARK = "This README belongs to the copied course."
#: Every command of `grader --help` (groups by their subcommands): each takes --course.
COMMANDS = {"list", "check", "grade", "doctor", "release", "gradescope", "nbgrader source", "validate", "new", "author"}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the bundled course with a course.toml, assignment1 retitled and its README marked."""
    root = copy_course(tmp_path_factory.mktemp("elsewhere") / "course")
    (root / "course.toml").write_text(f'title = "{TITLE}"\n\n[limits]\ntimeout = 10\nmemory = 1024\n')
    toml = root / "assignments" / "assignment1" / "assignment.toml"
    text = toml.read_text()
    assert text.count('title = "Tensors that remember"') == 1
    toml.write_text(text.replace('title = "Tensors that remember"', f'title = "{COPIED}"'))
    readme = root / "assignments" / "assignment1" / "README.md"
    readme.write_text(readme.read_text() + f"\n{README_MARK}\n")
    return root


@pytest.fixture
def work(tmp_path):
    """A working folder that is neither the repository nor the course."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------ course.toml


def _course_with(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "assignments").mkdir(parents=True, exist_ok=True)
    (tmp_path / "course.toml").write_text(toml)
    return tmp_path


def test_course_toml_gives_the_title_and_the_default_limits(tmp_path):
    assert load_course(_course_with(tmp_path, 'title = "T"\n[limits]\ntimeout = 3\nmemory = 512\n')) == Course(
        tmp_path.resolve(), title="T", limits=LimitDefaults(timeout=3.0, memory=512))
    assert load_course(_course_with(tmp_path, "[limits]\ntimeout = 2.5\n")).limits == LimitDefaults(timeout=2.5)
    (tmp_path / "course.toml").unlink()
    assert load_course(tmp_path) == Course(tmp_path.resolve())  # course.toml is optional


@pytest.mark.parametrize("toml, where, what", [
    ('title = "T"\n[limits\ntimeout = 3\n', 2, "not valid TOML"),
    ('title = "T"\n\n[limits]\ntimeout = "ten"\n', 4, "limits.timeout must be a number of CPU seconds"),
    ('[limits]\nmemory = 10\n', 2, "limits.memory must be a whole number of MB, at least 64"),
    ('[limits]\nmemory = 1.5\n', 2, "limits.memory must be a whole number of MB"),
    ('[limits]\ntimeout = true\n', 2, "limits.timeout must be a number"),
    ('title = 5\n', 1, "title must be a non-empty string"),
    ('title = "T"\nteacher = "me"\n', 2, "teacher is not a course.toml key"),
    ('title = "T"\n[limits]\ntimeout = 3\ncpus = 4\n', 4, "limits.cpus is not a course.toml key"),
    ('limits = 3\n', 1, "limits must be a table"),
])
def test_a_broken_course_toml_names_its_file_and_line(tmp_path, toml, where, what):
    with pytest.raises(CourseError) as info:
        load_course(_course_with(tmp_path, toml))
    assert f"{tmp_path.resolve() / 'course.toml'}:{where}: " in str(info.value) and what in str(info.value)


def test_command_line_limits_beat_course_toml_which_beats_the_defaults(tmp_path):
    _course_with(tmp_path, "[limits]\ntimeout = 3\n")
    code = ("import sys; from grader.course import load_course; from grader.cli.shell import grading_limits as g; "
            "c = load_course(sys.argv[1]); "
            "print([(l.check_seconds, l.memory_mb) for l in (g(c), g(c, timeout=7, memory=300), g(c, default_timeout=5))])")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.stdout.strip() == "[(3.0, 1024), (7.0, 300), (3.0, 1024)]", proc.stderr
    (tmp_path / "course.toml").write_text('title = "no limits"\n')
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.stdout.strip() == "[(10.0, 1024), (7.0, 300), (5.0, 1024)]", proc.stderr


# ------------------------------------------------------------------ every command, on a course elsewhere


def test_every_command_takes_course():
    code = (
        "import typer; from grader.cli import app\n"
        "def walk(cmd, name):\n"
        "    if getattr(cmd, 'commands', None):\n"
        "        for sub, c in cmd.commands.items(): yield from walk(c, f'{name} {sub}'.strip())\n"
        "    else: yield name, any('--course' in p.opts for p in cmd.params)\n"
        "import json; print(json.dumps(dict(walk(typer.main.get_command(app), ''))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert set(found) == COMMANDS, "a new command: give it --course and try it on a course elsewhere below"
    assert all(found.values()), found


def test_list_shows_the_courses_title_with_course_or_grader_course(course, work):
    for proc in (run_grader("list", "--course", course, cwd=work), run_grader("list", cwd=work, env={"GRADER_COURSE": str(course)})):
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == TITLE and COPIED in proc.stdout and "assignment5" in proc.stdout
    plain = run_grader("list", cwd=work)
    assert TITLE not in plain.stdout and COPIED not in plain.stdout  # the bundled course, which has no course.toml


def test_check_runs_the_copys_public_checks(course, work):
    proc = run_grader("check", "assignment1", "--path", SUBMISSIONS / "assignment1" / "correct_tolist", cwd=work,
                      env={"GRADER_COURSE": str(course)})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert f"assignment1 — {COPIED} — public checks" in proc.stdout


def test_grade_grades_with_the_copy(course, work, tmp_path):
    cls, out = small_class(tmp_path / "class"), tmp_path / "out"
    proc = run_grader("grade", "assignment1", cls, "-o", out, "--course", course, "-j", "2", cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "graded 2 submissions" in proc.stderr
    assert COPIED in (out / "report.html").read_text()
    assert json.loads((out / "results" / "correct_tolist.json").read_text())["score"] == 100
    assert not any(work.iterdir())  # nothing in the working folder


def test_release_gradescope_and_nbgrader_source_ship_the_copy(course, work, tmp_path):
    proc = run_grader("release", "assignment1", "-o", tmp_path / "handouts", "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert COPIED in (tmp_path / "handouts" / "assignment1" / "assignment.toml").read_text()
    assert README_MARK in (tmp_path / "handouts" / "assignment1" / "README.md").read_text()

    proc = run_grader("gradescope", "assignment1", "-o", tmp_path / "autograder.zip", "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        assert COPIED in zf.read("course/assignments/assignment1/assignment.toml").decode()
        assert TITLE in zf.read("course/course.toml").decode()  # its limits grade on Gradescope too

    nbgrader = tmp_path / "nbgrader"
    nbgrader.mkdir()
    proc = run_grader("nbgrader", "source", "assignment1", nbgrader, "--course", course, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert README_MARK in (nbgrader / "source" / "assignment1" / "autograd_basics.ipynb").read_text()


def test_validate_validates_the_copy(work, tmp_path):
    """On a copy of assignment1 whose solution has no solution markers: no mutant, the reference alone is graded."""
    small = copy_course(tmp_path / "course", "assignment1")
    solution = small / "solutions" / "assignment1" / "autograd_basics.py"
    solution.write_text(re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", solution.read_text(), flags=re.M))
    proc = run_grader("validate", "assignment1", "--course", small, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == "mutation score: 100.0%"
    assert "0 of 0 mutants of autograd_basics.py killed" in proc.stdout


def test_doctor_checks_the_course_and_says_which(course, work):
    proc = run_grader("doctor", "--course", course, cwd=work)
    assert proc.returncode == (1 if "inactive" in proc.stdout else 0), proc.stdout + proc.stderr
    assert f"course: {course} ({TITLE}): assignment1, assignment2" in proc.stderr and "every checks file loads" in proc.stderr
    assert len(proc.stdout.splitlines()) == 10  # the layers, as without --course


# ------------------------------------------------------------------ what a grade depends on


def test_the_course_half_of_an_assignment(tmp_path):
    root = copy_course(tmp_path / "course", "assignment1", "assignment2")
    a1 = root / "assignments" / "assignment1"
    (a1 / "data").mkdir()
    (a1 / "data" / "table.csv").write_text("x,y\n")
    (a1 / "notes.md").write_text("# notes\n")
    (a1 / ".hidden").write_text("editor state\n")
    (a1 / "__pycache__").mkdir()
    (a1 / "__pycache__" / "checks_public.cpython-311.pyc").write_bytes(b"\0")
    (root / "course.toml").write_text('title = "T"\n')
    names = [p.relative_to(root).as_posix() for p in course_files(load("assignment1", root=root))]
    everything = sorted(p.relative_to(root).as_posix() for half in ("assignments", "solutions")
                        for p in (root / half / "assignment1").rglob("*") if p.is_file())
    left_out = {"assignments/assignment1/autograd_basics.py", "solutions/assignment1/autograd_basics.py"}
    assert names == [n for n in everything if n not in left_out and not re.search(r"\.md$|/\.|__pycache__", n)] + ["course.toml"]
    assert {"assignments/assignment1/checks_public.py", "assignments/assignment1/assignment.toml",
            "assignments/assignment1/data/table.csv", "solutions/assignment1/checks_hidden.py"} <= set(names)
    assert not any(n.endswith(("autograd_basics.py", ".md", ".pyc", ".hidden")) or "assignment2" in n for n in names), names


def test_the_dask_bundle_holds_the_course_half_and_its_digest_holds_on_the_worker(tmp_path):
    from grader.engine import bundle, resume
    from grader.sandbox.policy import Limits

    root = copy_course(tmp_path / "course", "assignment1")
    (root / "course.toml").write_text('title = "T"\n')
    (root / "assignments" / "assignment1" / "helper_data.py").write_text("SCALE = 2\n")
    a = load("assignment1", root=root)
    packed = bundle.pack(a, Limits())
    with zipfile.ZipFile(io.BytesIO(packed.data)) as zf:
        assert zf.namelist() == [p.relative_to(root).as_posix() for p in course_files(a)]
    into = tmp_path / "worker"
    into.mkdir()
    _, unpacked = bundle.unpack(packed, into)  # recomputes the digest there: raises if it differs
    assert resume.checks_digest(unpacked, Limits()) == packed.digest == resume.checks_digest(a, Limits())


def test_changed_course_files_regrade_exactly_that_assignment_and_grade_says_so(tmp_path):
    course = copy_course(tmp_path / "course", "assignment1", "assignment2")
    cls, out, work = small_class(tmp_path / "class"), tmp_path / "out", tmp_path / "work"
    work.mkdir()

    def grade() -> subprocess.CompletedProcess:
        proc = run_grader("grade", "assignment1", cls, "-o", out, "--course", course, "--quiet", cwd=work)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    first = grade()
    assert "graded 2 submissions" in first.stderr and "changed since the last run" not in first.stderr
    gradebook = (out / "grades.csv").read_text()
    extra = json.loads((out / "results" / "fails_stub.json").read_text())["extra_data"]
    assert set(extra) == {"problems", "key", "checks"} and extra["problems"] == ["stub"]
    # Nothing of assignment1's checks: another assignment's checks, its own README, stub and reference solution.
    for path in ("assignments/assignment2/checks_public.py", "solutions/assignment2/checks_hidden.py",
                 "assignments/assignment1/README.md", "assignments/assignment1/autograd_basics.py",
                 "solutions/assignment1/autograd_basics.py"):
        with open(course / path, "a") as f:
            f.write("\n# edited\n")
    same = grade()
    assert "graded 0 submissions (and reused 2 unchanged results)" in same.stderr, same.stderr
    assert "changed since the last run" not in same.stderr
    # A new file beside assignment1's checks (a data file they could read): every student of it, and why.
    (course / "assignments" / "assignment1" / "helper_data.py").write_text("SCALE = 1\n")
    changed = grade()
    assert "the checks of assignment1 changed since the last run: regrading 2 students" in changed.stderr
    assert "graded 2 submissions" in changed.stderr and "reused" not in changed.stderr
    assert (out / "grades.csv").read_text() == gradebook
