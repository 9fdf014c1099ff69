"""Lock a freshly started student process down before it sees student code.

In order: the filesystem view (:mod:`grader.sandbox.mountview`, when the keeper
made a mount namespace), minimal environment, the private working folder, one BLAS thread, resource limits,
Landlock, dropping root, death with the parent, seccomp. The layers and what
each stops: :mod:`grader.sandbox.layers`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile

import torch

from grader.sandbox import landlock, mountview, policy, privileges, seccomp
from grader.sandbox import layers as sandbox_layers

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
PR_SET_PDEATHSIG = 1
#: Processes (threads included) the unprivileged student user may have: no fork bomb.
MAX_PROCESSES = 256
#: What of its own /proc/PID a student process may read (glibc, Python and torch read these): never
#: ``environ``, ``cmdline``, ``mem``, ``mountinfo`` or another thread's files.
PROC_SELF = ("status", "stat", "statm", "maps", "fd", "fdinfo", "cgroup", "limits")


def minimal_env(scratch: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "USER": "student",  # getpass.getuser() without a passwd entry for the student's uid
        "LOGNAME": "student",
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(scratch, ".torch_cache"),
    }
    env.update({var: "1" for var in THREAD_VARS})
    return env


def address_space_in_use() -> int:
    """Bytes of virtual address space this process already maps."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _set(resource_mod, which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, cur_hard = resource_mod.getrlimit(which)
    if cur_hard != resource_mod.RLIM_INFINITY:
        soft, hard = min(soft, cur_hard), min(hard, cur_hard)
    resource_mod.setrlimit(which, (soft, hard))


def _rlimits(config: dict, resource, *, nproc: bool) -> None:
    memory = int(config["memory_mb"]) * 1024 * 1024
    if sys.platform.startswith("linux"):
        _set(resource, resource.RLIMIT_AS, address_space_in_use() + memory)
    cpu = max(1, int(config["cpu_seconds"]))
    _set(resource, resource.RLIMIT_CPU, cpu, cpu + 1)
    _set(resource, resource.RLIMIT_CORE, 0)
    _set(resource, resource.RLIMIT_FSIZE, int(config["file_size_mb"]) * 1024 * 1024)
    _set(resource, resource.RLIMIT_NOFILE, 256)
    if nproc and hasattr(resource, "RLIMIT_NPROC"):
        _set(resource, resource.RLIMIT_NPROC, MAX_PROCESSES)  # per user: only for the dropped-to user
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def apply(config: dict, layers: dict[str, str | None]) -> dict[str, str | None]:
    """Apply every layer this system has, cheapest first; ``layers`` holds what the keeper did.

    Returns layer name -> None when active, else why not (see :mod:`grader.sandbox.layers`).
    Resource limits or Landlock failing where available raise (the student process then never
    runs); another layer that fails is reported inactive with the reason, which `grader doctor`
    prints and `grader grade` warns about.
    """
    layers = dict(layers)
    layers.setdefault("cgroup", "a spawned student process is not placed in a cgroup")
    off = sandbox_layers.disabled()
    scratch, work = config["scratch"], config["work"]
    fs = config.get("filesystem")
    linux = sys.platform.startswith("linux")
    owner = privileges.target(config.get("uid")) if linux and "unprivileged-user" not in off else None
    if "mount-namespace" in layers and layers["mount-namespace"] is None:
        try:
            view = fs or policy.filesystem(hidden=[])
            mountview.enter(read_only=list(view["read_only"]), read_write=list(view["read_write"]), scratch=scratch, work=work, owner=owner)
        except OSError as exc:
            layers["mount-namespace"] = f"no filesystem view ({exc.strerror or exc}): Landlock alone limits what it reads"
    if layers.get("mount-namespace") is not None and owner is not None:
        os.chown(work, *owner)
    os.chdir(work)
    os.environ.clear()
    os.environ.update(minimal_env(work))
    tempfile.tempdir = work  # the warm process cached /tmp; torch's caches go through tempfile
    torch.set_num_threads(1)
    sys.path[:] = [scratch] + [p for p in sys.path if p and os.path.isabs(p)]
    sys.dont_write_bytecode = True
    try:
        import resource
    except ImportError:
        resource = None
    if resource is None:
        layers["rlimits"] = "no resource limits on this platform: only the wall clock limits a student"
    else:
        _rlimits(config, resource, nproc=owner is not None)
        layers["rlimits"] = None
    if "landlock" in off:
        layers["landlock"] = off["landlock"]
    elif fs is None:
        layers["landlock"] = "disabled for this run"
    elif landlock.abi_version() <= 0:
        layers["landlock"] = "this kernel has no Landlock (Linux 5.13 or newer with lsm=landlock)"
    else:
        own_proc = os.path.realpath("/proc/self")
        proc_self = [os.path.join(own_proc, name) for name in PROC_SELF]
        landlock.restrict(read_only=[*fs["read_only"], *proc_self, scratch], read_write=[work, *fs["read_write"]])
        layers["landlock"] = None
    if "unprivileged-user" in off:
        layers["unprivileged-user"] = off["unprivileged-user"]
    elif owner is None:
        layers["unprivileged-user"] = "the grader does not run as root: student processes already run as its user"
    else:
        try:
            privileges.drop(*owner)
            layers["unprivileged-user"] = None
        except OSError as exc:
            layers["unprivileged-user"] = f"could not drop root: {exc.strerror or exc}"
    if linux:
        # After the uid changed (that clears it): die with the parent.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if "seccomp" in off:
        layers["seccomp"] = off["seccomp"]
    elif linux:
        try:
            seccomp.install()
            layers["seccomp"] = None
        except seccomp.SeccompUnavailable as exc:
            layers["seccomp"] = str(exc.strerror or exc)
    else:
        layers["seccomp"] = "seccomp is Linux only"
    return layers
