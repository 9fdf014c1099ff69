"""Self-restriction of filesystem access with the Linux Landlock LSM.

Pure ``ctypes`` / stdlib.  Intended to be called in a freshly forked,
single-threaded child right before untrusted code is imported::

    from grader.sandbox.landlock import restrict
    restrict(read_only=[sys.prefix, "/usr", "/lib"], read_write=[workdir])

Semantics (best effort over Landlock ABI versions, see ``restrict``):

* ``read_only`` paths: read files, list directories, execute files.
* ``read_write`` paths: everything Landlock knows about (read, write, create,
  remove, rename/link within granted trees, truncate, device ioctl).
* Anything else on the filesystem is denied, for this process and every
  process it later spawns.  The restriction cannot be lifted.

Caveats:

* Landlock only restricts the *calling thread* (and threads/processes it
  creates afterwards).  Call it while the process is single threaded.
* Rights are checked when a file is opened: file descriptors opened before
  ``restrict`` keep working.
* Older ABIs restrict less: before ABI 2 a file can never be renamed or
  linked into another directory (REFER unhandled => always denied); before
  ABI 3 truncate(2)/O_TRUNC is not controlled at all; before ABI 5 device
  ioctls are not controlled; before ABI 6 signals and abstract Unix sockets
  are not scoped.
* With ABI >= 5, ioctl on a device opened after ``restrict`` needs the device
  under ``read_write`` (IOCTL_DEV is not part of the read-only set).
* With ABI >= 4, TCP bind and connect are handled with no rule, i.e. denied.
* Access rights introduced after ABI 6 (e.g. Unix socket path resolution in
  later kernels) are left unhandled, i.e. allowed.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import stat
import sys
from typing import Iterable

__all__ = ["abi_version", "restrict", "LandlockUnavailable"]


# Syscall numbers: unified across architectures since Linux 5.1 (x86_64,
# aarch64, and every other arch except alpha use the same numbers).
_SYS_landlock_create_ruleset = 444
_SYS_landlock_add_rule = 445
_SYS_landlock_restrict_self = 446

_LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
_LANDLOCK_RULE_PATH_BENEATH = 1

_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights (include/uapi/linux/landlock.h).
ACCESS_FS_EXECUTE = 1 << 0
ACCESS_FS_WRITE_FILE = 1 << 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3
ACCESS_FS_REMOVE_DIR = 1 << 4
ACCESS_FS_REMOVE_FILE = 1 << 5
ACCESS_FS_MAKE_CHAR = 1 << 6
ACCESS_FS_MAKE_DIR = 1 << 7
ACCESS_FS_MAKE_REG = 1 << 8
ACCESS_FS_MAKE_SOCK = 1 << 9
ACCESS_FS_MAKE_FIFO = 1 << 10
ACCESS_FS_MAKE_BLOCK = 1 << 11
ACCESS_FS_MAKE_SYM = 1 << 12
ACCESS_FS_REFER = 1 << 13  # ABI 2
ACCESS_FS_TRUNCATE = 1 << 14  # ABI 3
ACCESS_FS_IOCTL_DEV = 1 << 15  # ABI 5

# Network access rights (ABI 4).
ACCESS_NET_BIND_TCP = 1 << 0
ACCESS_NET_CONNECT_TCP = 1 << 1

# Scope flags (ABI 6).
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_ACCESS_FS_V1 = (
    ACCESS_FS_EXECUTE
    | ACCESS_FS_WRITE_FILE
    | ACCESS_FS_READ_FILE
    | ACCESS_FS_READ_DIR
    | ACCESS_FS_REMOVE_DIR
    | ACCESS_FS_REMOVE_FILE
    | ACCESS_FS_MAKE_CHAR
    | ACCESS_FS_MAKE_DIR
    | ACCESS_FS_MAKE_REG
    | ACCESS_FS_MAKE_SOCK
    | ACCESS_FS_MAKE_FIFO
    | ACCESS_FS_MAKE_BLOCK
    | ACCESS_FS_MAKE_SYM
)

# Rights that the kernel accepts on a rule whose path is not a directory.
_ACCESS_FILE = (
    ACCESS_FS_EXECUTE
    | ACCESS_FS_WRITE_FILE
    | ACCESS_FS_READ_FILE
    | ACCESS_FS_TRUNCATE
    | ACCESS_FS_IOCTL_DEV
)

_ACCESS_READ_ONLY = ACCESS_FS_EXECUTE | ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR


class LandlockUnavailable(OSError):
    """The running kernel does not provide Landlock (or it is disabled)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [
        ("allowed_access", ctypes.c_uint64),
        ("parent_fd", ctypes.c_int32),
    ]


assert ctypes.sizeof(_PathBeneathAttr) == 12
assert ctypes.sizeof(_RulesetAttr) == 24


_libc = None


def _get_libc():
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.prctl.restype = ctypes.c_int
        _libc = libc
    return _libc


