"""A Gradescope autograder for one assignment: ``grader gradescope ASSIGNMENT -o autograder.zip``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once
when it builds the image, and ``run_autograder`` per submission, with the
student's files in ``/autograder/submission``; it reads
``/autograder/results/results.json``. The zip holds:

- ``setup.sh``: installs the CPU build of PyTorch and the grader's dependencies;
- ``run_autograder``: runs :data:`RUNNER` (``run_autograder.py``);
- ``package/grader/``: this grader, imported from there (no build step);
- ``course/``: the assignment's public files and its course half
  (:func:`grader.course.course_files`: the hidden checks and every file beside
  them, data included, never the reference solution; the course's
  ``course.toml``, its limits), as ``grade`` and a Dask worker have them.

``run_autograder.py`` grades the submission exactly as ``grader grade``
does (public and hidden checks, every sandbox layer the image allows) and
copies the student's results file, already in Gradescope's format, to
``results/results.json``. ``GRADESCOPE_ROOT`` overrides ``/autograder`` for
a local trial run.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from grader.course import PACKAGE_DIR, Assignment, course_files
from grader.reports.outputs import write_zip_atomic

SETUP = """#!/usr/bin/env bash
# Gradescope image set-up: Python 3, the CPU build of PyTorch, the grader's dependencies.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null || true
pip3 install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu
pip3 install --no-cache-dir {requirements}
"""

RUN = """#!/usr/bin/env bash
ROOT="${GRADESCOPE_ROOT:-/autograder}"
exec python3 "$ROOT/source/run_autograder.py" "$ROOT"
"""

RUNNER = '''"""Grade /autograder/submission with the grader and write /autograder/results/results.json."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ASSIGNMENT = {assignment!r}
root = Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder")
source = root / "source"
results = root / "results"
results.mkdir(parents=True, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    shutil.copytree(root / "submission", tmp / "class" / "submission", symlinks=True)
    env = {{**os.environ, "PYTHONPATH": str(source / "package")}}
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "grade", ASSIGNMENT, str(tmp / "class"), "-o", str(tmp / "out"),
         "--course", str(source / "course"), "-j", "1", "--quiet"],
        env=env, capture_output=True, text=True,
    )
    graded = tmp / "out" / "results" / "submission.json"
    if proc.returncode == 0 and graded.is_file():
        shutil.copyfile(graded, results / "results.json")
    else:
        message = "The autograder could not grade this submission; your instructor has been told. " + proc.stderr[-1500:]
        (results / "results.json").write_text(json.dumps({{"score": 0, "output": message, "tests": []}}, indent=2))
'''


def requirements() -> list[str]:
    """The grader's run-time dependencies as installed here, torch excepted (set-up installs the CPU build)."""
    found = []
    for req in importlib.metadata.requires("torch-autograder") or []:
        if "extra ==" in req:
            continue
        name = re.split(r"[<>=!~; \[]", req, maxsplit=1)[0]
        if name.lower() != "torch":
            found.append(req.strip())
    return found


def members(assignment: Assignment) -> list[tuple[str, str | bytes, int]]:
    """Everything the autograder zip holds: ``(name, data, unix mode)``."""
    quoted = " ".join("'" + r.replace("'", '"') + "'" for r in requirements())
    out = [
        ("setup.sh", SETUP.format(requirements=quoted), 0o755),
        ("run_autograder", RUN, 0o755),
        ("run_autograder.py", RUNNER.format(assignment=assignment.name), 0o644),
    ]
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR)
        if path.is_file() and "__pycache__" not in rel.parts and rel.parts[0] != "_course" and path.suffix in (".py", ".ini", ".typed"):
            out.append((f"package/grader/{rel.as_posix()}", path.read_bytes(), 0o644))
    # The handout's files (stub, README, ...) and the course half a grade depends on (course_files: what `grade`
    # hashes and a Dask worker gets, data files and course.toml included, never the solution).
    root = assignment.root
    shipped = {p for p in assignment.directory.iterdir() if p.is_file()}
    shipped |= {p for p in course_files(assignment) if assignment.hidden_checks is not None or root / "solutions" not in p.parents}
    for path in sorted(shipped, key=lambda p: p.relative_to(root).as_posix()):
        out.append((f"course/{path.relative_to(root).as_posix()}", path.read_bytes(), 0o644))
    return out


def build(assignment: Assignment, dest: Path) -> Path:
    """Write the autograder zip to ``dest`` (atomically)."""
    write_zip_atomic(dest, members(assignment))
    return dest
