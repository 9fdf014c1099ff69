"""A seccomp filter for student processes: a raw BPF program installed with ``prctl``, no dependency.

It denies (``EPERM``) what a student's autograd code never needs and an
attack does:

* every new socket (``socket()`` of any family: no host service is
  reachable, whether by IP, a path-named or an abstract Unix socket).
  ``socketpair`` stays for Unix stream and seqpacket pairs only (asyncio's
  and multiprocessing's self-pipes): such a pair is connected to itself and
  can never be connected or sent to elsewhere; a datagram pair could
  (``sendto`` a path), so it is denied. The channel to the grader is a
  stream socket inherited already connected: it keeps working.
* installing a signal handler (``rt_sigaction`` with a new action; reading
  one is fine): a Python handler would run student code at any point of
  the harness, the monitor's audit hook included
  (:mod:`grader.sandbox.integrity`); ``signal.signal`` raises ``OSError``.
* ``prctl(PR_SET_PDEATHSIG)``: the harness sets the parent-death signal
  before the filter; the student cannot clear it, so its process tree dies
  with its keeper (:mod:`grader.sandbox.namespaces`).
* threads (``clone`` with ``CLONE_THREAD``, or ``CLONE_VM`` without
  ``CLONE_VFORK``) and other programs (``execve``, ``execveat``): the
  student process is single-threaded and runs no other program, so that
  the forbidden-API guard sees all of the student's code. Python reports a
  refused thread as ``RuntimeError: can't start new thread`` and a refused
  program as ``PermissionError``; the harness keeps torch at one thread
  (:func:`grader.sandbox.limits.apply`) and a student's
  ``torch.set_num_threads(n)`` is held to one (:func:`pin_threads`).
  ``fork`` and ``vfork`` stay (a process of its own is still counted,
  limited and ended with the tree).
* ``ptrace`` and reading or writing other processes' memory, the kernel
  keyring, mounts and new namespaces (``unshare``, ``setns``, ``clone``
  with a namespace flag; ``clone3``, whose flags a filter cannot read,
  answers ``ENOSYS`` so libc falls back to ``clone``), raising resource
  limits (``setrlimit``, ``prlimit64`` with a new limit), ``bpf``,
  ``perf_event_open``, ``userfaultfd``, io_uring, file handles
  (``open_by_handle_at``), module loading, reboot and clock changes.

Everything else torch and Python use is allowed. A syscall of another ABI on
the same machine (x32, or a foreign architecture) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import platform

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

_LD_ABS_W, _JEQ, _JGE, _JSET, _RET, _ALU_AND = 0x20, 0x15, 0x35, 0x45, 0x06, 0x54
_NR, _ARCH = 0, 4

PR_SET_PDEATHSIG = 1
SOCK_STREAM, SOCK_SEQPACKET, SOCK_TYPE_MASK = 1, 5, 0xF
CLONE_VM, CLONE_VFORK, CLONE_THREAD = 0x00000100, 0x00004000, 0x00010000
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

#: Per architecture: audit arch, first x32 number (or None), and the syscall numbers used below.
_ARCHES = {
    "x86_64": (0xC000003E, 0x40000000, {
        "socket": 41, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250, "add_key": 248,
        "request_key": 249, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "clone": 56, "clone3": 435,
        "socketpair": 53, "execve": 59, "execveat": 322, "prctl": 157, "rt_sigaction": 13,
        "prlimit64": 302, "setrlimit": 160, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "syslog": 103, "iopl": 172, "ioperm": 173,
        "quotactl": 179, "fanotify_init": 300, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    }),
    "aarch64": (0xC00000B7, None, {
        "socket": 198, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219, "add_key": 217,
        "request_key": 218, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "clone": 220, "clone3": 435,
        "socketpair": 199, "execve": 221, "execveat": 281, "prctl": 167, "rt_sigaction": 134,
        "prlimit64": 261, "setrlimit": 164, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "settimeofday": 170, "clock_settime": 112, "adjtimex": 171, "syslog": 116,
        "quotactl": 60, "fanotify_init": 262, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    }),
}
_ARCHES["arm64"] = _ARCHES["aarch64"]
_ARCHES["amd64"] = _ARCHES["x86_64"]

#: Denied outright (those an architecture lacks are skipped).
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "mount", "umount2",
    "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "setrlimit", "reboot", "swapon", "swapoff", "acct",
    "settimeofday", "clock_settime", "adjtimex", "syslog", "iopl", "ioperm", "quotactl", "fanotify_init",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "socket", "execve", "execveat",
)


class SeccompUnavailable(OSError):
    """Not Linux, an architecture this filter does not know, or a kernel without seccomp filters."""


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 16 + 8 * i + 4


def _deny_when_given(number: int, arg: int, denial: int) -> list[tuple[int, int, int, int]]:
    """Syscall ``number`` is refused when its pointer argument ``arg`` is not NULL (a new value to set; reading
    the current one passes NULL there). The accumulator holds the syscall number before and after."""
    return [
        (_JEQ, 0, 6, number),
        (_LD_ABS_W, 0, 0, _arg_lo(arg)), (_JEQ, 0, 2, 0),
        (_LD_ABS_W, 0, 0, _arg_hi(arg)), (_JEQ, 1, 0, 0),
        (_RET, 0, 0, denial),
        (_LD_ABS_W, 0, 0, _NR),
    ]


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter as ``(code, jt, jf, k)`` instructions for ``machine`` (default: this one)."""
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise SeccompUnavailable(errno.ENOSYS, f"no seccomp filter for the {machine} architecture")
    arch, x32, nr = _ARCHES[machine]
    eperm = RET_ERRNO | errno.EPERM
    prog = [(_LD_ABS_W, 0, 0, _ARCH), (_JEQ, 1, 0, arch), (_RET, 0, 0, RET_KILL_PROCESS), (_LD_ABS_W, 0, 0, _NR)]
    if x32 is not None:
        prog += [(_JGE, 0, 1, x32), (_RET, 0, 0, RET_KILL_PROCESS)]
    for name in DENIED:
        if name in nr:
            prog += [(_JEQ, 0, 1, nr[name]), (_RET, 0, 0, eperm)]
    prog += [(_JEQ, 0, 1, nr["clone3"]), (_RET, 0, 0, RET_ERRNO | errno.ENOSYS)]
    # socketpair(domain, type, ...): connection-oriented pairs only (SOCK_STREAM 1, SOCK_SEQPACKET 5).
    prog += [
        (_JEQ, 0, 6, nr["socketpair"]),
        (_LD_ABS_W, 0, 0, _arg_lo(1)), (_ALU_AND, 0, 0, SOCK_TYPE_MASK),
        (_JEQ, 2, 0, SOCK_STREAM), (_JEQ, 1, 0, SOCK_SEQPACKET),
        (_RET, 0, 0, eperm),
        (_LD_ABS_W, 0, 0, _NR),
    ]
    # clone(flags, ...): no new namespaces, no threads (CLONE_THREAD, or CLONE_VM without CLONE_VFORK).
    prog += [
        (_JEQ, 0, 6, nr["clone"]),
        (_LD_ABS_W, 0, 0, _arg_lo(0)), (_JSET, 2, 0, CLONE_NAMESPACES | CLONE_THREAD),
        (_JSET, 0, 2, CLONE_VM), (_JSET, 1, 0, CLONE_VFORK),
        (_RET, 0, 0, eperm),
        (_LD_ABS_W, 0, 0, _NR),
    ]
    # rt_sigaction(sig, act, oldact, size): reading a handler is fine, installing one is not (a Python handler
    # would run student code in the middle of the harness, the monitor's audit hook included).
    prog += _deny_when_given(nr["rt_sigaction"], 1, eperm)
    # prctl(option, ...): the parent-death signal stays as the harness set it.
    prog += [(_JEQ, 0, 4, nr["prctl"]), (_LD_ABS_W, 0, 0, _arg_lo(0)), (_JEQ, 0, 1, PR_SET_PDEATHSIG), (_RET, 0, 0, eperm), (_LD_ABS_W, 0, 0, _NR)]
    # prlimit64(pid, resource, new_limit, old_limit): reading is fine, setting is not.
    prog += _deny_when_given(nr["prlimit64"], 2, eperm)
    prog.append((_RET, 0, 0, RET_ALLOW))
    return prog


