"""Lock a freshly started student process down before it sees student code.

Layers, in order: minimal environment, scratch working directory, one BLAS
thread, resource limits (address space, CPU seconds, file size, open files,
no core dumps), death with the parent, and Landlock (filesystem: read only
what Python and torch need, write only the scratch directory; a Landlock
domain also cannot ptrace or signal processes outside it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile

import torch

from grader.sandbox import landlock

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
PR_SET_PDEATHSIG = 1


def minimal_env(scratch: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
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


def apply(config: dict) -> None:
    scratch = config["scratch"]
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update(minimal_env(scratch))
    tempfile.tempdir = scratch  # the warm process cached /tmp; torch's caches go through tempfile
    torch.set_num_threads(1)
    sys.path[:] = [scratch] + [p for p in sys.path if p and os.path.isabs(p)]
    sys.dont_write_bytecode = True
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    try:
        import resource
    except ImportError:  # not POSIX: limits are the parent's wall clock only
        resource = None
    if resource is not None:
        memory = int(config["memory_mb"]) * 1024 * 1024
        if sys.platform.startswith("linux"):
            _set(resource, resource.RLIMIT_AS, address_space_in_use() + memory)
        cpu = max(1, int(config["cpu_seconds"]))
        _set(resource, resource.RLIMIT_CPU, cpu, cpu + 1)
        _set(resource, resource.RLIMIT_CORE, 0)
        _set(resource, resource.RLIMIT_FSIZE, int(config["file_size_mb"]) * 1024 * 1024)
        _set(resource, resource.RLIMIT_NOFILE, 256)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    fs = config.get("filesystem")
    if fs is not None and landlock.abi_version() > 0:
        own_proc = f"/proc/{os.getpid()}"
        landlock.restrict(read_only=[*fs["read_only"], own_proc], read_write=[scratch, *fs["read_write"]])
