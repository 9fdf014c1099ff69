"""The trusted parent's handle on one running student process.

One module, past the usual size: reading a reply as its bytes arrive, its seal, the limits of the wait (CPU time,
the wall-clock net) and ending the process share one state and are read together.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from dataclasses import dataclass

from grader.sandbox import cputime
from grader.sandbox.protocol import frames, seals


class ProcessEnded(Exception):
    """The student process died, hung or broke the protocol; ``problem`` is its code.

    ``problem`` is ``"starved"`` (not a problem code) when the wall-clock safety net ran out while the process
    wanted the CPU and did not get it: the machine was too busy, the submission did nothing wrong.
    """

    def __init__(self, problem: str, reason: str, *, cpu: float | None = None, waited: float | None = None,
                 backstop: bool = False, evidence: str = ""):
        super().__init__(reason)
        self.problem = problem
        self.reason = reason
        self.evidence = evidence
        """For ``tampering``: what the monitor found (the instructor's, never the student's feedback)."""
        self.backstop = backstop
        """The kernel's CPU time limit of one process (RLIMIT_CPU) ended it, not the grader's accounting."""
        self.cpu = cpu
        """The process tree's CPU reading when it ended (seconds since it started), where known."""
        self.waited = waited
        """Wall seconds of the wait that hit the safety net (None: it ended another way)."""
        self.at = time.monotonic()
        """When it ended (before the grader killed and reaped it, which may take a while on a busy machine)."""


@dataclass(frozen=True)
class Limit:
    """When one wait for the student process's answer ends."""

    wall: float
    """The wall-clock safety net: a ``time.monotonic()`` deadline, one per wait, that the student cannot extend."""
    cpu: float | None = None
    """The process tree's CPU reading (:class:`grader.sandbox.cputime.TreeMeter`) at which it is over its CPU
    time limit; None: only the wall clock limits the wait."""


#: How often a wait reads the student's CPU time (and looks for processes it started).
POLL_SECONDS = 0.1
#: A wait that hit the wall-clock safety net was *starved* when the process tree spent at least this share of
#: it running or runnable (waiting for a CPU): it wanted to compute and the machine did not let it.
STARVED_SHARE = 0.5
#: How long past the wall-clock safety net a wait goes on, once, for a tree that is runnable at that moment (a
#: wait for a CPU still in progress is not in the kernel's statistics yet): see ``Process._past_wall``.
RECHECK_SECONDS = 2.0


class Output:
    """What a student process printed: counted in full, kept only up to ``keep`` bytes."""

    def __init__(self, *, keep: int):
        self.keep = keep
        self.total = 0
        self.kept = bytearray()

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def take(self) -> tuple[str, int]:
        """The kept text and the byte count since the last take."""
        text, total = self.kept.decode("utf-8", "replace"), self.total
        self.kept, self.total = bytearray(), 0
        return text, total


_SIGNAL_NAMES = {
    signal.SIGSEGV: "a segmentation fault (SIGSEGV)",
    signal.SIGABRT: "an abort (SIGABRT)",
    signal.SIGBUS: "a bus error (SIGBUS)",
    signal.SIGFPE: "a floating point exception (SIGFPE)",
    signal.SIGILL: "an illegal instruction (SIGILL)",
}


#: How long a student process that closed its socket may take to end by itself.
GRACE_SECONDS = 0.5


