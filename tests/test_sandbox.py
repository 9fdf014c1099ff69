"""The trust boundary's parts: the wire format, the warm process, the student process."""

from __future__ import annotations

import contextlib
import os

import socket
import sys
import types
from pathlib import Path

import pytest
import torch

from grader.sandbox import launcher
from grader.sandbox.protocol import frames as wire
from grader.sandbox.policy import Limits, filesystem
from grader.engine.student import Starved, Student, StudentError, SubmissionAbort
from grader.submissions.submission import Submission

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ["forward", "mse_loss", "zero_grad", "sgd_step", "train"]


def test_tensor_bytes_round_trip_and_validation():
    for t in (torch.randn(3, 2), torch.arange(6, dtype=torch.int64).reshape(2, 3).T, torch.tensor(2.5, dtype=torch.float64), torch.empty(0, 3)):
        back = wire.tensor_from_bytes(wire.DTYPE_NAMES[t.dtype], list(t.shape), wire.tensor_bytes(t))
        assert torch.equal(back, t) and back.dtype == t.dtype
    with pytest.raises(wire.ProtocolError):
        wire.tensor_from_bytes("float32", [2, 2], b"\0" * 15)
    with pytest.raises(wire.ProtocolError):
        wire.tensor_from_bytes("object", [1], b"\0" * 8)
    with pytest.raises(wire.ProtocolError):
        wire.tensor_from_bytes("float32", [-1], b"")


def test_oversized_and_malformed_frames_are_refused():
    a, b = socket.socketpair()
    with a, b:
        wire.write_frame(a, {"x": 1}, [b"\0" * 2048])
        with pytest.raises(wire.ProtocolError, match="larger than"):
            wire.read_frame(b, max_bytes=1024)
    a, b = socket.socketpair()
    with a, b:
        a.sendall(wire._PREFIX.pack(5, 0) + b"[1,2]")
        with pytest.raises(wire.ProtocolError, match="not an object"):
            wire.read_frame(b)


def test_warm_process_is_a_fresh_interpreter_that_holds_nothing_the_grader_loaded(monkeypatch, tmp_path):
    """Started after a checks module was loaded: the warm process is exec'd, not forked, so it holds none of it."""
    fake = types.ModuleType("checks_hidden")
    fake.__file__ = str(ROOT / "solutions" / "assignment2" / "checks_hidden.py")
    monkeypatch.setitem(sys.modules, "checks_hidden", fake)
    monkeypatch.delenv("GRADER_WARM_SERVER", raising=False)  # its own warm process, as without the suite's server
    server = launcher.make_launcher("fork")
    try:
        source = "import sys\ndef forward(x, w, b):\n    return ('checks_hidden' in sys.modules, 'pytest' in sys.modules)\n"
        student = make_student(server, source, tmp_path)
        student.begin_check()
        assert tuple(student.call("forward", 1, 2, 3).value) == (False, False)
        student.end_check()
        student.close()
    finally:
        server.close()


@pytest.fixture(scope="module")
def fork_server():
    server = launcher.make_launcher("fork")
    yield server
    server.close()


def make_student(server, source: str, tmp_path: Path, objects: Path | None = None, **limits) -> Student:
    path = tmp_path / "linear_regression.py"
    path.write_text(source)
    return Student(
        launcher=server,
        submission=Submission(name="t", module_path=path),
        module_name="linear_regression",
        functions=FUNCTIONS,
        limits=Limits(**limits),
        filesystem=filesystem(hidden=[ROOT / "solutions", tmp_path.parent]),
        objects=objects,
    )


SOURCE = '''
import os, sys, torch
def forward(x, w, b):
    return x @ w + b
def mse_loss(y_pred, y):
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if os.path.exists("/proc/self/fd/" + fd))
    return (torch.get_num_threads(), len(os.environ), os.getcwd() == os.environ["HOME"], "GRADER_SECRET" in os.environ, {"a": 1}, fds)
def zero_grad(params):
    os._exit(3)
def sgd_step(params, lr):
    while True:
        pass
def train(x, y, w, b, lr, epochs):
    return open(lr).read()
'''


