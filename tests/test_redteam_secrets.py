"""Red team: nothing of the instructor's reaches a student process (issue 22), on a local run, on Dask and in `check`.

Markers are planted where the grader holds them: a variable of the grader's
environment, another student's folder name, the output folder's path (the
working folder's, for `check`) and, on Dask, the workers' environment and the
cluster's TLS private key. A spy submission (the reference solution) looks for
them from inside: on its first ``forward`` call it names its process, sleeps,
then reads every file it can (its own and every visible ``/proc/PID`` file,
its working folder, ``/tmp``, ``$HOME``, the scratch folder, whatever of ``/``
it may list) and its own writable memory; anything matching the markers'
shape makes ``forward`` raise ``LEAKED: ...``, which would cost its points and
put the evidence in the feedback (raised, not returned: a returned string is
shown only as an opaque value). While it sleeps, the test (root) reads the
spy process from outside: ``/proc/PID/environ``, ``cmdline``, and every
writable or anonymous region of its memory through ``/proc/PID/mem``. Each
mode asserts the outside scan saw the spy (a positive control: the pattern
its source holds), that no marker is in its memory or ``/proc`` files nor in
any output, and that the spy earned every point.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, solution_source

SOLUTION = solution_source()
PREFIX = "zq7"
#: The pattern the spy looks for; its text (in the spy's source and memory) never matches itself.
PATTERN = PREFIX + "[0-9a-f]{12}"
SPY_NAME = b"i22spy"
HAVE_DASK = importlib.util.find_spec("distributed") is not None

SPY = SOLUTION + '''

import os as _os, re as _re, sys as _sys, time as _time, ctypes as _ctypes
_PATTERN = _re.compile(rb"%(pattern)s")
_FOUND = {}
_DONE = []
_honest_forward = forward
_LIBRARIES = ("/usr", "/lib", "/lib64", "/sys", "/proc", "/dev", _sys.prefix, _sys.base_prefix)


def _look(where, data):
    for hit in _PATTERN.findall(data):
        _FOUND.setdefault(hit.decode(), where)


def _read(path):
    try:
        with open(path, "rb") as f:
            _look(path, f.read(1 << 22))
    except (OSError, ValueError):
        pass


def _walk(top):
    for root, dirs, files in _os.walk(top):
        dirs[:] = [d for d in dirs if not _os.path.join(root, d).startswith(_LIBRARIES)]
        _look("names in " + root, " ".join(dirs + files).encode())
        for name in files:
            _read(_os.path.join(root, name))


def _own_memory():
    with open("/proc/self/maps") as f:
        lines = f.read().splitlines()
    for line in lines:
        addr, perms = line.split()[:2]
        if not perms.startswith("rw"):
            continue
        start, end = (int(x, 16) for x in addr.split("-"))
        for at in range(start, end, 1 << 20):
            _look("memory", _ctypes.string_at(at, min(end, at + (1 << 20) + 64) - at))


def _attack():
    _ctypes.CDLL(None).prctl(15, b"%(name)s", 0, 0, 0)  # PR_SET_NAME: the test finds this process by it
    _time.sleep(2)
    _look("environ", repr(dict(_os.environ)).encode() + repr([_sys.argv, getattr(_sys, "orig_argv", None), _sys.path]).encode())
    pids = ["self", "1"]
    try:
        pids += [p for p in _os.listdir("/proc") if p.isdigit()]
    except OSError:
        pass
    for pid in pids:
        for name in ("environ", "cmdline", "mountinfo", "mounts", "maps", "status", "stat", "limits", "cgroup", "comm",
                     "cwd", "root", "exe", "task/1/environ", "mem"):
            _read(f"/proc/{pid}/{name}")
        try:
            for fd in _os.listdir(f"/proc/{pid}/fd"):
                _look("fd", _os.readlink(f"/proc/{pid}/fd/{fd}").encode())
        except OSError:
            pass
    for top in ("/", _os.getcwd(), _os.environ.get("HOME", "/"), "/tmp", _os.path.dirname(_os.path.abspath(__file__)),
                "/etc", "/root", "/home", "/work", "/mnt", "/opt", "/srv", "/var"):
        _walk(top)
    _own_memory()


def forward(x, w, b):
    if not _DONE:
        _DONE.append(1)
        try:
            _attack()
        except BaseException:  # a blocked read is not this function's failure
            pass
    if _FOUND:
        raise RuntimeError("LEAKED: " + repr(sorted(_FOUND.items()))[:1500])
    return _honest_forward(x, w, b)
''' % {"pattern": PATTERN, "name": SPY_NAME.decode()}


def marker() -> str:
    return PREFIX + secrets.token_hex(6)


# ------------------------------------------------------------------ reading a process from outside
def _regions(pid: int, *, everything: bool = False):
    """Readable regions of ``pid``: the writable or anonymous ones (a read-only file mapping is the file)."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            perms, name = fields[1], (fields[5].strip() if len(fields) > 5 else "")
            if perms[0] != "r" or name in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            if everything or "w" in perms or not name or name.startswith("["):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                yield start, end


