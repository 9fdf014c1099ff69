"""Memory over a long batch: the grader's long-lived processes must stay flat.

Grades N copies of the bundled class (examples/assignment2: correct, buggy, a
syntax error, a misnamed file, a crash) with ``-j 2`` and samples, twice a
second, the resident memory (RSS) of every process of the grader's tree. The
long-lived ones (the main process, its workers and their warm processes;
student processes live for one submission) are reported at 10%, 50% and 90%
of the batch (by results written), with the growth from 10% to 90%.
Usage: python benchmarks/bench_memory.py [SUBMISSIONS]   (default 1000)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import grader_cmd
from bench_grade import CLASS, build_class

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(root: int) -> dict[int, tuple[int, int]]:
    """``pid: (depth, rss bytes)`` for ``root`` and every descendant."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    found, frontier, depth = {}, [root], 0
    while frontier:
        for pid in frontier:
            if pid in rss:
                found[pid] = (depth, rss[pid])
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        depth += 1
    return found


def main() -> None:
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    copies = -(-wanted // len(list(CLASS.iterdir())))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = build_class(tmp / "class", copies)
        results = tmp / "out" / "results"
        started = time.monotonic()
        proc = subprocess.Popen(grader_cmd("grade", "assignment2", tmp / "class", "-o", tmp / "out", "-j", "2", "--quiet"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, dict]] = []  # (share of the batch done, tree)
        while proc.poll() is None:
            done = sum(1 for _ in results.glob("*.json")) / n if results.is_dir() else 0.0
            samples.append((done, _tree(proc.pid)))
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            sys.exit(f"grade failed ({proc.returncode}): {proc.stderr.read()[-2000:]}")
    seen: dict[int, int] = {}
    for _, tree in samples:
        for pid in tree:
            seen[pid] = seen.get(pid, 0) + 1
    long_lived = sorted((pid for pid, k in seen.items() if k > len(samples) // 2), key=lambda p: (samples[-1][1].get(p, (9, 0))[0], p))

    def at(pid: int, share: float) -> float:
        for done, tree in samples:
            if done >= share and pid in tree:
                return tree[pid][1] / 2**20
        return float("nan")

    print(f"graded {n} submissions with -j 2 in {elapsed:.0f} s ({len(samples)} samples)")
    print("process (depth in the tree)      RSS MB at 10%    50%    90%   growth 10%->90%")
    worst = 0.0
    for pid in long_lived:
        depth = max(tree[pid][0] for _, tree in samples if pid in tree)
        a, b, c = at(pid, 0.1), at(pid, 0.5), at(pid, 0.9)
        worst = max(worst, c - a)
        print(f"pid {pid:<7} depth {depth}                {a:8.1f} {b:8.1f} {c:8.1f}   {c - a:+.1f} MB")
    print(f"largest growth of a long-lived process from 10% to 90% of the batch: {worst:+.1f} MB")


if __name__ == "__main__":
    main()
