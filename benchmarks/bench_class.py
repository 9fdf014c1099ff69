"""A class of 200 assignment2 submissions: `grader grade -j 2` against nbgrader's `autograde`, in one run.

The class is generated deterministically from the test fixtures, cycling
through each pool in sorted order with, per 20 students, 10 correct
(tests/submissions/assignment2/correct_*), 7 with one bug (fails_*) and 3
broken (tests/submissions/assignment2_broken/: syntax, encoding, import error,
missing package, missing train, misnamed file, stub, empty folder, SystemExit
in forward, os._exit in zero_grad). The hangs, memory bombs, 10 MB prints
and segfaults are left out: they cost their time limit (or the kernel) in any
grader, so they would time the limits, not the graders.

Ours: `grader grade assignment2 CLASS -o OUT -j 2`, one wall time; per
submission = that wall / N, start-up, collection and the warm process
included. Targets: under 120 s for 200, and per submission <= 0.3x one fresh
`python -c "import torch"` (median of 5, measured in the same run).

nbgrader: a real course in a temporary folder (see _nbgrader_course.py: one
solution cell, a read-only setup cell, one autograded test cell per grader
check with the same points and the same Hypothesis example counts and
settings). Each student's `submitted/<student>/assignment2/` notebook is the
released one with the solution cell holding the student's module (misnamed
file or empty folder: the released stub as is). One wall time of
`nbgrader autograde assignment2 --create --force` over the whole class; target:
at least 10x ours. Both gradebooks are read back: a correct submission must
score 100 and a stub 0 in each. The two agree on every correct and one-bug
fixture; they differ where the notebook form changes the failure: an error
raised at the end of the module (import_error) or undecodable bytes
(encoding) leave the functions defined in a notebook, and os._exit kills the
kernel, so autograde fails that student's notebook (no grade).

Usage: python benchmarks/bench_class.py [--students N] [--skip-nbgrader]
nbgrader is not a project dependency: `pip install nbgrader` (it leaves torch alone).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _timing import ROOT, grader_cmd, torch_import_seconds, wall

FIXTURES = ROOT / "tests" / "submissions"
BROKEN = ["stub", "exit_zero_grad", "syntax", "encoding", "empty_folder", "misnamed",
          "import_error", "import_missing_package", "missing_train", "system_exit_forward"]
PATTERN = "CFCBCFCFCCBCFCFCFBCF"  # per 20 students: 10 Correct, 7 one-bug (Fails), 3 Broken
STUBS = {"fails_stub", "broken_stub", "broken_empty_folder", "broken_misnamed"}  # graded on the stub


def build_class(dest: Path, n: int) -> dict[str, Path]:
    """``dest/student_NNN/``: a copy of a fixture folder; returns student -> fixture."""
    pools = {
        "C": sorted((FIXTURES / "assignment2").glob("correct_*")),
        "F": sorted((FIXTURES / "assignment2").glob("fails_*")),
        "B": [FIXTURES / "assignment2_broken" / f"broken_{name}" for name in BROKEN],
    }
    used = Counter()
    students = {}
    for i in range(n):
        kind = PATTERN[i % len(PATTERN)]
        fixture = pools[kind][used[kind] % len(pools[kind])]
        used[kind] += 1
        students[f"student_{i:03d}"] = fixture
        shutil.copytree(fixture, dest / f"student_{i:03d}")
    return students


def check(scores: dict[str, float | None], students: dict[str, Path], who: str, *, fatal: bool) -> None:
    """Every correct submission must get 100 and every stub 0: ours or the run is void; nbgrader's
    notebook port of the checks is reported, not trusted (its scores are only a sanity check)."""
    bad = [f"{s} ({f.name}): {scores.get(s)}" for s, f in students.items()
           if (f.name.startswith("correct_") and scores.get(s) != 100) or (f.name in STUBS and scores.get(s) != 0)]
    if bad and fatal:
        sys.exit(f"{who}: unexpected scores: " + "; ".join(bad))
    if bad:
        print(f"note: {who} gave unexpected scores to {len(bad)} students: " + "; ".join(bad[:5]))


def grade_ours(tmp: Path, students: dict[str, Path]) -> tuple[float, dict[str, float]]:
    took = wall(grader_cmd("grade", "assignment2", tmp / "class", "-o", tmp / "out", "-j", 2))
    with open(tmp / "out" / "grades.csv", newline="") as f:
        scores = {row["student"]: float(row["score"]) for row in csv.DictReader(f)}
    if set(scores) != set(students):
        sys.exit(f"grader: {len(scores)} rows in grades.csv for {len(students)} students")
    check(scores, students, "grader", fatal=True)
    return took, scores


def grade_nbgrader(tmp: Path, students: dict[str, Path]) -> tuple[float, dict[str, float | None]]:
    import _nbgrader_course as course

    root = tmp / "course"
    released = course.build_course(root, (ROOT / "solutions" / "assignment2" / "linear_regression.py").read_text())
    for student, fixture in students.items():
        module = fixture / "linear_regression.py"
        course.submit(root, released, student, module if module.is_file() else None)
    took = wall(course.nbgrader_cmd("autograde", course.ASSIGNMENT, "--create", "--force"), cwd=root)
    scores = course.scores(root, list(students))
    if all(v is None for v in scores.values()):
        sys.exit("nbgrader autograde produced no grades")
    check(scores, students, "nbgrader", fatal=False)
    return took, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--skip-nbgrader", action="store_true")
    args = ap.parse_args()
    n = args.students
    run_nbgrader = not args.skip_nbgrader
    if run_nbgrader and importlib.util.find_spec("nbgrader") is None:
        print("nbgrader is not installed, so only our grader is timed. To compare: pip install nbgrader "
              "(it does not replace torch; check with `pip install --dry-run nbgrader`).")
        run_nbgrader = False

    imp = torch_import_seconds(5)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "class").mkdir()
        students = build_class(tmp / "class", n)
        kinds = Counter(f.name.split("_")[0] for f in students.values())
        ours, our_scores = grade_ours(tmp, students)
        if run_nbgrader:
            theirs, nb_scores = grade_nbgrader(tmp, students)

    print(f"class: {n} students: {kinds['correct']} correct, {kinds['fails']} with one bug, {kinds['broken']} broken")
    print(f"fresh `python -c 'import torch'` (median of 5): {imp:.2f} s")
    per = ours / n
    print(f"grader grade -j 2: {ours:.1f} s for {n} (target for 200: < 120 s); per submission (whole wall / {n}, "
          f"start-up included): {per:.3f} s = {per / imp:.2f}x one torch import (target <= 0.3)")
    if not run_nbgrader:
        return
    graded = sum(v is not None for v in nb_scores.values())
    print(f"nbgrader autograde: {theirs:.1f} s for {n} ({graded} graded, {n - graded} failed); per submission: {theirs / n:.2f} s "
          f"= {theirs / n / imp:.2f}x one torch import")
    print(f"ratio nbgrader / grader: {theirs / ours:.1f}x: the grader is that much faster (target >= 10)")
    differ = sorted({(students[s].name, our_scores[s], nb_scores[s]) for s in students if our_scores[s] != nb_scores[s]})
    print(f"same score in both gradebooks: {n - sum(our_scores[s] != nb_scores[s] for s in students)} of {n}")
    for name, a, b in differ:
        print(f"  differs: {name}: grader {a:g}, nbgrader {'no grade (autograde failed on it)' if b is None else f'{b:g}'}")


if __name__ == "__main__":
    main()