def _syscall(nr: int, *args) -> tuple[int, int]:
    """Raw syscall; returns (result, errno).  All arguments are passed as
    machine words (the variadic ``syscall`` reads them as ``long``)."""
    libc = _get_libc()
    c_args = []
    for a in args:
        if a is None:
            c_args.append(ctypes.c_void_p(None))
        elif isinstance(a, int):
            c_args.append(ctypes.c_long(a))
        else:  # ctypes pointer / byref
            c_args.append(a)
    ctypes.set_errno(0)
    res = libc.syscall(ctypes.c_long(nr), *c_args)
    err = ctypes.get_errno() if res < 0 else 0
    return res, err


def _query_abi() -> tuple[int, int]:
    """Return (abi, errno).  abi == 0 means unavailable and errno says why."""
    if not sys.platform.startswith("linux"):
        return 0, _errno.ENOSYS
    try:
        res, err = _syscall(
            _SYS_landlock_create_ruleset, None, 0, _LANDLOCK_CREATE_RULESET_VERSION
        )
    except (OSError, AttributeError):  # no libc / no syscall() symbol
        return 0, _errno.ENOSYS
    if res < 0:
        return 0, err or _errno.ENOSYS
    return int(res), 0


def abi_version() -> int:
    """Landlock ABI version of the running kernel, 0 when unavailable (not Linux, syscall missing, disabled)."""
    return _query_abi()[0]


def _handled_fs(abi: int) -> int:
    access = _ACCESS_FS_V1
    if abi >= 2:
        access |= ACCESS_FS_REFER
    if abi >= 3:
        access |= ACCESS_FS_TRUNCATE
    if abi >= 5:
        access |= ACCESS_FS_IOCTL_DEV
    return access


def _ruleset_attr_size(abi: int) -> int:
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8


def _as_path_list(name: str, paths) -> list:
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name} must be an iterable of paths, not a single path ({paths!r}); "
            f"wrap it in a list"
        )
    return [os.fspath(p) for p in paths]


def _os_error(err: int, what: str, filename=None) -> OSError:
    msg = f"landlock: {what} failed: {os.strerror(err)}"
    if filename is not None:
        return OSError(err, msg, filename)
    return OSError(err, msg)


def _add_path_rule(ruleset_fd: int, path, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return  # nonexistent paths are skipped silently
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            # The kernel rejects (EINVAL) directory-only rights on non-dirs.
            access &= _ACCESS_FILE
        if not access:
            return
        attr = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
        res, err = _syscall(
            _SYS_landlock_add_rule,
            ruleset_fd,
            _LANDLOCK_RULE_PATH_BENEATH,
            ctypes.byref(attr),
            0,
        )
        if res < 0:
            raise _os_error(err, f"landlock_add_rule(access={access:#x})", path)
    finally:
        os.close(fd)


def restrict(
    *,
    read_only: Iterable[str | os.PathLike],
    read_write: Iterable[str | os.PathLike],
) -> int:
    """Irrevocably restrict this process (and its future children) so that it can only
    read/execute files beneath `read_only` paths and read/write/create/remove beneath `read_write`
    paths; everything else on the filesystem is denied. Paths that do not exist are skipped silently.
    A path may be a regular file (then only file-applicable rights are granted) or a directory.
    Sets PR_SET_NO_NEW_PRIVS first. Handles every ABI from 1 upward: only requests the access
    rights the kernel's ABI knows (ABI>=2 REFER, ABI>=3 TRUNCATE, ABI>=5 IOCTL_DEV; on ABI>=4
    deny TCP bind and connect; on ABI>=6 also set scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL
    so the child cannot signal or connect to abstract sockets of processes outside its domain).
    Returns the ABI version used. Raises LandlockUnavailable (subclass of OSError) when the kernel has
    no Landlock, and OSError with errno and a clear message when a syscall fails."""
    ro_paths = _as_path_list("read_only", read_only)
    rw_paths = _as_path_list("read_write", read_write)

    abi, err = _query_abi()
    if abi <= 0:
        reason = {
            _errno.ENOSYS: "kernel built without Landlock or not Linux",
            _errno.EOPNOTSUPP: "Landlock is disabled at boot (lsm= parameter)",
        }.get(err, os.strerror(err))
        raise LandlockUnavailable(err, f"landlock: unavailable ({reason})")

    libc = _get_libc()
    ctypes.set_errno(0)
    if libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1),
                  ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise _os_error(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")

    handled_fs = _handled_fs(abi)
    attr = _RulesetAttr(
        handled_access_fs=handled_fs,
        handled_access_net=(ACCESS_NET_BIND_TCP | ACCESS_NET_CONNECT_TCP) if abi >= 4 else 0,  # no rule: no TCP at all
        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0,
    )
    ruleset_fd, err = _syscall(
        _SYS_landlock_create_ruleset, ctypes.byref(attr), _ruleset_attr_size(abi), 0
    )
    if ruleset_fd < 0:
        raise _os_error(err, f"landlock_create_ruleset(abi={abi}, handled_fs={handled_fs:#x})")
    try:
        for p in ro_paths:
            _add_path_rule(ruleset_fd, p, _ACCESS_READ_ONLY & handled_fs)
        for p in rw_paths:
            _add_path_rule(ruleset_fd, p, handled_fs)
        res, err = _syscall(_SYS_landlock_restrict_self, ruleset_fd, 0)
        if res < 0:
            raise _os_error(err, "landlock_restrict_self")
    finally:
        os.close(ruleset_fd)
    return abi