class StudentProcess:
    def __init__(self, launcher, started, *, output: Output):
        self._launcher = launcher
        self.pid = started.pid
        self._sock = started.sock
        self._out_fd = started.output_fd
        self.output = output
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ, "sock")
        self._sel.register(self._out_fd, selectors.EVENT_READ, "out")
        self._out_open = True
        self.alive = True
        self.meter = cputime.TreeMeter(self.pid)
        self._reader = frames.FrameReader()
        self._sampled = time.monotonic()
        self.key: bytes | None = None
        """The monitor's key (:mod:`grader.sandbox.protocol.seals`): once set, every frame must come sealed."""
        self._next_seal = 0
        self._unsealed: tuple | None = None
        """A complete frame whose seal has not arrived yet."""

    def _drain(self) -> None:
        try:
            data = os.read(self._out_fd, 1 << 16)
        except OSError:
            data = b""
        if data:
            self.output.add(data)
        elif self._out_open:
            self._sel.unregister(self._out_fd)
            self._out_open = False

    @property
    def metered(self) -> bool:
        """Whether the student's CPU time can be read here (else only wall time limits it)."""
        return self.meter.enabled

    def cpu(self) -> float:
        """CPU seconds the process tree has used so far (0 where it cannot be read)."""
        reading = self.meter.cpu()
        self._sampled = time.monotonic()
        return reading or 0.0

    @property
    def last_cpu(self) -> float:
        """The latest reading of :meth:`cpu`, at most about :data:`POLL_SECONDS` of waiting old."""
        return self.meter.cpu_seen

    def receive(self, limit: Limit) -> tuple[dict, list[bytes]]:
        """The next frame from the child, draining its output meanwhile.

        Ends the process (:class:`ProcessEnded`, problem ``timeout``) once its tree's CPU time passes
        ``limit.cpu`` or the wall clock passes ``limit.wall``; ``starved`` instead when at the wall-clock limit the
        tree had wanted the CPU most of the time and did not reach its CPU limit. The frame is read as its bytes
        arrive, in the same loop: one that trickles in byte by byte still ends at ``limit.wall``, and the CPU
        time is still read meanwhile.
        """
        started = time.monotonic()
        first = None  # (time, sample) at this wait's first reading: starvation is judged from there
        deadline, rechecked = limit.wall, False
        self._sock.setblocking(False)
        while True:
            now = time.monotonic()
            if now >= deadline:
                deadline = self._past_wall(limit, first, started, now, rechecked)
                rechecked = True
            polling = limit.cpu is not None and self.meter.enabled
            wake = min(deadline, self._sampled + POLL_SECONDS) if polling else deadline
            events = self._sel.select(timeout=max(0.0, wake - now))
            for key, _ in events:
                if key.data == "out":
                    self._drain()
            if any(key.data == "sock" for key, _ in events):
                frame = self._read_some()
                if frame is not None:
                    if polling and time.monotonic() - self._sampled >= POLL_SECONDS:
                        self.cpu()  # many short calls add up: the check's CPU time stays at most one poll old
                    return frame
            if polling and time.monotonic() - self._sampled >= POLL_SECONDS:
                sample = self.meter.scan(delays=True)
                self._sampled = time.monotonic()
                if first is None:
                    first = (self._sampled, sample)
                if sample.cpu >= limit.cpu:
                    self._end("timeout", None, cpu=sample.cpu)

    def _read_some(self) -> tuple[dict, list[bytes]] | None:
        """What the socket holds now, up to the end of the frame; the frame once complete."""
        try:
            frame = self._reader.read_from(self._sock)
        except EOFError:
            self._end("crash", None)
        except frames.ProtocolError as exc:
            self._end("crash", f"sent an invalid reply ({exc})")
        if frame is None or self.key is None:
            return frame
        if self._unsealed is None:  # a frame: its seal comes next, in the same wait
            self._unsealed = (frame, self._reader.digest)
            return None
        (sealed, digest), self._unsealed = self._unsealed, None
        return self._unseal(sealed, digest, frame[0])

    def _unseal(self, frame: tuple[dict, list[bytes]], digest: bytes, seal: dict) -> tuple[dict, list[bytes]]:
        """``frame`` once its seal checks out; the process ends as ``tampering`` when it does not, or when the
        monitor's verdict says so."""
        try:
            checked = seals.check(self.key, self._next_seal, digest, seal)
        except seals.SealError as exc:
            self._end("tampering", seals.TAMPERING_MESSAGE, evidence=str(exc))
        except seals.Replayed:
            self._end("crash", "answered twice: a copy of the grader's harness in a process it forked answered too")
        self._next_seal += 1
        if checked.verdict == "tampering":
            self._end("tampering", seals.TAMPERING_MESSAGE, evidence=checked.evidence)
        if checked.verdict == "forbidden":
            self._end("forbidden_api", f"called {checked.forbidden} in a process it forked, which this assignment forbids")
        header, blobs = frame
        return {**header, "_forbidden": checked.forbidden}, blobs  # the monitor's word, whatever the frame says

    def _past_wall(self, limit: Limit, first, started: float, now: float, rechecked: bool) -> float:
        """The wall-clock safety net ran out: a timeout, or starvation (see :meth:`receive`).

        Once per wait, where the tree is not starved by the statistics but runnable right now, it returns a
        deadline :data:`RECHECK_SECONDS` later instead: the kernel adds a wait for a CPU to a process's statistics
        only when the wait ends, so a process starved at this very moment has its current wait counted as soon
        as it gets a CPU again. A tree that slept and spins now gets a CPU at once on a machine that is not busy,
        and is still a timeout."""
        sample = self.meter.scan(delays=True) if self.meter.enabled else None
        cpu = None if sample is None else sample.cpu
        if sample is not None and first is not None and (limit.cpu is None or sample.cpu < limit.cpu):
            since, before = first
            span = max(now - since, 1e-9)
            if sample.waited is not None and before.waited is not None:
                busy = (sample.cpu - before.cpu) + (sample.waited - before.waited)
            else:  # no scheduler statistics: running or runnable right now stands for the whole wait
                busy = span if sample.running else sample.cpu - before.cpu
            if busy >= STARVED_SHARE * span:
                self._end("starved", f"got {sample.cpu - before.cpu:.2f} s of CPU time in {span:.0f} s: the machine was too busy",
                          cpu=cpu, waited=now - started)
            if not rechecked and sample.running and sample.waited is not None:
                return now + RECHECK_SECONDS
        self._end("timeout", None, cpu=cpu, waited=now - started)

    def call(self, header: dict, blobs: list[bytes], limit: Limit) -> tuple[dict, list[bytes]]:
        started = time.monotonic()
        self._sock.settimeout(max(0.05, limit.wall - started))
        try:
            frames.write_frame(self._sock, header, blobs)
        except socket.timeout:
            self._end("timeout", None, waited=time.monotonic() - started)
        except OSError:
            self._end("crash", None)
        return self.receive(limit)

    def _end(self, problem: str, reason: str | None, *, cpu: float | None = None, waited: float | None = None,
             evidence: str = "") -> None:
        """Kill the whole process group, reap it, and raise what happened."""
        killed_by_us = problem in ("timeout", "starved") or reason is not None
        at = time.monotonic()
        if cpu is None and self.meter.enabled:
            cpu = self.meter.cpu()
        # The process went away by itself (EOF): give it a moment to end so that its own status
        # (exit code, signal) is what we read, not our SIGKILL.
        status = self.kill(grace=0.0 if killed_by_us else GRACE_SECONDS)
        sig = status.get("signal")
        backstop = False
        if reason is None:
            if problem == "timeout":
                reason = "did not finish within the time limit"
            elif sig == signal.SIGKILL and not killed_by_us and status.get("oom_kills"):  # its cgroup's limit
                problem, reason = "memory", "was ended for using more memory than its limit (its processes together)"
            elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and not killed_by_us):
                problem, reason, backstop = "timeout", "used up its CPU time limit", True
            elif sig in _SIGNAL_NAMES:
                reason = f"died of {_SIGNAL_NAMES[sig]}"
            elif sig is not None:
                reason = f"was killed by signal {sig}"
            elif "exit_code" in status:
                reason = f"exited with status {status['exit_code']} (os._exit or a C-level exit)"
            else:
                reason = "stopped answering"
        if problem == "tampering":
            ended = ProcessEnded(problem, reason, evidence=evidence)
        else:
            ended = ProcessEnded(problem, f"the student process {reason}", cpu=cpu, waited=waited, backstop=backstop)
        ended.at = at
        raise ended

    def kill(self, *, status: bool = True, grace: float = 0.0) -> dict:
        """Kill the process group; with ``status``, wait for how the process ended.

        The group is the keeper's: the student process dies with its keeper whatever it did (PDEATHSIG, which
        it cannot clear), every process it started with its PID namespace, and the warm process empties the
        cgroup before it reaps. With ``grace``, a process that is ending anyway gets that long to end by itself first.
        """
        if not self.alive:
            return {}
        self.alive = False
        if grace > 0 and status:
            ended = self._launcher.wait(self.pid, grace=grace)  # kills the group if still alive after grace
            self._close_pipes()
            return ended
        killpg = getattr(os, "killpg", None)  # the whole session's group where there is one
        for target in ((lambda: killpg(self.pid, signal.SIGKILL)) if killpg else None, lambda: os.kill(self.pid, signal.SIGKILL)):
            if target is None:
                continue
            try:
                target()
                break
            except (ProcessLookupError, PermissionError):
                continue
        if status:
            ended = self._launcher.wait(self.pid)
        else:
            self._launcher.reap(self.pid)
            ended = {}
        self._close_pipes()
        return ended

    def _close_pipes(self) -> None:
        # Collect what is left in the pipe; a process that escaped the group could hold it open forever.
        self._sel.unregister(self._sock)
        give_up = time.monotonic() + 0.5
        while self._out_open and time.monotonic() < give_up:
            if self._sel.select(timeout=max(0.0, give_up - time.monotonic())):
                self._drain()
        self._sel.close()
        self._sock.close()
        os.close(self._out_fd)

    def close(self) -> None:
        """Stop a process that did nothing wrong."""
        if self.alive:
            self.kill(status=False)
