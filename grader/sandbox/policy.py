"""What a student process may touch: limits and the filesystem view."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random", "/sys/devices/system/cpu")
#: Machine-wide /proc files libraries read; a student process also reads its own /proc/<pid>, never another's.
PROC_READ = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/sys/vm/overcommit_memory")
SYSTEM_WRITE = ("/dev/null",)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's student processes."""

    check_seconds: float = 10.0
    """Wall time the student process may take answering the calls of one check (the grader's own
    work between calls is not counted: a loaded machine must not cost a correct submission)."""
    submission_seconds: float = 120.0
    """The same, over all checks of one submission together."""
    import_seconds: float = 10.0
    """Wall time for importing the student module."""
    memory_mb: int = 1024
    """Address space a student process may add on top of the warm process."""
    output_bytes: int = 1 << 20
    """What a submission may print before it counts as the ``output`` problem."""
    file_size_mb: int = 16
    """Largest file a student process may write in its scratch folder."""

    cpu_seconds: float | None = None
    """CPU time of one student process; default: the submission's wall time plus 5 s."""

    @property
    def cpu_limit(self) -> int:
        return max(1, int(self.cpu_seconds if self.cpu_seconds is not None else self.submission_seconds + 5))


def _is_ancestor(path: Path, of: Path) -> bool:
    return path == of or path in of.parents


def filesystem(*, hidden: list[Path]) -> dict:
    """Read-only roots for Python, torch and the system; none may contain a ``hidden`` path."""
    hidden = [p.resolve() for p in hidden]
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *SYSTEM_READ}
    roots.update(p for p in sys.path if p and os.path.isabs(p))
    read_only = []
    for root in sorted(roots):
        path = Path(root)
        if not path.exists():
            continue
        if any(_is_ancestor(path.resolve(), h) for h in hidden):
            continue
        read_only.append(str(path))
    return {"read_only": read_only + list(PROC_READ), "read_write": list(SYSTEM_WRITE), "hidden": [str(h) for h in hidden]}
