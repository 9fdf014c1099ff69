"""A broken course folder fails early and cleanly: the error names the file and the line to fix, comes before any
student is graded, exits 2 (GRADER.md: an input error), and `grade` leaves its output folder as it found it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SUBMISSIONS, copy_course, run_grader, small_class


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _insert_after(path: Path, anchor: str, line: str) -> int:
    """Insert ``line`` after the first line that is ``anchor``; its line number."""
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, text in enumerate(lines) if text.rstrip("\n") == anchor) + 1
    lines.insert(at, line + "\n")
    path.write_text("".join(lines))
    return at + 1


def _append(path: Path, line: str) -> int:
    text = path.read_text()
    text = text if text.endswith("\n") else text + "\n"
    path.write_text(text + line + "\n")
    return len((text + line).splitlines())


def _toml_syntax(course: Path) -> tuple[Path, int, str]:
    (course / "course.toml").write_text('title = "A course"\n[limits\ntimeout = 3\n')
    return course / "course.toml", 2, "not valid TOML"


def _toml_type(course: Path) -> tuple[Path, int, str]:
    (course / "course.toml").write_text('title = "A course"\n\n[limits]\ntimeout = "ten"\n')
    return course / "course.toml", 4, "limits.timeout must be a number of CPU seconds"


def _missing_import(course: Path) -> tuple[Path, int, str]:
    checks = course / "assignments" / "assignment1" / "checks_public.py"
    return checks, _insert_after(checks, "import torch", "import references_that_do_not_exist"), \
        "ModuleNotFoundError: No module named 'references_that_do_not_exist'"


def _raises_at_import(course: Path) -> tuple[Path, int, str]:
    checks = course / "assignments" / "assignment1" / "checks_public.py"
    return checks, _append(checks, 'raise RuntimeError("the checks broke at import")'), "RuntimeError: the checks broke at import"


def _hidden_syntax(course: Path) -> tuple[Path, int, str]:
    checks = course / "solutions" / "assignment1" / "checks_hidden.py"
    return checks, _append(checks, "x = = 1"), "SyntaxError: invalid syntax"


def _course_module_raises(course: Path) -> tuple[Path, int, str]:
    """The checks load a file of the course that fails: the checks' line, and where in that file."""
    helper = course / "assignments" / "assignment1" / "helper_data.py"
    helper.write_text("SCALE = 1\nraise ValueError('no data')\n")
    checks = course / "assignments" / "assignment1" / "checks_public.py"
    line = _insert_after(checks, "import torch", "import runpy; runpy.run_path(__file__.replace('checks_public', 'helper_data'))")
    return checks, line, f"ValueError: no data (at {helper}:2)"


#: Case -> (how to break a copy of assignment1's course, whether the output folder exists before).
CASES = {
    "course.toml with a TOML syntax error": (_toml_syntax, False),
    "course.toml with a value of the wrong type": (_toml_type, True),
    "public checks that import a missing module": (_missing_import, False),
    "public checks that raise at import": (_raises_at_import, True),
    "hidden checks with a syntax error": (_hidden_syntax, False),
    "checks that load a course file that raises": (_course_module_raises, True),
}


@pytest.fixture
def graded(tmp_path):
    """A class, and an output folder that already holds an earlier run's files."""
    cls, out = small_class(tmp_path / "class"), tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "someone.json").write_text('{"score": 1}\n')
    (out / "grades.csv").write_text("student,score\nsomeone,1\n")
    return cls, out


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_course_is_said_by_file_and_line_before_anything_is_written(tmp_path, graded, case):
    course = copy_course(tmp_path / "course", "assignment1")
    breaks, out_exists = CASES[case]
    path, line, what = breaks(course)
    cls, out = graded
    if not out_exists:
        out = tmp_path / "new" / "out"
    before = _snapshot(out) if out_exists else None
    proc = run_grader("grade", "assignment1", cls, "-o", out, "--course", course, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"{path}:{line}: " in proc.stderr and what in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "graded" not in proc.stderr
    if out_exists:
        assert _snapshot(out) == before
    else:
        assert not out.parent.exists()


def test_check_says_the_same(tmp_path):
    course = copy_course(tmp_path / "course", "assignment1")
    path, line, what = _missing_import(course)
    proc = run_grader("check", "assignment1", "--course", course, "--path", SUBMISSIONS / "assignment1" / "correct_tolist", cwd=tmp_path)
    assert proc.returncode == 2 and f"{path}:{line}: {what}" in proc.stderr, proc.stderr


def test_a_folder_without_assignments_is_no_course(tmp_path, graded):
    cls, _ = graded
    (tmp_path / "course" / "solutions").mkdir(parents=True)
    for args in (("--course", tmp_path / "course"), ()):
        env = {} if args else {"GRADER_COURSE": str(tmp_path / "course")}
        proc = run_grader("grade", "assignment1", cls, "-o", tmp_path / "new" / "out", *args, cwd=tmp_path, env=env)
        assert proc.returncode == 2 and f"no assignments/ folder in {tmp_path / 'course'}" in proc.stderr, proc.stderr
        assert not (tmp_path / "new").exists()
