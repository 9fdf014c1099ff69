"""`grader grade --scheduler` / `--dask-local`: a real Dask scheduler and workers on 127.0.0.1 give the gradebook
a local run gives, and lose nothing when a worker is SIGKILLed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, copy_course, run_grader, small_class
from dask_faults import MARKER

HAVE_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(
    not HAVE_DASK and not os.environ.get("GRADER_REQUIRE_DASK"), reason="Dask's distributed is not installed (pip install -e '.[dask]')"
)
FAULTS = Path(__file__).parent / "dask_faults.py"
LIMITS = ("--timeout", "3", "--memory", "400")
EXTRA = [
    SUBMISSIONS / "assignment2_broken" / "broken_segfault_mse_loss",
    SUBMISSIONS / "assignment2_hostile" / "hostile_read_hidden_files",
    SUBMISSIONS / "assignment2_hostile" / "hostile_forge_outputs",
    SUBMISSIONS / "assignment2_hostile" / "hostile_parent_memory",
]


def _require_dask() -> None:
    if not HAVE_DASK:
        pytest.fail("GRADER_REQUIRE_DASK is set (as in CI) but Dask's distributed is not installed")


def _mixed_class(folder: Path) -> Path:
    """16 students: the bundled class (correct, buggy, syntax error, misnamed file, os._exit) and a segfault,
    three hostile ones (one hunts the filesystem for hidden checks)."""
    shutil.copytree(ROOT / "examples" / "assignment2", folder)
    for entry in EXTRA:
        shutil.copytree(entry, folder / entry.name)
    return folder


def _dask_log(out: Path) -> list[str]:
    """The students the client wrote while grading on Dask, from grade.log (the final pass then reuses them)."""
    names, on_dask = [], False
    for line in (out / "grade.log").read_text().splitlines():
        if " grading assignment2" in line:
            on_dask = " on Dask: " in line
        elif on_dask:
            names.append(line.split(" ", 1)[1].split(":", 1)[0])
    return names


def _rows(csv_text: str) -> dict[str, str]:
    return {line.split(",", 1)[0]: line for line in csv_text.splitlines()[1:]}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The mixed class and its gradebook from a local `-j 2` run."""
    tmp = tmp_path_factory.mktemp("dask")
    folder = _mixed_class(tmp / "class")
    local = run_grader("grade", "assignment2", folder, "-o", tmp / "local", "-j", "2", *LIMITS)
    assert local.returncode == 0, local.stderr[-3000:]
    assert "with 2 workers" in local.stderr or len(os.sched_getaffinity(0)) < 2
    return folder, (tmp / "local" / "grades.csv").read_text()


class Cluster:
    """A `dask scheduler` and two `dask worker` processes (each one single-threaded worker under a nanny)."""

    def __init__(self, folder: Path):
        self.file = folder / "scheduler.json"
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(self.file), "--no-dashboard"],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )]
        deadline = time.monotonic() + 60
        while not self.file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.procs += [
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(self.file), "--nthreads", "1",
                 "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard", "--preload", str(FAULTS)],
                cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            for _ in range(2)
        ]
        from distributed import Client

        self.client = Client(scheduler_file=str(self.file), timeout=60)
        self.client.wait_for_workers(2, timeout=120)

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the nanny, its worker and the worker's warm process
            except ProcessLookupError:
                pass
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _require_dask()
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    yield running
    running.close()