def read_memory(pid: int, *, everything: bool = False):
    """Chunks of ``pid``'s memory (overlapping, so that nothing is cut in two)."""
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end in list(_regions(pid, everything=everything)):
            for at in range(start, end, 1 << 24):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(end, at + (1 << 24) + 4096) - at)
                except (OSError, ValueError, OverflowError):
                    break
                yield chunk


class Scan:
    """What the outside scan found in the spy process(es)."""

    def __init__(self):
        self.spies: list[int] = []
        self.bytes_read = 0
        self.hits: dict[str, str] = {}
        self.control = False
        self.environ = b""
        self.keys: list[bytes] = []

    def spy(self, pid: int, needles: list[bytes]) -> None:
        self.spies.append(pid)
        for name in ("environ", "cmdline"):
            try:
                data = Path(f"/proc/{pid}/{name}").read_bytes()
            except OSError:
                continue
            if name == "environ":
                self.environ = data
            for n in needles:
                if n in data:
                    self.hits[n.decode(errors="replace")] = name
        try:
            for chunk in read_memory(pid):
                self.bytes_read += len(chunk)
                self.control |= PATTERN.encode() in chunk
                for n in needles:
                    if n in chunk:
                        self.hits[n.decode(errors="replace")] = "memory"
        except OSError:
            pass


def _comm(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/comm").read_bytes().strip()
    except OSError:
        return b""


def _descendants(root: int) -> list[int]:
    parents = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                parents[int(p)] = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        todo += kids
    return found


KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n([A-Za-z0-9+/]{64})\r?\n([A-Za-z0-9+/]{64})")


def tls_key_lines(pids: list[int]) -> list[bytes]:
    """Lines of base64 of each PEM private key in these processes' memory (the Dask cluster's TLS key)."""
    found: list[bytes] = []
    for pid in pids:
        try:
            for chunk in read_memory(pid):
                for m in KEY.finditer(chunk):
                    found += [g for g in m.groups() if g not in found]
        except OSError:
            continue
        if found:
            return found
    return found


def run_and_scan(args: list, *, env: dict, cwd: Path, needles: list[bytes], dask: bool = False) -> tuple[subprocess.CompletedProcess, Scan]:
    """Run ``grader ARGS``; while it runs, scan every spy process (named :data:`SPY_NAME`) from outside."""
    scan = Scan()
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_parts = []
    reader = threading.Thread(target=lambda: out_parts.append(proc.communicate(timeout=300)))
    reader.start()
    deadline = time.monotonic() + 300
    while reader.is_alive() and time.monotonic() < deadline:
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            if int(pid) not in scan.spies and _comm(pid) == SPY_NAME:
                if dask and not scan.keys:  # the cluster's key, from the grader and its workers (alive until the end)
                    scan.keys = tls_key_lines([proc.pid, *[p for p in _descendants(proc.pid) if _comm(str(p)) != SPY_NAME]])
                scan.spy(int(pid), needles + scan.keys)
        time.sleep(0.05)
    reader.join()
    stdout, stderr = out_parts[0]
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout.decode(), stderr.decode()), scan


