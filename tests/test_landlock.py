"""Real-process tests of grader.sandbox.landlock (no mocks).

Each case forks a child, restricts it with Landlock, performs filesystem
operations there and reports the outcome to the parent through a pipe.
The parent (the pytest process) is never restricted.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.sandbox.landlock import LandlockUnavailable, abi_version, restrict

ABI = abi_version()

pytestmark = pytest.mark.skipif(
    ABI == 0, reason="Landlock is not available on this kernel (abi_version() == 0)"
)

CHILD_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _try(fn, *args, **kwargs) -> str:
    """Run an fs operation; return "ok" or the exception class name (+errno)."""
    try:
        fn(*args, **kwargs)
        return "ok"
    except OSError as e:
        return f"{type(e).__name__}:{errno.errorcode.get(e.errno, e.errno)}"
    except Exception as e:  # pragma: no cover - reported to the parent
        return f"{type(e).__name__}:{e}"


def _read(path) -> str:
    with open(path, "r") as f:
        return f.read()


def _write(path, data="x", mode="w") -> None:
    with open(path, mode) as f:
        f.write(data)


def run_in_child(body, *, read_only=(), read_write=()):
    """Fork; in the child call restrict() then body() -> JSON-able dict.

    Returns the dict the child produced.  The child always leaves with
    os._exit so no pytest machinery runs there.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            try:
                result = {"abi": restrict(read_only=read_only, read_write=read_write)}
                result.update(body())
            except BaseException as e:  # report, never propagate into pytest
                result = {"error": f"{type(e).__name__}: {e}"}
                code = 1
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(code)

    os.close(w)
    chunks = []
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("restricted child timed out")
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            data = os.read(r, 65536)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    raw = b"".join(chunks).decode()
    assert raw, f"child produced no result (wait status {status:#x})"
    result = json.loads(raw)
    assert "error" not in result, result["error"]
    assert result["abi"] == ABI
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return result


@pytest.fixture
def tree(tmp_path: Path):
    """ro/   : read-only dir with a file
    rw/   : read-write dir with a file
    other/: not listed anywhere, with a file
    single/: a dir with two files, only one listed (as a file path)"""
    d = {}
    for name in ("ro", "rw", "other", "single"):
        d[name] = tmp_path / name
        d[name].mkdir()
    (d["ro"] / "data.txt").write_text("ro-data")
    (d["ro"] / "sub").mkdir()
    (d["ro"] / "sub" / "nested.txt").write_text("nested")
    (d["rw"] / "data.txt").write_text("rw-data")
    (d["other"] / "secret.txt").write_text("secret")
    (d["single"] / "allowed.txt").write_text("allowed")
    (d["single"] / "sibling.txt").write_text("sibling")
    return d


# --------------------------------------------------------------------------
# basic API
# --------------------------------------------------------------------------

def test_abi_version_is_positive_int():
    assert isinstance(ABI, int) and ABI >= 1
    assert abi_version() == ABI


def test_landlock_unavailable_is_oserror():
    assert issubclass(LandlockUnavailable, OSError)


def test_single_path_instead_of_list_is_rejected(tmp_path):
    # Checked before anything irrevocable happens, so safe in the parent.
    with pytest.raises(TypeError):
        restrict(read_only=str(tmp_path), read_write=[])
    with pytest.raises(TypeError):
        restrict(read_only=[], read_write=tmp_path)


# --------------------------------------------------------------------------
# filesystem semantics
# --------------------------------------------------------------------------

def test_read_allowed_file_works(tree):
    def body():
        return {
            "read": _read(tree["ro"] / "data.txt"),
            "nested": _read(tree["ro"] / "sub" / "nested.txt"),
            "listdir": sorted(os.listdir(tree["ro"])),
            "rw_read": _read(tree["rw"] / "data.txt"),
        }

    res = run_in_child(body, read_only=[tree["ro"]], read_write=[tree["rw"]])
    assert res["read"] == "ro-data"
    assert res["nested"] == "nested"
    assert res["listdir"] == ["data.txt", "sub"]
    assert res["rw_read"] == "rw-data"


def test_read_outside_allowed_paths_fails(tree):
    secret = tree["other"] / "secret.txt"

    def body():
        return {
            "read": _try(_read, secret),
            "listdir": _try(os.listdir, tree["other"]),
            # /etc is not granted either
            "etc": _try(_read, "/etc/passwd"),
        }

    res = run_in_child(body, read_only=[tree["ro"]], read_write=[tree["rw"]])
    assert res["read"] == "PermissionError:EACCES"
    assert res["listdir"] == "PermissionError:EACCES"
    assert res["etc"] == "PermissionError:EACCES"


