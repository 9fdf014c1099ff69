"""The student process's filesystem view: a new root that holds only the allowlist, entered with ``pivot_root``.

In the student process (PID 1 of its PID namespace, still root, before any
student code), in a mount namespace of its own: a small tmpfs becomes the new
root, and into it go, each at its own path,

- the read-only roots of the policy (:func:`grader.sandbox.policy.filesystem`:
  the interpreter, site-packages, system folders) as read-only, nosuid, nodev
  bind mounts that keep the flags the source mount has (noexec, atime: a mount
  of a less privileged user namespace must keep them), the symlinks met on the
  way recreated (merged /usr: ``/lib -> usr/lib``);
- device files (``/dev/null``, ``/dev/urandom``) bound one by one;
- a fresh ``/proc``, which shows only the namespace's processes;
- the scratch folder (the module's copy), read only and noexec;
- the private working folder: a small tmpfs, noexec, nosuid, nodev.

Then ``pivot_root`` into it and detach the old root. No other path exists in
the student's view at all (the grader's hidden folders are never named to
it), and ``/proc/self/mountinfo`` lists only these mounts. Landlock then
applies the same allowlist a second time (:mod:`grader.sandbox.limits`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 0x4000, 0x40000
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
ST_NOEXEC, ST_NOATIME, ST_NODIRATIME, ST_RELATIME = 8, 1024, 2048, 4096
MNT_DETACH = 2
CLONE_NEWNS = 0x00020000
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

#: Size of the private working folder of a student process.
WORK_MB = 64
#: Symlinks followed while recreating one path.
MAX_LINKS = 40

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _libc.unshare.argtypes = [ctypes.c_int]
        _libc.syscall.restype = ctypes.c_long
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_c().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {fstype or source or ''} {target}")


def _kept_flags(source: str) -> int:
    """The flags of ``source``'s mount a bind of it must keep (noexec, the atime setting)."""
    f = os.statvfs(source).f_flag
    flags = MS_NOEXEC if f & ST_NOEXEC else 0
    flags |= MS_NODIRATIME if f & ST_NODIRATIME else 0
    if f & ST_NOATIME:
        return flags | MS_NOATIME
    return flags | (MS_RELATIME if f & ST_RELATIME else MS_STRICTATIME)


def _bind(source: str, target: str, flags: int) -> None:
    """Bind ``source`` on ``target`` and remount it at once with ``flags`` (plus what the source locks)."""
    _mount(source, target, None, MS_BIND)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags | _kept_flags(source))


def _recreate(new: str, path: str, depth: int = 0) -> str:
    """Recreate under ``new`` every symlink met on the way to ``path``; return its real path."""
    real = "/"
    for part in [p for p in path.split("/") if p not in ("", ".")]:
        step = os.path.join(real, part) if part != ".." else os.path.dirname(real)
        if os.path.islink(step):
            if depth >= MAX_LINKS:
                raise OSError(errno.ELOOP, f"too many symlinks on the way to {path}")
            target = os.readlink(step)
            if not os.path.lexists(new + step):
                os.makedirs(new + real, exist_ok=True)
                os.symlink(target, new + step)
            step = _recreate(new, os.path.normpath(os.path.join(real, target)), depth + 1)
        real = step
    return real


def _place(new: str, paths: list[str], flags: int, device_flags: int) -> None:
    """Bind each existing path (parents before children; one already visible through its parent is left)."""
    reals = sorted({_recreate(new, p) for p in paths if os.path.exists(p) and not p.startswith("/proc/")})
    bound: list[tuple[str, int]] = []
    for real in reals:
        dev = os.stat(real).st_dev
        if any((real == b or real.startswith(b.rstrip("/") + "/")) and dev == d for b, d in bound):
            continue
        target = new + real
        if os.path.isdir(real):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o444))
        is_device = not os.path.isdir(real) and not os.path.isfile(real)
        _bind(real, target, device_flags if is_device else flags)
        bound.append((real, dev))


def _pivot(new: str) -> None:
    machine = platform.machine()
    if machine not in _SYS_PIVOT_ROOT:
        raise OSError(errno.ENOSYS, f"pivot_root is not wired for {machine}")
    os.chdir(new)
    libc = _c()
    _check(libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT[machine]), b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "detaching the old root")
    os.chdir("/")


def enter(*, read_only: list[str], read_write: list[str], scratch: str, work: str, owner: tuple[int, int] | None) -> None:
    """Build the view and pivot into it (see the module's docstring); raises OSError where it cannot.

    ``work``: an empty folder inside ``scratch``; the new root is mounted on it while it is built."""
    _check(_c().unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")  # the keeper keeps the namespace it made
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the grader's view
    new = work
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0755")
    try:
        _place(new, list(read_only), MS_RDONLY | MS_NOSUID | MS_NODEV, MS_RDONLY | MS_NOSUID)
        _place(new, list(read_write), MS_NOSUID | MS_NODEV, MS_NOSUID)
        os.makedirs(new + scratch, exist_ok=True)
        _bind(scratch, new + scratch, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        os.makedirs(new + "/proc", exist_ok=True)
        _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        options = f"size={WORK_MB}m,mode=0700" + (f",uid={owner[0]},gid={owner[1]}" if owner else "")
        _mount("tmpfs", new + work, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
        _mount(None, new, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except BaseException:
        _c().umount2(new.encode(), MNT_DETACH)
        raise
    _pivot(new)