@needs_dask
def test_cluster_gradebook_is_byte_identical_to_a_local_run(mixed, cluster, tmp_path):
    folder, local = mixed
    out = tmp_path / "out"
    proc = run_grader("grade", "assignment2", folder, "-o", out, "--scheduler", cluster.file, *LIMITS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "graded 16 submissions on Dask (2 workers)" in proc.stderr
    assert (out / "grades.csv").read_text() == local
    rows = _rows(local)
    assert rows["hostile_read_hidden_files"].split(",")[1:4] == ["100", "100", ""]  # found no check on any worker
    assert rows["broken_segfault_mse_loss"].split(",")[3] == "crash" and rows["ivan"].split(",")[3] == "syntax"
    # The same command again (by address this time) grades nothing: every result is reused.
    again = run_grader("grade", "assignment2", folder, "-o", out, "--scheduler", cluster.client.scheduler.address, *LIMITS)
    assert again.returncode == 0 and "graded 0 submissions on Dask (2 workers) (and reused 16 unchanged results)" in again.stderr


@needs_dask
def test_a_course_elsewhere_grades_on_the_workers_and_its_changes_regrade(cluster, tmp_path):
    """--course from another folder: the workers get the course half of the assignment (course.toml and a file
    beside the checks included) and key results exactly as the client does."""
    course = copy_course(tmp_path / "course", "assignment1")
    (course / "course.toml").write_text('title = "On Dask"\n\n[limits]\ntimeout = 3\nmemory = 400\n')
    cls, out, work = small_class(tmp_path / "class"), tmp_path / "out", tmp_path / "work"
    work.mkdir()
    args = ("grade", "assignment1", cls, "-o", out, "--course", course, "--scheduler", cluster.file, "--quiet")
    proc = run_grader(*args, cwd=work)
    assert proc.returncode == 0 and "graded 2 submissions on Dask (2 workers)" in proc.stderr, proc.stderr[-3000:]
    gradebook = (out / "grades.csv").read_text()
    (course / "assignments" / "assignment1" / "helper_data.py").write_text("SCALE = 1\n")
    again = run_grader(*args, cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "the checks of assignment1 changed since the last run: regrading 2 students" in again.stderr
    assert "graded 2 submissions on Dask (2 workers)" in again.stderr and (out / "grades.csv").read_text() == gradebook


@needs_dask
def test_sigkill_of_a_worker_mid_batch_loses_and_duplicates_nothing(mixed, cluster, tmp_path):
    folder, local = mixed
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "grade", "assignment2", str(folder), "-o", str(out), "--scheduler", str(cluster.file), *LIMITS],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    pids = cluster.client.run(os.getpid)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        written = len(list((out / "results").glob("*.json"))) if (out / "results").is_dir() else 0
        busy = [w for w, keys in cluster.client.processing().items() if keys and w in pids]
        if written >= 2 and busy:
            victim = pids[busy[0]]
            os.kill(victim, signal.SIGKILL)  # the worker process itself, mid-task; its nanny starts another
        time.sleep(0.05)
    assert victim is not None, "the batch ended before a worker could be killed mid-task"
    stderr = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, stderr[-3000:]
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    assert (out / "grades.csv").read_text() == local
    assert sorted(_dask_log(out)) == sorted(_rows(local)), "each student is written exactly once"
    cluster.client.wait_for_workers(2, timeout=120)  # the nanny's new worker is back for later tests


@needs_dask
def test_dask_local_and_a_submission_that_keeps_killing_its_workers(mixed, tmp_path):
    """`--dask-local 2` (a LocalCluster; its workers get the test's fault preload through Dask's config): the
    task holding the killer is re-graded without it, and the killer alone is a crash after Dask's allowed failures."""
    _require_dask()
    folder, local = mixed
    small = tmp_path / "class"
    small.mkdir()
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"):
        shutil.copytree(folder / name, small / name)
    killer = small / "zed" / "linear_regression.py"
    killer.parent.mkdir()
    killer.write_text((folder / "alice" / "linear_regression.py").read_text() + "\n" + MARKER.decode() + "\n")
    env = {"DASK_DISTRIBUTED__WORKER__PRELOAD": json.dumps([str(FAULTS)]), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    proc = run_grader("grade", "assignment2", small, "-o", tmp_path / "out", "--dask-local", "2", *LIMITS, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows((tmp_path / "out" / "grades.csv").read_text())
    expected = _rows(local)
    assert {k: v for k, v in rows.items() if k != "zed"} == {k: expected[k] for k in rows if k != "zed"}
    zed = rows["zed"].split(",")
    assert zed[1] == "0" and zed[3] == "crash", rows["zed"]
    results = json.loads((tmp_path / "out" / "results" / "zed.json").read_text())
    assert "alone, killed the worker process grading it" in results["tests"][0]["output"]
    # Not retried forever: a re-run keeps the verdict without running it again.
    again = run_grader("grade", "assignment2", small, "-o", tmp_path / "out", "-j", "1", *LIMITS)
    assert again.returncode == 0 and "graded 0 submissions (and reused 10 unchanged results)" in again.stderr


@pytest.mark.parametrize("flag", [["--scheduler", "tcp://127.0.0.1:8786"], ["--dask-local", "2"]])
def test_the_flags_without_the_dask_extra_say_what_to_install(tmp_path, flag):
    """As if `distributed` were not installed: importing it fails exactly as it would."""
    code = "import sys; sys.modules['distributed'] = None; from grader.cli import main; sys.argv[0] = 'grader'; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "grade", "assignment2", str(ROOT / "examples" / "assignment2"), "-o", str(tmp_path / "out"), *flag],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "needs Dask's distributed scheduler" in proc.stderr and "pip install 'torch-autograder[dask]'" in proc.stderr
    assert not (tmp_path / "out" / "results").exists()


@needs_dask
def test_losing_the_scheduler_stops_the_run_clearly_and_a_rerun_resumes(mixed, tmp_path):
    _require_dask()
    folder, local = mixed
    doomed = Cluster(tmp_path)
    out = tmp_path / "out"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.cli", "grade", "assignment2", str(folder), "-o", str(out),
             "--scheduler", str(doomed.file), *LIMITS],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "results").is_dir() and len(list((out / "results").glob("*.json"))) >= 2:
                os.killpg(doomed.procs[0].pid, signal.SIGKILL)  # the scheduler
                break
            time.sleep(0.05)
        stderr = proc.communicate(timeout=300)[1]
    finally:
        doomed.close()
    assert proc.returncode == 2, stderr[-3000:]
    assert "scheduler" in stderr.lower() and "again" in stderr.lower(), stderr[-2000:]
    kept = len(list((out / "results").glob("*.json")))
    assert 2 <= kept < 16 and not (out / "grades.csv").exists()
    # The same batch, locally this time, continues from what OUT holds and gives the local gradebook.
    again = run_grader("grade", "assignment2", folder, "-o", out, "-j", "1", *LIMITS)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"reused {kept} unchanged results" in again.stderr
    assert (out / "grades.csv").read_text() == local
