"""Memory for a student's whole process tree: one memory cgroup per student process.

RLIMIT_AS limits each process on its own: a student process that forks could hold the limit once per child.
So the warm process (the zygote) creates a cgroup for each student process; the keeper moves itself in before
it forks the student process, so the student process and everything it starts are charged together, up to
the submission's memory limit plus :data:`MARGIN_MB`.

Charged: the pages the tree allocates or copies (a page it shares with the warm process, torch and the heap
it inherited, stays the warm process's until the tree writes to it), files in its tmpfs working folder, and
the kernel memory it causes (page tables, socket and pipe buffers). Measured (``memory.max_usage_in_bytes``,
every check of each course solution): 8 to 15 MB for a batch's student process (forked from a warmed-up
process); about 95 MB for one that makes its whole inherited heap its own (``gc.unfreeze(); gc.collect()``);
about 115 MB for the first process of `grader check`, which pays torch's lazy imports itself (mostly new
memory, which its RLIMIT_AS counts too). :data:`MARGIN_MB` covers these: one process under its own limit is
not ended by the cgroup, and a tree never holds more than the limit plus the margin.

cgroup v2 where its memory controller is enabled below the grader's cgroup (``memory.max``,
``memory.swap.max`` 0, ``memory.oom.group``: the whole tree is ended at once; the keeper stays, spared by
``oom_score_adj`` -1000); else the v1 controller (``memory.limit_in_bytes``, and ``memory.memsw.limit_in_bytes``
where swap is accounted; the OOM killer ends the largest process; the keeper moves back out). The zygote reads
the OOM count once the keeper is reaped and reports it, so the student process's death reads as the
``memory`` problem; it then kills whatever is left in the cgroup and removes it (:class:`Pool`), and removes
all of its cgroups when it stops: nothing is left behind after a batch.
"""

from __future__ import annotations

import errno
import os
import signal
import time

#: Memory a student's process tree may hold beyond the submission's memory limit (see the module docstring).
MARGIN_MB = 128
_PREFIX = "grader-"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root in its hierarchy, fs type, super options) of every cgroup mount."""
    found = []
    try:
        lines = _read("/proc/self/mountinfo").splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append((fields[4].replace("\\040", " "), fields[3], tail[0], set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """Controller (``""`` for v2) -> this process's cgroup path."""
    paths = {}
    try:
        for line in _read("/proc/self/cgroup").splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    except (OSError, ValueError):
        pass
    return paths


def _below(mount: str, root: str, path: str) -> str | None:
    if not path.startswith(root):
        return None
    return os.path.join(mount, path[len(root):].lstrip("/"))


def locate() -> tuple[str | None, int, str | None]:
    """(the folder to create student cgroups in, cgroup version, None) or (None, 0, why not)."""
    if not os.path.exists("/proc/self/cgroup"):
        return None, 0, "no cgroups on this system"
    own, why = _own_paths(), "no memory cgroup controller is mounted"
    for mount, root, fstype, options in _mounts():
        if fstype == "cgroup2" and "" in own:
            base = _below(mount, root, own[""])
            try:
                if base is None or "memory" not in _read(os.path.join(base, "cgroup.controllers")).split():
                    continue
                if "memory" not in _read(os.path.join(base, "cgroup.subtree_control")).split():
                    _write(os.path.join(base, "cgroup.subtree_control"), "+memory")
                return base, 2, None
            except OSError as exc:
                why = f"cgroup v2: cannot enable the memory controller below {base} ({exc.strerror})"
    for mount, root, fstype, options in _mounts():
        if fstype == "cgroup" and "memory" in options and "memory" in own:
            base = _below(mount, root, own["memory"])
            if base is not None and os.path.isdir(base):
                return base, 1, None
    return None, 0, why


class Group:
    """One student process's cgroup."""

    def __init__(self, path: str, version: int):
        self.path, self.version = path, version

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def enter(self) -> None:
        """Move the calling process in (the keeper, before it forks the student process)."""
        _write(self._file("cgroup.procs"), str(os.getpid()))

    def leave(self) -> None:
        """Move the calling process back to the parent cgroup where the hierarchy allows it (v1), else make it
        the one process of the cgroup the OOM killer spares (the keeper, once the student process runs)."""
        if self.version == 1:
            _write(os.path.join(os.path.dirname(self.path), "cgroup.procs"), str(os.getpid()))
        else:
            _write("/proc/self/oom_score_adj", "-1000")

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in _read(self._file("cgroup.procs")).split()]
        except (OSError, ValueError):
            return []

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer ended in this cgroup."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in _read(self._file(name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def peak(self) -> int:
        """The most memory the tree was charged at once, in bytes (0 where unknown)."""
        try:
            return int(_read(self._file("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes")))
        except (OSError, ValueError):
            return 0

    def kill_all(self, deadline: float) -> None:
        """SIGKILL every process still in the cgroup (through a pidfd: never another process that took the pid)."""
        if self.version == 2 and os.path.exists(self._file("cgroup.kill")):
            try:
                _write(self._file("cgroup.kill"), "1")
            except OSError:
                pass
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                _kill(pid, self.path)
            time.sleep(0.002)

    def remove(self, deadline: float) -> bool:
        while True:
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    return False
            self.kill_all(deadline)
            time.sleep(0.005)


