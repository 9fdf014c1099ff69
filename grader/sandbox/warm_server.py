"""A warm process kept between commands, for whoever runs the grader many times in a row.

Every ``grader check`` or ``grade`` starts its own warm process (:mod:`grader.sandbox.zygote`), a fresh
interpreter that imports torch: about 2 s of CPU before the first student process, and another 1.3 s of
torch's lazy initialisation for a batch. A test suite, a course's CI or an author's edit-check loop that runs
the grader hundreds of times pays that hundreds of times. :func:`start` starts *one* warm server instead: the
same fresh ``python -I`` with the same minimal environment as a warm process, which imports torch and the
harness once, runs the lazy initialisation once, and then, for each command that connects, forks a copy that
is that command's warm process (it serves the connection exactly as :func:`grader.sandbox.zygote.serve`
does, and ends with it, its student processes and cgroups with it).

A command uses it when ``GRADER_WARM_SERVER`` (what :func:`start` returns: the socket's path and a token) is
in its environment and the server was started with the same interpreter, import paths and disabled sandbox
layers as the command would start its own (else it starts its own, as without the variable). The socket is
in a folder only its owner may enter, the token is asked before anything else, and a student process can
neither create a socket (seccomp) nor see the folder (its own root): nothing of the batch reaches the server
but what a warm process gets anyway (the fork requests: scratch module, limits, library roots).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import tempfile

from grader.sandbox import layers as sandbox_layers
from grader.sandbox import policy, zygote

#: ``PATH TOKEN``: the warm server a command forks its warm process from (see :func:`start`).
VAR = "GRADER_WARM_SERVER"
#: Seconds a connection has to present the token.
TOKEN_SECONDS = 5.0


def identity() -> dict:
    """What a warm process depends on besides the code: a server is used only where this matches."""
    return {"executable": sys.executable, "paths": policy.import_paths(),
            "disabled": sorted(sandbox_layers.disabled())}


def start(folder: str | None = None) -> tuple[subprocess.Popen, str]:
    """Start a warm server (its socket in a new private folder under ``folder``); return the process and the
    value of :data:`VAR` for the commands that should use it. It ends when its stdin is closed (or the
    process that started it ends), and removes its folder."""
    home = tempfile.mkdtemp(prefix="grader-warm-", dir=folder)  # mode 0700
    path, token = os.path.join(home, "socket"), secrets.token_hex(16)
    proc = subprocess.Popen(
        zygote.command("grader.sandbox.warm_server:serve", path), env=zygote.environment(), cwd="/",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
    )
    proc.stdin.write(token.encode() + b"\n")
    proc.stdin.flush()
    if proc.stdout.readline() != b"ready\n":
        proc.kill()
        proc.wait()
        raise RuntimeError("the warm server did not start")
    return proc, f"{path} {token}"


def connect() -> tuple[socket.socket, int] | None:
    """A warm process forked for this command (its control socket and pid), or None where :data:`VAR` is
    unset, the server is gone, refuses the token or does not match :func:`identity`."""
    value = os.environ.get(VAR, "")
    path, _, token = value.partition(" ")
    if not path or not token:
        return None
    ctrl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        ctrl.settimeout(TOKEN_SECONDS)
        ctrl.connect(path)
        ctrl.send(json.dumps({"token": token, **identity()}).encode())
        reply = json.loads(ctrl.recv(1 << 16) or b"{}")
        ctrl.settimeout(None)
    except (OSError, ValueError):
        ctrl.close()
        return None
    if "ready" not in reply:
        ctrl.close()
        return None
    return ctrl, int(reply["ready"])


# ------------------------------------------------------------------ in the server
def serve(path: str) -> None:
    """Entry point of the server (through :data:`grader.sandbox.zygote.BOOTSTRAP`)."""
    token = sys.stdin.buffer.readline().strip().decode()
    zygote.prepare()
    zygote.warm_up()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old = os.umask(0o077)
    listener.bind(path)
    os.umask(old)
    listener.listen(16)
    os.write(1, b"ready\n")
    mine = identity()
    try:
        while True:
            ready, _, _ = select.select([listener, 0], [], [], 1.0)
            _reap()
            if 0 in ready and not os.read(0, 1 << 10):
                break  # whoever started the server closed its stdin (or ended)
            if listener in ready:
                conn, _ = listener.accept()
                if os.fork() == 0:
                    listener.close()
                    null = os.open(os.devnull, os.O_RDWR)  # not the server's stdin and stdout: like a warm process's
                    os.dup2(null, 0)
                    os.dup2(null, 1)
                    os.close(null)
                    _connection(conn, token, mine)
                conn.close()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))
    os._exit(0)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _connection(conn: socket.socket, token: str, mine: dict) -> None:
    """In the fork for one connection: check the token and the identity, then be that command's warm process."""
    try:
        conn.settimeout(TOKEN_SECONDS)
        hello = json.loads(conn.recv(1 << 16) or b"{}")
        conn.settimeout(None)
    except (OSError, ValueError):
        os._exit(0)
    if not hmac.compare_digest(str(hello.get("token", "")), token):
        os._exit(0)
    if {key: hello.get(key) for key in mine} != mine:
        conn.send(json.dumps({"mismatch": sorted(k for k in mine if hello.get(k) != mine[k])}).encode())
        os._exit(0)
    zygote.serve_on(conn, True)  # warm_up ran in the server: nothing to do again
