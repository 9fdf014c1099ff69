"""A grade depends on the submission, not on the machine's load.

Grades N mixed assignment2 submissions (the correct and one-bug fixtures of
``tests/submissions/assignment2`` copied round-robin, one submission that
hangs in ``sgd_step`` and one that segfaults) with ``-j 2 --timeout 1``,
first on the machine as it is, then while busy loops oversubscribe the cores
K times (K x cores loops, e.g. 12 on 2 cores for K = 6; they end with the
run). Reports, per level, the time the batch took and the rows of
``grades.csv`` that differ from the first run (the target is none).

``correct_loops`` is left out: its ``train`` needs about 1 s of CPU time,
the limit itself, so that it times out or not by a few percent of CPU time
(which varies on a shared machine), load or no load.

With ``--grader DIR`` the same runs use the grader and course found in
``DIR`` (an older checkout, e.g. ``git archive <commit> | tar -x -C DIR``)
to show what the load did to its grades. With ``--nice N`` (N < 0, as root)
the busy loops run at a higher priority than the grader, which then gets
far less than its share of the cores.
Usage: python benchmarks/bench_load.py [SUBMISSIONS] [LEVELS] [--grader DIR] [--nice N]   (default 100, 0,3,6)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import ROOT, grader_cmd

FIXTURES = ROOT / "tests" / "submissions"
SLOW = {"correct_loops"}


def build_class(folder: Path, n: int) -> int:
    """``n`` submissions: correct and one-bug fixtures in turn, one hang and one segfault."""
    fixtures = sorted(p for p in (FIXTURES / "assignment2").iterdir() if p.name not in SLOW and p.name != "fails_stub")
    correct = [p for p in fixtures if p.name.startswith("correct_")]
    buggy = [p for p in fixtures if p.name.startswith(("fails_", "partial_"))]
    broken = [FIXTURES / "assignment2_broken" / "broken_hang_sgd_step", FIXTURES / "assignment2_broken" / "broken_segfault_mse_loss"]
    for entry in broken:
        shutil.copytree(entry, folder / entry.name)
    for i in range(n - len(broken)):
        source = (correct, buggy)[i % 2][(i // 2) % len((correct, buggy)[i % 2])]
        shutil.copytree(source, folder / f"{source.name}_{i:03d}")
    return n


@contextlib.contextmanager
def busy(loops: int, seconds: float = 3600, nice: int = 0):
    """``loops`` busy loops, ended (by their pids) when the block ends, or by themselves after ``seconds``;
    ``nice``: their scheduling priority (below 0, above the grader's: root only)."""
    code = f"import os, time\nos.nice({nice})\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(loops)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def rows(csv_text: str) -> dict[str, str]:
    return {line.split(",", 1)[0]: line for line in csv_text.splitlines()[1:]}


def grade(folder: Path, out: Path, env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(grader_cmd("grade", "assignment2", folder, "-o", out, "-j", 2, "--timeout", 1, "--quiet"),
                          cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"grade failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    args = sys.argv[1:]
    env, cwd, nice = dict(os.environ), ROOT, 0
    if "--nice" in args:
        i = args.index("--nice")
        nice = int(args[i + 1])
        del args[i:i + 2]
    if "--grader" in args:
        i = args.index("--grader")
        cwd = Path(args[i + 1]).resolve()  # `python -m` imports from its working folder first
        env["PYTHONPATH"] = str(cwd)
        del args[i:i + 2]
    n = int(args[0]) if args else 100
    levels = [int(k) for k in (args[1] if len(args) > 1 else "0,3,6").split(",")]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_class(tmp / "class", n)
        print(f"{n} submissions, {cores} cores, -j 2 --timeout 1, grader from {cwd}", flush=True)
        first = None
        for k in levels:
            out = tmp / f"out-{k}"
            with busy(k * cores, nice=nice):
                took = grade(tmp / "class", out, env, cwd)
            book = rows((out / "grades.csv").read_text())
            if first is None:
                first, differ = book, []
            else:
                differ = sorted(name for name in first if book.get(name) != first[name])
            problems = sum(1 for line in book.values() if line.split(",")[3])
            print(f"{k}x oversubscribed ({k * cores} busy loops{f' at nice {nice}' if nice and k else ''}): {took:.1f} s, {len(differ)} rows differ from the first run"
                  f" ({problems} rows with a problem code)", flush=True)
            for name in differ[:20]:
                print(f"  {first[name]}\n  {book.get(name)}", flush=True)


if __name__ == "__main__":
    main()
