"""The student process and its layers: how it starts (forked from a warm process that is a fresh interpreter, never
the grader's own memory), what locks it down before student code runs, the harness inside it, and the trusted
side's handle on the running process.

Owns: :mod:`.launcher` (the trusted side's handle on the warm process, or the spawner), :mod:`.zygote` (the warm
process itself), :mod:`.child` (the harness in the student process), :mod:`.limits` and the layers
(:mod:`.namespaces`, :mod:`.cgroup`, :mod:`.mountview` (the allowlist root), :mod:`.landlock`, :mod:`.seccomp`, :mod:`.privileges`,
:mod:`.guard` for forbidden APIs), :mod:`.policy` (limits and the filesystem view), :mod:`.process` (the trusted
side's handle), :mod:`.protocol` (the wire protocol, both ends, and the objects the harness builds from data).
May import: the standard library, torch, numpy; nothing else of the grader (it is imported into the student
process before any check, reference or solution exists in memory).
"""