def enter(group: Group | None, why: str | None) -> str | None:
    """In the keeper: move into its student process's cgroup. None when it did, else why not (the layer's report)."""
    if group is None:
        return why
    try:
        group.enter()
        return None
    except OSError as exc:
        return f"cannot move into its cgroup: {exc.strerror}"


def _kill(pid: int, path: str) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        return
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            mine = any(line.rstrip("\n").endswith("/" + os.path.basename(path)) for line in f)
        if mine:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    finally:
        os.close(fd)


class Pool:
    """The zygote's cgroups: where to create them, the keeper each one holds, and those not removed yet."""

    def __init__(self, disabled: str | None = None) -> None:
        self.base, self.version, self.why = (None, 0, disabled) if disabled else locate()
        self._count = 0
        self._groups: dict[int, Group] = {}
        self._reaped: set[int] = set()
        self._leftover: list[Group] = []
        if self.base is not None:
            self._clean_stale()

    def _clean_stale(self) -> None:
        """Remove empty cgroups a zygote that was killed left behind (its pid no longer alive)."""
        try:
            names = [n for n in os.listdir(self.base) if n.startswith(_PREFIX)]
        except OSError:
            return
        for name in names:
            owner = name[len(_PREFIX):].split("-")[0]
            if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                try:
                    os.rmdir(os.path.join(self.base, name))
                except OSError:
                    pass

    def create(self, memory_mb: int) -> tuple[Group | None, str | None]:
        """A new cgroup limited to ``memory_mb`` + :data:`MARGIN_MB`, or (None, why not)."""
        self._leftover = [g for g in self._leftover if not g.remove(time.monotonic())]
        if self.base is None:
            return None, self.why
        self._count += 1
        group = Group(os.path.join(self.base, f"{_PREFIX}{os.getpid()}-{self._count}"), self.version)
        limit = str((int(memory_mb) + MARGIN_MB) * 1024 * 1024)
        try:
            os.mkdir(group.path, 0o700)
        except OSError as exc:
            return None, f"cannot create a memory cgroup in {self.base}: {exc.strerror}"
        try:
            if self.version == 2:
                _write(group._file("memory.max"), limit)
                for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                    if os.path.exists(group._file(name)):
                        _write(group._file(name), value)
            else:
                _write(group._file("memory.limit_in_bytes"), limit)
                if os.path.exists(group._file("memory.memsw.limit_in_bytes")):
                    _write(group._file("memory.memsw.limit_in_bytes"), limit)
        except OSError as exc:
            group.remove(time.monotonic())
            return None, f"cannot set the memory limit of a cgroup in {self.base}: {exc.strerror}"
        return group, None

    def track(self, keeper: int, group: Group | None) -> None:
        if group is not None:
            self._groups[keeper] = group

    def reaped(self, keeper: int, *, wait: float = 2.0) -> dict:
        """After ``keeper`` was reaped: end what is left of its tree, read the OOM count, remove the cgroup.

        Returns ``{"oom_kills": n, "memory_peak": bytes}`` ({} where the keeper had no cgroup)."""
        group = self._groups.get(keeper)
        if group is None:
            return {}
        self._reaped.add(keeper)  # a close() that interrupts what follows must not signal that pid again
        deadline = time.monotonic() + wait
        group.kill_all(deadline)
        status = {"oom_kills": group.oom_kills(), "memory_peak": group.peak()}
        if not group.remove(deadline):
            self._leftover.append(group)
        del self._groups[keeper]
        self._reaped.discard(keeper)
        return status

    def close(self, *, wait: float = 3.0) -> None:
        """The zygote stops: end every keeper still running (its tree dies with it) and remove every cgroup it
        made, whatever it was doing (it may run in a signal handler)."""
        for keeper in list(self._groups):
            if keeper not in self._reaped:
                try:
                    os.kill(keeper, signal.SIGKILL)
                    os.waitpid(keeper, 0)
                except (OSError, ChildProcessError):
                    pass
            self.reaped(keeper, wait=wait / 2)
        if self.base is None:
            return
        deadline, mine = time.monotonic() + wait, f"{_PREFIX}{os.getpid()}-"
        try:
            names = [n for n in os.listdir(self.base) if n.startswith(mine)]
        except OSError:
            names = []
        for name in names:  # being made or removed when this was called, or still busy before
            group = Group(os.path.join(self.base, name), self.version)
            group.kill_all(deadline)
            group.remove(deadline)
