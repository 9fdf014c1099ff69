"""Grading throughput: seconds per submission versus one fresh torch import.

Grades the bundled class (examples/assignment2) copied N times over, and one
submission alone; per submission = (T_N - T_1) / (N - 1), so interpreter
start-up, collection and the warm process are not counted per student.
One worker (``-j 1``): the cost of a submission itself; bench_class.py times ``-j 2``.
Target (issue 3): per submission <= 0.3x one fresh torch import.
Usage: python benchmarks/bench_grade.py [COPIES]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _timing import ROOT, grader_cmd, torch_import_seconds, wall

CLASS = ROOT / "examples" / "assignment2"


def build_class(dest: Path, copies: int) -> int:
    dest.mkdir()
    n = 0
    for i in range(copies):
        for entry in sorted(CLASS.iterdir()):
            target = dest / f"{entry.stem}_{i}{entry.suffix}"
            (shutil.copytree if entry.is_dir() else shutil.copy)(entry, target)
            n += 1
    return n


def main() -> None:
    copies = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    imp = torch_import_seconds(5)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = build_class(tmp / "class", copies)
        one = tmp / "one"
        one.mkdir()
        shutil.copytree(CLASS / "alice", one / "alice")
        t_one = wall(grader_cmd("grade", "assignment2", one, "-o", tmp / "out1", "-j", 1))
        t_all = wall(grader_cmd("grade", "assignment2", tmp / "class", "-o", tmp / "outN", "-j", 1))
    per = (t_all - t_one) / (n - 1)
    print(f"fresh torch import (median of 5): {imp:.2f} s")
    print(f"grade 1 submission: {t_one:.2f} s; grade {n} submissions ({copies} copies of the bundled class): {t_all:.2f} s")
    print(f"per submission: {per:.3f} s = {per / imp:.2f}x one torch import (target <= 0.3)")
    print(f"projected class of 200: {t_one + 199 * per:.0f} s")


if __name__ == "__main__":
    main()
