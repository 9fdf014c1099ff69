"""Start student processes: forks of a fresh warm interpreter, or spawned.

:class:`ForkServer` starts the *warm process* (the zygote, :mod:`grader.sandbox.zygote`)
as a fresh ``python -I`` with a minimal environment and no instructor path on its
command line: never a fork of the grader (the CLI's ``grade``/``check`` or a Dask
worker), whose memory holds the roster, the output folder, the grader's whole
start-up environment and, on Dask, the worker's TLS key. It is created before
the class is discovered and imports torch and the harness while the caller goes
on; from then on it only forks student processes on request, so every student
process inherits imported torch and nothing else. Where ``fork`` is unavailable,
:class:`Spawner` starts a fresh interpreter per student process instead (slower,
same protocol, the same minimal environment).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass

from grader.sandbox import warm_server, zygote

#: Seconds the warm process may take to import torch and the harness before the grader gives up on it.
START_SECONDS = 300


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


@dataclass
class Started:
    """A student process just started: its pid, our end of its socket and of its output pipe."""

    pid: int
    sock: socket.socket
    output_fd: int


class ForkServer:
    """Handle, in the trusted parent, on the warm process that forks student processes."""

    note = None

    def __init__(self, *, warm: bool = False, start: bool = True) -> None:
        """``warm``: run torch's lazy initialisation (:func:`grader.sandbox.zygote.warm_up`) before the first
        student process, so that every student process of a batch starts from the same state and pays the same
        CPU time; else only when :meth:`warm` asks (``grader check`` never does: its one student process pays
        whatever lazy initialisation its code needs).

        ``start``: start the warm process now, so that it imports torch while the caller goes on; else when the
        first student process is asked for (a caller that may have none to start pays nothing)."""
        self._warm, self._proc, self._ready, self._remote = warm, None, False, None
        if start:
            self._spawn()

    def _spawn(self) -> None:
        if self._proc is not None or self._remote is not None:
            return
        remote = warm_server.connect()  # a warm process forked by a warm server, where one is given and matches
        if remote is not None:
            self._ctrl, self._remote = remote
            self._ready = True
            return
        # Message-preserving: a request that needs no reply (reap) never runs into the next one.
        self._ctrl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                zygote.command("grader.sandbox.zygote:serve", str(theirs.fileno()), "1" if self._warm else "0"),
                env=zygote.environment(), cwd="/", close_fds=True, pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        finally:
            theirs.close()

    def _started(self) -> None:
        """Wait (once) for the warm process to have imported torch and the harness."""
        if self._ready:
            return
        self._spawn()
        self._ctrl.settimeout(START_SECONDS)
        try:
            reply = _receive(self._ctrl)
        except (socket.timeout, EOFError) as exc:
            raise RuntimeError(f"the warm process did not start ({exc or 'it stopped'})") from None
        finally:
            self._ctrl.settimeout(None)
        if "error" in reply:
            raise RuntimeError(f"the warm process could not start: {reply['error']}")
        self._ready = True

    def start(self, config: dict) -> Started:
        self._started()
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        try:
            socket.send_fds(self._ctrl, [json.dumps({"op": "fork", "config": config}).encode()], [theirs.fileno(), out_w])
            reply = _receive(self._ctrl)
        finally:
            theirs.close()
            os.close(out_w)
        return Started(pid=reply["pid"], sock=ours, output_fd=out_r)

    def warm(self) -> None:
        """Have the warm process run torch's lazy initialisation now, if it has not yet (before the next fork)."""
        self._spawn()
        socket.send_fds(self._ctrl, [json.dumps({"op": "warm"}).encode()], [])

    def wait(self, pid: int, grace: float = 0.0) -> dict:
        """Reap a student process (after it died or was killed) and say how it ended.

        With ``grace``: one that has not ended after that many seconds is killed (its group)."""
        self._started()
        socket.send_fds(self._ctrl, [json.dumps({"op": "wait", "pid": pid, "grace": grace}).encode()], [])
        return _receive(self._ctrl)

    def reap(self, pid: int) -> None:
        """Have a killed student process reaped, without waiting for the warm process to do it."""
        socket.send_fds(self._ctrl, [json.dumps({"op": "reap", "pid": pid}).encode()], [])

    def close(self) -> None:
        """Stop the warm process: it ends its student processes and removes their cgroups (else, killed after
        :data:`CLOSE_SECONDS`, by PDEATHSIG)."""
        if self._remote is not None:
            self._close_remote()
        if self._proc is None:
            return
        try:
            self._ctrl.close()
            self._proc.send_signal(signal.SIGTERM)  # at once, even in the middle of its warm-up
            self._proc.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        except OSError:
            pass
        self._proc.wait()

    def _close_remote(self) -> None:
        """Stop a warm process forked by a warm server (not our child: its end is seen as the socket's)."""
        pid, self._remote = self._remote, None
        try:
            os.kill(pid, signal.SIGTERM)
            self._ctrl.settimeout(CLOSE_SECONDS)
            while self._ctrl.recv(1 << 16):
                pass
        except socket.timeout:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        self._ctrl.close()


#: How long :meth:`ForkServer.close` lets the warm process end its student processes and remove their cgroups.
CLOSE_SECONDS = 8.0


def _receive(ctrl: socket.socket) -> dict:
    """One reply of the warm process (a single JSON message)."""
    data = ctrl.recv(1 << 16)
    if not data:
        raise EOFError("the warm process has stopped")
    return json.loads(data)


class Spawner:
    """Fallback where fork is unavailable: a fresh interpreter per student process."""

    note = "fork is unavailable on this platform: each student process starts a fresh Python (slower)"

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen] = {}

    def start(self, config: dict) -> Started:
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        try:
            proc = subprocess.Popen(
                zygote.command("grader.sandbox.zygote:spawned", str(theirs.fileno()), str(out_w)),
                pass_fds=(theirs.fileno(), out_w), close_fds=True, cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                start_new_session=True,
                env={**zygote.environment(), **config["env"]},
            )
        finally:
            theirs.close()
            os.close(out_w)
        from grader.sandbox.protocol import frames  # torch: imported by the caller, never before the warm process starts

        frames.write_frame(ours, {"config": config})
        self._procs[proc.pid] = proc
        return Started(pid=proc.pid, sock=ours, output_fd=out_r)

    def wait(self, pid: int, grace: float = 0.0) -> dict:
        proc = self._procs.pop(pid, None)
        if proc is None:
            return {}
        try:
            code = proc.wait(timeout=grace or None) if grace else proc.wait()
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        return {"signal": -code} if code < 0 else {"exit_code": code}

    def reap(self, pid: int) -> None:
        self.wait(pid)

    def warm(self) -> None:
        """Nothing to warm: every spawned student process starts from scratch."""

    def close(self) -> None:
        for proc in self._procs.values():
            proc.kill()
            proc.wait()
        self._procs.clear()


def make_launcher(method: str | None = None, *, warm: bool = False, start: bool = True):
    """The fork server where fork works, else the spawner (``GRADER_START_METHOD`` overrides).

    ``warm``: for a batch, every student process starts with torch's lazy initialisation done (see
    :class:`ForkServer`): the first student of a worker then uses no more CPU time than the others, so the
    number of workers cannot change a grade. ``start``: see :class:`ForkServer`."""
    method = method or os.environ.get("GRADER_START_METHOD") or ("fork" if fork_available() else "spawn")
    return ForkServer(warm=warm, start=start) if method == "fork" else Spawner()