def test_write_inside_read_write_dir_works(tree):
    rw = tree["rw"]

    def body():
        out = {}
        out["create"] = _try(_write, rw / "new.txt", "hello")
        out["append"] = _try(_write, rw / "data.txt", "+more", "a")
        out["truncate"] = _try(os.truncate, rw / "new.txt", 2)
        out["mkdir"] = _try(os.mkdir, rw / "d")
        out["create_nested"] = _try(_write, rw / "d" / "f.txt", "nested")
        out["rename"] = _try(os.rename, rw / "d" / "f.txt", rw / "moved.txt")
        out["symlink"] = _try(os.symlink, "moved.txt", rw / "link")
        out["unlink"] = _try(os.unlink, rw / "link")
        out["rmdir"] = _try(os.rmdir, rw / "d")
        out["new"] = _read(rw / "new.txt")
        out["data"] = _read(rw / "data.txt")
        out["moved"] = _read(rw / "moved.txt")
        return out

    res = run_in_child(body, read_only=[], read_write=[rw])
    for op in ("create", "append", "truncate", "mkdir", "create_nested",
               "rename", "symlink", "unlink", "rmdir"):
        assert res[op] == "ok", (op, res[op])
    assert res["new"] == "he"
    assert res["data"] == "rw-data+more"
    assert res["moved"] == "nested"
    # and the parent sees the effects
    assert (rw / "moved.txt").read_text() == "nested"
    assert not (rw / "d").exists()


def test_write_or_create_in_read_only_dir_fails(tree):
    ro = tree["ro"]

    def body():
        return {
            "overwrite": _try(_write, ro / "data.txt", "pwned"),
            "append": _try(_write, ro / "data.txt", "pwned", "a"),
            "create": _try(_write, ro / "new.txt"),
            "mkdir": _try(os.mkdir, ro / "newdir"),
            "unlink": _try(os.unlink, ro / "data.txt"),
            "rename": _try(os.rename, ro / "data.txt", ro / "renamed.txt"),
            "symlink": _try(os.symlink, "/etc/passwd", ro / "link"),
            "rmdir": _try(os.rmdir, ro / "sub"),
        }

    res = run_in_child(body, read_only=[ro], read_write=[tree["rw"]])
    for op, outcome in res.items():
        if op == "abi":
            continue
        assert outcome.startswith("PermissionError"), (op, outcome)
    assert (ro / "data.txt").read_text() == "ro-data"
    assert not (ro / "new.txt").exists()
    assert (ro / "sub").is_dir()


def test_create_in_unlisted_dir_fails(tree, tmp_path_factory):
    unlisted = tmp_path_factory.mktemp("unlisted")

    def body():
        return {
            "create": _try(_write, unlisted / "x.txt"),
            "mkdir": _try(os.mkdir, unlisted / "d"),
            "mkfifo": _try(os.mkfifo, unlisted / "fifo"),
            "move_out_of_rw": _try(os.rename, tree["rw"] / "data.txt",
                                   unlisted / "data.txt"),
        }

    res = run_in_child(body, read_only=[tree["ro"]], read_write=[tree["rw"]])
    for op, outcome in res.items():
        if op == "abi":
            continue
        assert outcome.startswith("PermissionError"), (op, outcome)
    assert list(unlisted.iterdir()) == []
    assert (tree["rw"] / "data.txt").exists()


def test_read_only_regular_file_grants_just_that_file(tree):
    single = tree["single"]
    allowed = single / "allowed.txt"

    def body():
        return {
            "read": _try(_read, allowed),
            "content": _read(allowed),
            "sibling": _try(_read, single / "sibling.txt"),
            "listdir": _try(os.listdir, single),
            "write": _try(_write, allowed, "pwned"),
            "create": _try(_write, single / "new.txt"),
        }

    res = run_in_child(body, read_only=[allowed], read_write=[])
    assert res["read"] == "ok"
    assert res["content"] == "allowed"
    assert res["sibling"] == "PermissionError:EACCES"
    assert res["listdir"] == "PermissionError:EACCES"
    assert res["write"] == "PermissionError:EACCES"
    assert res["create"] == "PermissionError:EACCES"


def test_read_write_regular_file_grants_just_that_file(tree):
    single = tree["single"]
    allowed = single / "allowed.txt"

    def body():
        return {
            "write": _try(_write, allowed, "rewritten"),
            "content": _read(allowed),
            "sibling_write": _try(_write, single / "sibling.txt", "x"),
            "create": _try(_write, single / "new.txt"),
            "unlink": _try(os.unlink, allowed),
        }

    res = run_in_child(body, read_only=[], read_write=[allowed])
    assert res["write"] == "ok"
    assert res["content"] == "rewritten"
    assert res["sibling_write"] == "PermissionError:EACCES"
    assert res["create"] == "PermissionError:EACCES"
    assert res["unlink"] == "PermissionError:EACCES"


def test_nonexistent_paths_are_skipped(tree, tmp_path):
    missing = [tmp_path / "does-not-exist", str(tree["ro"] / "data.txt" / "x"),
               "/nonexistent/landlock/test"]

    def body():
        return {"read": _read(tree["ro"] / "data.txt")}

    res = run_in_child(body, read_only=[*missing, tree["ro"]], read_write=missing)
    assert res["read"] == "ro-data"


