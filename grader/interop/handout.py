"""The handout: what students get for one assignment, as a folder and as a zip.

``grader release ASSIGNMENT -o DIR`` writes ``DIR/<assignment>/`` (the stub,
the student README, the public checks, ``assignment.toml`` and ``INSTALL.md``
on installing the grader) and ``DIR/<assignment>.zip`` holding that folder.
The stub is regenerated from the reference solution where it is installed,
so a stale stub is never handed out. Before anything is written, every file
is scanned for what must never leave the instructor: solution markers, any
line of a solution region, any line of the hidden checks.
"""

from __future__ import annotations

from pathlib import Path

from grader.authoring import stubs as authoring
from grader.course import Assignment
from grader.errors import CourseError
from grader.reports.outputs import write_atomic, write_zip_atomic

INSTALL = """# Installing the grader for {name}

You need Python 3.10 or newer. Install the CPU build of PyTorch first, then
the grader (your instructor tells you where its wheel is, or install the
published package):

```sh
pip install torch --index-url https://download.pytorch.org/whl/cpu
pip install torch-autograder        # or: pip install torch_autograder-*.whl
```

Then, in this folder (it holds `{module}.py`):

```sh
grader check {name}                 # every public check, with points
grader check {name} -k {first}      # only the checks of one function
grader check {name} --json          # for editors and scripts
```

A failing check shows the smallest input that breaks your code, the value
expected against yours and a hint. Hidden checks are run by your instructor
when grading; they test the same functions more thoroughly, so make your
code right for every input the README allows, not only for the public checks.
"""

#: A single line this long that belongs only to a solution region or the hidden checks is a leak;
#: shorter ones ("out = step(x)") leak only as part of a run of such lines.
LONG_LINE = 40


def _norm(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _secret_lines(assignment: Assignment) -> set[str]:
    """Lines found only in a solution region or in the hidden checks (not in the public checks)."""
    secrets: set[str] = set()
    if assignment.solution is not None:
        source = assignment.solution.read_text(encoding="utf-8")
        lines = source.splitlines()
        for begin, end in authoring.solution_regions(source, name=str(assignment.solution)):
            for line in lines[begin:end - 1]:
                secrets.update(_norm(line))
    if assignment.hidden_checks is not None:
        secrets.update(line for line in _norm(assignment.hidden_checks.read_text(encoding="utf-8"))
                       if not line.startswith(("import ", "from ")))
    return secrets - set(_norm(assignment.public_checks.read_text(encoding="utf-8")))


def leaks(files: dict[str, str], assignment: Assignment) -> list[str]:
    """``file: what`` for every marker, long secret line or run of secret lines found in ``files``."""
    secrets = _secret_lines(assignment)
    found = []
    for name, text in files.items():
        for marker in (authoring.BEGIN, authoring.END, "BEGIN HIDDEN TESTS", "checks_hidden"):
            if marker in text:
                found.append(f"{name}: {marker!r}")
        lines = _norm(text)
        for i, line in enumerate(lines):
            if line in secrets and (len(line) >= LONG_LINE or (i + 1 < len(lines) and lines[i + 1] in secrets)):
                found.append(f"{name}: a line of the solution or hidden checks: {line[:60]!r}")
    return found


def handout_files(assignment: Assignment) -> dict[str, str]:
    """File name -> text of the handout."""
    solution = assignment.solution.read_text(encoding="utf-8") if assignment.solution is not None else ""
    if authoring.BEGIN in solution:
        stub = authoring.make_stub(solution, name=str(assignment.solution))
    else:
        stub = assignment.stub.read_text(encoding="utf-8")
    files = {
        f"{assignment.module}.py": stub,
        "README.md": (assignment.directory / "README.md").read_text(encoding="utf-8"),
        "checks_public.py": assignment.public_checks.read_text(encoding="utf-8"),
        "assignment.toml": (assignment.directory / "assignment.toml").read_text(encoding="utf-8"),
        "INSTALL.md": INSTALL.format(name=assignment.name, module=assignment.module, first=assignment.functions[0]),
    }
    return files


def release(assignment: Assignment, dest: Path) -> tuple[Path, Path]:
    """Write the handout folder and zip under ``dest``; refuse if anything secret would be in it."""
    files = handout_files(assignment)
    found = leaks(files, assignment)
    if found:
        raise CourseError(f"the handout of {assignment.name} would reveal: " + "; ".join(found[:5]))
    folder = dest / assignment.name
    for name, text in files.items():
        write_atomic(folder / name, text)
    archive = dest / f"{assignment.name}.zip"
    write_zip_atomic(archive, [(f"{assignment.name}/{name}", text, 0o644) for name, text in sorted(files.items())])
    return folder, archive
