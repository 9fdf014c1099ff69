"""`grader check assignment2` on the solution versus one fresh `python -c "import torch"`.

Target (GRADER.md): check <= 2x the import. Usage: python benchmarks/bench_check.py [REPEATS]
"""

from __future__ import annotations

import sys

from _timing import ROOT, grader_cmd, median_of, torch_import_seconds, wall


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    solution = ROOT / "solutions" / "assignment2"
    imp = torch_import_seconds(repeats)
    check = median_of(lambda: wall(grader_cmd("check", "assignment2", "--path", solution)), repeats)
    print(f"python -c 'import torch'        median of {repeats}: {imp:.2f} s")
    print(f"grader check assignment2 (solution) median of {repeats}: {check:.2f} s")
    print(f"ratio check / import: {check / imp:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
