"""The student process and its layers: how it starts (forked from a clean warm process), what locks it down before
student code runs, the harness inside it, and the trusted side's handle on the running process.

Owns: :mod:`.launcher` (warm process, fork, spawn), :mod:`.child` (the harness in the student process),
:mod:`.limits` and the layers (:mod:`.namespaces`, :mod:`.cgroup`, :mod:`.landlock`, :mod:`.seccomp`, :mod:`.privileges`,
:mod:`.guard` for forbidden APIs), :mod:`.policy` (limits and the filesystem view), :mod:`.process` (the trusted
side's handle), :mod:`.protocol` (the wire protocol, both ends), :mod:`.specs` (objects built on both sides).
May import: the standard library, torch, numpy; nothing else of the grader (it is imported into the student
process before any check, reference or solution exists in memory).
"""