def test_restriction_is_irrevocable_and_layers_intersect(tree):
    def body():
        # A second, broader call cannot widen what the first one allowed.
        restrict(read_only=["/"], read_write=["/"])
        return {
            "ro": _try(_read, tree["ro"] / "data.txt"),
            "secret": _try(_read, tree["other"] / "secret.txt"),
            "rw_write": _try(_write, tree["rw"] / "data.txt"),
        }

    res = run_in_child(body, read_only=[tree["ro"]], read_write=[])
    assert res["ro"] == "ok"
    assert res["secret"] == "PermissionError:EACCES"
    assert res["rw_write"] == "PermissionError:EACCES"


def test_no_new_privs_is_set(tree):
    def body():
        libc = ctypes.CDLL(None, use_errno=True)
        PR_GET_NO_NEW_PRIVS = 39
        return {"nnp": libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)}

    assert run_in_child(body, read_only=[], read_write=[])["nnp"] == 1


# --------------------------------------------------------------------------
# scoping (ABI >= 6)
# --------------------------------------------------------------------------

@pytest.mark.skipif(ABI < 6, reason="Landlock scoping needs ABI >= 6")
def test_cannot_signal_processes_outside_domain():
    def body():
        return {
            "parent": _try(os.kill, os.getppid(), 0),
            "self": _try(os.kill, os.getpid(), 0),
        }

    res = run_in_child(body, read_only=[], read_write=[])
    assert res["parent"] == "PermissionError:EPERM"
    assert res["self"] == "ok"


@pytest.mark.skipif(ABI < 6, reason="Landlock scoping needs ABI >= 6")
def test_cannot_connect_to_outside_abstract_socket():
    name = f"\0landlock-test-{os.getpid()}-{time.monotonic_ns()}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(1)
    try:
        def body():
            def connect():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                    c.connect(name)
            return {"connect": _try(connect)}

        res = run_in_child(body, read_only=[], read_write=[])
        assert res["connect"] == "PermissionError:EPERM"
    finally:
        srv.close()


# --------------------------------------------------------------------------
# a fresh interpreter: keeps importing stdlib, exec works, children inherit
# --------------------------------------------------------------------------

def _python_runtime_paths() -> list[str]:
    """What a Python child needs to keep importing modules and exec'ing."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             "/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache",
             os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(paths)


def test_fresh_python_child_keeps_working(tree):
    repo_root = Path(__file__).resolve().parents[1]
    code = textwrap.dedent(
        """
        import json, os, subprocess, sys
        from grader.sandbox.landlock import restrict
        ro, rw, secret, runtime = json.loads(sys.argv[1])
        abi = restrict(read_only=runtime + [ro], read_write=[rw])

        out = {"abi": abi}
        # stdlib modules (pure Python + C extensions) not yet imported
        import decimal, fractions, csv, sqlite3, xml.dom.minidom, email.parser
        out["imports"] = "ok"
        try:
            open(secret).read(); out["secret"] = "ok"
        except PermissionError:
            out["secret"] = "PermissionError"
        with open(os.path.join(rw, "from_child.txt"), "w") as f:
            f.write("hi")
        # a grandchild (exec of the interpreter) inherits the restriction
        p = subprocess.run(
            [sys.executable, "-c",
             "import sys\\n"
             "try:\\n open(sys.argv[1]).read(); print('ok')\\n"
             "except PermissionError: print('PermissionError')",
             secret],
            capture_output=True, text=True, timeout=60)
        out["grandchild_rc"] = p.returncode
        out["grandchild_secret"] = p.stdout.strip()
        out["grandchild_err"] = p.stderr[-2000:]
        print(json.dumps(out))
        """
    )
    arg = json.dumps([str(tree["ro"]), str(tree["rw"]),
                      str(tree["other"] / "secret.txt"), _python_runtime_paths()])
    env = dict(os.environ, PYTHONPATH=str(repo_root), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", code, arg], capture_output=True,
                          text=True, timeout=120, cwd=str(tree["rw"]), env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["abi"] == ABI
    assert out["imports"] == "ok"
    assert out["secret"] == "PermissionError"
    assert (tree["rw"] / "from_child.txt").read_text() == "hi"
    assert out["grandchild_rc"] == 0, out["grandchild_err"]
    assert out["grandchild_secret"] == "PermissionError"


@pytest.mark.skipif(ABI < 4, reason="Landlock network rules need ABI 4 (Linux 6.7)")
def test_tcp_connect_and_bind_are_denied(tree):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def body():
        def connect():
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass

        def bind():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))

        def unix_pair():
            a, b = socket.socketpair()
            a.close()
            b.close()

        return {"connect": _try(connect), "bind": _try(bind), "unix": _try(unix_pair)}

    try:
        result = run_in_child(body, read_only=[tree["ro"]], read_write=[tree["rw"]])
    finally:
        listener.close()
    assert result["connect"] == result["bind"] == "PermissionError:EACCES"
    assert result["unix"] == "ok"
