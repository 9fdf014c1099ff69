"""What the sandbox layers cost per student process.

From a process that has imported torch (as the warm process has), start a
child and wait for it to finish, N times each way:

- bare: fork, ``setsid``, exit;
- confined: fork, ``setsid``, the keeper's namespaces and second fork, then in
  the student process every layer of :func:`grader.sandbox.limits.apply`
  (its own memory cgroup, the allowlist root, rlimits, Landlock, dropping root, seccomp) and the monitor, exit.

Overhead per student process = median(confined) - median(bare). Target
(sandbox hardening issue): under 20 ms. It also prints which layers were
active, so a figure is never reported for a weaker sandbox than claimed.
Usage: python benchmarks/bench_sandbox.py [N]   (default 200)
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch  # noqa: F401 - the children are forked from a warm torch process, as in grading

from grader.sandbox import cgroup, integrity, limits, namespaces, policy, privileges, seccomp
from grader.sandbox import child  # noqa: F401 - the harness, imported before any fork as in the warm process
from grader.sandbox.protocol import frames


def _config(scratch: str) -> dict:
    work = os.path.join(scratch, "work")
    os.makedirs(work, exist_ok=True)
    return {
        "scratch": scratch, "work": work, "uid": privileges.pick(), "memory_mb": 1024, "cpu_seconds": 60, "file_size_mb": 16,
        "filesystem": policy.filesystem(hidden=[Path(tempfile.gettempdir()) / "hidden-by-the-benchmark"]),
    }


def _once(confined: bool, config: dict, report_fd: int | None, pool: cgroup.Pool) -> float:
    started = time.perf_counter()
    group, why = pool.create(config["memory_mb"]) if confined else (None, None)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if confined:
                layers = {"session": None, "cgroup": cgroup.enter(group, why), **namespaces.unshare()}
                if layers["pid-namespace"] is None:
                    student = os.fork()
                    if student != 0:
                        if group is not None and layers["cgroup"] is None:
                            group.leave()
                        namespaces.keep(student)
                layers = limits.apply(config, layers)
                integrity.install(report_fd if report_fd is not None else 2, frames.PREFIX)
                layers["monitor"] = None
                if report_fd is not None:
                    os.write(report_fd, json.dumps(layers).encode())
        finally:
            os._exit(0)
    if confined:
        pool.track(pid, group)
    os.waitpid(pid, 0)
    if confined:
        pool.reaped(pid)
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    cwd = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="grader-bench-")
    try:
        config = _config(scratch)
        pool = cgroup.Pool(None)
        seccomp.pin_threads()
        gc.collect()
        gc.freeze()  # as the warm process does before its first fork
        r, w = os.pipe()
        _once(True, config, w, pool)
        os.close(w)
        layers = json.loads(os.read(r, 1 << 16))
        os.close(r)
        bare = [_once(False, config, None, pool) for _ in range(n)]
        confined = [_once(True, config, None, pool) for _ in range(n)]
        pool.close()
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch, ignore_errors=True)
    b, c = statistics.median(bare), statistics.median(confined)
    active = [k for k, v in layers.items() if v is None]
    print(f"layers active: {len(active)} of {len(layers)}: {', '.join(active)}")
    for k, v in layers.items():
        if v is not None:
            print(f"  inactive: {k} ({v})")
    print(f"bare fork + exit (median of {n}): {b * 1000:.1f} ms; with every layer: {c * 1000:.1f} ms")
    print(f"overhead of the sandbox layers per student process: {(c - b) * 1000:.1f} ms (target < 20 ms)")


if __name__ == "__main__":
    main()