#: Where a BLAS library says how many threads it may start (OpenBLAS as numpy bundles it, or plain).
_OPENBLAS_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_")


_pinned = False


def pin_threads() -> None:
    """Keep torch and numpy's BLAS at one thread, before the filter makes starting a thread fail.

    Without it a thread pool that cannot start its threads ends the process (libgomp: ``exit(1)``) or hangs
    (OpenBLAS). ``torch.set_num_threads(n)`` then keeps one thread: the student's call works, single-threaded.
    """
    global _pinned
    if _pinned:  # done once in the warm process: every fork of it inherits it
        return
    _pinned = True
    import torch

    set_threads = getattr(torch._C, "set_num_threads", torch.set_num_threads)  # the original, kept here
    set_threads(1)

    def set_num_threads(n: int) -> None:
        """One thread in a student process (the sandbox allows no other): ``n`` is checked, then ignored."""
        if not isinstance(n, int) or n < 1:
            set_threads(n)  # the same error as torch's
        set_threads(1)

    torch.set_num_threads = torch._C.set_num_threads = set_num_threads
    try:
        with open("/proc/self/maps") as f:
            libraries = sorted({line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1]})
    except OSError:
        libraries = []
    for path in libraries:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _OPENBLAS_SETTERS:
            if hasattr(lib, name):
                getattr(lib, name)(1)
                break


def install() -> None:
    """Install the filter on this process (and everything it starts); it cannot be removed.

    Pins the thread pools first (:func:`pin_threads`): no thread can start afterwards."""
    pin_threads()
    prog = program()
    filters = (_Filter * len(prog))(*(_Filter(*ins) for ins in prog))
    fprog = _Prog(len(prog), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompUnavailable(err, f"prctl(PR_SET_NO_NEW_PRIVS): {errno.errorcode.get(err, err)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p), 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompUnavailable(err, f"prctl(PR_SET_SECCOMP): {errno.errorcode.get(err, err)}")
