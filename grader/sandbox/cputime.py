"""CPU time of a student's process tree, read by the trusted parent from ``/proc``.

A student process's time limits are on the CPU time its whole process tree
uses (:mod:`grader.engine.student`): what the submission's code costs, whatever else
the machine runs. The tree is the process the launcher started (the keeper,
or the student process itself) and everything below it. Each process counts
its own time and, once it reaps them, its children's (``utime + stime +
cutime + cstime`` in ``/proc/<pid>/stat``), so the sum over the processes
alive (zombies included) counts every process of the tree exactly once.

Cheap where it must be: :meth:`TreeMeter.cpu` reads the processes already
known to be in the tree (two files for an ordinary submission), and scans
for new ones only every :data:`SCAN_SECONDS`; :meth:`TreeMeter.scan` looks
for processes the tree started since,
through ``/proc/<pid>/task/<tid>/children`` where the kernel has it, else by
listing ``/proc`` (parents are remembered between scans, so a process's
``stat`` is read once). The grader scans while it waits for a reply that
takes long; a child's time is counted from its first scan on (its own
counters hold everything it used before).

Where there is no ``/proc`` (macOS, Windows), :class:`TreeMeter` reads
nothing and the caller counts wall time instead.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

_PROC = "/proc"
#: A reading of the tree's CPU time looks for new processes in it at least this often (wall seconds).
SCAN_SECONDS = 0.5
_TICK = None
#: pid -> parent pid, as first seen, for every process of the machine a scan has listed (shared by all meters:
#: a process of a tree is created after its root, so a parent remembered from before cannot mislead).
_PARENTS: dict[int, int] = {}


def _tick() -> float:
    global _TICK
    if _TICK is None:
        try:
            _TICK = 1.0 / os.sysconf("SC_CLK_TCK")
        except (ValueError, OSError, AttributeError):
            _TICK = 0.01
    return _TICK


def available() -> bool:
    """Whether this system shows processes' CPU time in ``/proc``."""
    return os.path.exists(f"{_PROC}/self/stat")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (index 0 is the state), or None once it is gone."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    end = data.rfind(b")")
    return data[end + 2:].decode("ascii", "replace").split() if end > 0 else None


def _times(fields: list[str]) -> float:
    """utime + stime + cutime + cstime, in seconds."""
    return sum(int(v) for v in fields[11:15]) * _tick()


def _run_delay(pid: int) -> float | None:
    """Seconds the process (its main thread) spent runnable, waiting for a CPU (``/proc/<pid>/schedstat``)."""
    try:
        with open(f"{_PROC}/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Sample:
    cpu: float
    """CPU seconds the tree has used so far."""
    waited: float | None
    """Seconds its processes spent runnable but not running (None where the kernel does not say)."""
    running: bool
    """Whether one of its processes was running or runnable at that moment."""


class TreeMeter:
    """CPU time of the process ``root`` and its descendants."""

    def __init__(self, root: int):
        self.root = root
        self._members: list[int] = [root]
        self._children_files = None
        self.enabled = available()
        self._last = 0.0
        self._scanned = -math.inf

    @property
    def cpu_seen(self) -> float:
        """The latest reading of :meth:`cpu` or :meth:`scan` (0 before any)."""
        return self._last

    def cpu(self) -> float | None:
        """CPU seconds the tree used so far (never less than the last reading): the known members, and every
        :data:`SCAN_SECONDS` a :meth:`scan` for new ones."""
        if not self.enabled:
            return None
        if time.monotonic() - self._scanned >= SCAN_SECONDS:
            return self.scan().cpu
        return self._read(states=False).cpu

    def scan(self, *, delays: bool = False) -> Sample | None:
        """Find processes the tree started since the last scan, then read the whole tree."""
        if not self.enabled:
            return None
        self._discover()
        self._scanned = time.monotonic()
        return self._read(states=True, delays=delays)

    def _read(self, *, states: bool, delays: bool = False) -> Sample:
        total, waited, running, alive = 0.0, 0.0 if delays else None, False, []
        for pid in sorted(self._members):  # parents before children: a reap between two reads never counts twice
            fields = _stat(pid)
            if fields is None:
                continue
            alive.append(pid)
            total += _times(fields)
            if states and fields[0] == "R":
                running = True
            if waited is not None:
                delay = _run_delay(pid)
                waited = None if delay is None else waited + delay
        if alive:
            self._members = alive
        self._last = max(self._last, total)
        return Sample(self._last, waited, running)

    def _discover(self) -> None:
        if self._children_files is None:
            self._children_files = os.path.exists(f"{_PROC}/{self.root}/task/{self.root}/children")
        if self._children_files:
            self._discover_by_children()
        else:
            self._discover_by_listing()

    def _discover_by_children(self) -> None:
        seen, todo = set(self._members), list(self._members)
        while todo:
            pid = todo.pop()
            try:
                tasks = os.listdir(f"{_PROC}/{pid}/task")
            except OSError:
                continue
            for tid in tasks:
                try:
                    with open(f"{_PROC}/{pid}/task/{tid}/children", "rb") as f:
                        kids = [int(k) for k in f.read().split()]
                except (OSError, ValueError):
                    continue
                for kid in kids:
                    if kid not in seen:
                        seen.add(kid)
                        todo.append(kid)
        self._members = sorted(seen)

    def _discover_by_listing(self) -> None:
        try:
            pids = {int(name) for name in os.listdir(_PROC) if name.isdigit()}
        except OSError:
            return
        for gone in _PARENTS.keys() - pids:
            del _PARENTS[gone]
        for pid in sorted(pids - _PARENTS.keys()):
            fields = _stat(pid)
            if fields is not None:
                _PARENTS[pid] = int(fields[1])
        members = set(self._members) & pids or {self.root}
        grew = True
        while grew:
            grew = False
            for pid, parent in _PARENTS.items():
                if parent in members and pid not in members:
                    members.add(pid)
                    grew = True
        self._members = sorted(members)