def _class(folder: Path, other: str, *, size: int) -> Path:
    """The spy and ``size - 1`` submissions without the module (graded at once), one named ``other``."""
    (folder / "spy").mkdir(parents=True)
    (folder / "spy" / "linear_regression.py").write_text(SPY)
    for k in range(size - 1):
        name = other if k == 0 else f"student{k:02d}"
        (folder / name).mkdir()
        (folder / name / "notes.txt").write_text(f"{name}\n")
    return folder


def _output_text(out: Path, proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr + "\n".join(p.read_text(errors="replace") for p in sorted(out.rglob("*")) if p.is_file())


def _spy_text(out: Path) -> str:
    """What the grader wrote about the spy: its feedback, its result, its lines of the log and the report."""
    lines = [line for p in (out / "grade.log", out / "report.html") if p.is_file()
             for line in p.read_text(errors="replace").splitlines() if "spy" in line]
    return "\n".join([(out / "feedback" / "spy.md").read_text(), (out / "results" / "spy.json").read_text(), *lines])


def _assert_clean(proc, scan: Scan, text: str, markers: dict[str, str]) -> None:
    """``markers``: none may be in the student process, nor in ``text`` (what the student could have put there)."""
    assert scan.spies, "the spy process was never seen"
    assert scan.control and scan.bytes_read > 10 << 20, f"the outside scan read {scan.bytes_read} bytes without the spy's pattern"
    assert b"PATH=" in scan.environ, "the spy's /proc/PID/environ was not read"
    assert not scan.hits, f"found in the student process: {scan.hits}"
    assert "LEAKED" not in text, text[text.find("LEAKED"):][:2000]
    for what, m in markers.items():
        assert m not in text, f"the {what} marker reached an output"


def _grade_case(tmp: Path, *mode: str, dask: bool = False):
    env_secret, other, out_marker = marker(), marker(), marker()
    folder = _class(tmp / "class", f"{other}_student", size=16)
    out = tmp / f"out_{out_marker}"
    needles = [m.encode() for m in (env_secret, other, out_marker)]
    proc, scan = run_and_scan(["grade", "assignment2", folder, "-o", out, "--timeout", "5", *mode],
                              env={"GRADER_TEST_SECRET": env_secret}, cwd=ROOT, needles=needles, dask=dask)
    assert proc.returncode == 0, proc.stderr[-3000:]
    markers = {"environment": env_secret, "other student": other, "output folder": out_marker}
    return proc, scan, out, markers


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return _grade_case(tmp_path_factory.mktemp("i22-local"), "-j", "2")


@pytest.fixture(scope="module")
def dask_run(tmp_path_factory):
    if not HAVE_DASK:
        pytest.skip("Dask's distributed is not installed")
    return _grade_case(tmp_path_factory.mktemp("i22-dask"), "--dask-local", "2", dask=True)


def _spy_earned_everything(out: Path) -> None:
    rows = (out / "grades.csv").read_text().splitlines()
    header, spy = rows[0].split(","), next(r for r in rows if r.startswith("spy,")).split(",")
    assert spy[1] == spy[2] == "100", dict(zip(header, spy))


def test_grade_with_workers_leaks_nothing_to_a_student(local_run):
    proc, scan, out, markers = local_run
    assert "with 2 workers" in proc.stderr or len(os.sched_getaffinity(0)) < 2
    _assert_clean(proc, scan, _spy_text(out), markers)
    # The roster and the output folder are the gradebook's own business; the grader's environment is not.
    assert markers["environment"] not in _output_text(out, proc)
    _spy_earned_everything(out)


def test_grade_on_dask_leaks_nothing_to_a_student_not_even_the_tls_key(dask_run):
    proc, scan, out, markers = dask_run
    assert "on Dask" in proc.stderr
    assert scan.keys, "no TLS private key found in the grader's or its workers' memory (is `cryptography` installed?)"
    keys = {f"TLS key {i}": k.decode() for i, k in enumerate(scan.keys)}
    _assert_clean(proc, scan, _spy_text(out), {**markers, **keys})
    text = _output_text(out, proc)
    assert not [what for what, m in {"environment": markers["environment"], **keys}.items() if m in text]
    _spy_earned_everything(out)


def test_check_leaks_nothing_of_the_machine_it_runs_on(tmp_path):
    """`grader check` from a working folder whose path holds a marker, with a marker in the environment."""
    env_secret, folder_marker = marker(), marker()
    cwd = tmp_path / f"work_{folder_marker}"
    cwd.mkdir()
    (cwd / "linear_regression.py").write_text(SPY)
    shutil.copy(cwd / "linear_regression.py", cwd / f"{folder_marker}.py")
    proc, scan = run_and_scan(["check", "assignment2", "--json", "--path", cwd / "linear_regression.py"],
                              env={"GRADER_TEST_SECRET": env_secret, "PYTHONPATH": str(ROOT)}, cwd=cwd,
                              needles=[env_secret.encode(), folder_marker.encode()])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["score"] == doc["max_score"] > 0
    text = proc.stdout.replace(str(cwd / "linear_regression.py"), "")  # the student's own path, in their own terminal
    _assert_clean(proc, scan, text + proc.stderr, {"environment": env_secret})


VIEW = '''
import json, os, torch
def forward(x, w, b):
    seen = {"/": sorted(os.listdir("/")), "/tmp": sorted(os.listdir("/tmp")), "mountinfo": open("/proc/self/mountinfo").read(),
            "environ": open("/proc/self/environ").read(), "cmdline": open("/proc/self/cmdline").read(), "procs": [p for p in os.listdir("/proc") if p.isdigit()]}
    return torch.tensor(list(json.dumps(seen).encode()), dtype=torch.uint8)
'''


def test_the_mount_view_alone_holds_only_the_allowlist(tmp_path, monkeypatch):
    """Landlock off: what the student process's own root holds (a hidden folder is never named to it)."""
    from grader.engine.student import Student
    from grader.sandbox import launcher, policy
    from grader.submissions.submission import Submission

    secret = marker()
    monkeypatch.setenv("GRADER_TEST_SECRET", secret)
    monkeypatch.setenv("GRADER_SANDBOX_DISABLE", "landlock")
    hidden = tmp_path / f"hidden_{secret}"
    (hidden / "sub").mkdir(parents=True)
    (hidden / "sub" / "linear_regression.py").write_text(VIEW)
    server = launcher.make_launcher("fork")
    try:
        student = Student(launcher=server, submission=Submission(name=secret, module_path=hidden / "sub" / "linear_regression.py"),
                          module_name="linear_regression", functions=["forward"], limits=policy.Limits(),
                          filesystem=policy.filesystem(hidden=[ROOT / "solutions", hidden, Path.cwd()]))
        student.begin_check()
        seen = json.loads(bytes(student.call("forward", 1, 2, 3).value.tolist()))
        student.end_check()
        student.close()
    finally:
        server.close()
    assert student.layers["mount-namespace"] is None and student.layers["landlock"] is not None
    assert set(seen["/"]) <= {"usr", "lib", "lib64", "lib32", "etc", "dev", "proc", "sys", "tmp", "root", "home", "opt"}, seen["/"]
    assert len(seen["/tmp"]) == 1 and seen["/tmp"][0].startswith("grader-") and seen["procs"] == ["1"]
    assert secret not in json.dumps(seen) and str(tmp_path) not in json.dumps(seen) and str(ROOT) not in seen["mountinfo"]
    assert "PATH=/usr/bin:/bin" in seen["environ"]
