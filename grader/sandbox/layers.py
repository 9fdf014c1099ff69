"""The sandbox's layers, and which of them a student process on this machine really gets.

Each student process reports, before any student code runs, which layers it
applied and why the others are missing (:func:`grader.sandbox.limits.apply`);
:func:`grader.engine.doctor.probe` starts one such process on an empty module
and returns that report. `grader doctor` prints it; `grader grade` warns when a
layer is missing.
"""

from __future__ import annotations

import os

LAYERS = (
    "rlimits",            # address space, CPU, file size, open files, processes, no core dumps
    "cgroup",             # one memory limit for the whole process tree (cgroup v2, else v1)
    "session",            # its own session and process group, killed as a whole
    "pid-namespace",      # PID 1 of its own namespace: nothing it starts outlives it
    "mount-namespace",    # an allowlist root (pivot_root), private /proc, a private tmpfs working folder
    "network-namespace",  # no network at all
    "landlock",           # filesystem allowlist, no TCP, signals and abstract sockets scoped
    "seccomp",            # no sockets, threads, exec, ptrace, keyring, mounts, namespaces, raised limits
    "unprivileged-user",  # nobody instead of root
    "monitor",            # an audit hook seals every reply and ends the process on tampering (grader.sandbox.integrity)
)


#: Layers to leave off (comma-separated names), for debugging a submission or reproducing a
#: machine that lacks them; `grader doctor` and the batch warning then list them as inactive.
DISABLE_VAR = "GRADER_SANDBOX_DISABLE"


def disabled() -> dict[str, str]:
    """Layer -> why it is off, for the layers ``GRADER_SANDBOX_DISABLE`` names."""
    names = {n.strip() for n in os.environ.get(DISABLE_VAR, "").split(",") if n.strip()}
    return {n: f"disabled by {DISABLE_VAR}" for n in LAYERS if n in names and n not in ("rlimits", "session", "monitor")}


def lines(report: dict[str, str | None]) -> list[str]:
    """``NAME: active`` or ``NAME: inactive (why)``, one per layer."""
    return [f"{name}: active" if why is None else f"{name}: inactive ({why})" for name, why in report.items()]
