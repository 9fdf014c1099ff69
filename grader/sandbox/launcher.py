"""Start student processes: forked from a clean warm process, or spawned.

:class:`ForkServer` is created by the trusted parent right after it imported
torch and BEFORE it loads any check, reference or solution.  It forks once
into a *warm process* (the zygote) that from then on only forks student
processes on request, so every student process inherits imported torch and
nothing else.  Where ``fork`` is unavailable, :class:`Spawner` starts a fresh
interpreter per student process instead (slower, same protocol).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from grader.sandbox import cgroup, child, namespaces
from grader.sandbox import layers as sandbox_layers
from grader.sandbox.protocol import frames


def _secret_modules() -> list[str]:
    """Loaded modules that a fork must never carry: checks and solutions."""
    leaked = []
    for name, module in list(sys.modules.items()):
        path = str(getattr(module, "__file__", None) or "")
        if name.startswith("solutions") or os.path.basename(path).startswith("checks_") or f"{os.sep}solutions{os.sep}" in path:
            leaked.append(name)
    return sorted(leaked)


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


@dataclass
class Started:
    """A student process just started: its pid, our end of its socket and of its output pipe."""

    pid: int
    sock: socket.socket
    output_fd: int


def _exit_status(raw: int) -> dict:
    if os.WIFSIGNALED(raw):
        return {"signal": os.WTERMSIG(raw)}
    if os.WIFEXITED(raw):
        return {"exit_code": os.WEXITSTATUS(raw)}
    return {}


def _warm_up() -> None:
    """Run torch's lazy initialisation once, so that later student processes do not pay it.

    The first ``backward`` with an explicit gradient imports ~500 modules
    (``torch.fx.experimental.symbolic_shapes``, about 0.3 s) and the first
    ``torch.optim`` optimizer imports ``torch._dynamo`` (about 1 s).
    """
    import torch
    import torch.nn.functional as F

    w = torch.ones(2, 1, requires_grad=True)
    loss = F.mse_loss(F.linear(torch.ones(3, 2), w.T), torch.zeros(3, 1))
    (g,) = torch.autograd.grad(loss, w, create_graph=True)
    torch.autograd.backward(g, torch.ones_like(g))  # an explicit gradient takes another lazy path
    opt = torch.optim.SGD([w], lr=0.1)
    opt.step()
    opt.zero_grad()


class ForkServer:
    """Handle, in the trusted parent, on the warm process that forks student processes."""

    note = None

    def __init__(self, *, warm: bool = False) -> None:
        """``warm``: run torch's lazy initialisation (:func:`_warm_up`) before the first student process, so that
        every student process of a batch starts from the same state and pays the same CPU time; else after
        forking the first one (``grader check``: one student, who then does not wait for it)."""
        leaked = _secret_modules()
        if leaked:
            raise RuntimeError(f"refusing to fork a warm process that holds {leaked[:3]}")
        # Message-preserving: a request that needs no reply (reap) never runs into the next one.
        self._ctrl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # the warm process
            self._ctrl.close()
            try:
                _serve(theirs, warm=warm)
            finally:
                os._exit(0)
        theirs.close()
        self._pid = pid

    def start(self, config: dict) -> Started:
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
        socket.send_fds(self._ctrl, [json.dumps({"op": "warm"}).encode()], [])

    def wait(self, pid: int, grace: float = 0.0) -> dict:
        """Reap a student process (after it died or was killed) and say how it ended.

        With ``grace``: one that has not ended after that many seconds is killed (its group)."""
        socket.send_fds(self._ctrl, [json.dumps({"op": "wait", "pid": pid, "grace": grace}).encode()], [])
        return _receive(self._ctrl)

    def reap(self, pid: int) -> None:
        """Have a killed student process reaped, without waiting for the warm process to do it."""
        socket.send_fds(self._ctrl, [json.dumps({"op": "reap", "pid": pid}).encode()], [])

    def close(self) -> None:
        """Stop the warm process: it ends its student processes and removes their cgroups (else, killed, by PDEATHSIG)."""
        try:
            self._ctrl.close()
            os.kill(self._pid, signal.SIGTERM)  # at once, even in the middle of its warm-up
            give_up = time.monotonic() + CLOSE_SECONDS
            while os.waitpid(self._pid, os.WNOHANG)[0] == 0:
                if time.monotonic() > give_up:
                    os.kill(self._pid, signal.SIGKILL)
                time.sleep(0.005)
        except (OSError, ChildProcessError):
            pass


#: How long :meth:`ForkServer.close` lets the warm process end its student processes and remove their cgroups.
CLOSE_SECONDS = 8.0


def _receive(ctrl: socket.socket) -> dict:
    """One reply of the warm process (a single JSON message)."""
    data = ctrl.recv(1 << 16)
    if not data:
        raise EOFError("the warm process has stopped")
    return json.loads(data)


def _wait(pid: int, grace: float) -> int:
    """Wait for ``pid``; after ``grace`` seconds (when given) kill its process group first."""
    if grace > 0:
        give_up = time.monotonic() + grace
        while time.monotonic() < give_up:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                return raw
            time.sleep(0.005)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    return os.waitpid(pid, 0)[1]


def _serve(ctrl: socket.socket, *, warm: bool = False) -> None:
    """Loop of the warm process: fork on request, reap on request (``warm``: see :class:`ForkServer`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if warm:
        _warm_up()
    warm = bool(warm)
    gc.collect()
    gc.freeze()  # imported objects stay shared with every fork, and out of its collections
    pool, zygote = cgroup.Pool(sandbox_layers.disabled().get("cgroup")), os.getpid()
    signal.signal(signal.SIGTERM, lambda *_: (pool.close(), os._exit(0)))  # ForkServer.close
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctrl, 1 << 20, 2)
        except OSError:
            break
        if not msg:
            break
        request = json.loads(msg)
        if request["op"] == "warm":
            if not warm:
                _warm_up()
                gc.collect()
                gc.freeze()
                warm = True
        elif request["op"] == "fork":
            group, why = pool.create(request["config"]["memory_mb"])
            pid = os.fork()
            if pid == 0:  # the keeper, then the student process (see grader.sandbox.namespaces)
                try:
                    ctrl.close()
                    os.setsid()
                    namespaces.die_with(zygote)
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        signal.signal(sig, signal.SIG_DFL)
                    layers = {"session": None, "cgroup": cgroup.enter(group, why), **namespaces.unshare()}
                    if layers["pid-namespace"] is None:
                        student = os.fork()  # PID 1 of the new namespace
                        if student != 0:
                            for fd in fds:
                                os.close(fd)
                            if group is not None and layers["cgroup"] is None:
                                group.leave()
                            namespaces.keep(student)
                    else:
                        layers["pid-namespace"] += "; its processes end " + ("with its cgroup" if layers["cgroup"] is None else "with its session: setsid escapes")
                    child.run(socket.socket(fileno=fds[0]), fds[1], request["config"], layers)
                finally:
                    os._exit(0)
            pool.track(pid, group)
            for fd in fds:
                os.close(fd)
            ctrl.send(json.dumps({"pid": pid}).encode())
            if not warm:
                # After the first fork, while that student runs: a single `grader check`
                # never waits for this, and every later student process inherits it.
                _warm_up()
                gc.collect()
                gc.freeze()
                warm = True
        elif request["op"] in ("wait", "reap"):
            try:
                raw = _wait(int(request["pid"]), float(request.get("grace") or 0.0))
                status = _exit_status(raw)
            except ChildProcessError:
                status = {}
            status.update(pool.reaped(int(request["pid"])))
            if request["op"] == "wait":
                ctrl.send(json.dumps(status).encode())
    pool.close()  # the trusted parent closed the channel (or died): end every student process, remove the cgroups


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
                [sys.executable, "-m", "grader.sandbox.child", str(theirs.fileno()), str(out_w)],
                pass_fds=(theirs.fileno(), out_w),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                start_new_session=True,
                env={**config["env"], "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
        finally:
            theirs.close()
            os.close(out_w)
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


def make_launcher(method: str | None = None, *, warm: bool = False):
    """The fork server where fork works, else the spawner (``GRADER_START_METHOD`` overrides).

    ``warm``: for a batch, every student process starts with torch's lazy initialisation done (see
    :class:`ForkServer`): the first student of a worker then uses no more CPU time than the others, so the
    number of workers cannot change a grade."""
    method = method or os.environ.get("GRADER_START_METHOD") or ("fork" if fork_available() else "spawn")
    return ForkServer(warm=warm) if method == "fork" else Spawner()
