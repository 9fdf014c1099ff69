"""The warm process (the *zygote*): a fresh interpreter that holds torch and the harness and nothing of the batch.

It is started by :class:`grader.sandbox.launcher.ForkServer` with ``exec``
(``python -I``), never forked from the grader: its environment is
:func:`environment` (no variable of the instructor's), its command line holds
only the directories it imports the grader, torch and numpy from
(:func:`grader.sandbox.policy.import_paths`), and it runs
before any check, roster or output folder exists in the trusted process's
memory anyway. It imports :mod:`grader.sandbox.child`, warms torch up, and
then only answers requests on its control socket (a SEQPACKET socket, one
JSON message each): ``fork`` (with the student process's two descriptors),
``warm``, ``wait``, ``reap``. A fork request carries the scratch copy of the
module (``/tmp/grader-XXXX/<module>.py``), limits and library roots: no
student's name, no output folder. Every student process is a fork of it.

:data:`BOOTSTRAP` is also how :class:`grader.sandbox.launcher.Spawner` starts a
student process where fork is unavailable.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
import time

from grader.sandbox import cgroup
from grader.sandbox import layers as sandbox_layers
from grader.sandbox import policy

#: ``python -I -c BOOTSTRAP ENTRY PATHS ARGS...``: put PATHS (os.pathsep-separated: the directories the caller
#: imported the grader, torch and numpy from) first on sys.path, then run ENTRY (``module:function``) with ARGS.
BOOTSTRAP = (
    "import sys, importlib; sys.path[:0] = [p for p in sys.argv[2].split(__import__('os').pathsep) if p]; "
    "m, f = sys.argv[1].split(':'); getattr(importlib.import_module(m), f)(*sys.argv[3:])"
)
#: What a fresh interpreter needs; nothing of the caller's environment but the layers it may disable.
BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def environment() -> dict[str, str]:
    """The exec-time environment of the warm process: fixed values, plus the grader's own
    ``GRADER_SANDBOX_DISABLE`` reduced to layer names (a debugging switch, never free text)."""
    env = {**BASE_ENV, **dict.fromkeys(THREAD_VARS, "1")}
    off = sandbox_layers.disabled()
    if off:
        env[sandbox_layers.DISABLE_VAR] = ",".join(sorted(off))
    return env


def command(entry: str, *args: str) -> list[str]:
    """The command line of a fresh interpreter that runs ``entry`` (``module:function``) with ``args``."""
    return [sys.executable, "-I", "-c", BOOTSTRAP, entry, os.pathsep.join(policy.import_paths()), *args]


# ------------------------------------------------------------------ in the warm process
def _exit_status(raw: int) -> dict:
    if os.WIFSIGNALED(raw):
        return {"signal": os.WTERMSIG(raw)}
    if os.WIFEXITED(raw):
        return {"exit_code": os.WEXITSTATUS(raw)}
    return {}


_warmed = False


def warm_up() -> None:
    """Run torch's lazy initialisation once, so that later student processes do not pay it; nothing when this
    process (or the one it was forked from: a warm server's) already did.

    The first ``backward`` with an explicit gradient imports ~500 modules
    (``torch.fx.experimental.symbolic_shapes``, about 0.3 s) and the first
    ``torch.optim`` optimizer imports ``torch._dynamo`` (about 1 s).
    """
    global _warmed
    if _warmed:
        return
    _warmed = True
    import torch
    import torch.nn.functional as F

    w = torch.ones(2, 1, requires_grad=True)
    loss = (F.linear(torch.ones(3, 2), w.T) ** 2).mean()
    (g,) = torch.autograd.grad(loss, w, create_graph=True)
    torch.autograd.backward(g, torch.ones_like(g))  # an explicit gradient takes another lazy path
    opt = torch.optim.SGD([w], lr=0.1)
    opt.step()
    w.grad = None
    gc.collect()
    gc.freeze()  # imported objects stay shared with every fork, and out of its collections


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


def _fork_student(ctrl: socket.socket, fds: list[int], config: dict, group, why, zygote: int) -> int:
    """Fork the keeper, which joins the student's cgroup and forks the student process (see
    :mod:`grader.sandbox.namespaces` and :mod:`grader.sandbox.cgroup`)."""
    from grader.sandbox import child, namespaces

    pid = os.fork()
    if pid == 0:
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
                layers["pid-namespace"] += "; its processes end " + (
                    "with its cgroup" if layers["cgroup"] is None else "with its session: setsid escapes")
            child.run(socket.socket(fileno=fds[0]), fds[1], config, layers)
        finally:
            os._exit(0)
    for fd in fds:
        os.close(fd)
    return pid


def serve(ctrl_fd: str, warm: str) -> None:
    """Entry point of the warm process (through :data:`BOOTSTRAP`): import, say ready, serve until EOF.

    ``warm`` "1": run :func:`warm_up` before the first fork; "0": only when asked (``op`` "warm", before a
    batch's first student). ``grader check`` never asks: its one student process pays torch's lazy
    initialisation itself where its code needs it (a process started after a crash pays it again, from the
    same state), and nobody pays it for nothing."""
    ctrl = socket.socket(fileno=int(ctrl_fd))
    try:
        prepare()
    except BaseException as exc:  # noqa: BLE001 - the caller says why the warm process could not start
        ctrl.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        os._exit(1)
    serve_on(ctrl, warm == "1")


def prepare() -> None:
    """What a warm process does once before it forks anything: torch, numpy and the harness imported, thread
    pools pinned to one thread (every student process inherits them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from grader.sandbox import child  # noqa: F401 - torch, numpy and the harness, before any fork
    from grader.sandbox import seccomp

    seccomp.pin_threads()


def serve_on(ctrl: socket.socket, warm: bool) -> None:
    """Say ready on ``ctrl`` (with this process's pid), run :func:`warm_up` if ``warm``, then answer its requests
    until EOF (or SIGTERM), and end: every student process it forked ended, their cgroups removed. Never returns."""
    pool, zygote = cgroup.Pool(sandbox_layers.disabled().get("cgroup")), os.getpid()
    signal.signal(signal.SIGTERM, lambda *_: (pool.close(), os._exit(0)))  # ForkServer.close
    ctrl.send(json.dumps({"ready": zygote}).encode())
    if warm:
        warm_up()
    else:
        gc.collect()
        gc.freeze()
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctrl, 1 << 20, 2)
        except OSError:
            break
        if not msg:
            break
        request = json.loads(msg)
        if request["op"] == "warm":
            warm_up()
        elif request["op"] == "fork":
            group, why = pool.create(request["config"]["memory_mb"])
            pid = _fork_student(ctrl, fds, request["config"], group, why, zygote)
            pool.track(pid, group)
            del request, msg
            ctrl.send(json.dumps({"pid": pid}).encode())
        elif request["op"] in ("wait", "reap"):
            try:
                status = _exit_status(_wait(int(request["pid"]), float(request.get("grace") or 0.0)))
            except ChildProcessError:
                status = {}
            status.update(pool.reaped(int(request["pid"])))
            if request["op"] == "wait":
                ctrl.send(json.dumps(status).encode())
    pool.close()  # the trusted parent closed the channel (or died): end every student process, remove the cgroups
    os._exit(0)


def spawned(sock_fd: str, output_fd: str) -> None:
    """Entry point of a spawned student process (through :data:`BOOTSTRAP`), where fork is unavailable."""
    from grader.sandbox import child
    from grader.sandbox.protocol import frames

    sock = socket.socket(fileno=int(sock_fd))
    header, _ = frames.read_frame(sock)
    child.run(sock, int(output_fd), header["config"])
    os._exit(0)
