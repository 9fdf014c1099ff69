"""Linux namespaces for a student process: its own PID, mount, network, IPC and UTS namespaces.

The process forked for a submission (the *keeper*) unshares the namespaces
and forks again: the student process is PID 1 of a fresh PID namespace, so
when it ends (or the keeper is killed, taking it along by PDEATHSIG, which
the seccomp filter does not let it clear) the kernel kills every process it
left behind, double forks and ``setsid`` grandchildren included. The keeper
only waits and exits as the student process did; it dies with the warm
process (:func:`die_with`). The network namespace has no interface but a
loopback that is down: nothing can be reached. In the private mount namespace
the student process builds its own filesystem view, an allowlist it then
pivots into (:mod:`grader.sandbox.mountview`).

Root unshares directly; another user first enters a user namespace that maps
it to root inside (unprivileged user namespaces), where the kernel allows it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal

from grader.sandbox import layers

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

PR_SET_PDEATHSIG = 1

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.unshare.argtypes = [ctypes.c_int]
    return _libc


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def unshare() -> dict[str, str | None]:
    """In the keeper: leave the grader's namespaces. Layer name -> None (active) or why not."""
    names = ("pid-namespace", "mount-namespace", "network-namespace")
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/ns/pid"):
        return dict.fromkeys(names, "no Linux namespaces on this system")
    off = layers.disabled()
    wanted = {"pid-namespace": CLONE_NEWPID, "mount-namespace": CLONE_NEWNS, "network-namespace": CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS}
    flags = 0
    for name, flag in wanted.items():
        if name not in off:
            flags |= flag
    if not flags:
        return {name: off[name] for name in names}
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        flags |= CLONE_NEWUSER
    if _c().unshare(flags) != 0:
        err = ctypes.get_errno()
        why = "unprivileged user namespaces are disabled here" if uid != 0 and err in (errno.EPERM, errno.ENOSPC, errno.EINVAL) else os.strerror(err)
        return {name: off.get(name, f"unshare failed: {why}") for name in names}
    if uid != 0:
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
        except OSError as exc:
            return {name: off.get(name, f"cannot map the user into its namespace: {exc.strerror}") for name in names}
    return {name: off.get(name) for name in names}


def die_with(parent: int) -> None:
    """In the keeper: be killed when ``parent`` (the warm process) ends, or end now if it already has."""
    _c().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def keep(student: int) -> None:
    """The keeper's whole life after forking the student process: wait, then end exactly as it did."""
    import resource  # POSIX only, like the keeper

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            _, raw = os.waitpid(student, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(0)
    if os.WIFSIGNALED(raw):
        sig = os.WTERMSIG(raw)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else 1)

