"""The warm server (grader.sandbox.warm_server): one warm process kept between commands, forked per command."""

from __future__ import annotations

import os
import socket
import time

import pytest

from conftest import run_grader
from grader.sandbox import launcher, layers, warm_server
from test_sandbox import make_student

SOURCE = '''
import os
def forward(x, w, b):
    return os.getppid()
'''


@pytest.fixture(scope="module")
def server():
    proc, value = warm_server.start()
    yield proc, value
    proc.stdin.close()
    proc.wait(timeout=30)


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_command_forks_its_warm_process_from_the_server_and_ends_it(server, monkeypatch, tmp_path):
    proc, value = server
    monkeypatch.setenv(warm_server.VAR, value)
    fork_server = launcher.make_launcher("fork")
    try:
        warm = fork_server._remote
        assert warm is not None and fork_server._proc is None
        assert _parent(warm) == proc.pid  # a fork of the server, not a fresh interpreter of ours
        student = make_student(fork_server, SOURCE, tmp_path)
        student.begin_check()
        assert student.call("forward", 1, 2, 3).value == 0  # its own PID namespace, as from its own warm process
        student.end_check()
        assert set(student.layers) == set(layers.LAYERS) and all(why is None for why in student.layers.values())
        student.close()
    finally:
        fork_server.close()
    deadline = time.monotonic() + 10
    while _alive(warm) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(warm)
    assert proc.poll() is None  # the server goes on for the next command


@pytest.mark.parametrize("change", ["token", "layers"])
def test_a_wrong_token_or_another_sandbox_starts_a_warm_process_of_its_own(server, monkeypatch, change):
    proc, value = server
    if change == "token":
        monkeypatch.setenv(warm_server.VAR, value[:-4] + "0000")
    else:
        monkeypatch.setenv(warm_server.VAR, value)
        monkeypatch.setenv(layers.DISABLE_VAR, "landlock")
    fork_server = launcher.make_launcher("fork")
    try:
        assert fork_server._remote is None and fork_server._proc is not None
    finally:
        fork_server.close()
    assert proc.poll() is None


def test_a_connection_without_the_token_gets_nothing(server):
    _, value = server
    path = value.split()[0]
    assert os.stat(os.path.dirname(path)).st_mode & 0o077 == 0  # only its owner may enter the folder
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.send(b'{"op": "fork", "config": {"memory_mb": 1}}')
        assert sock.recv(1 << 16) == b""  # closed without a reply


def test_grade_through_the_server_gives_the_same_gradebook(tmp_path):
    """The suite's runs use a warm server (conftest); the same class graded with a warm process of its own."""
    from conftest import SUBMISSIONS, Gradebook

    for name in ("correct_loops", "fails_stub"):
        (tmp_path / "class" / name).mkdir(parents=True)
        for f in (SUBMISSIONS / "assignment2" / name).iterdir():
            (tmp_path / "class" / name / f.name).write_bytes(f.read_bytes())
    books = []
    for label, env in (("served", {}), ("own", {warm_server.VAR: ""})):
        proc = run_grader("grade", "assignment2", tmp_path / "class", "-o", tmp_path / label, "-j", "1", env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        books.append(Gradebook(tmp_path / label, proc))
    assert books[0].rows == books[1].rows
    assert float(books[0].rows["correct_loops"]["score"]) == 100 and float(books[0].rows["fails_stub"]["score"]) == 0
