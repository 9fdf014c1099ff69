"""Red team, the whole process tree (issue 22): escaping the parent-death signal and the session, several
children over the memory limit together, a reply trickled byte by byte, host Unix sockets.

Each attacker is the reference solution plus an attack that runs when its ``forward`` is first called in a
student process (the trickle: in ``train``'s worked example only). An attack that succeeds makes ``forward``
raise ``LEAKED: ...``. While the batch runs, a watcher samples the grader's process tree from outside: the
student processes (a uid of the student range each: the grader runs as root here) and the memory each
student process's tree holds. Every mode (`grade -j 2`, `grade --dask-local 2`, `grader check`) must show:
after the command returned no process of the batch is alive, no tree ever held more than the memory limit
plus the cgroup's margin, the trickle ended as a timeout at the CPU limit, no listener heard anything, and
the honest functions kept their points.

The trickler finds its socket with ``fstat``, not ``/proc/self/fd``: once a tree has hit its memory limit, the
kernel's reclaim may drop the cached ``/proc/1`` inode that the Landlock rule allowing the process's own
``/proc`` entry holds, and the new one is denied (the combined attacker allocates first).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

import conftest
from conftest import Gradebook, ROOT, run_grader, solution_source
from grader.sandbox.cgroup import MARGIN_MB
from grader.sandbox.privileges import BASE_UID, SPAN

SOLUTION = solution_source()
GRADE_MB, CHECK_MB = 300, 1024  # --memory of the grade runs; `grader check` uses the default limit
#: What the watcher may see beyond the cgroup's limit: it adds up private dirty pages process by process, not
#: atomically, and a page the tree inherited from the warm process and that the warm process has since rewritten
#: reads as the tree's own although the warm process's cgroup is charged for it (seen: 1 MB over, on a busy machine).
SAMPLING_SLACK_MB = 48
SAMPLE_SECONDS = 0.05  # the longest a kept sample may take to read its processes (about 2 ms per 200 MB process here)
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None and not os.environ.get("GRADER_REQUIRE_DASK"),
                                reason="Dask's distributed is not installed")

PRELUDE = '''

import os as _os, signal as _signal, ctypes as _ctypes, socket as _socket, stat as _stat, struct as _struct, time as _time
_FOUND = []
_DONE = []
_libc = _ctypes.CDLL(None, use_errno=True)
_honest_forward, _honest_train = forward, train


def forward(x, w, b):
    if not _DONE:
        _DONE.append(1)
        for attack in _ATTACKS:
            try:
                attack()
            except BaseException:  # a blocked attack is not this function's failure
                pass
    if _FOUND:
        raise RuntimeError("LEAKED: " + " | ".join(map(str, _FOUND))[:500])
    return _honest_forward(x, w, b)


def train(x, y, w, b, lr, epochs):
    if epochs == 200 and _TRICKLE:  # the worked example only
        _trickle()
    return _honest_train(x, y, w, b, lr, epochs)


def _escape():
    """Clear the parent-death signal, leave the session and the group, ignore signals, double fork."""
    if _libc.prctl(1, 0, 0, 0, 0) == 0:
        _FOUND.append("cleared the parent-death signal")
    for call in (_os.setsid, lambda: _os.setpgid(0, 0)):
        try:
            call()
        except OSError:
            pass
    for sig in (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGINT):
        try:
            _signal.signal(sig, _signal.SIG_IGN)
        except OSError:  # the seccomp filter refuses new signal handlers
            pass
    _libc.prctl(15, b"i22-escaper", 0, 0, 0)
    if _os.fork() == 0:
        _libc.prctl(1, 0, 0, 0, 0)
        _os.setsid()
        if _os.fork() == 0:
            _libc.prctl(15, b"i22-escapee", 0, 0, 0)
            _time.sleep(600)
        _os._exit(0)


def _allocate():
    """Three children, each {mb} MB (under the process limit), held together for a second."""
    kids = []
    for _ in range(3):
        r, w = _os.pipe()
        pid = _os.fork()
        if pid == 0:
            _libc.prctl(15, b"i22-allocator", 0, 0, 0)
            held = [bytearray(1 << 20) for _ in range({mb})]
            _os.write(w, b"d")
            _time.sleep(60)
            _os._exit(0)
        _os.close(w)
        kids.append((pid, r))
    done = [len(_os.read(r, 1)) for _, r in kids]
    _time.sleep(1.0)
    alive = [pid for pid, _ in kids if _os.waitpid(pid, _os.WNOHANG)[0] == 0]
    if sum(done) == 3 and len(alive) == 3:
        _FOUND.append("three children held {mb} MB each at once")
    for pid in alive:
        _os.kill(pid, _signal.SIGKILL)
        _os.waitpid(pid, 0)


def _sockets():
    """Host Unix sockets, path-named and abstract, stream and datagram; a datagram pair; the channel redirected."""
    for kind in (_socket.SOCK_STREAM, _socket.SOCK_DGRAM):
        for address in ({path!r}, {dgram!r}, "\\0" + {abstract!r}, "\\0" + {abstract!r} + "-dgram"):
            try:
                s = _socket.socket(_socket.AF_UNIX, kind)
                if kind == _socket.SOCK_STREAM:
                    s.connect(address)
                    s.sendall(b"i22")
                else:
                    s.sendto(b"i22", address)
                _FOUND.append("reached " + repr(address))
            except OSError:
                pass
    try:
        a, _ = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        a.sendto(b"i22", {dgram!r})
        _FOUND.append("a datagram pair reached the host")
    except OSError:
        pass
    try:
        s = _socket.socket(fileno=_os.dup(_channel()))
        s.connect({path!r})
        _FOUND.append("the channel was connected to the host")
    except OSError:
        pass


def _channel():
    """The socket to the grader (not found through /proc: see the trickle's note in the module docstring)."""
    for fd in range(256):
        try:
            if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                return fd
        except OSError:
            pass


def _trickle():
    """A valid frame header on the grader's socket, then the reply one byte at a time, busy in between."""
    fd = _channel()
    body = b'{{"ok": true, "result": ' + b" " * 100000 + b'1}}'
    _os.write(fd, _struct.pack("<II", len(body), 0))
    for i in range(len(body)):
        _os.write(fd, body[i:i + 1])
        end = _time.process_time() + 0.02
        while _time.process_time() < end:
            pass
'''

#: attacker -> (the attacks its forward runs, whether train trickles)
ATTACKERS = {
    "escape": (["_escape"], False),
    "allocate": (["_allocate"], False),
    "trickle": ([], True),
    "sockets": (["_sockets"], False),
}
COMBINED = {"tree_all": (["_escape", "_allocate", "_sockets"], True)}
#: What each attacker may lose: the attacked function, or the trickled check.
MAY_LOSE = {"escape": set(), "allocate": {"forward"}, "trickle": {"train.worked_example"}, "sockets": set(),
            "tree_all": {"forward", "train.worked_example"}}


def _source(attacks: list[str], trickle: bool, fields: dict, memory_mb: int) -> str:
    text = SOLUTION + PRELUDE.format(mb=memory_mb * 2 // 3, **fields)
    return text + f"\n\n_ATTACKS = [{', '.join(attacks)}]\n_TRICKLE = {trickle}\n"


class Listeners:
    """Unix listeners the attackers aim at: a stream and a datagram socket on paths anyone may write, and both
    in the abstract namespace."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="i22-sockets-"))
        os.chmod(self.folder, 0o777)
        tag = self.folder.name
        self.fields = {"path": str(self.folder / "stream.sock"), "dgram": str(self.folder / "dgram.sock"), "abstract": tag}
        self.heard: list = []
        self.socks = []
        for address, kind in ((self.fields["path"], socket.SOCK_STREAM), (self.fields["dgram"], socket.SOCK_DGRAM),
                              ("\0" + tag, socket.SOCK_STREAM), ("\0" + tag + "-dgram", socket.SOCK_DGRAM)):
            s = socket.socket(socket.AF_UNIX, kind)
            s.bind(address)
            if not address.startswith("\0"):
                os.chmod(address, 0o777)
            if kind == socket.SOCK_STREAM:
                s.listen()
            s.settimeout(0.05)
            self.socks.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            for s in self.socks:
                try:
                    if s.type == socket.SOCK_STREAM:
                        conn, _ = s.accept()
                        self.heard.append(conn.recv(100) or b"(connected)")
                        conn.close()
                    else:
                        self.heard.append(s.recv(100))
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        self._thread.join()
        for s in self.socks:
            s.close()
        for p in self.folder.iterdir():
            p.unlink()
        self.folder.rmdir()


def _processes() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (parent pid, uid, name, state) of every process."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{name}").st_uid
            data = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        end = data.rfind(b")")
        fields = data[end + 2:].split()
        found[int(name)] = (int(fields[1]), uid, data[data.find(b"(") + 1:end].decode(errors="replace"), fields[0].decode())
    return found


def _private_dirty(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Watcher:
    """Samples the tree below ``root`` while a command runs: the student processes' uids and names, and the most
    memory (private dirty pages) the processes of one uid (one student process's tree) held together: ``most`` over
    the samples read at about one moment (the bound), ``seen`` over every sample (proof that the children allocated:
    on a busy machine a sample of large processes may never be read fast enough to count for ``most``)."""

    def __init__(self, *roots: int):
        self.roots, self.uids, self.names, self.most, self.seen = roots, set(), set(), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            procs = _processes()
            children: dict[int, list[int]] = {}
            for pid, (ppid, *_rest) in procs.items():
                children.setdefault(ppid, []).append(pid)
            todo, tree = list(self.roots), []
            while todo:
                pid = todo.pop()
                todo += children.get(pid, [])
                _, uid, name, state = procs.get(pid, (0, 0, "", "Z"))
                if BASE_UID <= uid < BASE_UID + SPAN and state != "Z":
                    self.uids.add(uid)
                    self.names.add(name)
                    tree.append((uid, pid))
            # One sample adds up processes read at different moments: one that the OOM killer ends right after it
            # is read and one that allocates in its place right after could both count. A sample is kept only if
            # its reads took at most SAMPLE_SECONDS, so the sum is what the tree held at about one moment.
            started, per_uid = time.monotonic(), {}
            for uid, pid in tree:
                per_uid[uid] = per_uid.get(uid, 0) + _private_dirty(pid)
            self.seen = max([self.seen, *per_uid.values()])
            if time.monotonic() - started <= SAMPLE_SECONDS:
                self.most = max([self.most, *per_uid.values()])
            time.sleep(0.1)

    def stop(self):
        self._stop.set()
        self._thread.join()

    def survivors(self) -> list[tuple[int, str]]:
        """Processes still alive now that ran as a student uid of this run, or carry an attacker's name."""
        return [(pid, name) for pid, (_, uid, name, state) in _processes().items()
                if state != "Z" and (uid in self.uids or name.startswith("i22-"))]


def _run(args: list, memory_mb: int, cwd: Path) -> tuple:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    watcher = Watcher(proc.pid, *conftest.WARM_SERVER_PIDS)  # the warm processes are the warm server's forks
    started = time.monotonic()
    out, err = proc.communicate(timeout=600)
    took = time.monotonic() - started
    survivors = watcher.survivors()  # at once: when the command returned, nothing may be left
    watcher.stop()
    return proc.returncode, out, err, took, survivors, watcher


def _batch(tmp_path_factory, attackers: dict, extra: list) -> dict:
    base = tmp_path_factory.mktemp("tree")
    cls, out, cwd = base / "class", base / "out", base / "cwd"
    for folder in (cls, cwd):
        folder.mkdir()
    (cls / "alice").mkdir()
    (cls / "alice" / "linear_regression.py").write_text(SOLUTION)
    listeners = Listeners()
    try:
        for name, (attacks, trickle) in attackers.items():
            (cls / name).mkdir()
            (cls / name / "linear_regression.py").write_text(_source(attacks, trickle, listeners.fields, GRADE_MB))
        rc, _, err, took, survivors, watcher = _run(
            ["grade", "assignment2", cls, "-o", out, "--timeout", "3", "--memory", GRADE_MB, *extra], GRADE_MB, cwd)
    finally:
        listeners.close()
    assert rc == 0, err[-3000:]
    return {"book": Gradebook(out, None), "took": took, "survivors": survivors, "watcher": watcher,
            "heard": listeners.heard, "attackers": attackers, "memory_mb": GRADE_MB}


@pytest.fixture(scope="class")
def parallel(tmp_path_factory):
    return _batch(tmp_path_factory, ATTACKERS, ["-j", "2"])


@pytest.fixture(scope="class")
def dask_local(tmp_path_factory):
    return _batch(tmp_path_factory, COMBINED, ["--dask-local", "2"])


def _tree_holds(run: dict) -> None:
    """What every mode must show about the process tree, memory and sockets."""
    assert run["survivors"] == [], "processes of the batch outlived it"
    watcher = run["watcher"]
    assert watcher.uids and "i22-escapee" in watcher.names, "the watcher never saw the escape it must rule out"
    each = run["memory_mb"] * 2 // 3  # what each of the three allocating children asks for
    limit = run["memory_mb"] + MARGIN_MB + SAMPLING_SLACK_MB
    assert limit < 3 * each, "the bound must tell a limited tree from three unlimited children"
    assert each << 20 < watcher.seen, f"the watcher never saw a tree allocate: {watcher.seen >> 20} MB at most"
    assert watcher.most <= limit << 20, f"{watcher.most >> 20} MB held by one tree"
    assert run["heard"] == []


def _grade_holds(run: dict) -> None:
    book = run["book"]
    assert book.rows["alice"]["score"] == "100"
    for student in run["attackers"]:
        feedback = book.feedback(student)
        assert "LEAKED" not in feedback, feedback
        lost = {cid for cid, pts in book.earned(student).items() if pts < book.earned("alice")[cid]}
        allowed = MAY_LOSE[student]
        assert {cid for cid in lost if cid not in allowed and cid.split(".")[0] not in allowed} == set(), feedback
        if run["attackers"][student][1]:  # the trickle: a timeout at the CPU limit, not the minutes it asks for
            assert "timeout" in book.rows[student]["problems"]
            assert "it used all 3 s of CPU time a check may use" in feedback, feedback


class TestParallelWorkers:
    def test_the_tree_ends_memory_is_shared_and_no_socket_reaches_the_host(self, parallel):
        _tree_holds(parallel)

    def test_attacks_fail_and_honest_functions_keep_their_points(self, parallel):
        _grade_holds(parallel)


@needs_dask
class TestDaskLocal:
    def test_the_tree_ends_memory_is_shared_and_no_socket_reaches_the_host(self, dask_local):
        _tree_holds(dask_local)

    def test_attacks_fail_and_honest_functions_keep_their_points(self, dask_local):
        _grade_holds(dask_local)


class TestCheck:
    @pytest.fixture(scope="class")
    def checked(self, tmp_path_factory):
        base = tmp_path_factory.mktemp("tree-check")
        listeners = Listeners()
        try:
            (name, (attacks, trickle)), = COMBINED.items()
            (base / "linear_regression.py").write_text(_source(attacks, trickle, listeners.fields, CHECK_MB))
            rc, out, err, took, survivors, watcher = _run(["check", "assignment2", "--json"], CHECK_MB, base)
        finally:
            listeners.close()
        doc = json.loads(out)
        return {"doc": doc, "rc": rc, "survivors": survivors, "watcher": watcher, "heard": listeners.heard, "memory_mb": CHECK_MB}

    def test_the_tree_ends_memory_is_shared_and_no_socket_reaches_the_host(self, checked):
        _tree_holds(checked)

    def test_attacks_fail_and_honest_functions_keep_their_points(self, checked):
        checks = {c["id"]: c for c in checked["doc"]["checks"]}
        assert not any("LEAKED" in c["message"] for c in checks.values()), checks
        assert "used all 10 s of CPU time" in checks["train.worked_example"]["message"]
        failed = {cid for cid, c in checks.items() if not c["passed"]}
        assert {cid for cid in failed if cid.split(".")[0] != "forward" and cid != "train.worked_example"} == set(), checks
