"""What a student process may touch: limits and the filesystem view.

The view (:func:`filesystem`) is an allowlist: the interpreter, the libraries
the warm process imports (the grader, torch, numpy, the standard library), a
few system folders and device files. The trusted side's ``hidden`` folders
(solutions, the output folder, the class) only rule out a root that holds one;
they are never sent to the student process, which sees nothing but the
allowlist (:mod:`grader.sandbox.mountview`, then Landlock).
"""

from __future__ import annotations

import math
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random", "/sys/devices/system/cpu")
#: Machine-wide /proc files libraries read; a student process also reads its own /proc/<pid>, never another's.
PROC_READ = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/sys/vm/overcommit_memory")
SYSTEM_WRITE = ("/dev/null",)


#: The wall-clock safety net of a check (and of an import) is this many times its CPU time limit ...
WALL_FACTOR = 4.0
#: ... and at least this many seconds: a loaded machine may be several times slower than a quiet one.
WALL_MIN_SECONDS = 30.0


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's student processes.

    Time limits are on CPU time: what the student's process tree (the student process and every process it
    started) uses, read by the trusted parent, so that a loaded machine, the number of workers or the executor
    never changes a grade. Only the calls of a check count, never the grader's own work between them. The wall
    clock is a safety net several times larger (:attr:`check_wall`, :attr:`submission_wall`) for code that
    sleeps or blocks without using the CPU.
    """

    check_seconds: float = 10.0
    """CPU time the student's process tree may use answering the calls of one check."""
    submission_seconds: float = 120.0
    """The same, over all checks of one submission together."""
    import_seconds: float = 10.0
    """CPU time for starting a student process and importing the student module."""
    memory_mb: int = 1024
    """Address space a student process may add on top of the warm process."""
    output_bytes: int = 1 << 20
    """What a submission may print before it counts as the ``output`` problem."""
    file_size_mb: int = 16
    """Largest file a student process may write in its scratch folder."""

    cpu_seconds: float | None = None
    """RLIMIT_CPU of one student process, a backstop the kernel enforces; default: the submission's CPU time
    plus the import's plus 5 s, more than the grader's own accounting ever lets a process use."""
    wall_seconds: float | None = None
    """The wall-clock safety net of one check and of an import; default: :data:`WALL_FACTOR` times its CPU
    time limit, at least :data:`WALL_MIN_SECONDS`."""

    @property
    def cpu_limit(self) -> int:
        default = self.submission_seconds + self.import_seconds + 5
        return max(1, math.ceil(self.cpu_seconds if self.cpu_seconds is not None else default))

    def _net(self, cpu: float) -> float:
        return self.wall_seconds if self.wall_seconds is not None else max(WALL_FACTOR * cpu, WALL_MIN_SECONDS)

    @property
    def check_wall(self) -> float:
        """Wall seconds one check may wait for the student's answers, all its calls together."""
        return self._net(self.check_seconds)

    @property
    def import_wall(self) -> float:
        """Wall seconds a student process may take to start and import the module."""
        return self._net(self.import_seconds)

    @property
    def submission_wall(self) -> float:
        """Wall seconds all checks of one submission may wait, together."""
        return max(WALL_FACTOR * self.submission_seconds, self.check_wall)


def _is_ancestor(path: Path, of: Path) -> bool:
    return path == of or path in of.parents


def import_paths() -> list[str]:
    """Directories the caller imported the grader, torch and numpy from (the grader's first): a fresh
    ``python -I`` imports the same code, whatever the current folder or an editable install says."""
    import importlib.util

    found = []
    inits = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "__init__.py")]
    inits += [getattr(importlib.util.find_spec(name), "origin", None) or "" for name in ("torch", "numpy")]  # not imported
    for init in filter(None, inits):
        folder = os.path.dirname(os.path.dirname(os.path.abspath(init)))
        if folder not in found:
            found.append(folder)
    return found


def library_roots() -> list[str]:
    """Where the warm process imports from: the interpreter's prefixes and standard library, site-packages,
    and the folders holding the grader, torch and numpy (:func:`import_paths`)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *import_paths()}
    paths = sysconfig.get_paths()
    roots.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)
    return sorted(roots)


def filesystem(*, hidden: list[Path]) -> dict:
    """Read-only roots for Python, torch and the system; none may contain a ``hidden`` path.

    The result goes to the student process: it names no hidden path."""
    hidden = [p.resolve() for p in hidden]
    read_only = []
    for root in sorted({*library_roots(), *SYSTEM_READ}):
        path = Path(root)
        if not path.exists():
            continue
        if any(_is_ancestor(path.resolve(), h) for h in hidden):
            continue
        read_only.append(str(path))
    return {"read_only": read_only + list(PROC_READ), "read_write": list(SYSTEM_WRITE)}
