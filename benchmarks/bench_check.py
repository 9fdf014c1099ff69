"""`grader check` on each assignment's solution versus one fresh `python -c "import torch"`.

Target (GRADER.md): `grader check assignment2` <= 2x the import.
Usage: python benchmarks/bench_check.py [REPEATS] [ASSIGNMENT ...]   (default: every assignment)
"""

from __future__ import annotations

import sys

from _timing import ROOT, grader_cmd, median_of, torch_import_seconds, wall


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    names = sys.argv[2:] or sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / "checks_hidden.py").is_file())
    imp = torch_import_seconds(repeats)
    print(f"python -c 'import torch'  median of {repeats}: {imp:.2f} s")
    for name in names:
        check = median_of(lambda: wall(grader_cmd("check", name, "--path", ROOT / "solutions" / name)), repeats)
        target = " (target <= 2)" if name == "assignment2" else ""
        print(f"grader check {name} (solution)  median of {repeats}: {check:.2f} s = {check / imp:.2f}x the import{target}")


if __name__ == "__main__":
    main()
