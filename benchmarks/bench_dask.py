"""Dask against local workers on the same cores, and the figures a cluster projection needs.

1. Grades N assignment2 submissions (the bundled class copied over: correct,
   buggy, a syntax error, a misnamed file, an ``os._exit``) with ``-j 2`` and
   with ``--dask-local 2`` (a LocalCluster of two single-threaded workers),
   one after the other in this run, into fresh folders; the gradebooks must be
   identical. Reports both times and the Dask overhead ratio (target <= 1.10).
2. The client's own work per submission: the same command once more on the
   finished output (everything reused: locate, hash, read back, gradebook and
   class report; per submission = the difference with a 12-student class over
   the difference in size), and writing one student's three files (:class:`grader.engine.records.Writer`).
3. Dask's cost per task: M empty tasks through a LocalCluster of two workers
   with the grader's submit loop (two tasks in flight per worker thread).
Usage: python benchmarks/bench_dask.py [SUBMISSIONS] [EMPTY_TASKS]   (default 1000, 2000)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _timing import ROOT, grader_cmd, wall
from bench_grade import CLASS, build_class


def _noop(i: int) -> int:
    return i


def empty_tasks(m: int) -> tuple[float, float, float]:
    """Wall seconds per task, the scheduler thread's CPU seconds per task, and the cluster's start-up, for ``m``
    empty tasks on a LocalCluster of 2 workers."""
    from distributed import Client, LocalCluster, as_completed

    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        startup = time.perf_counter() - started
        loop_cpu = client.run_on_scheduler(time.thread_time)
        t0 = time.perf_counter()
        todo = iter(range(m))
        futures = as_completed(loop=client.loop)
        in_flight = 0
        for i in todo:
            futures.add(client.submit(_noop, i, pure=False))
            in_flight += 1
            if in_flight >= 4:
                break
        for _ in futures:
            in_flight -= 1
            nxt = next(todo, None)
            if nxt is not None:
                futures.add(client.submit(_noop, nxt, pure=False))
        per_task = (time.perf_counter() - t0) / m
        # CPU of the scheduler's event-loop thread (shared with the client's comms in a LocalCluster): an upper bound.
        loop_per_task = (client.run_on_scheduler(time.thread_time) - loop_cpu) / m
    return per_task, loop_per_task, startup


def write_cost(out: Path, repeats: int = 200) -> float:
    """Seconds to write one student's feedback and results files (atomically, fsynced) into ``out``."""
    from grader.engine import records

    sample = next((out / "results").glob("*.json"))
    record = records.Record(
        student="x", results_json=sample.read_text(), feedback_md=(out / "feedback" / f"{sample.stem}.md").read_text(),
        feedback_html=(out / "feedback" / f"{sample.stem}.html").read_text(), row={"score": 1.0, "problems": []},
    )
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, records.Writer(Path(tmp), "bench") as writer:
        t0 = time.perf_counter()
        for i in range(repeats):
            writer.write(records.Record(**{**record.__dict__, "student": f"s{i}"}))
        return (time.perf_counter() - t0) / repeats


def main() -> None:
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    tasks = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    copies = -(-wanted // len(list(CLASS.iterdir())))
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = build_class(tmp / "class", copies)
        print(f"{n} submissions, {os.cpu_count()} cores", flush=True)
        t_local = wall(grader_cmd("grade", "assignment2", tmp / "class", "-o", tmp / "local", "-j", 2, "--quiet"))
        print(f"-j 2:           {t_local:.1f} s ({t_local / n * 1000:.0f} ms per submission, {2 * t_local / n:.3f} core-s)", flush=True)
        t_dask = wall(grader_cmd("grade", "assignment2", tmp / "class", "-o", tmp / "dask", "--dask-local", 2, "--quiet"))
        print(f"--dask-local 2: {t_dask:.1f} s ({t_dask / n * 1000:.0f} ms per submission)", flush=True)
        same = (tmp / "local" / "grades.csv").read_bytes() == (tmp / "dask" / "grades.csv").read_bytes()
        if not same:
            sys.exit("the two gradebooks differ: the run is void")
        print(f"Dask overhead: {t_dask / t_local:.3f}x (target <= 1.10); gradebooks identical", flush=True)
        t_reuse = wall(grader_cmd("grade", "assignment2", tmp / "class", "-o", tmp / "dask", "-j", 1, "--quiet"))
        wall(grader_cmd("grade", "assignment2", CLASS, "-o", tmp / "small", "-j", 1, "--quiet"))
        t_small = wall(grader_cmd("grade", "assignment2", CLASS, "-o", tmp / "small", "-j", 1, "--quiet"))
        small = len(list(CLASS.iterdir()))
        marginal = (t_reuse - t_small) / (n - small)
        print(f"client final pass, all reused: {n} in {t_reuse:.1f} s, {small} in {t_small:.1f} s: "
              f"{marginal * 1000:.2f} ms per submission", flush=True)
        print(f"client writing one student's files: {write_cost(tmp / 'dask') * 1000:.2f} ms", flush=True)
    per_task, loop_cpu, startup = empty_tasks(tasks)
    print(f"Dask, {tasks} empty tasks on 2 workers: {per_task * 1000:.2f} ms per task end to end, "
          f"{loop_cpu * 1000:.2f} ms CPU of the scheduler's thread per task (cluster start {startup:.1f} s)")


if __name__ == "__main__":
    main()
