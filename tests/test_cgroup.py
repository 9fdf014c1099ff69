"""The cgroup layer's parts: finding the memory controller, one cgroup's limit, its OOM count, its removal."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from grader.sandbox import cgroup


def _fork_into(group: cgroup.Group, mb: int) -> int:
    """A child that moves into ``group`` and then touches ``mb`` MB; its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            group.enter()
            held = [bytearray(1 << 20) for _ in range(mb)]
            time.sleep(60 if held else 0)
        finally:
            os._exit(0)
    return pid


@pytest.mark.skipif(cgroup.locate()[0] is None, reason="no memory cgroup can be created here")
def test_a_cgroup_limits_its_processes_together_and_is_removed_when_reaped():
    pool = cgroup.Pool()
    group, why = pool.create(64)
    assert why is None and os.path.isdir(group.path)
    limit_file = "memory.max" if group.version == 2 else "memory.limit_in_bytes"
    assert int(open(os.path.join(group.path, limit_file)).read()) == (64 + cgroup.MARGIN_MB) << 20
    keeper = os.fork()  # stands for the keeper: two children in its cgroup, 120 MB each, too much together
    if keeper == 0:
        kids = [_fork_into(group, 120) for _ in range(2)]
        statuses = [os.waitpid(k, 0)[1] for k in kids]
        os._exit(sum(1 for s in statuses if os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL))
    pool.track(keeper, group)
    give_up = time.monotonic() + 60
    while group.oom_kills() == 0 and time.monotonic() < give_up:
        time.sleep(0.05)
    os.kill(keeper, signal.SIGKILL)  # the survivor sleeps: the pool ends it when the keeper is reaped
    os.waitpid(keeper, 0)
    status = pool.reaped(keeper)
    assert status["oom_kills"] >= 1 and status["memory_peak"] <= (64 + cgroup.MARGIN_MB) << 20
    assert not os.path.exists(group.path) and pool.reaped(keeper) == {}


def test_cgroup_v2_is_found_and_set_up_where_its_memory_controller_is_delegated(tmp_path, monkeypatch):
    """A cgroup2 mount whose grader cgroup offers the memory controller (files stand for the kernel's)."""
    base = tmp_path / "grader.service"
    base.mkdir()
    (base / "cgroup.controllers").write_text("cpu io memory pids\n")
    (base / "cgroup.subtree_control").write_text("\n")
    monkeypatch.setattr(cgroup, "_mounts", lambda: [(str(tmp_path), "/", "cgroup2", {"rw"})])
    monkeypatch.setattr(cgroup, "_own_paths", lambda: {"": "/grader.service"})
    assert cgroup.locate() == (str(base), 2, None)
    assert (base / "cgroup.subtree_control").read_text() == "+memory"
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777):  # the kernel's files of a new cgroup
        real_mkdir(path, mode)
        for name in ("memory.swap.max", "memory.oom.group"):
            Path(path, name).write_text("max\n")

    monkeypatch.setattr(os, "mkdir", mkdir)
    group, why = cgroup.Pool().create(100)
    assert why is None and group.version == 2
    files = {f: open(os.path.join(group.path, f)).read() for f in ("memory.max", "memory.swap.max", "memory.oom.group")}
    assert files == {"memory.max": str((100 + cgroup.MARGIN_MB) << 20), "memory.swap.max": "0", "memory.oom.group": "1"}
    Path(group.path, "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\n")
    assert group.oom_kills() == 2


def test_without_a_memory_controller_the_layer_says_why(monkeypatch):
    monkeypatch.setattr(cgroup, "_mounts", lambda: [])
    pool = cgroup.Pool()
    assert pool.create(100) == (None, "no memory cgroup controller is mounted")
    assert cgroup.enter(None, "why") == "why"
    assert cgroup.Pool("disabled by GRADER_SANDBOX_DISABLE").create(1) == (None, "disabled by GRADER_SANDBOX_DISABLE")
