"""Drop root: a student process of a grader run as root continues as an unprivileged user of its own.

Each student process gets a uid of its own from an unused range (no
``/etc/passwd`` entry needed), so per-user limits such as RLIMIT_NPROC count
only that submission's processes, and no two submissions share a user.

It keeps exactly one capability, CAP_DAC_READ_SEARCH (ambient, so programs
it starts keep it too), so that it can still read the interpreter and torch
where only root may (a Python installed in root's home); Landlock decides
what it may read, and the seccomp filter
denies ``open_by_handle_at``, the one other thing that capability allows.
It can no longer write what root owns, signal or trace root's processes,
or raise its hard resource limits, and RLIMIT_NPROC now counts its forks.
"""

from __future__ import annotations

import ctypes
import os

#: Student processes run as BASE_UID + a number below SPAN (above the range distributions allocate).
BASE_UID, SPAN = 200_000, 1_000_000
CAP_DAC_READ_SEARCH = 2
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def pick() -> int:
    """A uid for one student process (chosen by the trusted side)."""
    import secrets

    return BASE_UID + secrets.randbelow(SPAN)


def target(uid: int | None) -> tuple[int, int] | None:
    """The uid and gid to drop to, or None when not root (nothing to drop)."""
    if os.geteuid() != 0 or uid is None:
        return None
    return (int(uid), int(uid))


def drop(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with CAP_DAC_READ_SEARCH only, for good."""
    libc = ctypes.CDLL(None, use_errno=True)
    machine = os.uname().machine
    if machine not in _SYS_CAPSET:
        raise OSError(0, f"capset is not wired for {machine}")
    if libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS)")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    keep = 1 << CAP_DAC_READ_SEARCH
    data = (_Data * 2)(_Data(keep, keep, keep), _Data(0, 0, 0))
    if libc.syscall(_SYS_CAPSET[machine], ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    # Ambient: a program the student starts (``python -c ...``) can read the interpreter too.
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0)
    libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(0, "the uid did not change")
