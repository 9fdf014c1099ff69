"""The student process's standard streams and descriptors, set before any student code runs.

stdout and stderr go to the pipe the trusted side drains and caps, stdin reads /dev/null, every other inherited
descriptor but the channel to the grader is closed, and a debugger left in a submission does nothing (its trace
function would be tampering for the monitor, :mod:`grader.sandbox.integrity`).
"""

from __future__ import annotations

import io
import os
import pdb
import sys


def flush() -> None:
    """Flush what the submission printed (before a reply, so its output is accounted to the right check)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


def redirect(output_fd: int) -> None:
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True)


def close_other_fds(keep: int) -> None:
    """Close every descriptor the process inherited but the protocol's: no path to the parent's terminal."""
    try:
        max_fd = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        max_fd = 4096
    os.closerange(3, keep)
    os.closerange(keep + 1, max_fd)


def _no_debugger(*args, **kwargs) -> None:
    """``pdb.set_trace`` and ``sys.breakpointhook`` in a student process."""


def silence_debuggers() -> None:
    """``breakpoint()`` and ``pdb.set_trace()`` do nothing in this process (only ever called in a student one)."""
    pdb.set_trace = sys.breakpointhook = _no_debugger
