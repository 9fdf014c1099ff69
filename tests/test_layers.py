"""The sandbox's layers one by one: seccomp's program, `grader doctor`, and running with fewer layers."""

from __future__ import annotations

import errno
import json
import os
import socket

import pytest

from conftest import ROOT, SUBMISSIONS, run_grader
from grader.sandbox import layers, seccomp

SOLUTION = ROOT / "solutions" / "assignment2" / "linear_regression.py"
ALL_OPTIONAL = "cgroup,pid-namespace,mount-namespace,network-namespace,landlock,seccomp,unprivileged-user"


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_program_is_well_formed(machine):
    prog = seccomp.program(machine)
    assert len(prog) < 4096
    for i, (code, jt, jf, _) in enumerate(prog):
        if code in (0x15, 0x35, 0x45):  # conditional jumps stay inside the program
            assert i + 1 + max(jt, jf) < len(prog)
    assert prog[-1] == (0x06, 0, 0, seccomp.RET_ALLOW)
    with pytest.raises(seccomp.SeccompUnavailable):
        seccomp.program("sparc")


def _in_filtered_child(fn) -> dict:
    """Run ``fn`` in a forked child under the filter; return what it reported."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            seccomp.install()
            os.write(w, json.dumps(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 65536)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _errno_of(call):
    try:
        result = call()
        if hasattr(result, "close"):
            result.close()
        return 0
    except OSError as exc:
        return exc.errno
    except ValueError:  # resource.setrlimit turns EPERM into ValueError
        return errno.EPERM


def test_seccomp_denies_what_attacks_need_and_allows_what_torch_needs():
    import ctypes
    import resource

    def probe():
        libc = ctypes.CDLL(None, use_errno=True)

        def libc_errno(rc):
            return 0 if rc == 0 else ctypes.get_errno()

        pid = os.fork()
        if pid == 0:
            os._exit(7)
        forked = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return {
            "inet": _errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
            "inet6_udp": _errno_of(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)),
            "unix": _errno_of(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
            "raise_nofile": _errno_of(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (resource.RLIM_INFINITY,) * 2)),
            "read_limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "unshare_user": libc_errno(libc.unshare(0x10000000)),
            "ptrace": libc_errno(libc.ptrace(16, 1, 0, 0)),
            "keyctl": libc_errno(libc.syscall(250 if os.uname().machine == "x86_64" else 219, 0, 0, 0, 0)),
            "fork_exit_code": forked,
            "read_file": len(open(__file__, "rb").read(10)),
        }

    seen = _in_filtered_child(probe)
    assert seen["inet"] == seen["inet6_udp"] == seen["unix"] == errno.EPERM
    assert seen["fork_exit_code"] == 7 and seen["read_file"] == 10
    assert seen["raise_nofile"] == errno.EPERM and seen["read_limit"][0] > 0
    assert seen["unshare_user"] == seen["ptrace"] == seen["keyctl"] == errno.EPERM


def test_seccomp_refuses_sockets_threads_programs_and_clearing_the_parent_death_signal():
    """The student process is single-threaded, runs no other program, opens no socket (any family) and keeps its
    parent-death signal; a Unix stream pair (connected to itself) and fork stay, and Python says what failed."""
    import ctypes
    import subprocess
    import sys
    import threading

    def probe():
        import torch

        libc = ctypes.CDLL(None, use_errno=True)
        out = {"pdeathsig": 0 if libc.prctl(1, 0, 0, 0, 0) == 0 else ctypes.get_errno()}
        out["set_name"] = libc.prctl(15, b"probe", 0, 0, 0)  # other prctl options still work
        for name, call in (("thread", lambda: threading.Thread(target=int).start()),
                           ("program", lambda: subprocess.run([sys.executable, "-c", "pass"])),
                           ("unix_dgram_pair", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)),
                           ("unix_stream", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))):
            try:
                call()
                out[name] = "ran"
            except (RuntimeError, OSError) as exc:
                out[name] = type(exc).__name__
        a, b = socket.socketpair()
        a.sendall(b"x")
        out["stream_pair"] = b.recv(1).decode()
        torch.set_num_threads(4)  # held to one thread: a matmul runs instead of ending the process
        out["threads"] = torch.get_num_threads()
        out["matmul"] = float((torch.ones(300, 300) @ torch.ones(300, 300))[0, 0])
        return out

    seen = _in_filtered_child(probe)
    assert seen["pdeathsig"] == errno.EPERM and seen["set_name"] == 0
    assert seen["thread"] == "RuntimeError" and seen["program"] == "PermissionError"
    assert seen["unix_dgram_pair"] == seen["unix_stream"] == "PermissionError" and seen["stream_pair"] == "x"
    assert seen["threads"] == 1 and seen["matmul"] == 300.0


def test_disabled_layers_are_reported_and_doctor_fails():
    proc = run_grader("doctor", env={layers.DISABLE_VAR: "seccomp,landlock"})
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == list(layers.LAYERS)
    assert f"seccomp: inactive (disabled by {layers.DISABLE_VAR})" in lines
    assert f"landlock: inactive (disabled by {layers.DISABLE_VAR})" in lines
    assert "pid-namespace: active" in lines and "unprivileged-user: active" in lines


def test_check_works_with_only_the_basic_layers(tmp_path):
    """A student's laptop or a container without namespaces, Landlock or seccomp: still graded, same score."""
    proc = run_grader("check", "assignment2", "--path", SOLUTION, "--json", env={layers.DISABLE_VAR: ALL_OPTIONAL})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["score"] == json.loads(proc.stdout)["max_score"]


def test_grade_warns_in_one_line_when_layers_are_missing(tmp_path):
    """In this process's student processes, and in those of -j's workers (the first worker says them)."""
    small, big = tmp_path / "small", tmp_path / "big"
    for folder, n in ((small, 2), (big, 16)):
        folder.mkdir()
        for i in range(n):
            good = i % 2 == 0
            source = SOLUTION if good else SUBMISSIONS / "assignment2" / "fails_mse_sum" / "linear_regression.py"
            (folder / f"{'alice' if good else 'bob'}{i:02d}.py").write_text(source.read_text())
    weak = run_grader("grade", "assignment2", small, "-o", tmp_path / "weak", "-j", "1", env={layers.DISABLE_VAR: "seccomp"})
    workers = run_grader("grade", "assignment2", big, "-o", tmp_path / "workers", "-j", "2", env={layers.DISABLE_VAR: "seccomp"})
    full = run_grader("grade", "assignment2", small, "-o", tmp_path / "full", "-j", "1")
    assert weak.returncode == workers.returncode == full.returncode == 0, (weak.stderr + workers.stderr)[-3000:]
    assert "with 2 workers" in workers.stderr, workers.stderr[-2000:]
    for proc in (weak, workers):
        warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
        assert warnings == ["warning: student processes run with 9 of 10 sandbox layers here; missing: seccomp (`grader doctor` says why)"]
    assert "warning:" not in full.stderr
    # The same grades with fewer layers, and from the workers: every copy has the row of its source.
    assert (tmp_path / "weak" / "grades.csv").read_text() == (tmp_path / "full" / "grades.csv").read_text()
    rows = {line.split(",", 1)[0]: line.split(",", 1)[1] for line in (tmp_path / "full" / "grades.csv").read_text().splitlines()[1:]}
    copies = (tmp_path / "workers" / "grades.csv").read_text().splitlines()[1:]
    assert len(copies) == 16
    for line in copies:
        student, rest = line.split(",", 1)
        assert rest == rows["alice00" if student.startswith("alice") else "bob01"], line
