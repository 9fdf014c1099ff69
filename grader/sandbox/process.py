"""The trusted parent's handle on one running student process."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time

from grader.sandbox.protocol import frames


class ProcessEnded(Exception):
    """The student process died, hung or broke the protocol; ``problem`` is its code."""

    def __init__(self, problem: str, reason: str):
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


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

    def receive(self, deadline: float) -> tuple[dict, list[bytes]]:
        """The next frame from the child, draining its output meanwhile."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._end("timeout", None)
            events = self._sel.select(timeout=remaining)
            for key, _ in events:
                if key.data == "out":
                    self._drain()
            if any(key.data == "sock" for key, _ in events):
                self._sock.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    return frames.read_frame(self._sock)
                except (EOFError, ConnectionError):
                    self._end("crash", None)
                except socket.timeout:
                    self._end("timeout", None)
                except frames.ProtocolError as exc:
                    self._end("crash", f"sent an invalid reply ({exc})")

    def call(self, header: dict, blobs: list[bytes], deadline: float) -> tuple[dict, list[bytes]]:
        self._sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            frames.write_frame(self._sock, header, blobs)
        except socket.timeout:
            self._end("timeout", None)
        except OSError:
            self._end("crash", None)
        return self.receive(deadline)

    def _end(self, problem: str, reason: str | None) -> None:
        """Kill the whole process group, reap it, and raise what happened."""
        killed_by_us = problem == "timeout" or reason is not None
        # The process went away by itself (EOF): give it a moment to end so that its own status
        # (exit code, signal) is what we read, not our SIGKILL.
        status = self.kill(grace=0.0 if killed_by_us else GRACE_SECONDS)
        sig = status.get("signal")
        if reason is None:
            if problem == "timeout":
                reason = "did not finish within the time limit"
            elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and not killed_by_us):
                problem, reason = "timeout", "used up its CPU time limit"
            elif sig in _SIGNAL_NAMES:
                reason = f"died of {_SIGNAL_NAMES[sig]}"
            elif sig is not None:
                reason = f"was killed by signal {sig}"
            elif "exit_code" in status:
                reason = f"exited with status {status['exit_code']} (os._exit or a C-level exit)"
            else:
                reason = "stopped answering"
        raise ProcessEnded(problem, f"the student process {reason}")

    def kill(self, *, status: bool = True, grace: float = 0.0) -> dict:
        """Kill the process group; with ``status``, wait for how the process ended.

        With ``grace``, a process that is ending anyway gets that long to end by itself first.
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
