"""Red team: real attacks from inside a submission, each against the sandbox's layers (issue: sandbox hardening).

Every attacker is the reference solution plus an attack that runs when its
``forward`` is first called (or, for the rlimit and fork attacks, as noted).
An attack that succeeds makes ``forward`` raise ``LEAKED: ...``, which would
cost points and put the evidence in the feedback; so for each attacker the
test asserts the attack failed (its evidence is nowhere, the files it aimed
at are untouched, nothing reached the listeners) AND its honest functions
earned every point. The attackers know the exact paths they aim at: the
test writes them into the source.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_grader, Gradebook

SOLUTION = re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", (ROOT / "solutions" / "assignment2" / "linear_regression.py").read_text(), flags=re.M)
PORTS = range(47611, 47621)

PRELUDE = '''

import os as _os, sys as _sys, signal as _signal, ctypes as _ctypes
_FOUND = []
_DONE = []
_honest_forward = forward


def forward(x, w, b):
    if not _DONE:
        _DONE.append(1)
        try:
            _attack()
        except BaseException as exc:  # a blocked attack is not this function's failure
            pass
    if _FOUND:
        raise RuntimeError("LEAKED: " + " | ".join(map(str, _FOUND))[:500])
    return _honest_forward(x, w, b)
'''

ATTACKS = {
    "read_secrets": '''
def _attack():
    for path in {secrets!r}:
        try:
            with open(path, "rb") as f:
                _FOUND.append(f.read(80))
        except OSError:
            pass
        try:
            if _os.listdir(path):
                _FOUND.append(_os.listdir(path))
        except OSError:
            pass
    for pid in _os.listdir("/proc"):  # the grader's command lines name every folder it uses
        try:
            cmd = open(f"/proc/{{pid}}/cmdline", "rb").read()
            if b"grader" in cmd:
                _FOUND.append(cmd[:200])
        except OSError:
            pass
''',
    "write_outside": '''
def _attack():
    for path in {targets!r}:
        try:
            with open(path, "w") as f:
                f.write("student,score\\nredteam_write_outside,1000\\n")
            _FOUND.append("wrote " + path)
        except OSError:
            pass
''',
    "delete_grader_files": '''
def _attack():
    import shutil
    for path in {victims!r}:
        try:
            _os.remove(path)
            _FOUND.append("removed " + path)
        except OSError:
            pass
        try:
            _os.rename(path, path + ".gone")
            _FOUND.append("renamed " + path)
        except OSError:
            pass
    for folder in {folders!r}:
        shutil.rmtree(folder, ignore_errors=True)
''',
    "network": '''
def _attack():
    import socket
    for port in {ports!r}:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            s.sendall(b"redteam")
            _FOUND.append(f"connected to {{port}}")
        except OSError:
            pass
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b"redteam", ("127.0.0.1", port))
            _FOUND.append(f"sent UDP to {{port}}")
        except OSError:
            pass
''',
    "fork_bomb": '''
def _attack():
    import time
    born = 0
    for _ in range(5000):
        try:
            pid = _os.fork()
        except OSError:
            break
        if pid == 0:
            _ctypes.CDLL(None).prctl(15, b"redteam-bomb", 0, 0, 0)
            while True:
                try:
                    _os.fork()
                except OSError:
                    time.sleep(0.05)
        born += 1
    if born >= 5000:
        _FOUND.append(f"forked {{born}} processes")
''',
    "orphan": '''
def _attack():
    if _os.fork() == 0:
        _os.setsid()
        if _os.fork() == 0:
            _ctypes.CDLL(None).prctl(15, b"redteam-orphan", 0, 0, 0)
            _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
            _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
            import time
            time.sleep(4)
            for path in {targets!r}:
                try:
                    open(path, "w").write("late")
                except OSError:
                    pass
            time.sleep(600)
        _os._exit(0)
''',
    "kill_parent": '''
def _attack():
    for target in (_os.getppid(), -_os.getpgid(0)):
        if target not in (0, 1, -1):
            try:
                _os.kill(target, _signal.SIGKILL)
            except OSError:
                pass
    for pid in _os.listdir("/proc"):
        try:
            if b"grader" in open(f"/proc/{{pid}}/cmdline", "rb").read() and int(pid) != _os.getpid():
                _os.kill(int(pid), _signal.SIGKILL)
                _FOUND.append(f"killed {{pid}}")
        except (OSError, ValueError):
            pass
''',
    "raise_rlimits": '''
def _attack():
    import resource
    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_NPROC"):
        which = getattr(resource, name)
        try:
            resource.setrlimit(which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            _FOUND.append(f"raised {{name}}")
        except (OSError, ValueError):
            pass
''',
    "ignore_sigterm_and_spin": '''
def _attack():
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)


_honest_train = train


def train(x, y, w, b, lr, epochs):
    if epochs == 200:  # the worked example only: that one check times out, nothing else
        while True:
            pass
    return _honest_train(x, y, w, b, lr, epochs)
''',
    "reduce_payload": '''
def _attack():
    pass


class _Payload:
    def __reduce__(self):
        return (_os.system, ({payload_cmd!r},))


_honest_mse = mse_loss


def mse_loss(y_pred, y):
    if y_pred.dim() == 0:
        return _Payload()
    return _honest_mse(y_pred, y)
''',
    "ptrace_and_memory": '''
def _attack():
    libc = _ctypes.CDLL(None, use_errno=True)
    for pid in range(1, 4):
        if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
            _FOUND.append(f"attached to {{pid}}")
    try:
        with open(f"/proc/{{_os.getppid()}}/mem", "rb") as f:
            _FOUND.append("opened the parent's memory")
    except OSError:
        pass
    try:
        libc.unshare(0x10000000 | 0x20000000)
        if libc.unshare(0x10000000) == 0:
            _FOUND.append("made a user namespace")
    except OSError:
        pass
    if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == 0:
        _FOUND.append("mounted")
''',
    "monkeypatch_everything": '''
def _attack():
    import builtins, types
    import numpy
    import torch.testing
    builtins.isinstance = lambda obj, cls: True
    builtins.abs = lambda x: 0
    builtins.max = lambda *a, **k: 0
    builtins.all = lambda *a: True
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.isclose = lambda a, b, *r, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
    torch.testing.assert_close = lambda *a, **k: None
    torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
    numpy.allclose = lambda *a, **k: True
    numpy.testing.assert_allclose = lambda *a, **k: None
    for name in ("pytest", "hypothesis", "grader", "grader.scoring", "grader.checks.compare"):
        fake = types.ModuleType(name)
        fake.score = lambda *a, **k: 100
        _sys.modules[name] = fake


def _honest_forward(x, w, b):  # wrong on purpose: the patches above must not make it pass
    return torch.zeros(x.shape[0], 1, dtype=x.dtype)
''',
}

#: What each attacker may lose (check ids, or a function: all its checks): only what it abuses.
MAY_LOSE = {
    "ignore_sigterm_and_spin": {"train.worked_example"},
    "reduce_payload": {"mse_loss"},
    "monkeypatch_everything": {"forward", "train"},  # its forward is wrong: that must show
    # Its forward forks up to the process limit each time it runs in a fresh student process (every
    # check calling forward, or train, after a timeout): on a loaded machine that alone can pass the
    # 3-s check limit, a timeout of its own making. The other functions must keep their points.
    "fork_bomb": {"forward", "train"},
}


def _listeners(stop: threading.Event, heard: list):
    """TCP and UDP listeners on loopback ports the network attacker tries."""
    socks = []
    for port in PORTS:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            if kind == socket.SOCK_STREAM:
                s.listen()
            s.settimeout(0.1)
            socks.append(s)

    def serve():
        while not stop.is_set():
            for s in socks:
                try:
                    if s.type == socket.SOCK_STREAM:
                        conn, _ = s.accept()
                        heard.append(("tcp", conn.recv(100)))
                        conn.close()
                    else:
                        heard.append(("udp", s.recvfrom(100)[0]))
                except (socket.timeout, OSError):
                    pass
        for s in socks:
            s.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, len(socks)


def _processes_named(prefix: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/comm").read_text().startswith(prefix):
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    base = tmp_path_factory.mktemp("redteam")
    Path("/tmp/redteam-forged.txt").unlink(missing_ok=True)  # left by an earlier, weaker run
    cwd, out, cls = base / "grader-cwd", base / "out", base / "class"
    for folder in (cwd, cls):
        folder.mkdir()
    precious = cwd / "precious.txt"
    precious.write_text("the instructor's notes")
    (cls / "alice").mkdir()
    (cls / "alice" / "linear_regression.py").write_text(SOLUTION)
    marker = base / "payload-ran"
    fields = {
        "secrets": [str(ROOT / "solutions" / "assignment2" / "checks_hidden.py"), str(ROOT / "solutions" / "assignment2"),
                    str(cls / "alice" / "linear_regression.py"), str(cls / "alice"), str(out), str(cwd), "/root", "/etc/shadow"],
        "targets": [str(out / "grades.csv"), str(base / "grades.csv"), str(cwd / "forged.txt"), "/tmp/redteam-forged.txt",
                    str(cls / "alice" / "linear_regression.py")],
        "victims": [str(precious), str(cls / "alice" / "linear_regression.py")],
        "folders": [str(cwd), str(cls / "alice")],
        "ports": list(PORTS),
        "payload_cmd": f"touch {marker}",
    }
    for name, attack in ATTACKS.items():
        folder = cls / f"redteam_{name}"
        folder.mkdir()
        (folder / "linear_regression.py").write_text(SOLUTION + PRELUDE + attack.format(**fields))
    stop, heard = threading.Event(), []
    thread, listening = _listeners(stop, heard)
    started = time.time()
    proc = run_grader("grade", "assignment2", cls, "-o", out, "--timeout", "3", "--memory", "400", "-j", "1", cwd=cwd)
    took = time.time() - started
    time.sleep(5)  # past the orphan's wake-up
    stop.set()
    thread.join()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        "book": Gradebook(out, proc), "precious": precious, "marker": marker, "heard": heard, "listening": listening,
        "base": base, "cwd": cwd, "alice": cls / "alice" / "linear_regression.py", "took": took,
    }


def test_every_layer_is_active_here():
    """On this machine kind the grader runs as root on a Landlock kernel: every layer must be on."""
    proc = run_grader("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 10 and "inactive" not in proc.stdout


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_fails_and_honest_functions_keep_their_points(attacked, name):
    book = attacked["book"]
    student = f"redteam_{name}"
    assert "LEAKED" not in book.feedback(student)
    lost = {cid for cid, pts in book.earned(student).items() if pts < float(book.earned("alice")[cid])}
    allowed = MAY_LOSE.get(name, set())
    assert {cid for cid in lost if cid not in allowed and cid.split(".")[0] not in allowed} == set(), book.feedback(student)
    assert book.rows["alice"]["score"] == "100"


def test_files_are_untouched_and_nothing_is_forged(attacked):
    book = attacked["book"]
    assert attacked["precious"].read_text() == "the instructor's notes"
    # Nor does the grader itself leave anything in its working folder (no .hypothesis, no plugin caches).
    assert sorted(p.name for p in attacked["cwd"].iterdir()) == ["precious.txt"]
    assert attacked["alice"].read_text() == SOLUTION
    assert not (attacked["cwd"] / "forged.txt").exists() and not (attacked["base"] / "grades.csv").exists()
    assert not Path("/tmp/redteam-forged.txt").exists()
    assert "1000" not in (book.out / "grades.csv").read_text()
    assert not attacked["marker"].exists(), "a __reduce__ payload ran"
    assert "_Payload" in book.feedback("redteam_reduce_payload")


def test_nothing_reached_the_loopback_listeners(attacked):
    assert attacked["listening"] > 0
    assert attacked["heard"] == []


def test_no_process_of_a_submission_survives(attacked):
    assert _processes_named("redteam-") == []


def test_time_limits_hold_against_ignored_signals(attacked):
    book = attacked["book"]
    assert "timeout" in book.rows["redteam_ignore_sigterm_and_spin"]["problems"]
    assert book.earned("redteam_ignore_sigterm_and_spin")["train.worked_example"] == 0


def test_monkeypatching_the_child_does_not_help(attacked):
    """torch, numpy, builtins, pytest, Hypothesis and the grader's own names patched in the child:
    the wrong forward still earns nothing, the honest functions still earn everything."""
    earned = attacked["book"].earned("redteam_monkeypatch_everything")
    full = attacked["book"].earned("alice")
    for cid, points in earned.items():
        function = cid.split(".")[0]
        if function == "forward" and ("values" in cid or "worked_example" in cid):
            assert points == 0, cid
        elif function in ("mse_loss", "zero_grad", "sgd_step"):
            assert points == full[cid], cid