def test_calls_return_data_and_the_process_survives_only_what_it_should(fork_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET", "x")  # too late for the warm process, but a spawn would inherit it
    student = make_student(fork_server, SOURCE, tmp_path, check_seconds=3.0)
    try:
        student.begin_check()
        x, w, b = torch.randn(3, 2), torch.randn(2, 1), torch.randn(1)
        call = student.call("forward", x, w.requires_grad_(), b, backward=torch.ones(3, 1))
        assert torch.allclose(call.value, x @ w.detach() + b)
        assert call.facts(call.value).has_grad_fn
        assert torch.allclose(call.inputs[1].grad, x.T @ torch.ones(3, 1))
        # Each student process: one thread, a minimal environment, its scratch folder as home.
        threads, n_env, in_scratch, sees_secret, a_dict, fds = student.call("mse_loss", 1.0, 2.0).value
        assert (threads, in_scratch, sees_secret) == (1, True, False) and n_env < 15
        assert fds[:3] == [0, 1, 2] and len(fds) == 4  # stdin (/dev/null), output pipe twice, the protocol socket
        assert type(a_dict).__name__ == "Opaque" and "dict" in str(a_dict)  # named, never decoded
        with pytest.raises(SubmissionAbort, match="exited with status 3") as crash:
            student.call("zero_grad", [])
        assert crash.value.problem == "crash"
        student.begin_check()  # the next check: a fresh process (it may wait for the warm process's warm-up)
        assert student.call("forward", x, w.detach(), b).value.shape == (3, 1)
        student.begin_check()
        with pytest.raises(SubmissionAbort, match="did not finish within the time limit") as hang:
            student.call("sgd_step", [], 0.1)
        assert hang.value.problem == "timeout"
        student.begin_check()
        for secret in (str(ROOT / "solutions" / "assignment2" / "checks_hidden.py"), "/etc/passwd", str(tmp_path.parent)):
            with pytest.raises(StudentError, match="PermissionError|FileNotFoundError"):  # denied, or covered by the mount namespace
                student.call("train", None, None, None, None, secret, 1)
        assert student.problems == {"crash", "timeout"}
    finally:
        student.close()


def test_import_failure_fails_every_call_without_restarting(fork_server, tmp_path):
    student = make_student(fork_server, "raise ValueError('boom at import')\n", tmp_path)
    try:
        student.begin_check()
        for _ in range(2):
            with pytest.raises(SubmissionAbort, match="failed to import.*boom at import"):
                student.call("forward", 1.0, 2.0, 3.0)
        assert student.problems == {"import"}
    finally:
        student.close()


def test_deeply_nested_json_is_a_protocol_error_not_a_crash():
    import threading

    a, b = socket.socketpair()
    with a, b:
        payload = b"[" * 200_000 + b"]" * 200_000
        threading.Thread(target=lambda: a.sendall(wire._PREFIX.pack(len(payload), 0) + payload), daemon=True).start()
        with pytest.raises(wire.ProtocolError, match="not JSON"):
            wire.read_frame(b)


GROUP_SOURCE = '''
import ctypes, os, sys, time
def forward(x, w, b):
    pid = os.fork()  # no other program may run (seccomp): a forked child that sleeps
    if pid == 0:
        ctypes.CDLL(None).prctl(15, b"grader-sleeper", 0, 0, 0)
        time.sleep(600)
        os._exit(0)
    return pid
def mse_loss(y_pred, y):
    while True:
        pass
def zero_grad(params):
    import torch
    a = torch.ones(200, 200)
    while True:
        a = a @ a / 200.0
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and ("Z" in line or "X" in line) for line in f)
    except FileNotFoundError:
        return False


def _sleepers() -> list[int]:
    """Host pids of the processes GROUP_SOURCE starts (the pid it returns is its namespace's)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and open(f"/proc/{pid}/comm", "rb").read() == b"grader-sleeper\n" and _alive(int(pid)):
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_the_whole_process_group_is_killed(fork_server, tmp_path):
    student = make_student(fork_server, GROUP_SOURCE, tmp_path, check_seconds=1.0)
    try:
        student.begin_check()
        sleeper = student.call("forward", 1, 2, 3).value
        import time

        give_up = time.monotonic() + 60  # its name shows once the child runs (slow on a busy machine)
        while not _sleepers() and time.monotonic() < give_up:
            time.sleep(0.02)
        assert isinstance(sleeper, int) and len(_sleepers()) == 1
        with pytest.raises(SubmissionAbort, match="time limit"):
            student.call("mse_loss", 1, 2)
        give_up = time.monotonic() + 60
        while _sleepers() and time.monotonic() < give_up:
            time.sleep(0.05)
        assert not _sleepers(), "a process the submission started outlived it"
    finally:
        student.close()


def test_cpu_time_limit_is_enforced_apart_from_wall_time(fork_server, tmp_path):
    student = make_student(fork_server, GROUP_SOURCE, tmp_path, check_seconds=30.0, cpu_seconds=1)
    try:
        student.begin_check()
        with pytest.raises(SubmissionAbort, match="CPU time limit") as info:
            student.call("zero_grad", [])
        assert info.value.problem == "timeout"
    finally:
        student.close()


SLOW_BUG = '''
import time
def forward(x, w, b):
    start = time.process_time()
    while time.process_time() - start < 0.3:  # 0.3 s of CPU time: limits count CPU, not sleep
        pass
    return x @ w + b + 1.0
'''


def test_running_out_of_time_while_shrinking_keeps_the_failure_not_a_timeout(fork_server, tmp_path):
    """A slow wrong answer is a wrong answer: the check fails with it, no `timeout` problem."""
    student = make_student(fork_server, SLOW_BUG, tmp_path, check_seconds=1.0)
    try:
        student.begin_check()
        x, w, b = torch.ones(2, 1), torch.ones(1, 1), torch.ones(1)
        for _ in range(10):  # as Hypothesis would: keep calling after the first failure
            try:
                student.call("forward", x, w, b)
                student.note_failure("forward(x, w, b) is wrong: expected 2, got 3")
            except SubmissionAbort as exc:
                assert str(exc) == "forward(x, w, b) is wrong: expected 2, got 3" and exc.problem is None
                break
        else:
            pytest.fail("the check never ran out of time")
        assert "timeout" not in student.problems
    finally:
        student.close()


ESCAPE_SOURCE = '''
import os, time
def forward(x, w, b):
    if os.fork() == 0:          # a grandchild that leaves the process group, keeping stdout open
        os.setsid()
        time.sleep(30)
        os._exit(0)
    return 1.0
'''


def test_a_process_that_escapes_the_group_cannot_stall_the_grader(fork_server, tmp_path):
    import time

    student = make_student(fork_server, ESCAPE_SOURCE, tmp_path)
    student.begin_check()
    assert student.call("forward", 1, 2, 3).value == 1.0
    start = time.monotonic()
    student.close()
    assert time.monotonic() - start < 15  # never the grandchild's 30 s, however busy the machine


MODULE_SOURCE = '''
import torch
def forward(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()
'''


def test_harness_built_linear_and_sgd_are_kept_and_described(fork_server, tmp_path):
    from grader.checks import assignment_module
    from grader.exchange import Ref

    ref = assignment_module(ROOT / "assignments" / "assignment5" / "references.py", "references")
    SGD, Linear = ref.SGD, ref.Linear
    student = make_student(fork_server, MODULE_SOURCE, tmp_path, objects=ROOT / "assignments" / "assignment5" / "objects.py")
    try:
        student.begin_check()
        w, b = torch.tensor([[0.5, -1.0]]), torch.tensor([0.25])
        x, y = torch.randn(4, 2), torch.randn(4, 1)
        spec = Linear(w, b, keep="model", grad_weight=torch.ones(1, 2), grad_bias=torch.ones(1))
        loss = student.call("forward", spec, SGD("model", 0.1), x, y).value
        ref_layer = spec.build()
        opt = torch.optim.SGD(ref_layer.parameters(), lr=0.1)
        opt.zero_grad()
        expected = torch.nn.functional.mse_loss(ref_layer(x), y)
        expected.backward()
        opt.step()
        assert loss == pytest.approx(expected.item())
        info = student.describe(Ref("model"))
        assert torch.allclose(info.params["linear.weight"], ref_layer.linear.weight.detach())
        assert info.children == {"linear": "torch.nn.modules.linear.Linear"}
        opt_info = student.describe(Ref("opt"))
        assert opt_info.type == "torch.optim.sgd.SGD" and opt_info.groups[0].params == ["model.linear.weight", "model.linear.bias"]
    finally:
        student.close()


TIME_SOURCE = '''
import os, sys, time
def forward(x, w, b):
    time.sleep(3600)
def mse_loss(y_pred, y):
    # The CPU time is spent in a child process: the tree's time counts.
    pid = os.fork()
    if pid == 0:
        while True:
            pass
    os.waitpid(pid, 0)
def zero_grad(params):
    start = time.process_time()
    while time.process_time() - start < 0.2:
        pass
    return time.process_time() - start
def sgd_step(params, lr):
    while True:
        pass
'''


def test_a_sleeping_call_ends_at_the_wall_clock_safety_net(fork_server, tmp_path):
    import time

    student = make_student(fork_server, TIME_SOURCE, tmp_path, check_seconds=1.0, wall_seconds=2.0)
    try:
        student.begin_check()
        start = time.monotonic()
        with pytest.raises(SubmissionAbort, match=r"did not finish within the time limit \(it used only 0\.\d s of CPU time in the wall-clock limit of 2 s of a check: it was sleeping") as info:
            student.call("forward", 1, 2, 3)
        assert info.value.problem == "timeout" and 2.0 <= time.monotonic() - start < 60  # not the hour it sleeps
    finally:
        student.close()


def test_cpu_time_of_the_whole_process_tree_counts(fork_server, tmp_path):
    student = make_student(fork_server, TIME_SOURCE, tmp_path, check_seconds=1.0)
    try:
        student.begin_check()
        with pytest.raises(SubmissionAbort, match=r"did not finish within the time limit \(it used all 1 s of CPU time a check may use\)") as info:
            student.call("mse_loss", 1, 2)
        assert info.value.problem == "timeout"
    finally:
        student.close()


def test_a_check_counts_its_calls_cpu_time_and_the_submission_its_checks(fork_server, tmp_path):
    student = make_student(fork_server, TIME_SOURCE, tmp_path, check_seconds=1.0, submission_seconds=1.5)
    try:
        student.begin_check()
        for _ in range(3):
            assert 0.2 <= student.call("zero_grad", []).value < 0.4
        student.end_check()
        student.begin_check()  # 0.6 s used: 0.9 s left of the submission's 1.5
        with pytest.raises(SubmissionAbort) as info:
            for _ in range(10):
                student.call("zero_grad", [])
        # Ended in the middle of a call, or before the next one: either way the submission's total is named.
        assert info.value.problem == "timeout" and "1.5 s of CPU time" in str(info.value), str(info.value)
    finally:
        student.close()


def test_a_starved_process_is_not_a_timeout(fork_server, tmp_path):
    """A busy loop that cannot get a CPU (SCHED_IDLE against a normal busy loop on the same core) reaches the
    wall-clock net without its CPU time: the machine's fault, never the `timeout` problem."""
    import subprocess

    student = make_student(fork_server, TIME_SOURCE, tmp_path, check_seconds=2.0, wall_seconds=3.0)
    hog = subprocess.Popen([sys.executable, "-c", "import os, time\nos.sched_setaffinity(0, {0})\nprint('spinning', flush=True)\n"
                            "end = time.time() + 60\nwhile time.time() < end: pass"], stdout=subprocess.PIPE, text=True)
    try:
        # Only once the hog spins on core 0 (a python starting on a busy machine takes a while): before that, the
        # idle-class student would have the core to itself.
        assert hog.stdout.readline().strip() == "spinning"
        student.begin_check()
        student.call("zero_grad", [])
        sample = student._process.meter.scan()
        assert sample is not None
        for pid in student._process.meter._members:
            os.sched_setaffinity(pid, {0})
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
            # The student process has a session of its own, hence (with CONFIG_SCHED_AUTOGROUP) a scheduling group
            # of its own that competes with the hog's as a whole, whatever its policy: the least weight there too.
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/autogroup").write_text("19")
        with pytest.raises(Starved, match="the machine was too busy"):
            student.call("sgd_step", [], 0.1)
        assert "timeout" not in student.problems
    finally:
        hog.kill()
        hog.wait()
        student.close()


def test_the_tree_meter_finds_descendants_without_the_children_files():
    import signal
    import subprocess
    import time

    from grader.sandbox import cputime

    # Four processes (two forks), each using 0.5 s of CPU time, then sleeping.
    code = "import os, time\nfor _ in range(2):\n    os.fork()\nwhile time.process_time() < 0.5: pass\ntime.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        for children_files in (False, True):  # as on kernels without CONFIG_PROC_CHILDREN, then with
            meter = cputime.TreeMeter(proc.pid)
            meter._children_files = children_files
            give_up = time.monotonic() + 60
            while (sample := meter.scan()).cpu < 1.8 and time.monotonic() < give_up:
                time.sleep(0.1)
            assert len(meter._members) == 4 and sample.cpu >= 1.8, (meter._members, sample)
            assert meter.cpu() >= sample.cpu
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the session this test started
        proc.wait()


def test_without_proc_the_wall_clock_stands_for_cpu_time(fork_server, tmp_path, monkeypatch):
    """Where /proc cannot be read (macOS, Windows), a check's limit is on the wall clock, as it always was."""
    import time

    from grader.sandbox import cputime

    monkeypatch.setattr(cputime, "available", lambda: False)
    student = make_student(fork_server, TIME_SOURCE, tmp_path, check_seconds=1.0)
    try:
        student.begin_check()
        start = time.monotonic()
        with pytest.raises(SubmissionAbort, match=r"did not finish within the time limit \(1 s per check\)") as info:
            student.call("forward", 1, 2, 3)  # sleeps: on the wall clock, that is a timeout after 1 s
        assert info.value.problem == "timeout" and time.monotonic() - start < 10
    finally:
        student.close()


def test_a_frame_is_read_as_its_bytes_arrive_and_a_huge_size_is_refused_at_once():
    a, b = socket.socketpair()
    with a, b:
        wire.write_frame(a, {"x": [1, 2]}, [b"abc", b""])
        data = b.recv(1 << 16)
    reader = wire.FrameReader()
    frames_seen = [reader.feed(data[i:i + 1]) for i in range(len(data))]
    assert frames_seen[:-1] == [None] * (len(data) - 1) and frames_seen[-1] == ({"x": [1, 2]}, [b"abc", b""])
    reader = wire.FrameReader(max_bytes=1024)
    assert reader.feed(wire._PREFIX.pack(2, 1) + b"{}") is None
    with pytest.raises(wire.ProtocolError, match="larger than 1024"):
        reader.feed(wire._BLOB_LEN.pack(1 << 40))  # refused before a byte of the blob is awaited


TRICKLE_SOURCE = '''
import os, stat, struct, time
def _channel():
    for fd in range(256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            pass
def _trickle(pause):
    fd = _channel()
    body = b'{"ok": true, "result": ' + b" " * 100000 + b'1}'
    os.write(fd, struct.pack("<II", len(body), 0))  # a valid header, then the rest one byte at a time
    for i in range(len(body)):
        os.write(fd, body[i:i + 1])
        pause()
def forward(x, w, b):
    _trickle(lambda: time.sleep(0.02))
def mse_loss(y_pred, y):
    def spin():
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass
    _trickle(spin)
'''


def test_a_reply_trickled_byte_by_byte_cannot_extend_the_wait(fork_server, tmp_path):
    """One deadline per wait: a sleeping trickler ends at the wall-clock net, a busy one at its CPU time limit
    (the CPU time is read while the frame arrives), each a timeout."""
    import time

    student = make_student(fork_server, TRICKLE_SOURCE, tmp_path, check_seconds=1.0, wall_seconds=2.0)
    try:
        student.begin_check()
        start = time.monotonic()
        with pytest.raises(SubmissionAbort, match="wall-clock limit of 2 s") as info:
            student.call("forward", 1, 2, 3)
        assert info.value.problem == "timeout" and time.monotonic() - start < 15
    finally:
        student.close()
    student = make_student(fork_server, TRICKLE_SOURCE, tmp_path, check_seconds=1.0, wall_seconds=60.0)
    try:
        student.begin_check()
        start = time.monotonic()
        with pytest.raises(SubmissionAbort, match=r"it used all 1 s of CPU time a check may use") as info:
            student.call("mse_loss", 1, 2)
        assert info.value.problem == "timeout" and time.monotonic() - start < 30  # never the 60-s net
    finally:
        student.close()


OOM_SOURCE = '''
import os, signal, time
def forward(x, w, b):
    """Three children of 200 MB each (each under the process's own limit): the tree is over it together.
    Returns how many are still alive once each has its memory or has died."""
    kids = []
    for _ in range(3):
        r, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            held = [bytearray(10 << 20) for _ in range(20)]
            os.write(wfd, b"d")
            time.sleep(60)
            os._exit(0)
        os.close(wfd)
        kids.append((pid, r))
    for _, r in kids:
        os.read(r, 1)  # b"d" once it holds its 200 MB, or b"" once it died
    time.sleep(0.5)  # an OOM kill is signalled while the last allocation runs: let its victim exit
    alive = [pid for pid, _ in kids if os.waitpid(pid, os.WNOHANG)[0] == 0]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return len(alive)
def mse_loss(y_pred, y):
    """A child that waits, then 200 MB in the child and 280 MB in the student process: the student process,
    the largest, is the one the cgroup's OOM killer ends."""
    if os.fork() == 0:
        time.sleep(1.0)
        held = [bytearray(10 << 20) for _ in range(20)]
        time.sleep(60)
        os._exit(0)
    held = [bytearray(10 << 20) for _ in range(28)]
    time.sleep(30)
'''


def test_the_process_tree_shares_one_memory_limit(fork_server, tmp_path):
    student = make_student(fork_server, OOM_SOURCE, tmp_path, memory_mb=300)
    try:
        student.begin_check()
        # One child was ended (the one allocating, or, when their allocations overlap, one that already held its
        # 200 MB: the OOM killer picks the largest): the three never held 600 MB together.
        assert student.call("forward", 1, 2, 3).value in (1, 2)
        student.begin_check()
        with pytest.raises(SubmissionAbort, match="more memory than its limit") as info:
            student.call("mse_loss", 1, 2)
        assert info.value.problem == "memory"
    finally:
        student.close()
